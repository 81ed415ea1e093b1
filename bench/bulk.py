"""Tens of thousands of cases in minutes, carrying what every measured page reads.

A database grown to N cases (:meth:`Filler.grow_to`) holds three kinds of cases:

- **open work, cloned from real cases** (``OPEN_SHARE`` of the cases, 1.2 %): a few template
  cases are driven through the app over HTTP to every stage of the workload (intake only,
  after 1 task, …, after 6 tasks) and cloned under new numbers, customers and dates received
  within the last three weeks: the case, its process instance(s), its human tasks (open and
  completed, with their real forms, departments, approval properties and context) and every
  other row the app wrote for the case (search document, serial numbers, repeat keys, root
  causes, lateness…; see :data:`SKIPPED`). At 100k cases that is 1,200 open cases at every
  stage — a department's inbox holds hundreds of open tasks (Marketing about 350: the
  verification and the closing of a case are theirs), not tens of thousands;
- **recently closed cases, cloned** (``CLOSED_CLONE_SHARE``, 5 %): the template driven to the
  reply the customer accepted, received within the last year, closed five days later, its open
  leftovers (return visit) dropped — the real task history ("recently completed", case lists);
- **the history**, the rest: :func:`bench.seed_analytics.seed_analytics` (the dashboard's
  seeder) spreads cases over ``HISTORY_YEARS`` years with their completed tasks, root causes,
  repeat keys, survey answers and weekly assessment lines; its recent cases are still open in
  the 8D stage (one open task each in the responsible department, about 1.7 % of them). The
  search document of each of these cases is built by the app's own
  :func:`app.services.case_search.search_document` from its columns and free texts like the
  departments write (phrases of :mod:`bench.case_search`).

What the clones do not carry: the workflow state (a placeholder; the measured pages — inbox,
case search, dashboard — never load a workflow, by the architecture's rule) and the templates'
audit events (the hash chain cannot be forged in bulk). So that reads of the trail by task meet
a trail of production's size, every completed task gets one ``task_completed`` event
(:meth:`Filler._completion_events`: the task's element, case and instance, an empty submission),
written outside the chain (not sealed)."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import MetaData, Table, create_engine, func, insert, select, text
from sqlalchemy.orm import Session

from bench.workload import STEPS, ApiClient, Timings

OPEN_SHARE = 0.012
CLOSED_CLONE_SHARE = 0.05
HISTORY_YEARS = 4
OPEN_WINDOW = timedelta(days=21)
BATCH = 2000
#: case-keyed tables the clones do not copy: per-user or per-send rows, the audit chain, clusters
SKIPPED = {"feedback_case", "process_instance", "human_task", "audit_event", "notification", "email_outbox",
           "repeat_cluster", "repeat_cluster_case", "task_draft", "pending_upload"}
COMPANIES = [f"{a}{b}{c}" for a in ("华东", "华南", "华北", "西南", "东北", "江苏", "浙江", "广东", "山东", "四川")
             for b in ("机电", "精密", "重工", "电子", "自动化", "科技", "制造", "动力", "智能", "液压")
             for c in ("有限公司", "股份有限公司", "集团", "厂", "贸易公司")]


def make_templates(base: str) -> list[int]:
    """Case ids of templates at 0..len(STEPS) completed tasks (the last: reply accepted)."""
    client = ApiClient(base, Timings())
    ids = []
    for done in range(len(STEPS) + 1):
        case_id = client.open_case()
        assert case_id is not None, client.timings.errors
        assert client.drive(case_id, stop_after=done) == done, client.timings.errors[:3]
        ids.append(case_id)
    return ids


class Template:
    """One template case and every row the app wrote for it, by table."""

    def __init__(self, case: dict[str, Any], insts: list[dict[str, Any]], tasks: list[dict[str, Any]],
                 extra: dict[str, list[dict[str, Any]]]) -> None:
        self.case, self.insts, self.tasks, self.extra = case, insts, tasks, extra


class Filler:
    def __init__(self, url: str, template_ids: list[int]) -> None:
        self.engine = create_engine(url)
        self.meta = MetaData()
        self.meta.reflect(self.engine)
        self.case_t = self.meta.tables["feedback_case"]
        self.inst_t = self.meta.tables["process_instance"]
        self.task_t = self.meta.tables["human_task"]
        self.keyed = [t for name, t in self.meta.tables.items() if "case_id" in t.c and name not in SKIPPED
                      and not name.startswith("case_search_fts")]
        with self.engine.connect() as conn:
            self.templates = [self._template(conn, case_id) for case_id in template_ids]
        self.rng = random.Random(16)
        self.cloned = 0

    def _template(self, conn, case_id: int) -> Template:
        def rows(table: Table) -> list[dict[str, Any]]:
            return [dict(r) for r in conn.execute(select(table).where(table.c.case_id == case_id)).mappings()]

        case = dict(conn.execute(select(self.case_t).where(self.case_t.c.id == case_id)).mappings().one())
        extra = {t.name: found for t in self.keyed if (found := rows(t))}
        return Template(case, rows(self.inst_t), rows(self.task_t), extra)

    def _derived(self, document: str) -> dict[str, Any]:
        """Columns the search derives from a document, computed by the app's own function (the
        pair index of two-character words, where the schema has it)."""
        if "short_terms" not in self.meta.tables["case_search"].c:
            return {}
        from app.data.queries import search

        return {"short_terms": search.short_terms(document)}  # type: ignore[attr-defined]

    # ------------------------------------------------------------------------ growing

    def grow_to(self, size: int) -> dict[str, float]:
        """Add cases until the database holds ``size``; returns the seconds each part took."""
        import time

        missing = size - self.counts()["cases"]
        if missing <= 0:
            return {}
        n_open, n_closed = round(missing * OPEN_SHARE), round(missing * CLOSED_CLONE_SHARE)
        took: dict[str, float] = {}
        t = time.perf_counter()
        with self.engine.begin() as conn:
            self._clone(conn, n_open, n_closed)
        took["clones_s"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        self._history(missing - n_open - n_closed, seed=size)
        took["history_s"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        with self.engine.begin() as conn:
            self._documents(conn)
        took["search_documents_s"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        with self.engine.begin() as conn:
            self._completion_events(conn)
        took["completion_events_s"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE" if self.engine.dialect.name == "postgresql" else "ANALYZE"))
            if self.engine.dialect.name == "postgresql":
                # the fill's dirty pages written out now, not by the checkpointer while pages are measured
                conn.execute(text("CHECKPOINT"))
        took["analyze_s"] = round(time.perf_counter() - t, 1)
        return took

    def _history(self, count: int, seed: int) -> None:
        from bench.seed_analytics import seed_analytics

        with Session(self.engine) as session, session.begin():
            seed_analytics(session, cases=count, years=HISTORY_YEARS, seed=seed)

    def _completion_events(self, conn) -> None:
        """A ``task_completed`` audit event for every completed task that has none (unsealed)."""
        conn.execute(text(
            "INSERT INTO audit_event (at, actor_id, actor_label, channel, action, instance_id, case_id, task_id, "
            "element, data_after) "
            "SELECT t.completed_at, t.completed_by_id, 'bench', 'web', 'task_completed', t.instance_id, t.case_id, "
            "t.id, t.element_id, '{}' FROM human_task t WHERE t.state = 'completed' AND NOT EXISTS "
            "(SELECT 1 FROM audit_event e WHERE e.task_id = t.id AND e.action = 'task_completed')"))

    def closed_case(self) -> int | None:
        """The newest cloned closed case (its page is measured), if any."""
        with self.engine.connect() as conn:
            return conn.scalar(select(func.max(self.case_t.c.id)).where(
                self.case_t.c.status == "closed", self.case_t.c.number.like("FB-B%")))

    def _documents(self, conn) -> None:
        """Search documents for the cases that have none (the seeded history), by the app's rule."""
        from app.services.case_search import search_document
        from bench.case_search import MEASURES, PHRASES

        search_t = self.meta.tables["case_search"]
        wanted = [c for c in self.case_t.c if c.name in {"id", "number", "customer_name", "customer_contact",
                                                          "customer_email", "product_model", "serial_numbers",
                                                          "batch_no", "description"}]
        rows = conn.execute(select(*wanted).where(self.case_t.c.id.not_in(select(search_t.c.case_id)))).mappings()
        rng = random.Random(7)
        now = datetime.now().astimezone()
        batch: list[dict[str, Any]] = []
        for row in rows:
            texts = {"analysis": "，".join(rng.sample(PHRASES, 2)) + "，已分析原因。",
                     "measures": "；".join(rng.sample(MEASURES, 2))}
            document = search_document(SimpleNamespace(**row), texts)  # type: ignore[arg-type]
            batch.append({"case_id": row["id"], "texts": texts, "updated_at": now, "document": document,
                          **self._derived(document)})
            if len(batch) >= BATCH:
                conn.execute(insert(search_t), batch)
                batch.clear()
        if batch:
            conn.execute(insert(search_t), batch)

    def _clone(self, conn, n_open: int, n_closed: int) -> None:
        case_id = conn.scalar(select(func.max(self.case_t.c.id))) or 0
        inst_id = conn.scalar(select(func.max(self.inst_t.c.id))) or 0
        out: dict[str, list[dict[str, Any]]] = {}
        open_templates = self.templates[:-1]
        for n in range(n_open + n_closed):
            closed = n >= n_open
            tpl = self.templates[-1] if closed else open_templates[n % len(open_templates)]
            shift = (timedelta(days=-self.rng.uniform(14, 365)) if closed
                     else -OPEN_WINDOW * self.rng.random())
            case_id += 1
            number = f"FB-B{self.cloned:07d}"
            customer = f"{self.rng.choice(COMPANIES)}{self.cloned % 997}"
            self.cloned += 1
            swaps = [(tpl.case["number"], number), (tpl.case["customer_name"], customer)] + [
                (serial, f"{serial}-{self.cloned}") for serial in (tpl.case.get("serial_numbers") or "").split()]
            case = _shifted(_swapped({**tpl.case, "id": case_id, "public_token": uuid.uuid4().hex}, swaps), shift)
            if closed:
                case.update(status="closed", closed_at=case["received_at"] + timedelta(days=5), stage=None)
            out.setdefault("feedback_case", []).append(case)
            inst_map: dict[int, int] = {}
            for inst in tpl.insts:
                inst_id += 1
                inst_map[inst["id"]] = inst_id
                clone = _shifted({**inst, "id": inst_id, "case_id": case_id, "state": "{}",
                                  "business_key": number if inst.get("business_key") else None}, shift)
                if closed:
                    clone.update(status="completed", next_due_at=None, completed_at=case["closed_at"])
                out.setdefault("process_instance", []).append(clone)
            task_map: dict[str, str] = {}
            for task in tpl.tasks:
                if closed and task["state"] == "open":
                    continue
                task_map[task["id"]] = str(uuid.uuid4())
                out.setdefault("human_task", []).append(_shifted(_swapped(
                    {**task, "id": task_map[task["id"]], "instance_id": inst_map[task["instance_id"]],
                     "case_id": case_id}, swaps), shift))
            for name, rows in tpl.extra.items():
                table = self.meta.tables[name]
                for row in rows:
                    clone = _remapped(table, row, case_id, inst_map, task_map)
                    if clone is None:
                        continue
                    clone = _shifted(_swapped(clone, swaps), shift)
                    if name == "case_search":
                        clone.update(self._derived(clone["document"]))
                    out.setdefault(name, []).append(clone)
            if len(out["feedback_case"]) >= BATCH:
                self._flush(conn, out)
        self._flush(conn, out)
        if self.engine.dialect.name == "postgresql":
            for table in ("feedback_case", "process_instance"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))

    def _flush(self, conn, out: dict[str, list[dict[str, Any]]]) -> None:
        # parents first: cases, instances, tasks, then what hangs on them
        for name in ("feedback_case", "process_instance", "human_task", *sorted(set(out) - {
                "feedback_case", "process_instance", "human_task"})):
            if out.get(name):
                conn.execute(self.meta.tables[name].insert(), out[name])
                out[name].clear()

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            def count(table: Table, *where) -> int:
                return int(conn.scalar(select(func.count()).select_from(table).where(*where)) or 0)

            dept = self.meta.tables["department"]
            marketing = conn.scalar(select(dept.c.id).where(dept.c.code == "marketing"))
            return {
                "cases": count(self.case_t),
                "closed_cases": count(self.case_t, self.case_t.c.status == "closed"),
                "human_tasks": count(self.task_t),
                "open_tasks": count(self.task_t, self.task_t.c.state == "open"),
                "open_tasks_marketing": count(self.task_t, self.task_t.c.state == "open",
                                              self.task_t.c.department_id == marketing),
                "search_documents": count(self.meta.tables["case_search"]),
                "root_causes": count(self.meta.tables["case_root_cause"]),
                "survey_answers": count(self.meta.tables["survey_response"]),
                "completion_events": count(self.meta.tables["audit_event"],
                                           self.meta.tables["audit_event"].c.action == "task_completed"),
            }


def _swapped(row: dict[str, Any], swaps: list[tuple[str, str]]) -> dict[str, Any]:
    """The row with the template's number, customer and serial numbers replaced by the clone's
    in every text (the search document, repeat keys, serials): clones are distinct cases."""
    def swap(value: Any) -> Any:
        if isinstance(value, str):
            for old, new in swaps:
                value = value.replace(old, new)
        elif isinstance(value, dict):
            value = {k: swap(v) for k, v in value.items()}
        return value

    return {key: swap(value) for key, value in row.items()}


def _shifted(row: dict[str, Any], shift: timedelta) -> dict[str, Any]:
    """The row with every datetime moved by ``shift`` (the clone's own received time)."""
    return {key: value + shift if isinstance(value, datetime) else value for key, value in row.items()}


def _remapped(table: Table, row: dict[str, Any], case_id: int, inst_map: dict[int, int],
              task_map: dict[str, str]) -> dict[str, Any] | None:
    """A template's row for the clone: its case, instance and task ids replaced, a new key
    (integer keys left to the database); None when it hangs on a task the clone does not have."""
    clone = {**row, "case_id": case_id}
    if "instance_id" in clone and clone["instance_id"] in inst_map:
        clone["instance_id"] = inst_map[clone["instance_id"]]
    if "task_id" in clone and clone["task_id"] is not None:
        if clone["task_id"] not in task_map:
            return None
        clone["task_id"] = task_map[clone["task_id"]]
    keys = [c for c in table.primary_key.columns if c.name not in {"case_id", "task_id", "serial"}]
    for column in keys:
        if column.name == "id" and isinstance(row.get("id"), int):
            clone.pop("id")
        elif column.name == "id":
            clone["id"] = str(uuid.uuid4())
    return clone
