"""Case search at production size: fills N cases with search documents and times the case
list's query (count + first page, as ``GET /cases/?q=`` and ``GET /api/v1/cases?q=`` run it).

    .venv/bin/python bench/case_search.py [--cases 100000] [--database-url URL] [--repeat 30]

The cases are bulk-inserted with realistic documents (Chinese descriptions and measures,
serial numbers, customers, models); the database's own index is filled as in production (the
FTS5 triggers on SQLite, the pg_trgm GIN index on PostgreSQL). Queries: a serial number (one
case), a five-character Chinese phrase (a fifth of the cases), a customer's name (2 %), a
two-character word (the LIKE fallback, a fifth of the cases), and a term that matches nothing;
each is timed through :func:`app.data.queries.cases.cases_query` and
:func:`paging.page_of_search` (what ``GET /cases/?q=`` does: the first page and the count of
matches up to 1000), as the whole-company view (Quality, managers) sees it. Target: p95 ≤ 100 ms.
``fill_cases`` can be imported by bench/run.py.
"""

from __future__ import annotations

import argparse
import json
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
from app.data.migrate import upgrade  # noqa: E402
from app.data.models import Case, CaseSearch  # noqa: E402
from app.data.queries.cases import cases_query  # noqa: E402
from app.data.queries.paging import page_of_search  # noqa: E402
from app.web.cases.routes import SEARCH_COUNT_CAP  # noqa: E402

TARGET_P95_MS = 100.0
PHRASES = ["设备运行时异响", "电机过热停机", "控制板烧毁", "外壳变形开裂", "漏油严重", "显示屏无画面", "报警代码E21",
           "密封圈老化渗漏", "装配扭矩不足", "来料硬度偏低", "包装破损导致划伤", "低温环境下启动困难", "传感器读数漂移",
           "轴承磨损", "焊缝开裂", "接线端子松动", "软件版本不兼容", "运输途中受潮"]
MEASURES = ["更换供应商并加严来料检验", "增加扭矩复检工序", "修订作业指导书", "对库存品全数筛选", "改进包装防护",
            "增加出厂老化测试", "培训装配人员", "设计变更加厚外壳"]
CUSTOMERS = [f"{city}{kind}有限公司" for city in ("华东", "华南", "华北", "西南", "东北", "江苏", "浙江", "广东")
             for kind in ("机械", "电气", "自动化", "重工", "精密", "科技")]
QUERIES = {"serial": "SN-00350007", "phrase": "控制板烧毁", "customer": "浙江精密有限公司",
           "short": "漏油", "none": "不存在的词语组合"}


def _document(case: dict, rng: random.Random) -> str:
    texts = [case["number"], case["customer_name"], case["customer_contact"], case["product_model"],
             case["serial_numbers"], case["description"]]
    texts += rng.sample(MEASURES, 2) + [rng.choice(PHRASES) + "，已分析原因。"]
    return "\n".join(texts)


def fill_cases(database: Database, count: int, seed: int = 7) -> None:
    """Bulk-insert ``count`` cases and their search documents."""
    rng = random.Random(seed)
    now = clock.now()
    with database.transaction() as session:
        first = (session.scalar(select(Case.id).order_by(Case.id.desc()).limit(1)) or 0) + 1
        cases, documents = [], []
        for i in range(first, first + count):
            case = {
                "id": i, "number": f"FB-2026-{i:06d}", "feedback_type": "complaint", "category": "quality",
                "urgency": rng.choice(["urgent", "important", "general"]), "channel": "hotline",
                "customer_name": rng.choice(CUSTOMERS), "customer_contact": f"联系人{i % 997} 138{i:08d}",
                "product_model": f"XJ-{rng.randint(100, 999)}",
                "serial_numbers": f"SN-{i * 7:08d}\nSN-{i * 7 + 1:08d}",
                "description": "，".join(rng.sample(PHRASES, 3)) + "。", "status": rng.choice(["open", "closed"]),
                "received_at": now - timedelta(minutes=i), "public_token": f"bench-{i}", "customer_locale": "zh",
                "clock_paused_minutes": 0, "data": {}, "updated_at": now,
            }
            cases.append(case)
            documents.append({"case_id": i, "texts": {}, "document": _document(case, rng), "updated_at": now})
            if len(cases) == 5000:
                session.execute(insert(Case), cases)
                session.execute(insert(CaseSearch), documents)
                cases, documents = [], []
        if cases:
            session.execute(insert(Case), cases)
            session.execute(insert(CaseSearch), documents)
    with database.engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def timed(fn, repeat: int) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 2),
            "p95_ms": round(samples[max(int(len(samples) * 0.95) - 1, 0)], 2), "hits": result}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--database-url", default=f"sqlite:///{ROOT / 'instance' / 'bench-search.db'}")
    parser.add_argument("--keep", action="store_true", help="reuse a filled database (no new cases)")
    args = parser.parse_args()
    if args.database_url.startswith("sqlite:///") and not args.keep:
        path = Path(args.database_url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    upgrade(args.database_url)
    database = Database(args.database_url)
    if not args.keep:
        started = time.perf_counter()
        fill_cases(database, args.cases)
        print(f"filled {args.cases} cases in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    results: dict[str, object] = {"cases": args.cases, "database": database.dialect, "target_p95_ms": TARGET_P95_MS}
    with database.session() as session:
        for name, query in QUERIES.items():
            stmt = cases_query(None, search=query)
            results[name] = {"q": query, **timed(
                lambda stmt=stmt: page_of_search(session, stmt, 1, 50, SEARCH_COUNT_CAP)[1], args.repeat)}
    failed = [name for name in QUERIES if results[name]["p95_ms"] > TARGET_P95_MS]  # type: ignore[index]
    results["failed"] = failed
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"case-search-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
