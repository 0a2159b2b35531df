"""``rlsguard check`` at head with pytest-xdist's workers sharing one server and template
(``--workers N``), against the same check in one process, side by side.

The machine is shared and noisy, so the two run alternately (which one goes first swaps
every pair) and the figure is the ratio within each pair, with its spread.

    .venv/bin/python bench/bench_workers.py --workers 2 --pairs 3
    .venv/bin/python bench/bench_workers.py --tables 10 100 --pairs 1   # synthetic projects
    .venv/bin/python bench/bench_workers.py --tables 10 100 1000 --hosts --pairs 1

``--hosts``: the workers are pytest-xdist ``--tx N*popen`` gateways (execnet), standing in
for other hosts, instead of ``--workers N``.

``--tables``: an Alembic project of its own per size, one migration that builds the
synthetic schema of bench/synthetic.py (tenant tables in a tree of composite foreign keys).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synthetic import synthetic_schema
from worktree import ROOT, compiled

HARDENED = ROOT / "tests" / "fixtures" / "hardened_project"
APP, ADMIN = "bench_app", "bench_admin"
MIGRATION = """from pathlib import Path

from alembic import op

revision = "0001_synthetic"
down_revision = None


def upgrade():
    for name in ("{app}", "{admin}"):
        op.execute(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{name}}') "
            f"THEN CREATE ROLE {{name}}; END IF; END $$"
        )
    op.execute((Path(__file__).parent / "schema.sql").read_text())


def downgrade():
    op.execute("DROP TABLE {tables} CASCADE")
    op.execute("REVOKE USAGE ON SCHEMA public FROM {app}, {admin}")
"""


def synthetic_project(folder: Path, tables: int) -> Path:
    """An Alembic project whose one migration builds ``tables`` synthetic tenant tables."""
    versions = folder / "migrations" / "versions"
    versions.mkdir(parents=True)
    for name in ("alembic.ini", "migrations/env.py", "migrations/script.py.mako"):
        (folder / name).write_text((HARDENED / name).read_text())
    names = ", ".join([*(f"t{number:04d}" for number in range(tables, 0, -1)), "tenants"])
    (versions / "schema.sql").write_text(synthetic_schema(tables, APP, ADMIN, "tree"))
    (versions / "0001_synthetic.py").write_text(
        MIGRATION.format(app=APP, admin=ADMIN, tables=names)
    )
    (folder / "pyproject.toml").write_text(
        f'[tool.rlsguard]\nalembic_ini = "alembic.ini"\napp_role = "{APP}"\n'
        f'admin_roles = ["{ADMIN}"]\n'
    )
    return folder


def timed_check(report: Path, workers: int, project: Path = ROOT, hosts: bool = False) -> float:
    command = [sys.executable, "-m", "rlsguard.cli", "check", "-q", "--backend", "local",
               "--project", str(project), "--report", str(report)]  # fmt: skip
    if workers > 1 and hosts:
        command += ["--", "--tx", f"{workers}*popen", "--dist", "loadgroup"]
    elif workers > 1:
        command += ["--workers", str(workers)]
    began = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    if result.returncode != 0:
        sys.exit(f"rlsguard check ({workers} workers) exited {result.returncode}:\n"
                 f"{result.stdout[-2000:]}{result.stderr[-2000:]}")  # fmt: skip
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--tables", type=int, nargs="*", default=[],
                        help="synthetic projects of these sizes instead of this one")  # fmt: skip
    parser.add_argument("--hosts", action="store_true", help="--tx N*popen, not --workers N")
    arguments = parser.parse_args()
    compiled(ROOT)
    with tempfile.TemporaryDirectory() as scratch:
        projects = {"the platform": ROOT}
        if arguments.tables:
            projects = {
                f"{tables} synthetic tables": synthetic_project(Path(scratch) / str(tables), tables)
                for tables in arguments.tables
            }
        for label, project in projects.items():
            reports = Path(scratch) / "reports"
            compare(
                label, project, arguments.workers, arguments.pairs, reports, hosts=arguments.hosts
            )


def compare(
    label: str, project: Path, workers: int, pairs: int, reports: Path, *, hosts: bool = False
) -> None:
    ratios = []
    for pair in range(pairs):
        sides = [workers, 1]
        if pair % 2:
            sides.reverse()
        times = {
            count: timed_check(reports / f"{label}-{count}" / "report.html", count, project, hosts)
            for count in sides
        }
        ratios.append(times[workers] / times[1])
        print(
            f"{label}, pair {pair + 1}: {workers} {'hosts' if hosts else 'workers'} {times[workers]:.1f} s, "
            f"one process {times[1]:.1f} s, ratio {ratios[-1]:.2f}",
            flush=True,
        )
    print(
        f"{label}: ratio {workers} workers / one process: median "
        f"{statistics.median(ratios):.2f}, range {min(ratios):.2f}-{max(ratios):.2f} "
        f"over {len(ratios)} pairs",
        flush=True,
    )


if __name__ == "__main__":
    main()
