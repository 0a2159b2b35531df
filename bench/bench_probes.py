"""Probe speed: examples per second per property, and the wall time of the whole dynamic
suite, on the platform schema, on the hardened corpus schema and on synthetic schemas.

    .venv/bin/python bench/bench_probes.py                          # everything (long)
    .venv/bin/python bench/bench_probes.py --schemas platform hardened
    .venv/bin/python bench/bench_probes.py --schemas synthetic --tables 10 100

The platform schema is measured as shipped (004: most probes fail, and shrink) and at
head (hardened: every probe holds). The synthetic schema's tables reference a parent
table: a binary tree by default (--shape tree, about log2(N) deep), or a chain N deep
(--shape chain: a row of table N needs N - 1 parent rows).

Profiles: "default" (Hypothesis's default: 100 examples a probe, random) and "ci"
(derandomized, as CI=true selects). ``--alike both`` runs each schema with the proofs of
alike tables carried over (docs/probes.md, "Alike tables") and with every table probed
(``probe_every_table``), alternating for ``--rounds`` rounds, and prints the ratio. A failing probe also spends up to
--shrink-seconds shrinking its example; the examples it runs while shrinking count.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import resource
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import settings
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import synthetic_schema

from rlsguard.analyzer import scan
from rlsguard.config import Settings, load_settings
from rlsguard.probes.forked import ProberRecipe, judge_in_lanes
from rlsguard.probes.login import ProbeLogin, probe_connections, roles_acted_as
from rlsguard.probes.registry import PROBES
from rlsguard.probes.runner import SHRINK_SECONDS, ProbeResult, ProbeRunner
from rlsguard.run import Run
from rlsguard.server import ServerRequest, provision
from rlsguard.server.databases import Databases, connected

PROJECT = Path(__file__).resolve().parents[1]
HARDENED = PROJECT / "tests" / "fixtures" / "hardened_project"
PROFILES = {"default": settings.get_profile("default"), "ci": settings.get_profile("ci")}
PLATFORM_REVISIONS = {
    "004_add_tenant_configs_table": "platform schema at 004 (as shipped)",
    "head": "platform schema at head (hardened)",
}


def report(label: str, results: list[Summary], wall: float, cpu: float) -> None:
    by_probe: dict[str, list[Summary]] = defaultdict(list)
    for result in results:
        by_probe[f"{result.probe_id} {result.probe_name}"].append(result)
    print(
        f"\n{label}: {len(results)} probe items, wall time {wall:.1f} s, "
        f"CPU time of the probing processes {cpu:.1f} s"
    )
    print(
        f"  {'probe':34} {'items':>5} {'failed':>6} {'cannot':>6} {'examples':>9} "
        f"{'witnessed':>9} {'examples/s':>11}"
    )
    for name, found in sorted(by_probe.items()):
        examples = sum(item.examples for item in found)
        witnessed = sum(item.witnessed for item in found)
        seconds = sum(item.seconds for item in found)
        failed = sum(item.status in ("fail", "warning") for item in found)
        unable = sum(item.status == "cannot" for item in found)
        rate = examples / max(seconds, 1e-9)
        print(
            f"  {name:34} {len(found):>5} {failed:>6} {unable:>6} {examples:>9} {witnessed:>9} "
            f"{rate:>11.0f}"
        )
    rates = [
        item.examples / item.seconds for item in results if item.status == "pass" and item.seconds
    ]
    total = sum(item.examples for item in results)
    witnessed = sum(item.witnessed for item in results)
    acted = sum(item.status != "cannot" for item in results)
    alike = sum(item.proven_on is not None for item in results)
    median = statistics.median(rates) if rates else 0
    print(
        f"  all: {total} examples, {witnessed} witnessed; {acted} of {len(results)} items acted"
        f" ({alike} passes proven on an alike table); passing probes median {median:.0f}"
        " examples/s"
    )


@dataclass(frozen=True)
class Summary:
    """What the report needs of a ProbeResult (a worker process sends these back)."""

    probe_id: str
    probe_name: str
    status: str
    examples: int
    seconds: float
    witnessed: int
    proven_on: str | None

    @classmethod
    def of(cls, result: ProbeResult) -> Summary:
        return cls(
            result.probe.id,
            result.probe.name,
            result.status,
            result.examples,
            result.seconds,
            result.witnessed,
            result.proven_on,
        )


_WORKER: dict[str, Any] = {}


def _start_worker(
    urls: tuple[Any, Any], tenancy: Any, profile: settings, budget: Budget, salt: Any
) -> None:
    _WORKER["alone"] = budget.alone
    connections = probe_connections(*urls)
    with salt.get_lock():
        salt.value += 1
        own_salt = salt.value
    _WORKER["runner"] = ProbeRunner(
        tenancy, connections, profile, shrink_seconds=budget.shrink, salt=own_salt
    )


def _run_one(item: tuple[str, str]) -> Summary:
    runner: ProbeRunner = _WORKER["runner"]
    probe_id, target = item
    company = None if _WORKER["alone"] else list(PROBES.sorted())
    return Summary.of(runner.run(PROBES[probe_id], target, company=company))


def run_probes(
    urls: tuple[Any, Any], tenancy: Any, profile: settings, budget: Budget
) -> tuple[list[Summary], float, float]:
    """Every probe on every object, in ``budget.workers`` lanes (probes/forked.py: the
    run's own process and forks of it, as ``rlsguard check --probe-processes N``; what the
    lanes leave is judged alone afterwards). Returns the results, the wall time and the CPU
    time of the processes that probed (Python's side only: on a shared machine it varies
    less than the wall time)."""
    profile = settings(profile, max_examples=budget.examples)
    salt = multiprocessing.Value("q", 0x5EED)
    targets = [(probe.id, target) for probe, target in ProbeRunner.targets_of(tenancy)]
    began = time.perf_counter()
    cpu_began = _cpu_seconds()
    judged: dict[int, ProbeResult] = {}
    if budget.workers > 1:
        recipe = ProberRecipe(tenancy, urls[0], urls[1], profile, None, budget.shrink, None, {})
        pairs = [(PROBES[probe_id], target) for probe_id, target in targets]
        judge_in_lanes(recipe, pairs, budget.workers, judged)
    _start_worker(urls, tenancy, profile, budget, salt)
    summaries = [
        Summary.of(judged[index]) if index in judged else _run_one(item)
        for index, item in enumerate(targets)
    ]
    return summaries, time.perf_counter() - began, _cpu_seconds() - cpu_began


def _cpu_seconds() -> float:
    """This process's CPU time and that of its finished children (the pool's workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@dataclass(frozen=True)
class Budget:
    profiles: list[str]
    shrink: float
    examples: int
    workers: int
    alone: bool = False
    alike: str = "on"  # "on", "off" (probe_every_table), or "both", alternating
    rounds: int = 1
    populate: int = 0  # rows already in the platform's tenants, users and documents


def measured(
    label: str,
    tenancy: Any,
    run: Callable[[], tuple[list[Summary], float, float]],
    budget: Budget,
) -> None:
    """``run`` with the proofs of alike tables carried over, without, or both in turn."""
    modes = ["on", "off"] if budget.alike == "both" else [budget.alike]
    walls: dict[str, list[float]] = defaultdict(list)
    settings_ = tenancy.settings
    for round_ in range(budget.rounds):
        for mode in modes if round_ % 2 == 0 else modes[::-1]:
            tenancy.settings = dataclasses.replace(settings_, probe_every_table=mode == "off")
            results, wall, cpu = run()
            walls[mode].append(wall)
            every = ", every table probed" if mode == "off" else ""
            report(f"{label}{every}, round {round_ + 1}", results, wall, cpu)
    tenancy.settings = settings_
    if len(modes) == 2:
        ratios = [on / off for on, off in zip(walls["on"], walls["off"], strict=True)]
        print(
            f"\n{label}: alike tables {statistics.median(walls['on']):.1f} s, every table "
            f"{statistics.median(walls['off']):.1f} s; ratio {statistics.median(ratios):.2f} "
            f"({min(ratios):.2f}-{max(ratios):.2f}) over {len(ratios)} rounds"
        )


def bench_project(server: object, project: Path, revisions: dict[str, str], budget: Budget) -> None:
    run = Run(settings=load_settings(project), given_server=server)  # type: ignore[arg-type]
    try:
        for revision, label in revisions.items():
            tenancy = run.analysis(revision).tenancy
            url = run.url(run.working_database(revision))
            login = run.probe_login()
            login.admit(roles_acted_as(tenancy))
            titled = label
            if budget.populate:
                populate_platform(url, budget.populate)
                titled = f"{label}, {budget.populate} rows already in tenants, users, documents"
            for name in budget.profiles:
                urls = (url, login.url_for(url))
                measured(
                    f"{titled}, profile {name}",
                    tenancy,
                    lambda: run_probes(urls, tenancy, PROFILES[name], budget),  # noqa: B023
                    budget,
                )
    finally:
        run.close()


def populate_platform(url: Any, rows: int) -> None:
    """A database in use: ``rows`` tenants, one user and one document each."""
    with connected(url) as connection:
        connection.execute(
            text(
                "INSERT INTO tenants (name, domain) SELECT 'tenant ' || n, 'd' || n || '.example' "
                "FROM generate_series(1, :rows) n; "
                "INSERT INTO users (tenant_id, email) SELECT tenant_id, domain || '@example.com' "
                "FROM tenants; "
                "INSERT INTO documents (tenant_id, user_id, title, content_hash) "
                "SELECT tenant_id, user_id, 'title', md5(email) FROM users"
            ),
            {"rows": rows},
        )
        connection.commit()
        connection.execute(text("ANALYZE"))


def bench_synthetic(server: object, tables: list[int], shape: str, budget: Budget) -> None:
    app, admin = "bench_probe_app", "bench_probe_admin"
    engine = create_engine(server.url, isolation_level="AUTOCOMMIT")  # type: ignore[attr-defined]
    with engine.connect() as connection:
        connection.execute(text(f"CREATE ROLE {app}; CREATE ROLE {admin}"))
    engine.dispose()
    databases = Databases(server.url)  # type: ignore[attr-defined]
    settings_ = Settings(project_root=Path.cwd(), app_role=app, admin_roles=(admin,))
    login = ProbeLogin.create(server.url)  # type: ignore[attr-defined]
    login.admit([app, admin])
    try:
        for count in tables:
            name = databases.create(f"probe_synthetic_{count}")
            url = databases.url(name)
            with connected(url) as connection:
                connection.exec_driver_sql(synthetic_schema(count, app, admin, shape))
                connection.commit()
                tenancy = scan(connection, settings_).tenancy
            for profile in budget.profiles:
                urls = (url, login.url_for(url))
                label = f"synthetic schema, {count} tenant tables ({shape}), profile {profile}"
                measured(
                    label,
                    tenancy,
                    lambda: run_probes(urls, tenancy, PROFILES[profile], budget),  # noqa: B023
                    budget,
                )
            databases.drop(name)
    finally:
        databases.close()
        login.drop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--schemas", nargs="+", default=["platform", "hardened", "synthetic"])
    parser.add_argument(
        "--profiles", nargs="+", default=["default", "ci"], choices=sorted(PROFILES)
    )
    parser.add_argument("--tables", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--shape", choices=["tree", "chain"], default="tree")
    parser.add_argument("--shrink-seconds", type=float, default=SHRINK_SECONDS)
    parser.add_argument("--max-examples", type=int, default=100, help="per probe (default 100)")
    parser.add_argument("--workers", type=int, default=1, help="probing processes (lanes)")
    parser.add_argument(
        "--alone", action="store_true", help="no rows shared between the properties of a table"
    )
    parser.add_argument(
        "--alike",
        choices=["on", "off", "both"],
        default="on",
        help="carry proofs between alike tables (on), probe every table (off), or both in turn",
    )
    parser.add_argument("--rounds", type=int, default=1, help="with --alike both")
    parser.add_argument(
        "--populate",
        type=int,
        default=0,
        metavar="N",
        help="platform: N rows already in tenants, users and documents (a database in use)",
    )
    arguments = parser.parse_args()
    budget = Budget(
        arguments.profiles,
        arguments.shrink_seconds,
        arguments.max_examples,
        arguments.workers,
        arguments.alone,
        arguments.alike,
        arguments.rounds,
        arguments.populate,
    )
    with provision(ServerRequest()) as server:
        print(f"rlsguard probe benchmark on {server.describe()}")
        if "platform" in arguments.schemas:
            bench_project(server, PROJECT, PLATFORM_REVISIONS, budget)
        if "hardened" in arguments.schemas:
            hardened = {"head": "hardened corpus schema"}
            bench_project(server, HARDENED, hardened, budget)
        if "synthetic" in arguments.schemas:
            bench_synthetic(server, arguments.tables, arguments.shape, budget)


if __name__ == "__main__":
    main()
