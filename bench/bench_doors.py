"""What judging the doors around RLS costs the static scan: a synthetic schema of N tenant
tables with, per table, a SQL and a PL/pgSQL SECURITY DEFINER function bound to the
session's tenant and a definer trigger bound to its row (3N function bodies parsed and
judged), scanned by this tree and by an earlier commit, alternately.

    .venv/bin/python bench/bench_doors.py --base 3aaad0f --tables 10 100 --pairs 5

Prints, per N: the median wall time of ``rlsguard scan --static-only --dsn`` for each,
the ratio within each pair (median, min-max) and the findings each reports (0 at head:
every door is bound; the base commit flags every definer function of a superuser).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import BOUND, create_roles, synthetic_schema  # noqa: E402
from worktree import earlier_tree  # noqa: E402

from rlsguard.server import ServerRequest, provision  # noqa: E402
from rlsguard.server.databases import Databases, connected  # noqa: E402

APP, ADMIN = "bench_doors_app", "bench_doors_admin"


def doors(tables: int) -> str:
    statements = []
    for number in range(1, tables + 1):
        name = f"t{number:04d}"
        statements += [
            f"CREATE FUNCTION {name}_ids() RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER "
            f"SET search_path = pg_catalog, public AS $$ SELECT id FROM public.{name} "
            f"WHERE tenant_id = {BOUND} $$",
            f"CREATE FUNCTION {name}_count() RETURNS bigint LANGUAGE plpgsql STABLE SECURITY "
            f"DEFINER SET search_path = pg_catalog, public AS $$ DECLARE mine uuid := {BOUND}; "
            f"found bigint; BEGIN SELECT count(*) INTO found FROM public.{name} "
            f"WHERE tenant_id = mine; RETURN found; END $$",
            f"CREATE FUNCTION {name}_touch() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER "
            f"SET search_path = pg_catalog, public AS $$ BEGIN UPDATE public.tenants SET "
            f"name = name WHERE tenant_id = NEW.tenant_id; RETURN NEW; END $$",
            f"CREATE TRIGGER {name}_touched AFTER INSERT ON {name} FOR EACH ROW "
            f"EXECUTE FUNCTION {name}_touch()",
        ]
    return ";\n".join(statements)


def scan(source: Path, dsn: str, project: Path) -> tuple[float, int]:
    environment = {**os.environ, "PYTHONPATH": str(source / "src"), "RLSGUARD_DSN": ""}
    command = [sys.executable, "-m", "rlsguard.cli", "scan", "--static-only", "--dsn", dsn,
               "--project", str(project), "--format", "json"]  # fmt: skip
    began = time.perf_counter()
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    if done.returncode not in (0, 1):
        raise SystemExit(f"scan from {source} failed:\n{done.stderr[-2000:]}")
    return seconds, len(json.loads(done.stdout)["findings"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", default="HEAD~1")
    parser.add_argument("--tables", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--pairs", type=int, default=5)
    arguments = parser.parse_args()
    with earlier_tree(arguments.base) as base, tempfile.TemporaryDirectory() as scratch:
        project = Path(scratch) / "project"
        project.mkdir()
        (project / "pyproject.toml").write_text(
            f'[tool.rlsguard]\napp_role = "{APP}"\nadmin_roles = ["{ADMIN}"]\n'
        )
        run(arguments, base, project)


def run(arguments: argparse.Namespace, base: Path, project: Path) -> None:
    with provision(ServerRequest()) as server:
        print(f"static scan with doors judged, head vs {arguments.base}, on {server.describe()}")
        print(f"{'tables':>7} {'bodies':>7} {'head':>8} {'base':>8} {'ratio':>7} "
              f"{'min-max':>11} {'findings head/base':>19}")  # fmt: skip
        create_roles(server.url, APP, ADMIN)
        databases = Databases(server.url)
        try:
            for count in arguments.tables:
                name = databases.create(f"doors_{count}")
                with connected(databases.url(name)) as connection:
                    connection.exec_driver_sql(synthetic_schema(count, APP, ADMIN))
                    connection.exec_driver_sql(doors(count))
                    connection.commit()
                dsn = databases.url(name).render_as_string(hide_password=False)
                heads, bases, ratios, found = [], [], [], (0, 0)
                for pair in range(arguments.pairs):
                    order = [ROOT, base] if pair % 2 == 0 else [base, ROOT]
                    timed = {source: scan(source, dsn, project) for source in order}
                    heads.append(timed[ROOT][0])
                    bases.append(timed[base][0])
                    ratios.append(timed[ROOT][0] / timed[base][0])
                    found = (timed[ROOT][1], timed[base][1])
                print(
                    f"{count:>7} {3 * count:>7} {statistics.median(heads):>7.2f}s "
                    f"{statistics.median(bases):>7.2f}s {statistics.median(ratios):>6.2f}x "
                    f"{min(ratios):>5.2f}-{max(ratios):<5.2f} {found[0]:>9}/{found[1]}"
                )
                databases.drop(name)
        finally:
            databases.close()


if __name__ == "__main__":
    main()
