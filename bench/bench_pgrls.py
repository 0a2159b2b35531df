"""A static scan by rlsguard against ``pgrls lint`` (a peer on PyPI) of the same database,
side by side: the platform at head and synthetic schemas of N tenant tables.

Each round runs both commands once (which goes first swaps every round), wall time with
Python's start-up included; the figures are the medians and the ratio rlsguard/pgrls
within each round, with its spread. pgrls is not one of rlsguard's dependencies: install
it in a venv of its own and name its command.

    python3 -m venv /tmp/pgrls && /tmp/pgrls/bin/pip install pgrls
    .venv/bin/python bench/bench_pgrls.py --pgrls /tmp/pgrls/bin/pgrls --tables 100 500
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

from sqlalchemy.engine import make_url
from synthetic import create_roles, synthetic_schema
from worktree import ROOT, compiled

from rlsguard.config import load_settings
from rlsguard.run import Run
from rlsguard.server import ServerRequest, provision
from rlsguard.server.base import Server
from rlsguard.server.databases import Databases, connected

APP, ADMIN = "bench_app", "bench_admin"


def timed(command: list[str]) -> float:
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False)
    if done.returncode not in (0, 1):  # 1: findings
        sys.exit(f"{command[0]} exited {done.returncode}: {done.stderr[-2000:]!r}")
    return time.perf_counter() - began


@contextlib.contextmanager
def platform_at_head(server: Server) -> Iterator[tuple[str, list[str]]]:
    run = Run(settings=load_settings(ROOT), given_server=server)
    try:
        dsn = run.url(run.clone()).render_as_string(hide_password=False)
        yield dsn, ["--project", str(ROOT)]
    finally:
        run.close()


@contextlib.contextmanager
def synthetic(server: Server, tables: int) -> Iterator[tuple[str, list[str]]]:
    databases = Databases(server.url)
    try:
        name = databases.create(f"pgrls_{tables}")
        with connected(databases.url(name)) as connection:
            connection.exec_driver_sql(synthetic_schema(tables, APP, ADMIN, "tree"))
            connection.commit()
        with tempfile.TemporaryDirectory() as project:
            yield (
                databases.url(name).render_as_string(hide_password=False),
                ["--project", project, "--app-role", APP, "--admin-role", ADMIN],
            )
    finally:
        databases.close()


def compare(label: str, dsn: str, options: list[str], pgrls: str, rounds: int) -> None:
    ours = [sys.executable, "-m", "rlsguard.cli", "scan", "--static-only", "--format", "json",
            "--dsn", dsn, *options]  # fmt: skip
    plain = make_url(dsn).set(drivername="postgresql", query={})  # rlsguard's options stay ours
    theirs = [pgrls, "lint", "--database-url", plain.render_as_string(hide_password=False)]
    now: list[float] = []
    peer: list[float] = []
    ratios = []
    for round_ in range(rounds):
        sides = [(now, ours), (peer, theirs)]
        if round_ % 2:
            sides.reverse()
        for times, command in sides:
            times.append(timed(command))
        ratios.append(now[-1] / peer[-1])
    print(
        f"{label}: rlsguard scan --static-only {statistics.median(now):.2f} s, pgrls lint "
        f"{statistics.median(peer):.2f} s; ratio median {statistics.median(ratios):.2f}, range "
        f"{min(ratios):.2f}-{max(ratios):.2f} over {rounds} rounds",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pgrls", required=True, help="the pgrls command")
    parser.add_argument("--tables", type=int, nargs="*", default=[100, 500])
    parser.add_argument("--rounds", type=int, default=7)
    arguments = parser.parse_args()
    compiled(ROOT)
    with provision(ServerRequest()) as server:
        with platform_at_head(server) as (dsn, options):
            compare("the platform at head (8 tables)", dsn, options, arguments.pgrls,
                    arguments.rounds)  # fmt: skip
        create_roles(server.url, APP, ADMIN)
        for tables in arguments.tables:
            with synthetic(server, tables) as (dsn, options):
                label = f"synthetic, {tables} tenant tables"
                compare(label, dsn, options, arguments.pgrls, arguments.rounds)


if __name__ == "__main__":
    main()
