"""Case search at production size: fills N cases with search documents and times the case
list's query (count + first page, as ``GET /cases/?q=`` and ``GET /api/v1/cases?q=`` run it).

    .venv/bin/python bench/case_search.py [--cases 100000] [--database-url URL] [--repeat 30]

The cases are bulk-inserted with realistic documents (Chinese descriptions and measures,
serial numbers, customers, models, some English), a process instance each and the tasks each
has had; the database's own index is filled as in production (the FTS5 triggers on SQLite, the
pg_trgm GIN index on PostgreSQL). Query kinds (:data:`QUERIES`): a serial number (one case), a
five-character Chinese phrase (a fifth of the cases), a customer's name (2 %), a two-character
word (the short-word path, a fifth of the cases), one no case has, an English word (2 %), a model code (0.1 %),
a trigram-heavy word every case has, two words, and a term that matches nothing — each alone,
with a status and with a department (:data:`FILTERS`). Each is timed through
:func:`app.data.queries.cases.cases_query` and :func:`app.data.queries.cases.search_page` (what
``GET /cases/?q=`` does: the first page and the count of matches up to 1000), as the
whole-company view (Quality, managers) sees it; ``--http`` also times the case list page and
``GET /api/v1/cases`` on a gunicorn with production settings. Target: p95 ≤ 100 ms.
``fill_cases`` (and :data:`PHRASES`, :data:`MEASURES`) can be imported by other benches.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402

from app.clock import clock  # noqa: E402
from app.data.db import Database  # noqa: E402
from app.data.models import Case, CaseSearch  # noqa: E402
from app.data.queries.cases import CaseFilter, cases_query, search_page  # noqa: E402
from app.data.queries.search import short_terms  # noqa: E402
from app.web.cases.routes import SEARCH_COUNT_CAP  # noqa: E402

TARGET_P95_MS = 100.0
PHRASES = ["设备运行时异响", "电机过热停机", "控制板烧毁", "外壳变形开裂", "漏油严重", "显示屏无画面", "报警代码E21",
           "密封圈老化渗漏", "装配扭矩不足", "来料硬度偏低", "包装破损导致划伤", "低温环境下启动困难", "传感器读数漂移",
           "轴承磨损", "焊缝开裂", "接线端子松动", "软件版本不兼容", "运输途中受潮"]
MEASURES = ["更换供应商并加严来料检验", "增加扭矩复检工序", "修订作业指导书", "对库存品全数筛选", "改进包装防护",
            "增加出厂老化测试", "培训装配人员", "设计变更加厚外壳"]
#: English text some customers and departments write (a Latin word search)
ENGLISH = ["motor overheating after two hours", "loud noise at start-up", "housing cracked in transit",
           "firmware update fixed the display", "seal leaking oil"]
CUSTOMERS = [f"{city}{kind}有限公司" for city in ("华东", "华南", "华北", "西南", "东北", "江苏", "浙江", "广东")
             for kind in ("机械", "电气", "自动化", "重工", "精密", "科技")]
#: the tasks a case has had, in order: (element id, title, department code); the last one is
#: open while the case is open
STEPS = [("verify", "核实反馈", "marketing"), ("analysis", "初步分析", "quality"), ("eight_d", "8D报告", "production"),
         ("eight_d", "8D报告", "purchasing"), ("close", "回复客户并确认", "marketing")]
#: query kind → the words searched (see the module's docstring for how many cases each finds)
QUERIES = {"serial": "SN-00350007", "phrase": "控制板烧毁", "customer": "浙江精密有限公司",
           "short": "漏油", "short_none": "缺货", "latin": "overheating", "model": "XJ-517", "common": "有限公司",
           "two_words": "控制板 漏油", "none": "不存在的词语组合"}
#: the case list's filters combined with every query: none, a status, a department (Quality's view)
FILTERS = {"": {}, "status": {"status": "closed"}, "department": {"department": "production"}}


def _document(case: dict, rng: random.Random) -> str:
    texts = [case["number"], case["customer_name"], case["customer_contact"], case["product_model"],
             case["serial_numbers"], case["description"]]
    texts += rng.sample(MEASURES, 2) + [rng.choice(PHRASES) + "，已分析原因。"]
    if rng.random() < 0.1:
        texts.append(rng.choice(ENGLISH))
    return "\n".join(texts)


def _process(session) -> tuple[int, str]:
    """The deployed case process (bench/servers.prepare deploys it), or a stand-in definition."""
    from app.data.models import ProcessDefinition

    definition = session.scalar(select(ProcessDefinition).where(ProcessDefinition.key == "feedback_case")
                                .order_by(ProcessDefinition.version.desc()).limit(1))
    if definition is None:
        definition = ProcessDefinition(key="feedback_case", version=1, name="bench", content_hash="bench",
                                       spec_hash="bench", bpmn_xml="", dependencies={}, forms={})
        session.add(definition)
        session.flush()
    return definition.id, definition.key


def fill_cases(database: Database, count: int, seed: int = 7) -> None:
    """Bulk-insert ``count`` cases with their search documents, a process instance each and the
    tasks it has had (verification, analysis, one or two 8D reports, the reply; the last open
    while the case is open), so the department filter and the case list's stages have rows."""
    from app.data.models import HumanTask, ProcessInstance, TaskState
    from app.services.setup import ensure_departments

    rng = random.Random(seed)
    now = clock.now()
    with database.transaction() as session:
        departments = {code: dept.id for code, dept in ensure_departments(session).items()}
        definition_id, process_key = _process(session)
        first = (session.scalar(select(Case.id).order_by(Case.id.desc()).limit(1)) or 0) + 1
        first_instance = (session.scalar(select(ProcessInstance.id).order_by(ProcessInstance.id.desc()).limit(1))
                          or 0) + 1
        rows: dict[type, list[dict]] = {Case: [], CaseSearch: [], ProcessInstance: [], HumanTask: []}
        for n, i in enumerate(range(first, first + count)):
            received = now - timedelta(minutes=first + count - i)  # one a minute, the last one newest
            status = rng.choice(["open", "closed"])
            case = {
                "id": i, "number": f"FB-2026-{i:06d}", "feedback_type": "complaint", "category": "quality",
                "urgency": rng.choice(["urgent", "important", "general"]), "channel": "hotline",
                "customer_name": rng.choice(CUSTOMERS), "customer_contact": f"联系人{i % 997} 138{i:08d}",
                "product_model": f"XJ-{rng.randint(100, 999)}",
                "serial_numbers": f"SN-{i * 7:08d}\nSN-{i * 7 + 1:08d}",
                "description": "，".join(rng.sample(PHRASES, 3)) + "。", "status": status,
                "received_at": received, "public_token": f"bench-{i}", "customer_locale": "zh",
                "clock_paused_minutes": 0, "data": {}, "updated_at": now,
            }
            rows[Case].append(case)
            document = _document(case, rng)
            rows[CaseSearch].append({"case_id": i, "texts": {}, "document": document,
                                     "short_terms": short_terms(document), "updated_at": now})
            instance = first_instance + n
            rows[ProcessInstance].append({
                "id": instance, "definition_id": definition_id, "process_key": process_key, "case_id": i,
                "business_key": case["number"], "status": "completed" if status == "closed" else "running",
                "state": "{}", "serializer_version": "bench", "lock_version": 1, "started_at": received,
                "updated_at": now})
            steps = STEPS[:2] + rng.sample(STEPS[2:4], rng.randint(1, 2)) + STEPS[4:]
            if status == "open":
                steps = steps[:rng.randint(1, len(steps))]
            for k, (element, title, dept) in enumerate(steps):
                done = status == "closed" or k < len(steps) - 1
                rows[HumanTask].append({
                    "id": f"bench-{i}-{k}", "instance_id": instance, "case_id": i, "process_key": process_key,
                    "element_id": element, "title": title, "department_id": departments[dept], "priority": 0,
                    "state": TaskState.COMPLETED if done else TaskState.OPEN, "created_at": received,
                    "completed_at": received if done else None, "case_number": case["number"],
                    "customer_name": case["customer_name"], "product_model": case["product_model"], "context": {}})
            if len(rows[Case]) == 5000:
                _flush(session, rows)
        _flush(session, rows)
    with database.engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def _flush(session, rows: dict[type, list[dict]]) -> None:
    for model, batch in rows.items():  # in dependency order: cases, documents, instances, tasks
        if batch:
            session.execute(insert(model), batch)
        batch.clear()


def timed(fn, repeat: int) -> dict[str, float]:
    fn()  # warm: the first call plans and caches
    samples, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        samples.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    samples.sort()
    # this process's CPU time: all of SQLite's work, the client's share of PostgreSQL's (or HTTP's)
    return {"median_ms": round(statistics.median(samples), 2),
            "p95_ms": round(samples[max(int(len(samples) * 0.95 + 0.5) - 1, 0)], 2),
            "cpu_median_ms": round(statistics.median(cpu), 2), "hits": result}


def _department_ids(database: Database) -> dict[str, int]:
    from app.data.models import Department

    with database.session() as session:
        return {row.code: row.id for row in session.scalars(select(Department))}


def time_queries(database: Database, repeat: int) -> dict[str, dict]:
    """Each query kind with each filter, through the case list's own query functions."""
    departments = _department_ids(database)
    results = {}
    with database.session() as session:
        for fname, params in FILTERS.items():
            flt = CaseFilter(department_id=departments[params["department"]]) if "department" in params else None
            for name, query in QUERIES.items():

                def stmt_in(shape, query=query, status=params.get("status"), flt=flt):
                    return cases_query(None, status, query, flt=flt, dialect=database.dialect, shape=shape)

                results[f"{name}+{fname}" if fname else name] = {"q": query, **params, **timed(
                    lambda stmt_in=stmt_in: search_page(session, stmt_in, 0, 50, SEARCH_COUNT_CAP)[1], repeat)}
    return results


def time_http(database: Database, url: str, repeat: int) -> dict[str, dict]:
    """The case list page (as Quality) and the API, on a gunicorn with production settings."""
    from bench.pages import web_session
    from bench.servers import WORKDIR, gunicorn

    class Target:  # what bench.servers.gunicorn needs of a bench database
        def env(self, **extra: str) -> dict[str, str]:
            return {**os.environ, "PYTHONPATH": str(ROOT), "APP_ENV": "production", "DATABASE_URL": url,
                    "SECRET_KEY": "bench-secret-key", "SESSION_COOKIE_SECURE": "false",
                    "UPLOAD_DIR": str(WORKDIR / "uploads"), "SCHEDULER_ENABLED": "false",
                    "AUDIT_HEAD_LOG": str(WORKDIR / "audit-heads.log"), **extra}

    departments = _department_ids(database)
    proc, base = gunicorn(Target(), workers=1, threads=1)  # type: ignore[arg-type]
    results: dict[str, dict] = {}
    try:
        session = web_session(base, "quality")
        api = {"Authorization": f"Bearer {session.headers['X-Bench-Token']}"}

        def get(path: str, params: dict, headers: dict) -> int:
            response = session.get(f"{base}{path}", params=params, headers=headers, timeout=120)
            assert response.status_code == 200, (path, params, response.status_code)
            return len(response.content)

        for fname, extra in FILTERS.items():
            params = {key: str(departments[value]) if key == "department" else value for key, value in extra.items()}
            for name, query in QUERIES.items():
                key = f"{name}+{fname}" if fname else name
                results[f"page:{key}"] = timed(lambda p={"q": query, **params}: get("/cases/", p, {}), repeat)
                results[f"api:{key}"] = timed(
                    lambda p={"q": query, "limit": "50", **params}: get("/api/v1/cases", p, api), repeat)
    finally:
        proc.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--database-url", default=f"sqlite:///{ROOT / 'instance' / 'bench-search.db'}")
    parser.add_argument("--keep", action="store_true", help="reuse a filled database (no new cases)")
    parser.add_argument("--http", action="store_true", help="also time the case list page and the API on gunicorn")
    args = parser.parse_args()
    if args.database_url.startswith("sqlite:///") and not args.keep:
        path = Path(args.database_url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    if not args.keep:
        from bench.servers import prepare

        prepare(url)  # migrations, diagrams, the demo users who sign in for --http
    database = Database(url)
    if not args.keep:
        started = time.perf_counter()
        fill_cases(database, args.cases)
        print(f"filled {args.cases} cases in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    results: dict[str, object] = {"cases": args.cases, "database": database.dialect, "target_p95_ms": TARGET_P95_MS,
                                  "load_average": os.getloadavg()}
    queries = time_queries(database, args.repeat)
    results["queries"] = queries
    failed = [name for name, row in queries.items() if row["p95_ms"] > TARGET_P95_MS]
    if args.http:
        results["http"] = time_http(database, url, max(args.repeat // 2, 5))
        failed += [name for name, row in results["http"].items() if row["p95_ms"] > TARGET_P95_MS]  # type: ignore[attr-defined]
    results["load_average_after"] = os.getloadavg()
    results["failed"] = failed
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"case-search-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
