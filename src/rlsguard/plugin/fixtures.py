"""The plugin's fixtures, from the outside in:

``rlsguard_run`` (session)         the shared Run: server, databases, migration project
``rlsguard_settings`` (session)    the ``[tool.rlsguard]`` config in force
``rlsguard_server`` (session)      the started PostgreSQL server
``rlsguard_migrations`` (session)  the Alembic project named by ``alembic_ini``
``rlsguard_database_url`` (session) a database migrated to the chosen revision
``rlsguard_engine`` (session)      an Engine on that database
``rlsguard_connection``            a Connection inside a transaction that is rolled back
``rlsguard_clone``                 the URL of a fresh migrated copy, for tests that commit
``rlsguard_empty_database``        a factory of new empty databases (dropped afterwards)
``rlsguard_database_at``           a factory: the URL of a shared copy at a given revision
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from rlsguard.errors import RlsguardWarning
from rlsguard.plugin.hooks import session_run

if TYPE_CHECKING:  # loaded when a fixture is first used, not with the plugin
    from sqlalchemy import Connection
    from sqlalchemy.engine import URL, Engine

    from rlsguard.config import Settings
    from rlsguard.history.migrate import MigrationProject
    from rlsguard.run import Run
    from rlsguard.server import Server


@pytest.fixture(scope="session")
def rlsguard_run(request: pytest.FixtureRequest) -> Run:
    return session_run(request.config)


@pytest.fixture(scope="session")
def rlsguard_settings(rlsguard_run: Run) -> Settings:
    return rlsguard_run.settings


@pytest.fixture(scope="session")
def rlsguard_server(rlsguard_run: Run) -> Server:
    return rlsguard_run.server


@pytest.fixture(scope="session")
def rlsguard_migrations(rlsguard_run: Run) -> MigrationProject:
    return rlsguard_run.project


@pytest.fixture(scope="session")
def rlsguard_database_url(rlsguard_run: Run) -> URL:
    return rlsguard_run.url(rlsguard_run.working_database(rlsguard_run.revision))


@pytest.fixture(scope="session")
def rlsguard_engine(rlsguard_database_url: URL) -> Iterator[Engine]:
    from sqlalchemy import create_engine  # noqa: PLC0415

    engine = create_engine(rlsguard_database_url, pool_size=1, max_overflow=4)
    yield engine
    engine.dispose()


@pytest.fixture
def rlsguard_connection(
    rlsguard_run: Run, rlsguard_engine: Engine, request: pytest.FixtureRequest
) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back after the test. A test that
    commits anyway gets a warning, and the shared database is rebuilt for the next one."""
    from sqlalchemy import event  # noqa: PLC0415

    committed: list[bool] = []
    with rlsguard_engine.connect() as connection:
        event.listen(connection, "commit", lambda _connection: committed.append(True))
        transaction = connection.begin()
        yield connection
        if transaction.is_active:
            transaction.rollback()
    if committed:
        rlsguard_engine.dispose()
        rlsguard_run.rebuild_working_database(rlsguard_run.revision)
        warnings.warn(
            f"{request.node.nodeid} committed on rlsguard_connection; the shared database was "
            "rebuilt. Use rlsguard_clone for a test that must commit.",
            RlsguardWarning,
            stacklevel=1,
        )


@pytest.fixture
def rlsguard_clone(rlsguard_run: Run) -> Iterator[URL]:
    name = rlsguard_run.clone(rlsguard_run.revision)
    yield rlsguard_run.url(name)
    rlsguard_run.drop(name)


@pytest.fixture
def rlsguard_empty_database(rlsguard_run: Run) -> Iterator[Callable[[], URL]]:
    made: list[str] = []

    def make() -> URL:
        made.append(rlsguard_run.empty_database())
        return rlsguard_run.url(made[-1])

    yield make
    for name in made:
        rlsguard_run.drop(name)


@pytest.fixture
def rlsguard_database_at(rlsguard_run: Run) -> Callable[[str], URL]:
    """``rlsguard_database_at("004_add_tenant_configs_table")``: the URL of a shared copy
    migrated to that revision. Read from it, or write inside a rolled-back transaction."""

    def at(revision: str) -> URL:
        return rlsguard_run.url(rlsguard_run.working_database(revision))

    return at
