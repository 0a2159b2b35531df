"""The plugin's hooks: options, whether the run uses rlsguard (then ``session`` makes the
Run and the rest), the rlsguard items in test modules, revisions as parameters, and clean
failures for rlsguard's own errors. This module and the ones it imports are light: a
pytest run that does not use rlsguard loads no SQLAlchemy, Alembic or Hypothesis."""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from rlsguard.config import DSN_ENV, PG_VERSION_ENV, PYPROJECT
from rlsguard.errors import RlsguardError, ServerGone
from rlsguard.options import PYTEST, add_pytest_options, options_of
from rlsguard.plugin.provided import WORKERS, ProvidedServer, project_folder, provided_server
from rlsguard.plugin.stash import EARLY_LANES_KEY, RUN_KEY, SIGNALS_KEY

if TYPE_CHECKING:
    from rlsguard.run import Run

__all__ = ["ProvidedServer"]

ENVIRONMENT = (DSN_ENV, PG_VERSION_ENV)  # they point a run at rlsguard's servers


def pytest_addoption(parser: pytest.Parser) -> None:
    add_pytest_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    if in_use(config):
        from rlsguard.plugin.session import activate  # noqa: PLC0415  (SQLAlchemy and the rest)

        activate(config)


def in_use(config: pytest.Config) -> bool:
    """Does this pytest run use rlsguard? ``rlsguard check``'s, a worker of a run that does,
    one given an rlsguard option (or its environment variables), or one whose project
    folder has an ``alembic.ini`` or a ``[tool.rlsguard]`` table. Any other run (rlsguard
    is merely installed) loads none of rlsguard's machinery, unless a test asks for a
    fixture or an item of it."""
    if provided_server(config) is not None:
        return True
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:  # an xdist worker: as its controller
        return WORKERS in workerinput
    if any(os.environ.get(name) for name in ENVIRONMENT):
        return True
    if any(
        config.getoption(option.pytest_key) != option.arguments(PYTEST)["default"]
        for option in options_of(PYTEST)
    ):
        return True
    root = project_folder(config)
    return (root / "alembic.ini").is_file() or _has_rlsguard_table(root / PYPROJECT)


def _has_rlsguard_table(pyproject: Path) -> bool:
    try:
        with pyproject.open("rb") as file:
            tool = tomllib.load(file).get("tool", {})
    except (OSError, tomllib.TOMLDecodeError):
        return pyproject.is_file()  # a broken one: the session says what is wrong with it
    return isinstance(tool, dict) and "rlsguard" in tool


def session_run(config: pytest.Config) -> Run:
    """The session's Run, its machinery imported (and the session made) on first use."""
    from rlsguard.plugin.session import run_of  # noqa: PLC0415  (SQLAlchemy and the rest)

    return run_of(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    end_lanes = config.stash.get(EARLY_LANES_KEY, None)
    if end_lanes is not None:  # still probing if the session ended before its probe items
        end_lanes()
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
    recorder = config.pluginmanager.get_plugin("rlsguard-evidence")
    note = recorder.incomplete_note() if recorder is not None else None
    if note is not None and provided_server(config) is None:  # rlsguard check says its own
        terminalreporter.write_sep("=", "rlsguard: the evidence is incomplete", yellow=True)
        terminalreporter.write_line(note)


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> object:
    items = sys.modules.get("rlsguard.plugin.items")  # loaded by a module that holds them
    if items is None or not isinstance(obj, (items.IsolationChecks, items.ProbeChecks)):
        return None
    session_run(collector.config)
    if isinstance(obj, items.IsolationChecks):
        return items.IsolationCollector.from_parent(collector, name=name)
    return items.ProbeCollector.from_parent(collector, name=name)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "rlsguard_revision" in metafunc.fixturenames:
        project = session_run(metafunc.config).project
        revisions = project.revision_ids()
        metafunc.parametrize("rlsguard_revision", revisions, ids=revisions)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> bool | None:
    """Probe items: the lanes judge them all at the first, or start at the session's
    first item (plugin/lanes.py)."""
    items = sys.modules.get("rlsguard.plugin.items")  # loaded by a module that holds them
    if items is None:
        return None
    if not isinstance(item, items.ProbeItem):
        lanes = sys.modules["rlsguard.plugin.lanes"]  # items imports it
        lanes.before_first_item(item, items.ProbeItem, items.IsolationItem)
        return None
    protocol: bool | None = items.lanes_of(item.config).protocol(item)
    return protocol


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
        from rlsguard.server.databases import server_gone  # noqa: PLC0415  (SQLAlchemy)

        gone = server_gone(error)
        if gone is None:
            raise
        pytest.exit(f"rlsguard: {gone}", returncode=pytest.ExitCode.INTERRUPTED)


pytest_pyfunc_call = pytest.hookimpl(wrapper=True)(_fail_cleanly)
pytest_fixture_setup = pytest.hookimpl(wrapper=True)(_fail_cleanly)
pytest_runtest_call = pytest.hookimpl(wrapper=True)(_fail_cleanly)
