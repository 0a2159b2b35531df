"""rlsguard's pytest plugin: options, the session's server and migrated databases as
fixtures, and clean failures for rlsguard's own errors.

Fixtures, from the outside in:

``rlsguard_run`` (session)         the shared Run: server, databases, migration project
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
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import URL, Engine

from rlsguard import __version__
from rlsguard.config import OVERRIDES, Settings, load_settings
from rlsguard.errors import RlsguardError
from rlsguard.isolation_items import (
    IsolationChecks,
    IsolationCollector,
    ProbeChecks,
    ProbeCollector,
)
from rlsguard.migrate import HEAD, MigrationProject
from rlsguard.probes.runner import SHRINK_SECONDS
from rlsguard.report.evidence.collector import EvidenceCollector, add_environment
from rlsguard.report.evidence.gate import FAIL_ON, FAIL_ON_HELP, Baseline
from rlsguard.server import BACKENDS, DEFAULT_IMAGE, DSN_ENV, Server, request_from
from rlsguard.server.process import SigtermAsInterrupt
from rlsguard.session import Run
from rlsguard.stash import BASELINE_KEY, RUN_KEY

SIGTERM_KEY = pytest.StashKey[SigtermAsInterrupt]()


class RlsguardWarning(UserWarning):
    """Something in a test run that the person running it should know about."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rlsguard", "rlsguard: PostgreSQL tenant isolation")
    group.addoption(
        "--rlsguard-dsn",
        default=None,
        help=f"use this PostgreSQL server (superuser URL) instead of starting one; or {DSN_ENV}",
    )
    group.addoption(
        "--rlsguard-backend",
        choices=BACKENDS,
        default=None,
        help="where the server comes from (default auto: DSN, Docker, local binaries, embedded)",
    )
    group.addoption(
        "--rlsguard-pg-image",
        default=None,
        help=f"Docker image for the docker backend (default {DEFAULT_IMAGE})",
    )
    group.addoption(
        "--rlsguard-revision",
        default=None,
        help="migrate the test database to this revision instead of head",
    )
    group.addoption(
        "--rlsguard-max-examples",
        type=int,
        default=None,
        help="Hypothesis examples per probe (default: the Hypothesis profile's)",
    )
    group.addoption(
        "--rlsguard-shrink-seconds",
        type=float,
        default=SHRINK_SECONDS,
        help=f"time to shrink each failing probe's example (default {SHRINK_SECONDS:g})",
    )
    group.addoption(
        "--rlsguard-evidence",
        default=None,
        help="where to write the JSON evidence (default: rlsguard-evidence.json beside --html)",
    )
    group.addoption(
        "--rlsguard-baseline",
        default=None,
        help="findings of the base schema (written by rlsguard check --base): findings "
        "it already had do not fail the run unless --rlsguard-fail-on any",
    )
    group.addoption(
        "--rlsguard-fail-on",
        choices=FAIL_ON,
        default=FAIL_ON[0],
        help=f"with a baseline: {FAIL_ON_HELP}",
    )
    group.addoption(
        "--rlsguard-project",
        default=None,
        help="folder whose pyproject.toml holds [tool.rlsguard] (default: pytest's rootdir)",
    )
    for override in OVERRIDES:
        group.addoption(
            f"--rlsguard-{override.flag}",
            dest=f"rlsguard_{override.key}",
            action="append" if override.repeatable else "store",
            default=None,
            help=f"{override.help} (overrides [tool.rlsguard] {override.key})",
        )


class ProvidedServer:
    """Hands an already started server to the plugin (``rlsguard check`` does this)."""

    def __init__(self, server: Server) -> None:
        self.server = server


def pytest_configure(config: pytest.Config) -> None:
    sigterm = SigtermAsInterrupt()
    sigterm.install()
    config.stash[SIGTERM_KEY] = sigterm
    provided = next(
        (
            plugin
            for plugin in config.pluginmanager.get_plugins()
            if isinstance(plugin, ProvidedServer)
        ),
        None,
    )
    try:
        settings = _settings(config)
    except RlsguardError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[RUN_KEY] = Run(
        settings=settings,
        request=request_from(
            config.getoption("rlsguard_backend"),
            config.getoption("rlsguard_dsn"),
            config.getoption("rlsguard_pg_image"),
        ),
        given_server=provided.server if provided else None,
        revision=config.getoption("rlsguard_revision") or HEAD,
        seed=_hypothesis_seed(config),
        max_examples=config.getoption("rlsguard_max_examples"),
        shrink_seconds=config.getoption("rlsguard_shrink_seconds"),
    )
    add_environment(config, "rlsguard", __version__)
    baseline_path = config.getoption("rlsguard_baseline")
    baseline = Baseline.read(Path(baseline_path)) if baseline_path else None
    if baseline is not None and config.getoption("rlsguard_fail_on") == "new":
        config.stash[BASELINE_KEY] = baseline
    collector = EvidenceCollector(config, config.stash[RUN_KEY], baseline)
    config.pluginmanager.register(collector, "rlsguard-evidence")


def _hypothesis_seed(config: pytest.Config) -> int | None:
    """``--hypothesis-seed`` (Hypothesis's own pytest option), for the probes too."""
    try:
        value = config.getoption("hypothesis_seed")
    except ValueError:
        return None
    return int(value) if value not in (None, "") else None


def _settings(config: pytest.Config) -> Settings:
    folder = config.getoption("rlsguard_project")
    overrides = {item.key: config.getoption(f"rlsguard_{item.key}") for item in OVERRIDES}
    return load_settings(Path(folder).resolve() if folder else config.rootpath, overrides)


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(RUN_KEY, None)
    if run is not None:
        run.close()
    sigterm = config.stash.get(SIGTERM_KEY, None)
    if sigterm is not None:
        sigterm.uninstall()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    run = config.stash.get(RUN_KEY, None)
    failure = run.failure("server") if run is not None else None
    if failure is not None:
        terminalreporter.write_sep("=", "rlsguard: no PostgreSQL server", red=True)
        terminalreporter.write_line(str(failure))


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> object:
    if isinstance(obj, IsolationChecks):
        return IsolationCollector.from_parent(collector, name=name)
    if isinstance(obj, ProbeChecks):
        return ProbeCollector.from_parent(collector, name=name)
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "rlsguard_revision" in metafunc.fixturenames:
        project = metafunc.config.stash[RUN_KEY].project
        revisions = project.revision_ids()
        metafunc.parametrize("rlsguard_revision", revisions, ids=revisions)


def _fail_cleanly() -> Generator[None, object, object]:
    """rlsguard's own errors fail a test (or its fixture) with their message alone."""
    try:
        return (yield)
    except RlsguardError as error:
        pytest.fail(f"{type(error).__name__}: {error}", pytrace=False)


pytest_pyfunc_call = pytest.hookimpl(wrapper=True)(_fail_cleanly)
pytest_fixture_setup = pytest.hookimpl(wrapper=True)(_fail_cleanly)


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def rlsguard_run(request: pytest.FixtureRequest) -> Run:
    return request.config.stash[RUN_KEY]


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
    engine = create_engine(rlsguard_database_url, pool_size=1, max_overflow=4)
    yield engine
    engine.dispose()


@pytest.fixture
def rlsguard_connection(
    rlsguard_run: Run, rlsguard_engine: Engine, request: pytest.FixtureRequest
) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back after the test. A test that
    commits anyway gets a warning, and the shared database is rebuilt for the next one."""
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
