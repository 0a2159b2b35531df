"""``rlsguard init`` wall time: on the platform (the whole command, which builds the
migrations in a throwaway server, and ``--dsn`` on a migrated copy) and on a synthetic
schema of N tenant tables (``--dsn``). Beside each ``--dsn`` run, alternating, the same
database's ``rlsguard scan --static-only``: the ratio says what proposing costs against
reading and checking the same catalog.

    .venv/bin/python bench/bench_init.py [--tables 100] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import synthetic_schema  # noqa: E402

from rlsguard.config import load_settings  # noqa: E402
from rlsguard.run import Run  # noqa: E402
from rlsguard.server.databases import connected  # noqa: E402

APP, ADMIN = "bench_init_app", "bench_init_admin"


def timed(*arguments: str) -> float:
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "rlsguard.cli", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "RLSGUARD_DSN": ""},
        check=False,
    )
    elapsed = time.perf_counter() - began
    if done.returncode not in (0, 1):
        shown = " ".join("<dsn>" if "://" in item else item for item in arguments)
        raise SystemExit(f"rlsguard {shown} failed:\n{done.stderr}")
    return elapsed


def side_by_side(label: str, dsn: str, repeat: int, project: Path, **flags: str) -> None:
    given = [item for key, value in flags.items() for item in (f"--{key}", value)]
    inits, scans = [], []
    for _ in range(repeat):  # alternating, so a busy moment hits both
        inits.append(timed("init", "--dsn", dsn, "--project", str(project)))
        scans.append(
            timed("scan", "--static-only", "--dsn", dsn, "--project", str(project), *given)
        )
    ratios = [a / b for a, b in zip(inits, scans, strict=True)]
    print(
        f"{label:<28} init --dsn {statistics.median(inits):6.2f} s   scan --static-only "
        f"{statistics.median(scans):6.2f} s   init/scan median {statistics.median(ratios):.2f} "
        f"(spread {min(ratios):.2f}-{max(ratios):.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tables", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    whole = [timed("init", "--project", str(ROOT)) for _ in range(arguments.repeat)]
    print(
        f"{'platform, whole command':<28} init {statistics.median(whole):6.2f} s median "
        f"(spread {min(whole):.2f}-{max(whole):.2f}; builds 001-head in a throwaway server)"
    )
    elsewhere = Path(tempfile.mkdtemp(prefix="bench_init_"))  # a project without a config
    (elsewhere / "pyproject.toml").write_text('[project]\nname = "synthetic"\n')
    run = Run(settings=load_settings(ROOT))
    try:
        platform = run.url(run.clone())
        side_by_side("platform, --dsn", platform.render_as_string(hide_password=False),
                     arguments.repeat, ROOT)  # fmt: skip
        with connected(run.server.url) as connection:
            connection.exec_driver_sql(
                f"DROP ROLE IF EXISTS {APP}; DROP ROLE IF EXISTS {ADMIN}; "
                f"CREATE ROLE {APP}; CREATE ROLE {ADMIN}"
            )
            connection.commit()
        name = run.empty_database(f"synthetic_{arguments.tables}")
        with connected(run.url(name)) as connection:
            connection.exec_driver_sql(synthetic_schema(arguments.tables, APP, ADMIN, "tree"))
            connection.commit()
        side_by_side(
            f"synthetic, {arguments.tables} tables",
            run.url(name).render_as_string(hide_password=False),
            arguments.repeat,
            elsewhere,
            **{"app-role": APP, "admin-role": ADMIN, "tenant-column": "tenant_id"},
        )
    finally:
        run.close()


if __name__ == "__main__":
    main()
