"""Building a corpus case: its roles (names unique to the test), its schema in a new
database, and the rlsguard settings that go with it."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2.extensions
import pytest
from hypothesis import settings
from sqlalchemy.engine import URL

from rlsguard.analyzer import Analysis, scan
from rlsguard.config import Settings
from rlsguard.probes.login import probe_connections, roles_acted_as
from rlsguard.probes.registry import PROBES
from rlsguard.probes.runner import ProbeResult, ProbeRunner
from rlsguard.run import Run
from rlsguard.schema.tenancy import Tenancy
from rlsguard.server.databases import connected
from tests.conftest import execute
from tests.corpus.cases import Case

ROLES = ("app", "admin", "group", "owner")


@dataclass(frozen=True)
class BuiltCase:
    url: URL
    names: dict[str, str]
    settings: Settings


BuildCase = Callable[..., BuiltCase]


def acting_connections(
    run: Run, url: URL, tenancy: Tenancy
) -> dict[str, psycopg2.extensions.connection]:
    """Connections for a ProbeRunner on ``url``: the run's probe login, made a member of
    the application's and the admins' roles, and a superuser one for RP110."""
    login = run.probe_login()
    login.admit(roles_acted_as(tenancy))
    return probe_connections(url, login.url_for(url))


def fill(text: str, names: dict[str, str]) -> str:
    for placeholder, name in names.items():
        text = text.replace("{" + placeholder + "}", name)
    return text


Analyze = Callable[..., tuple[Analysis, dict[str, str]]]


@pytest.fixture
def analyze_case(case_database: BuildCase) -> Analyze:
    """Build a case's schema in a new database, with roles of its own, and scan it."""

    def run_case(case: Case, **overrides: object) -> tuple[Analysis, dict[str, str]]:
        built = case_database(case, **overrides)
        with connected(built.url) as connection:
            return scan(connection, built.settings), built.names

    return run_case


@pytest.fixture
def case_database(rlsguard_run: Run, tmp_path: Path) -> Iterator[BuildCase]:
    made: list[tuple[str, dict[str, str]]] = []
    server = rlsguard_run.server.url

    def build(case: Case, **overrides: object) -> BuiltCase:
        major = rlsguard_run.server.major
        if major < case.since:
            pytest.skip(f"{case.name} needs PostgreSQL {case.since}+; this server is {major}")
        token = secrets.token_hex(3)
        names = {role: f"rg_{token}_{role}" for role in ROLES}
        execute(server, "; ".join(f"CREATE ROLE {name}" for name in names.values()))
        database = rlsguard_run.empty_database(f"case_{case.name}")
        made.append((database, names))
        execute(rlsguard_run.url(database), fill(case.base + "\n" + case.sql, names))
        values: dict[str, object] = {
            "project_root": tmp_path,
            "app_role": names["app"],
            "admin_roles": (names["admin"],),
            **case.settings,
            **overrides,
        }
        return BuiltCase(rlsguard_run.url(database), names, Settings(**values))  # type: ignore[arg-type]

    yield build
    for database, names in made:
        rlsguard_run.drop(database)
        execute(server, "; ".join(f"DROP ROLE IF EXISTS {name}" for name in names.values()))


def run_probe(run: Run, built: BuiltCase, probe_id: str, target: str, url: URL) -> ProbeResult:
    """One probe on a built case, acting through ``url`` (the case's database, perhaps
    with other timeouts), on connections opened and closed here."""
    with connected(built.url) as connection:
        tenancy = scan(connection, built.settings).tenancy
    connections = acting_connections(run, url, tenancy)
    try:
        return ProbeRunner(tenancy, connections).run(PROBES[probe_id], target)
    finally:
        for connection in connections.values():
            connection.close()


def run_all_probes(run: Run, built: BuiltCase, examples: int) -> list[ProbeResult]:
    """Every probe on every object of a built case, ``examples`` examples each."""
    with connected(built.url) as connection:
        tenancy = scan(connection, built.settings).tenancy
    connections = acting_connections(run, built.url, tenancy)
    try:
        return ProbeRunner(tenancy, connections, settings(max_examples=examples)).run_all()
    finally:
        for connection in connections.values():
            connection.close()
