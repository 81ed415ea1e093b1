"""A/B of case search at volume: the search as on ``main`` (``--base``, read from git) against
this working tree, on the same database, alternating each repetition so that both see the same
machine load. The queries and filters of :mod:`bench.case_search`.

    .venv/bin/python bench/case_search_ab.py --database-url URL [--base main] [--repeat 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.data.db import Database  # noqa: E402
from app.data.queries import cases as current  # noqa: E402
from app.data.queries.cases import CaseFilter  # noqa: E402
from bench.case_search import FILTERS, QUERIES, _department_ids  # noqa: E402

CAP = 1000


def _base_modules(base: str) -> types.ModuleType:
    """The base revision's ``cases`` query module, its search module under another name."""
    def source(path: str) -> str:
        return subprocess.run(["git", "show", f"{base}:{path}"], cwd=ROOT, check=True, capture_output=True,
                              text=True).stdout

    search = types.ModuleType("base_search")
    sys.modules["base_search"] = search
    exec(compile(source("app/data/queries/search.py"), "base_search", "exec"), search.__dict__)  # noqa: S102
    cases = types.ModuleType("base_cases")
    sys.modules["base_cases"] = cases
    exec(compile(source("app/data/queries/cases.py").replace("app.data.queries.search", "base_search"),  # noqa: S102
                 "base_cases", "exec"), cases.__dict__)
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--base", default="main")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    base = _base_modules(args.base)
    database = Database(args.database_url)
    departments = _department_ids(database)
    results: dict[str, object] = {"database": database.dialect, "base": args.base, "load_average": os.getloadavg()}
    with database.session() as session:
        def searched(module: types.ModuleType, status, query, flt) -> tuple[int, list[int]]:
            def stmt_in(shape):
                return module.cases_query(None, status, query, flt=flt, dialect=database.dialect, shape=shape)
            cases, total, _exact = module.search_page(session, stmt_in, 0, 50, CAP)
            found = total, [case.id for case in cases]
            session.rollback()  # one transaction per search, as per request: settings made in it end with it
            return found

        def old(status, query, flt):
            return searched(base, status, query, flt)

        def new(status, query, flt):
            return searched(current, status, query, flt)

        for fname, params in FILTERS.items():
            flt = CaseFilter(department_id=departments[params["department"]]) if "department" in params else None
            for name, query in QUERIES.items():
                samples: dict[str, list[float]] = {"base": [], "new": []}
                hits = {}
                for run in range(args.repeat + 1):
                    for label, fn in (("base", old), ("new", new)) if run % 2 else (("new", new), ("base", old)):
                        start = time.perf_counter()
                        hits[label] = fn(params.get("status"), query, flt)
                        if run:  # the first is a warm-up
                            samples[label].append((time.perf_counter() - start) * 1000)
                assert hits["base"] == hits["new"], (name, fname)  # the same count and page
                row = {"q": query}
                for label, values in samples.items():
                    values.sort()
                    row[label] = {"p50": round(statistics.median(values), 1),
                                  "p95": round(values[max(int(len(values) * 0.95 + 0.5) - 1, 0)], 1),
                                  "hits": hits[label][0]}
                results[f"{name}+{fname}" if fname else name] = row
                print(f"{name}+{fname:10} base {row['base']} new {row['new']}", file=sys.stderr)
    results["load_average_after"] = os.getloadavg()
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
