"""The probes never lend superuser rights to the database's own code: they act through a
login that is not a superuser, and refuse to act through one that is."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from hypothesis import settings

from rlsguard.analyzer import scan
from rlsguard.findings import Outcome
from rlsguard.probes.login import ProbeLogin, ProbeLoginUnavailable, probe_connections
from rlsguard.probes.registry import PROBES
from rlsguard.probes.runner import ProbeRunner
from rlsguard.run import Run
from rlsguard.server.databases import connected
from rlsguard.server.urls import psycopg2_params
from tests.conftest import execute, query
from tests.corpus.cases import CORRECT
from tests.corpus.harness import BuildCase, BuiltCase, acting_connections

pytestmark = pytest.mark.slow

HARDENED = next(case for case in CORRECT if case.name == "hardened")

# What a table owner without superuser rights can plant: a trigger that takes back the
# session's own role (RESET ROLE) and, if that is a superuser, runs an OS command. Two
# sequences count its calls; nextval is not undone by the probes' rollbacks.
PLANTED = """
CREATE SEQUENCE public.planted_calls;
CREATE SEQUENCE public.planted_superuser_calls;
GRANT USAGE, UPDATE ON SEQUENCE public.planted_calls, public.planted_superuser_calls TO PUBLIC;
CREATE FUNCTION public.planted() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
  acting text := current_user;
BEGIN
  PERFORM nextval('public.planted_calls');
  BEGIN
    RESET ROLE;
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
      PERFORM nextval('public.planted_superuser_calls');
      COPY (SELECT current_user) TO PROGRAM 'cat > MARKER';
    END IF;
    EXECUTE 'SET ROLE ' || quote_ident(acting);
  EXCEPTION WHEN OTHERS THEN NULL;
  END;
  RETURN coalesce(NEW, OLD);
END
$body$;
CREATE TRIGGER planted BEFORE INSERT OR UPDATE OR DELETE ON public.documents
  FOR EACH ROW EXECUTE FUNCTION public.planted();
"""


@pytest.fixture
def marker() -> Iterator[Path]:
    """A file the server's OS user could write, if it ran the planted command."""
    folder = Path(tempfile.mkdtemp(prefix="rlsguard-planted-"))
    folder.chmod(0o777)
    yield folder / "ran-as-superuser"
    for leftover in folder.iterdir():
        leftover.unlink()
    folder.rmdir()


@pytest.fixture
def planted(case_database: BuildCase, marker: Path) -> BuiltCase:
    built = case_database(HARDENED)
    execute(built.url, PLANTED.replace("MARKER", str(marker)))
    return built


def calls(built: BuiltCase) -> tuple[int, int]:
    rows = query(
        built.url,
        "SELECT (SELECT last_value * is_called::int FROM public.planted_calls),"
        " (SELECT last_value * is_called::int FROM public.planted_superuser_calls)",
    )
    return int(rows[0][0]), int(rows[0][1])  # type: ignore[call-overload]


def run_probes(built: BuiltCase, connections: dict[str, psycopg2.extensions.connection]) -> list:
    with connected(built.url) as connection:
        tenancy = scan(connection, built.settings).tenancy
    try:
        runner = ProbeRunner(tenancy, connections, settings(max_examples=5))
        return [
            runner.run(PROBES[probe_id], "public.documents")
            for probe_id in ("RP101", "RP102", "RP103", "RP104")
        ]
    finally:
        for connection in connections.values():
            connection.close()


def test_a_planted_trigger_runs_but_never_as_a_superuser(
    rlsguard_run: Run, planted: BuiltCase, marker: Path
) -> None:
    with connected(planted.url) as connection:
        tenancy = scan(connection, planted.settings).tenancy
    results = run_probes(planted, acting_connections(rlsguard_run, planted.url, tenancy))
    assert all(result.status is not Outcome.CANNOT for result in results), results
    ran, as_superuser = calls(planted)
    assert ran > 0  # the probes did exercise the table, trigger and all
    assert as_superuser == 0
    assert not marker.exists()


def test_probes_refuse_to_act_through_a_superuser(planted: BuiltCase, marker: Path) -> None:
    results = run_probes(planted, probe_connections(planted.url))
    for result in results:
        assert result.status is Outcome.CANNOT
        assert "a superuser; the database's triggers, defaults and policy functions" in (
            result.message or ""
        )
    assert calls(planted) == (0, 0)
    assert not marker.exists()


def test_a_login_without_bypassrls_or_the_app_role_is_named(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    built = case_database(HARDENED)
    owner = built.names["owner"]
    execute(built.url, f"ALTER ROLE {owner} LOGIN PASSWORD 'probe-pw'")
    as_owner = built.url.set(username=owner, password="probe-pw")
    results = run_probes(built, probe_connections(built.url, as_owner))
    assert f"{owner} cannot make the examples' rows past row level security" in (
        results[0].message or ""
    )
    execute(built.url, f"ALTER ROLE {owner} BYPASSRLS")
    results = run_probes(built, probe_connections(built.url, as_owner))
    assert f"{owner} cannot act as the application role {built.names['app']}" in (
        results[0].message or ""
    )


def test_a_run_probes_through_its_own_login_and_drops_it(rlsguard_run: Run) -> None:
    run = Run(rlsguard_run.settings, given_server=rlsguard_run.server)
    try:
        main = run.prober().sessions["main"].connection
        with main.cursor() as cursor:
            cursor.execute(
                "SELECT session_user, rolsuper, rolbypassrls FROM pg_roles"
                " WHERE rolname = session_user"
            )
            user, superuser, bypassrls = cursor.fetchone()
        main.rollback()
        assert user.startswith("rlsguard_probe_")
        assert (superuser, bypassrls) == (False, True)
        # the catalog rlsguard judges does not show its own login
        assert user not in run.analysis().tenancy.catalog.roles
    finally:
        run.close()
    left = query(
        rlsguard_run.server.url, "SELECT count(*) FROM pg_roles WHERE rolname = :name", name=user
    )
    assert left == [(0,)]


def test_a_server_user_that_cannot_make_the_login_is_named(rlsguard_run: Run) -> None:
    name = f"rg_limited_{os.getpid()}"
    server = rlsguard_run.server
    execute(server.url, f"CREATE ROLE {name} LOGIN CREATEDB PASSWORD 'limited-pw'")
    try:
        limited = server.url.set(username=name, password="limited-pw")
        connection = psycopg2.connect(**psycopg2_params(limited))
        connection.close()
        with pytest.raises(ProbeLoginUnavailable, match="could not set up its probe login"):
            ProbeLogin.create(limited)
    finally:
        execute(server.url, f"DROP ROLE {name}")
