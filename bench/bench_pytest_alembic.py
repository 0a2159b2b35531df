"""rlsguard's migration tests against pytest-alembic's four built-in tests (a peer on
PyPI), side by side on the platform's migrations and on one server.

Each round runs both once (which goes first swaps every round), each a pytest run of its
own with Python's start-up included: rlsguard's tests imported from ``rlsguard.suite``
into a test module (one head, a build from nothing, every revision up/down/up with the
schema compared at each turn, down to base, models against the DDL), and
``pytest --test-alembic`` (one head, every revision up, up then down all the way, models
against the DDL; it compares no schemas). The figures are the medians and the ratio
rlsguard/pytest-alembic within each round, with its spread. pytest-alembic is not one of
rlsguard's dependencies, and 0.13 needs pytest < 9: install it in a venv of its own and
name its Python.

    python3 -m venv /tmp/pa && /tmp/pa/bin/pip install pytest-alembic 'pytest<9' psycopg2-binary
    .venv/bin/python bench/bench_pytest_alembic.py --python /tmp/pa/bin/python --rounds 5
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

from worktree import ROOT, compiled

from rlsguard.server import ServerRequest, provision
from rlsguard.server.base import Server
from rlsguard.server.databases import Databases

OURS = """from rlsguard.suite import (  # noqa: F401
    test_downgrade_to_base_leaves_nothing,
    test_models_match_migrations,
    test_revision_roundtrip,
    test_single_head,
    test_upgrade_from_empty_to_head,
)
"""

THEIRS = """import os

import pytest
import sqlalchemy
from sqlalchemy.pool import NullPool


@pytest.fixture
def alembic_config():
    return {"file": os.environ["BENCH_ALEMBIC_INI"]}


@pytest.fixture
def alembic_engine():
    engine = sqlalchemy.create_engine(os.environ["BENCH_DATABASE_URL"], poolclass=NullPool)
    yield engine
    engine.dispose()
"""


def timed(command: list[str], cwd: Path, environment: dict[str, str], passed: str) -> float:
    began = time.perf_counter()
    done = subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - began
    if done.returncode != 0 or passed not in done.stdout:
        sys.exit(f"{command[0]} in {cwd} said:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="a Python with pytest-alembic")
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    compiled(ROOT)
    server: Server = provision(ServerRequest(backend="local"))
    databases = Databases(server.url)
    try:
        with tempfile.TemporaryDirectory(prefix="rlsguard-bench-") as scratch:
            compare(Path(scratch), server, databases, arguments.python, arguments.rounds)
    finally:
        databases.close()
        server.stop()


def compare(scratch: Path, server: Server, databases: Databases, python: str, rounds: int) -> None:
    ours_dir, theirs_dir = scratch / "rlsguard", scratch / "pytest_alembic"
    (ours_dir / "tests").mkdir(parents=True)
    (theirs_dir / "tests").mkdir(parents=True)
    for folder in (ours_dir, theirs_dir):
        (folder / "pytest.ini").write_text("[pytest]\n")
    (ours_dir / "tests" / "test_migrations.py").write_text(OURS)
    (theirs_dir / "tests" / "conftest.py").write_text(THEIRS)
    dsn = server.url.render_as_string(hide_password=False)
    ours = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests",
            "--rlsguard-dsn", dsn, "--rlsguard-project", str(ROOT)]  # fmt: skip
    theirs = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--test-alembic"]
    now: list[float] = []
    peer: list[float] = []
    ratios = []
    for round_ in range(rounds):
        name = databases.create(f"pytest_alembic_{round_}")  # empty: its tests build on it
        environment = {
            **os.environ,
            "BENCH_ALEMBIC_INI": str(ROOT / "alembic.ini"),
            "BENCH_DATABASE_URL": databases.url(name).render_as_string(hide_password=False),
        }
        runs = [
            ("ours", lambda: timed(ours, ours_dir, dict(os.environ), "12 passed")),
            ("theirs", lambda: timed(theirs, theirs_dir, environment, "4 passed")),  # noqa: B023
        ]
        seconds = {side: run() for side, run in (runs if round_ % 2 == 0 else runs[::-1])}
        databases.drop(name)
        now.append(seconds["ours"])
        peer.append(seconds["theirs"])
        ratios.append(seconds["ours"] / seconds["theirs"])
        print(
            f"round {round_ + 1}: rlsguard {seconds['ours']:.2f} s, pytest-alembic "
            f"{seconds['theirs']:.2f} s, ratio {ratios[-1]:.2f}"
        )
    print(
        f"the platform's migrations (8 revisions): rlsguard's migration tests "
        f"{statistics.median(now):.2f} s, pytest-alembic's built-in tests "
        f"{statistics.median(peer):.2f} s; ratio median {statistics.median(ratios):.2f}, "
        f"range {min(ratios):.2f}-{max(ratios):.2f} over {rounds} rounds"
    )


if __name__ == "__main__":
    main()
