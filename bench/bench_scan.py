"""Static-analysis speed: ``rlsguard scan`` over synthetic schemas of N tenant tables.

    .venv/bin/python bench/bench_scan.py              # N = 10, 100, 500
    .venv/bin/python bench/bench_scan.py --tables 1000

Prints, per N: catalog queries (must not grow with N), the time to read the catalog,
the time of the checks, the whole scan (medians), the first scan (before the policy
expression cache is warm), and the number of findings (0: the synthetic schema is
correct, so every check does its full work without stopping early).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import create_roles, synthetic_schema

from rlsguard.analyzer import analyze, read_only_catalog
from rlsguard.config import Settings
from rlsguard.server import ServerRequest, provision
from rlsguard.server.databases import Databases, connected

APP, ADMIN = "bench_app", "bench_admin"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tables", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    settings = Settings(project_root=Path.cwd(), app_role=APP, admin_roles=(ADMIN,))
    with provision(ServerRequest()) as server:
        print(f"rlsguard scan benchmark on {server.describe()}")
        print(
            f"{'tables':>7} {'queries':>8} {'catalog':>10} {'checks':>10} {'scan':>10} "
            f"{'first scan':>11} {'inspections':>12} {'findings':>9}"
        )
        create_roles(server.url, APP, ADMIN)
        databases = Databases(server.url)
        try:
            for count in arguments.tables:
                name = databases.create(f"synthetic_{count}")
                with connected(databases.url(name)) as connection:
                    connection.exec_driver_sql(synthetic_schema(count, APP, ADMIN))
                    connection.commit()
                    reads, checks, totals = [], [], []
                    for _ in range(arguments.repeat):
                        began = time.perf_counter()
                        catalog = read_only_catalog(connection)
                        read = time.perf_counter()
                        analysis = analyze(catalog, settings)
                        done = time.perf_counter()
                        reads.append(read - began)
                        checks.append(done - read)
                        totals.append(done - began)
                print(
                    f"{count:>7} {catalog.queries:>8} {statistics.median(reads) * 1e3:>8.0f}ms "
                    f"{statistics.median(checks) * 1e3:>8.0f}ms {statistics.median(totals) * 1e3:>8.0f}ms "
                    f"{totals[0] * 1e3:>9.0f}ms {len(analysis.inspections):>12} {len(analysis.findings):>9}"
                )
                databases.drop(name)
        finally:
            databases.close()


if __name__ == "__main__":
    main()
