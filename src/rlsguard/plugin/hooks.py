"""The plugin's hooks: options, the session's Run, the rlsguard items in test modules,
revisions as parameters, and clean failures for rlsguard's own errors."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from rlsguard import __version__
from rlsguard.config import Settings, load_settings
from rlsguard.errors import RlsguardError, ServerGone
from rlsguard.history.migrate import HEAD
from rlsguard.options import add_pytest_options, tenancy_overrides
from rlsguard.plugin.evidence import EvidenceCollector, add_environment
from rlsguard.plugin.items import (
    IsolationChecks,
    IsolationCollector,
    ProbeChecks,
    ProbeCollector,
)
from rlsguard.plugin.stash import BASELINE_KEY, RUN_KEY, SIGNALS_KEY
from rlsguard.plugin.workers import (
    WorkersShare,
    is_controller,
    shared_server,
    shared_with_this_worker,
    workers_of,
)
from rlsguard.report.evidence.baseline import Baseline
from rlsguard.run import Run
from rlsguard.server import Server, request_from
from rlsguard.server.databases import server_gone
from rlsguard.server.process import InterruptSignals


def pytest_addoption(parser: pytest.Parser) -> None:
    add_pytest_options(parser)


class ProvidedServer:
    """Hands an already started server to the plugin (``rlsguard check`` does this)."""

    def __init__(self, server: Server) -> None:
        self.server = server


def pytest_configure(config: pytest.Config) -> None:
    signals = InterruptSignals()
    signals.install()
    config.stash[SIGNALS_KEY] = signals
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
    shared = shared_with_this_worker(config)
    given = provided.server if provided else shared_server(shared)
    config.stash[RUN_KEY] = run = Run(
        settings=settings,
        request=request_from(
            config.getoption("rlsguard_backend"),
            config.getoption("rlsguard_dsn"),
            config.getoption("rlsguard_pg_image"),
            config.getoption("rlsguard_pg_version"),
        ),
        given_server=given,
        revision=config.getoption("rlsguard_revision") or HEAD,
        seed=_hypothesis_seed(config),
        max_examples=config.getoption("rlsguard_max_examples"),
        shrink_seconds=config.getoption("rlsguard_shrink_seconds"),
        workers=workers_of(config),
    )
    if shared:
        run.adopt_templates(shared["templates"])
    elif is_controller(config):
        config.pluginmanager.register(WorkersShare(run), "rlsguard-workers")
    add_environment(config, "rlsguard", __version__)
    baseline_path = config.getoption("rlsguard_baseline")
    baseline = Baseline.read(Path(baseline_path)) if baseline_path else None
    if baseline is not None and config.getoption("rlsguard_fail_on") == "new":
        config.stash[BASELINE_KEY] = baseline
    try:
        collector = EvidenceCollector(config, config.stash[RUN_KEY], baseline)
    except RlsguardError as error:
        raise pytest.UsageError(str(error)) from None
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
    overrides = tenancy_overrides(lambda option: config.getoption(option.pytest_key))
    return load_settings(Path(folder).resolve() if folder else config.rootpath, overrides)


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(RUN_KEY, None)
    if run is not None:
        run.close()
    signals = config.stash.get(SIGNALS_KEY, None)
    if signals is not None:
        signals.uninstall()


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
    """rlsguard's own errors fail a test (or its fixture) with their message alone; a lost
    server ends the session instead (nothing after it can be judged), whichever statement
    found it out."""
    try:
        return (yield)
    except ServerGone as error:
        pytest.exit(f"rlsguard: {error}", returncode=pytest.ExitCode.INTERRUPTED)
    except RlsguardError as error:
        # its message alone: the driver's and SQLAlchemy's exceptions it was raised from
        # would otherwise be printed before it, each as a cause of the next
        raise pytest.fail.Exception(f"{type(error).__name__}: {error}", pytrace=False) from None
    except Exception as error:
        gone = server_gone(error)
        if gone is None:
            raise
        pytest.exit(f"rlsguard: {gone}", returncode=pytest.ExitCode.INTERRUPTED)


pytest_pyfunc_call = pytest.hookimpl(wrapper=True)(_fail_cleanly)
pytest_fixture_setup = pytest.hookimpl(wrapper=True)(_fail_cleanly)
pytest_runtest_call = pytest.hookimpl(wrapper=True)(_fail_cleanly)
