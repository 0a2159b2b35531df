"""rlsguard never hangs: a migration that runs too long stops at migration_timeout and
is named, a long one is announced while it runs, a catalog read behind another session's
lock gives up after lock_timeout, and the TRUNCATE probe does not queue behind readers
(which would stall every other reader of the table)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy.engine import URL

from rlsguard.analyzer import scan
from rlsguard.config import load_settings
from rlsguard.errors import MigrationError, RlsguardError
from rlsguard.findings import Outcome
from rlsguard.history import migrate
from rlsguard.history.migrate import MigrationProject
from rlsguard.run import Run
from rlsguard.server import Server
from rlsguard.server.databases import connected
from rlsguard.server.urls import psycopg2_params, with_timeouts
from tests.conftest import execute, query, replace_once
from tests.corpus.cases import CORRECT
from tests.corpus.harness import BuildCase, BuiltCase, run_probe

HARDENED = next(case for case in CORRECT if case.name == "hardened")
SLOW_REVISION = "003_add_templates_table"


@contextmanager
def alone_on_the_server(project: MigrationProject) -> Iterator[None]:
    """The server's migration lock, waited for as long as the other xdist worker's
    migrations take: only the revision's own time may count against the short
    migration_timeout these tests set (waiting for the lock counts too, in ``upgrade``)."""
    short = project.migration_timeout
    project.migration_timeout = "5min"
    try:
        with project.exclusive():
            project.migration_timeout = short
            yield
    finally:
        project.migration_timeout = short


def failed_upgrade_alone(run: Run, name: str) -> tuple[MigrationError, float]:
    """The upgrade to head of the run's database ``name``, once the server is ours: how it
    failed, and how long it ran."""
    project = run.project
    with alone_on_the_server(project), project.connection_for_migrations(run.url(name)) as to:
        began = time.monotonic()
        with pytest.raises(MigrationError) as failure:
            project.upgrade_on(to, "head")
        return failure.value, time.monotonic() - began


@pytest.fixture
def sleeping_project(project_copy: Callable[..., Path]) -> Path:
    """A copy of the platform whose revision 003 sleeps for ten minutes."""
    return project_copy(
        {
            SLOW_REVISION: replace_once(
                "    op.bulk_insert(_seed_table(), [_as_json_text(FINTECH_TEMPLATE)])",
                '    op.execute("SELECT pg_sleep(600)")',
            )
        }
    )


def test_a_migration_that_hangs_stops_at_migration_timeout_and_is_named(
    sleeping_project: Path,
    rlsguard_server: Server,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(migrate, "ANNOUNCE_AFTER_SECONDS", 0.5)
    settings = dataclasses.replace(load_settings(sleeping_project), migration_timeout="3s")
    run = Run(settings=settings, given_server=rlsguard_server)
    try:
        with run.disposable(run.empty_database("hang")) as name:
            failure, took = failed_upgrade_alone(run, name)
    finally:
        run.close()
    assert took < 60
    assert failure.revision == SLOW_REVISION
    assert "(it ran longer than migration_timeout 3s)" in str(failure)
    assert "SQL: SELECT pg_sleep(600)" in str(failure)
    announced = capfd.readouterr().err
    assert f"rlsguard: the upgrade of revision {SLOW_REVISION} has run for 0.5 s" in announced


PATIENT_STATEMENTS = "\n".join(['    op.execute("SELECT pg_sleep(1)")'] * 6)
PYTHON_THAT_WAITS = '    __import__("time").sleep(5)\n    op.execute("SELECT 1")'


@pytest.mark.parametrize(
    "overrun",
    [PATIENT_STATEMENTS, PYTHON_THAT_WAITS],
    ids=["statements-each-in-time", "python-between-statements"],
)
def test_migration_timeout_bounds_the_whole_revision(
    project_copy: Callable[..., Path], rlsguard_server: Server, overrun: str
) -> None:
    """Six statements of 1 s each, or Python that waits 5 s before its statement: no
    statement runs for 3 s, the revision does, and it is stopped and rolled back."""
    project = project_copy(
        {
            SLOW_REVISION: replace_once(
                "    op.bulk_insert(_seed_table(), [_as_json_text(FINTECH_TEMPLATE)])", overrun
            )
        }
    )
    settings = dataclasses.replace(load_settings(project), migration_timeout="3s")
    run = Run(settings=settings, given_server=rlsguard_server)
    try:
        with run.disposable(run.empty_database("overrun")) as name:
            failure, took = failed_upgrade_alone(run, name)
            landed = run.project.current(run.url(name))
    finally:
        run.close()
    assert took < 30
    assert failure.revision == SLOW_REVISION
    assert "(it ran longer than migration_timeout 3s)" in str(failure)
    assert landed == (run.project.previous(SLOW_REVISION),)


@pytest.fixture
def hardened(case_database: BuildCase) -> BuiltCase:
    return case_database(HARDENED)


@pytest.fixture
def hardened_url(hardened: BuiltCase) -> URL:
    return hardened.url


@pytest.fixture
def lock_held(hardened_url: URL) -> Iterator[Callable[[str], None]]:
    """Another session that takes a lock on public.documents and keeps it."""
    other = psycopg2.connect(**psycopg2_params(hardened_url))

    def take(mode: str) -> None:
        with other.cursor() as cursor:
            cursor.execute(f"LOCK TABLE public.documents IN {mode} MODE")

    yield take
    other.rollback()
    other.close()


def test_a_catalog_read_behind_a_lock_gives_up_after_lock_timeout(
    hardened: BuiltCase, lock_held: Callable[[str], None]
) -> None:
    lock_held("ACCESS EXCLUSIVE")  # e.g. an ALTER TABLE that runs long
    settings = hardened.settings
    hardened_url = hardened.url
    began = time.monotonic()
    with (
        connected(with_timeouts(hardened_url, "1s", "1min")) as connection,
        pytest.raises(RlsguardError, match=r"could not be read: it waited for a lock"),
    ):
        scan(connection, settings)
    assert time.monotonic() - began < 20


def test_the_truncate_probe_does_not_queue_behind_a_reader(
    rlsguard_run: Run, hardened: BuiltCase, lock_held: Callable[[str], None]
) -> None:
    """The app may TRUNCATE here (a grant), so TRUNCATE would wait for the reader's lock
    (for as long as the connection's lock_timeout, here 30 s), and while it waited every
    other session's SELECT of the table would wait behind it."""
    owner = psycopg2.connect(**psycopg2_params(hardened.url))
    with owner, owner.cursor() as cursor:
        cursor.execute(f"GRANT TRUNCATE ON public.documents TO {hardened.names['app']}")
    owner.close()
    lock_held("ACCESS SHARE")  # an ordinary reader, in the middle of its transaction
    patient = with_timeouts(hardened.url, "30s", "1min")
    result = run_probe(rlsguard_run, hardened, "RP114", "public.documents", patient)
    assert result.status is Outcome.CANNOT, result.message
    assert "another session holds a lock on it (held by a session " in (result.message or "")
    assert result.seconds < 5  # a moment of waiting, not the connection's 30 s


def test_a_statement_cut_short_by_statement_timeout_is_never_a_refusal(
    rlsguard_run: Run, hardened: BuiltCase
) -> None:
    """A read cancelled by statement_timeout returned no row of another tenant, and would
    prove isolation if it were read as the database refusing it."""
    execute(
        hardened.url,
        "CREATE FUNCTION public.slow_check(tenant uuid) RETURNS boolean LANGUAGE sql"
        " VOLATILE AS 'SELECT pg_sleep(0.2) IS NOT NULL';"
        f" CREATE POLICY slow ON public.documents AS RESTRICTIVE FOR SELECT TO {hardened.names['app']}"
        " USING (public.slow_check(tenant_id))",
    )
    hasty = with_timeouts(hardened.url, "5s", "100ms")
    result = run_probe(rlsguard_run, hardened, "RP101", "public.documents", hasty)
    assert result.status is Outcome.CANNOT, result.message
    assert "a statement was cancelled" in (result.message or "")


def test_the_connections_of_a_run_carry_the_timeouts_of_the_config(rlsguard_run: Run) -> None:
    """Without being handed them: the databases of a run, and the probe login on them."""
    database = rlsguard_run.url(rlsguard_run.empty_database("timeouts"))
    expected = [(rlsguard_run.settings.lock_timeout, rlsguard_run.settings.statement_timeout)]
    shown = "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')"
    assert query(database, shown) == expected
    assert query(rlsguard_run.probe_login().url_for(database), shown) == expected
