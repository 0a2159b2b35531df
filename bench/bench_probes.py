"""Probe speed: examples per second per property, and the wall time of the whole dynamic
suite, on the platform schema, on the hardened corpus schema and on synthetic schemas.

    .venv/bin/python bench/bench_probes.py                          # everything (long)
    .venv/bin/python bench/bench_probes.py --schemas platform hardened
    .venv/bin/python bench/bench_probes.py --schemas synthetic --tables 10 100

Profiles: "default" (Hypothesis's default: 100 examples a probe, random) and "ci"
(derandomized, as CI=true selects). A failing probe also spends up to
--shrink-seconds shrinking its example; the examples it runs while shrinking count.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import psycopg2
from hypothesis import settings
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import synthetic_schema

from rlsguard.analyzer import scan
from rlsguard.config import Settings, load_settings
from rlsguard.databases import Databases, connected
from rlsguard.probes.runner import SHRINK_SECONDS, ProbeResult, ProbeRunner
from rlsguard.server import ServerRequest, provision
from rlsguard.session import Run
from rlsguard.urls import psycopg2_params

PROJECT = Path(__file__).resolve().parents[1]
HARDENED = PROJECT / "tests" / "fixtures" / "hardened_project"
PROFILES = {
    "default": settings(settings.get_profile("default"), max_examples=100),
    "ci": settings(settings.get_profile("ci"), max_examples=100),
}


def report(label: str, results: list[ProbeResult], wall: float) -> None:
    by_probe: dict[str, list[ProbeResult]] = defaultdict(list)
    for result in results:
        by_probe[f"{result.probe.id} {result.probe.name}"].append(result)
    print(f"\n{label}: {len(results)} probe items, wall time {wall:.1f} s")
    print(f"  {'probe':34} {'items':>5} {'failed':>6} {'examples':>9} {'examples/s':>11}")
    for name, found in sorted(by_probe.items()):
        examples = sum(item.examples for item in found)
        seconds = sum(item.seconds for item in found)
        failed = sum(item.status in ("fail", "warning") for item in found)
        print(
            f"  {name:34} {len(found):>5} {failed:>6} {examples:>9} {examples / max(seconds, 1e-9):>11.0f}"
        )
    rates = [
        item.examples / item.seconds for item in results if item.status == "pass" and item.seconds
    ]
    total = sum(item.examples for item in results)
    print(
        f"  all: {total} examples; passing probes median {statistics.median(rates) if rates else 0:.0f} examples/s"
    )


def run_probes(
    url: object, tenancy: object, profile: settings, shrink: float
) -> tuple[list[ProbeResult], float]:
    connections = {name: psycopg2.connect(**psycopg2_params(url)) for name in ("main", "fresh")}  # type: ignore[arg-type]
    try:
        runner = ProbeRunner(tenancy, connections, profile, shrink_seconds=shrink)  # type: ignore[arg-type]
        began = time.perf_counter()
        results = runner.run_all()
        return results, time.perf_counter() - began
    finally:
        for connection in connections.values():
            connection.close()


def bench_project(
    server: object, project: Path, label: str, profiles: list[str], shrink: float
) -> None:
    run = Run(settings=load_settings(project), given_server=server)  # type: ignore[arg-type]
    try:
        tenancy = run.analysis().tenancy
        url = run.url(run.working_database())
        for name in profiles:
            results, wall = run_probes(url, tenancy, PROFILES[name], shrink)
            report(f"{label}, profile {name}", results, wall)
    finally:
        run.close()


def bench_synthetic(server: object, tables: list[int], profiles: list[str], shrink: float) -> None:
    app, admin = "bench_probe_app", "bench_probe_admin"
    engine = create_engine(server.url, isolation_level="AUTOCOMMIT")  # type: ignore[attr-defined]
    with engine.connect() as connection:
        connection.execute(text(f"CREATE ROLE {app}; CREATE ROLE {admin}"))
    engine.dispose()
    databases = Databases(server.url)  # type: ignore[attr-defined]
    settings_ = Settings(project_root=Path.cwd(), app_role=app, admin_roles=(admin,))
    try:
        for count in tables:
            name = databases.create(f"probe_synthetic_{count}")
            url = databases.url(name)
            with connected(url) as connection:
                connection.exec_driver_sql(synthetic_schema(count, app, admin))
                connection.commit()
                tenancy = scan(connection, settings_).tenancy
            for profile in profiles:
                results, wall = run_probes(url, tenancy, PROFILES[profile], shrink)
                report(f"synthetic schema, {count} tenant tables, profile {profile}", results, wall)
            databases.drop(name)
    finally:
        databases.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--schemas", nargs="+", default=["platform", "hardened", "synthetic"])
    parser.add_argument(
        "--profiles", nargs="+", default=["default", "ci"], choices=sorted(PROFILES)
    )
    parser.add_argument("--tables", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--shrink-seconds", type=float, default=SHRINK_SECONDS)
    arguments = parser.parse_args()
    with provision(ServerRequest()) as server:
        print(f"rlsguard probe benchmark on {server.describe()}")
        if "platform" in arguments.schemas:
            bench_project(
                server,
                PROJECT,
                "platform schema at head (as shipped)",
                arguments.profiles,
                arguments.shrink_seconds,
            )
        if "hardened" in arguments.schemas:
            bench_project(
                server,
                HARDENED,
                "hardened corpus schema",
                arguments.profiles,
                arguments.shrink_seconds,
            )
        if "synthetic" in arguments.schemas:
            bench_synthetic(server, arguments.tables, arguments.profiles, arguments.shrink_seconds)


if __name__ == "__main__":
    main()
