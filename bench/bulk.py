"""Tens of thousands of cases in minutes: a few template cases are driven through the app over
HTTP to every stage of the workload (intake only, after 1 task, ..., reply accepted), then their
rows — the case, its process instances and their human tasks, open and completed (the
history the inbox and lists read) — are cloned with bulk inserts under new numbers, customers
and dates: about 55 % closed (received within the last year), the rest open at every stage
(received within the last two weeks, so some are overdue).

What the clones do not carry: the workflow state (a placeholder; the measured pages — inbox,
case search, dashboard — never load a workflow, by the architecture's rule) and audit events
(the hash chain cannot be forged in bulk). The case page is measured on real cases instead."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import MetaData, Table, create_engine, func, select, text

from bench.workload import STEPS, ApiClient, Timings

CLOSED_SHARE = 0.55
BATCH = 2000
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


class Cloner:
    def __init__(self, url: str, template_ids: list[int]) -> None:
        self.engine = create_engine(url)
        meta = MetaData()
        self.case_t = Table("feedback_case", meta, autoload_with=self.engine)
        self.inst_t = Table("process_instance", meta, autoload_with=self.engine)
        self.task_t = Table("human_task", meta, autoload_with=self.engine)
        with self.engine.connect() as conn:
            self.templates = []
            for case_id in template_ids:
                case = dict(conn.execute(select(self.case_t).where(self.case_t.c.id == case_id)).mappings().one())
                insts = [dict(r) for r in conn.execute(select(self.inst_t).where(self.inst_t.c.case_id == case_id))
                         .mappings()]
                tasks = [dict(r) for r in conn.execute(select(self.task_t).where(self.task_t.c.case_id == case_id))
                         .mappings()]
                self.templates.append((case, insts, tasks))
        self.rng = random.Random(16)
        self.cloned = 0

    def _next_ids(self, conn) -> tuple[int, int]:
        last_case = conn.scalar(select(func.max(self.case_t.c.id))) or 0
        return last_case, conn.scalar(select(func.max(self.inst_t.c.id))) or 0

    def add(self, count: int) -> None:
        with self.engine.begin() as conn:
            case_id, inst_id = self._next_ids(conn)
            cases: list[dict[str, Any]] = []
            insts: list[dict[str, Any]] = []
            tasks: list[dict[str, Any]] = []
            for _ in range(count):
                case_id += 1
                closed = self.rng.random() < CLOSED_SHARE
                case_t, insts_t, tasks_t = self.templates[-1 if closed else self.rng.randrange(len(self.templates) - 1)]
                shift = (timedelta(days=-self.rng.uniform(14, 365)) if closed
                         else timedelta(hours=-self.rng.uniform(0, 14 * 24)))
                number = f"FB-B{self.cloned:07d}"
                customer = f"{self.rng.choice(COMPANIES)}{self.cloned % 997}"
                self.cloned += 1
                case = {**case_t, "id": case_id, "number": number, "customer_name": customer,
                        "public_token": uuid.uuid4().hex}
                for key in ("received_at", "acknowledged_at", "closed_at", "updated_at", "first_answer_due_at",
                            "first_answer_at", "resolution_due_at", "resolved_at", "clock_state_until"):
                    if case.get(key) is not None:
                        case[key] = case[key] + shift
                if closed:
                    case.update(status="closed", closed_at=case["received_at"] + timedelta(days=5), stage=None)
                cases.append(case)
                inst_map = {}
                for inst in insts_t:
                    inst_id += 1
                    inst_map[inst["id"]] = inst_id
                    clone = {**inst, "id": inst_id, "case_id": case_id, "state": "{}",
                             "business_key": number if inst.get("business_key") else None}
                    for key in ("started_at", "updated_at", "completed_at", "next_due_at"):
                        if clone.get(key) is not None:
                            clone[key] = clone[key] + shift
                    if closed:
                        clone.update(status="completed", next_due_at=None,
                                     completed_at=case["closed_at"])
                    insts.append(clone)
                for task in tasks_t:
                    if closed and task["state"] == "open":
                        continue
                    clone = {**task, "id": str(uuid.uuid4()), "instance_id": inst_map[task["instance_id"]],
                             "case_id": case_id, "case_number": number, "customer_name": customer}
                    for key in ("created_at", "due_at", "completed_at", "claimed_at"):
                        if clone.get(key) is not None:
                            clone[key] = clone[key] + shift
                    tasks.append(clone)
                if len(cases) >= BATCH:
                    self._flush(conn, cases, insts, tasks)
            self._flush(conn, cases, insts, tasks)
            if self.engine.dialect.name == "postgresql":
                conn.execute(text("SELECT setval(pg_get_serial_sequence('feedback_case', 'id'), "
                                  "(SELECT max(id) FROM feedback_case))"))
                conn.execute(text("SELECT setval(pg_get_serial_sequence('process_instance', 'id'), "
                                  "(SELECT max(id) FROM process_instance))"))
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))

    def _flush(self, conn, cases, insts, tasks) -> None:
        for table, rows in ((self.case_t, cases), (self.inst_t, insts), (self.task_t, tasks)):
            if rows:
                conn.execute(table.insert(), rows)
                rows.clear()

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {
                "cases": conn.scalar(select(func.count()).select_from(self.case_t)),
                "closed_cases": conn.scalar(select(func.count()).select_from(self.case_t)
                                            .where(self.case_t.c.status == "closed")),
                "human_tasks": conn.scalar(select(func.count()).select_from(self.task_t)),
                "open_tasks": conn.scalar(select(func.count()).select_from(self.task_t)
                                          .where(self.task_t.c.state == "open")),
            }
