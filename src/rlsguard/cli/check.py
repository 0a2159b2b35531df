"""``rlsguard check``: provision a server, then run rlsguard's suite through pytest
(migration checks and one test item per static check and object), so the command and
a plain ``pytest`` (with the report options docs/evidence.md gives) write the same report. The
console is rlsguard's own (a header, a line per phase, the verdict and one block per
cause); pytest's comes back with -v or pytest arguments after --. Exit 0 when every check holds,
1 when one fails, 2 when the run could not happen. The server is stopped on every way
out; Ctrl-C and SIGTERM cancel a statement in progress instead of waiting for it."""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hypothesis
import pytest

import rlsguard.suite
from rlsguard.cli.base_ref import build_baseline
from rlsguard.cli.exits import EXIT_FAILED, EXIT_OK, EXIT_UNABLE
from rlsguard.config import DEFAULT_REPORT, Allowance, Settings, find_project_root, load_settings
from rlsguard.errors import ConfigError, RlsguardError
from rlsguard.history.migrate import HEAD, MigrationProject
from rlsguard.options import bridge
from rlsguard.plugin.console import CheckConsole
from rlsguard.plugin.evidence import collection_error, interrupt_reason
from rlsguard.plugin.hooks import ProvidedServer
from rlsguard.report.console import print_gate
from rlsguard.report.controls.mapping import frameworks_for
from rlsguard.report.evidence.baseline import Baseline
from rlsguard.report.evidence.history import EVIDENCE_NAME, beside
from rlsguard.report.evidence.keeping import mark_not_started
from rlsguard.report.evidence.signing import pin_key_path, signing_key
from rlsguard.report.pdf import find_chromium, no_chromium, pin_chromium
from rlsguard.report.summary import (
    causes,
    header_line,
    not_proven,
    reproduce_line,
    stale_allowances,
    verdict,
)
from rlsguard.server import Provisioning, Server, provision, request_from
from rlsguard.server.process import interruptible

JUNIT_NAME = "rlsguard-junit.xml"


def run_check(
    arguments: argparse.Namespace,
    overrides: dict[str, object],
    provisioning: Provisioning | None = None,
) -> int:
    """``provisioning``: the server's start, begun (else one is provisioned here)."""
    project_root = (arguments.project or find_project_root()).resolve()
    if not project_root.is_dir():
        raise ConfigError(f"no project folder at {project_root}")
    arguments.project = project_root  # what the pytest run is handed
    report = _report_path(arguments.report, project_root)
    started = Started()
    try:
        exit_code = _checked(
            arguments, overrides, project_root, report, started, provisioning=provisioning
        )
        pdf = report.with_suffix(".pdf")
        if arguments.pdf and beside(pdf).is_file():  # an incomplete run's
            print(f"rlsguard: PDF (incomplete): {beside(pdf)}")
        elif arguments.pdf and exit_code in (EXIT_OK, EXIT_FAILED):
            if not pdf.is_file():
                return EXIT_UNABLE  # the plugin said why
            print(f"rlsguard: PDF: {pdf}")
        return exit_code
    except (RlsguardError, KeyboardInterrupt) as stopped:
        if not started.suite:
            reason = str(stopped) or "interrupted (Ctrl-C or SIGTERM)"
            mark_not_started(report.parent / EVIDENCE_NAME, reason.splitlines()[0])
        raise


@dataclass
class Started:
    suite: bool = False  # pytest ran: its own evidence says how it ended


def _checked(
    arguments: argparse.Namespace,
    overrides: dict[str, object],
    project_root: Path,
    report: Path,
    started: Started,
    *,
    provisioning: Provisioning | None,
) -> int:
    settings = load_settings(project_root, overrides)
    # what the report needs, refused before a server starts (the plugin checks them again)
    frameworks_for(settings.project_root, settings.control_mappings, settings.frameworks)
    signing_key()
    pin_key_path()  # the suite runs in another folder
    if arguments.pdf:
        browser = find_chromium()
        if browser is None:
            raise no_chromium()
        pin_chromium(browser)
    project = MigrationProject(settings.alembic_ini_path, settings.version_table)
    revision = project.resolve(arguments.revision) if arguments.revision else None
    request = request_from(
        arguments.backend, arguments.dsn, arguments.pg_image, arguments.pg_version
    ).validated()
    if arguments.base and arguments.seed is None and not hypothesis.settings().derandomize:
        # with a random seed per side, a probe could catch a leak on one side only, and
        # the comparison would call it added (or fixed)
        arguments.seed = random.randrange(1, 2**32)
        print(f"rlsguard: --base without --seed: both sides use seed {arguments.seed}")
    console = CheckConsole(sys.stdout, quiet=arguments.quiet)
    with interruptible():
        began = provisioning.began if provisioning is not None else time.monotonic()
        server = provisioning.finish() if provisioning is not None else provision(request)
        with server, tempfile.TemporaryDirectory() as scratch:
            console.write(_header(project_root, project, revision, settings, server))
            console.write(
                f"  {'server:':<15}ready in {time.monotonic() - began:.1f} s ({server.where()})"
            )
            extra: list[str] = []
            if arguments.base:
                baseline = Path(scratch) / "baseline.json"
                building = time.monotonic()
                _baseline(arguments, overrides, project_root, server).write(baseline)
                console.write(
                    f"  {'base:':<15}the schema as of {arguments.base} built and judged "
                    f"({time.monotonic() - building:.1f} s)"
                )
                extra = [f"--rlsguard-baseline={baseline}"]
            watch = Stopped()
            started.suite = True
            exit_code = _run_suite(
                arguments, report, server, gate_args=extra, watch=watch, console=console
            )
    return _summarize(exit_code, report, watch, console, settings.allow, quiet=arguments.quiet)


def _header(
    project_root: Path,
    project: MigrationProject,
    revision: str | None,
    settings: Settings,
    server: Server,
) -> str:
    history = project.revision_ids()
    heads = project.heads()
    shown = revision if revision not in (None, HEAD) else f"head ({', '.join(heads)})"
    as_of = revision if revision not in (None, HEAD) else (heads[0] if len(heads) == 1 else None)
    in_force = settings.as_of(as_of, history) if as_of in history else settings
    return header_line(project_root.name, shown or "", server.server_version, in_force)


def _baseline(
    arguments: argparse.Namespace, overrides: dict[str, object], project_root: Path, server: Server
) -> Baseline:
    return build_baseline(
        project_root,
        arguments.base,
        server,
        overrides,
        seed=arguments.seed,
        max_examples=arguments.max_examples,
        shrink_seconds=arguments.shrink_seconds,
    )


def _report_path(given: str | None, project_root: Path) -> Path:
    """Where the HTML report goes: a folder (one that exists, or a path that ends with a
    separator, made when missing) holds it under its usual name."""
    if given is None:
        return (project_root / DEFAULT_REPORT).resolve()
    path = Path(given)
    if given.endswith(("/", os.sep)) or path.is_dir():
        path = path / DEFAULT_REPORT.name
    return path.resolve()


class Stopped:
    """What ended the pytest run early: a collection error (rlsguard could not build its
    items: bad config, nothing to check) or an interrupt (Ctrl-C, SIGTERM, a lost server)."""

    def __init__(self) -> None:
        self.collection_error: str | None = None
        self.interrupted: str | None = None
        self.incomplete: str | None = None  # why the evidence says so (a selection too)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and self.collection_error is None:
            self.collection_error = collection_error(report)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        self.interrupted = interrupt_reason(excinfo.value) or "interrupted"

    @pytest.hookimpl(trylast=True)  # after the evidence recorder has judged the run
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        recorder = session.config.pluginmanager.get_plugin("rlsguard-evidence")
        self.incomplete = getattr(recorder, "incomplete", None)


class LongLivedFrozen:
    """What lives for the whole run (the modules, the analysed schema, the items) is moved
    out of the cycle collector's sight once collection has built it, as it was once the
    imports were done: else every full collection walks all of it again, and so does the
    interpreter's teardown (docs/speed.md). It is freed when the process ends."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self) -> None:
        gc.freeze()


def _run_suite(
    arguments: argparse.Namespace,
    report: Path,
    server: Server,
    *,
    gate_args: list[str],
    watch: Stopped,
    console: CheckConsole,
) -> int:
    suite = Path(rlsguard.suite.__file__)
    pytest_args = [
        str(suite),
        "--rootdir", str(suite.parent),
        "-c", os.devnull,
        "--noconftest",
        "-p", "no:cacheprovider",
        "--html", str(report),
        "--self-contained-html",
        "--junitxml", str(report.parent / JUNIT_NAME),
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
    ]  # fmt: skip
    extra = list(arguments.pytest_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    # pytest's own console (every item, tracebacks, captured logs) only when asked for
    if arguments.verbose or extra:
        pytest_args += ["-q" if arguments.quiet else "-v", "-rfEx"]
    else:
        pytest_args += ["-p", "no:terminal"]
    pytest_args += [*bridge(arguments), *gate_args, *_workers(arguments.workers)]
    report.parent.mkdir(parents=True, exist_ok=True)
    with _working_directory(suite.parent):  # test ids then read suite.py::test_...
        plugins = [ProvidedServer(server), watch, console, LongLivedFrozen()]
        gc.freeze()
        return int(pytest.main(pytest_args + extra, plugins=plugins))


def _workers(count: int | None) -> list[str]:
    """pytest-xdist's flags for ``--workers``: the table-keeping group scheduling."""
    if not count or count == 1:
        return []
    if importlib.util.find_spec("xdist") is None:
        raise ConfigError(
            "--workers needs pytest-xdist: pip install 'rlsguard[parallel]' (or pytest-xdist)"
        )
    return ["-n", str(count), "--dist", "loadgroup"]


@contextlib.contextmanager
def _working_directory(folder: Path) -> Iterator[None]:
    """In ``folder``; pytest-xdist's workers start there too, and Hypothesis keeps its
    storage (its cache of constants) where this process keeps it: in the folder the
    command was run from, never in the installed package."""
    previous = Path.cwd()
    storage = "HYPOTHESIS_STORAGE_DIRECTORY"
    given = os.environ.get(storage)
    os.environ[storage] = given or str(previous / ".hypothesis")
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)
        if given is None:
            del os.environ[storage]


def _summarize(
    exit_code: int,
    report: Path,
    watch: Stopped,
    console: CheckConsole,
    allow: tuple[Allowance, ...],
    *,
    quiet: bool,
) -> int:
    """The verdict first, the gate's comparison, then one block (with -q: one line) per
    cause; exit 2 when the run could not happen."""
    if exit_code in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        passed = exit_code == pytest.ExitCode.OK
        found = causes(console.records, console.unrecorded)
        if not quiet:
            print()
        said = verdict(passed, console.records, len(found), watch.incomplete)
        kept = beside(report) if watch.incomplete else report
        print(f"{said}; report{' (incomplete)' if watch.incomplete else ''}: {kept}")
        evidence = report.parent / EVIDENCE_NAME
        print_gate(beside(evidence) if watch.incomplete else evidence)
        for number, cause in enumerate(found, 1):
            print(cause.line() if quiet else "\n" + "\n".join(cause.lines(number)))
        unproven = not_proven(console.records) + stale_allowances(allow, console.records)
        if unproven and not quiet:
            print()
        for line in unproven:
            print(line)
        reproduce = reproduce_line(console.records)
        if reproduce and not quiet:
            print(f"\n{reproduce}")
        if not passed:
            return EXIT_FAILED
        return EXIT_UNABLE if watch.incomplete else EXIT_OK
    if watch.collection_error is not None:
        print(
            f"rlsguard: error: {watch.collection_error.rstrip('.')}; report (incomplete): "
            f"{beside(report)}"
        )
        return EXIT_UNABLE
    if exit_code == pytest.ExitCode.INTERRUPTED:
        print(
            f"rlsguard: {watch.interrupted or 'interrupted'}; the report is marked incomplete:"
            f" {beside(report)}"
        )
        return EXIT_UNABLE
    if exit_code == pytest.ExitCode.USAGE_ERROR:  # nothing ran: no report was written
        reason = "pytest refused the arguments given after -- (its message is above)"
        written = mark_not_started(report.parent / EVIDENCE_NAME, reason)
        print(f"rlsguard: error: {reason}; nothing ran (said in {written})")
        return EXIT_UNABLE
    print(f"rlsguard: the run could not complete (pytest exit {exit_code}); report: {report}")
    return EXIT_UNABLE
