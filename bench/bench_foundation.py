"""Foundation timings: a ready server from nothing, migrating to head, cloning the
migrated template, a rolled-back transaction, and the wall time of the test suite.

    .venv/bin/python bench/bench_foundation.py            # everything (about 3 minutes)
    .venv/bin/python bench/bench_foundation.py --no-suite # without the test suite

Nothing is cached between runs: every server is a fresh ``initdb`` into a new folder, so
"first start" is the cold path and "later starts" only differ by what the OS has in
its page cache. Medians over --repeat runs; min and max beside them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text

from rlsguard.config import load_settings
from rlsguard.run import Run
from rlsguard.server import ServerRequest, provision
from rlsguard.server.embedded import embedded_server
from rlsguard.server.local import LocalServer, discover_local_binaries

PROJECT = Path(__file__).resolve().parents[1]


def timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def row(label: str, samples: list[float], unit: str = "ms") -> None:
    scale = {"ms": 1e3, "us": 1e6, "s": 1.0}[unit]
    values = [sample * scale for sample in samples]
    median = statistics.median(values)
    print(
        f"  {label:<46} {median:>9.2f} {unit}   (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"
    )


def start_stop(make: Callable[[], LocalServer]) -> float:
    server = make()
    try:
        return timed(server.start)
    finally:
        server.stop()


def bench_servers(repeat: int) -> None:
    print("server from nothing (initdb + start + first connection), no cache:")
    binaries = discover_local_binaries()[0]
    first = start_stop(lambda: LocalServer(binaries))
    row(f"local {binaries.bindir}: first start", [first])
    row("local: later starts", [start_stop(lambda: LocalServer(binaries)) for _ in range(repeat)])
    try:
        first = start_stop(embedded_server)
    except Exception as error:
        print(f"  embedded: not measured ({error})")
        return
    row("embedded wheel: first start", [first])
    row(
        "embedded wheel: later starts",
        [start_stop(embedded_server) for _ in range(repeat)],
    )


def bench_databases(repeat: int) -> None:
    settings = load_settings(PROJECT)
    with provision(ServerRequest(backend="local")) as server:
        print(f"databases on {server.describe()}:")
        run = Run(settings=settings, given_server=server)
        try:
            migrate = []
            for _ in range(repeat):
                name = run.empty_database("bench_migrate")
                migrate.append(timed(lambda name=name: run.project.upgrade(run.url(name))))
                run.drop(name)
            row(
                f"migrate an empty database to head ({len(run.project.revision_ids())} revisions)",
                migrate,
            )
            template = run.template()
            clones = []
            for _ in range(repeat * 3):
                began = time.perf_counter()
                name = run.clone()
                clones.append(time.perf_counter() - began)
                run.drop(name)
            row("CREATE DATABASE ... TEMPLATE <migrated head>", clones)
            row(
                "schema fingerprint (catalog read)",
                [timed(lambda: run.fingerprint(template)) for _ in range(repeat * 3)],
            )
            engine = create_engine(run.url(run.working_database()))
            with engine.connect() as connection:
                samples = []
                for number in range(2000):
                    began = time.perf_counter()
                    transaction = connection.begin()
                    connection.execute(
                        text("INSERT INTO tenants (name, domain) VALUES ('t', :domain)"),
                        {"domain": f"t{number}.example"},
                    )
                    transaction.rollback()
                    samples.append(time.perf_counter() - began)
                row("BEGIN; INSERT; ROLLBACK on one connection", samples, "us")
            engine.dispose()
        finally:
            run.close()


def bench_suite() -> None:
    print("test suite (the README's test command, CI=true):")
    began = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=PROJECT,
        env={**os.environ, "CI": "true"},
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - began
    summary = (
        result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr[-500:]
    )
    row(f"pytest wall time ({summary})", [elapsed], "s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-suite", action="store_true", help="skip timing the test suite")
    arguments = parser.parse_args()
    print(f"rlsguard foundation benchmark, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    bench_servers(arguments.repeat)
    bench_databases(arguments.repeat)
    if not arguments.no_suite:
        bench_suite()


if __name__ == "__main__":
    main()
