"""The ``rlsguard`` command.

``rlsguard check``: start (or reach) a PostgreSQL server, migrate to head, run every
check rlsguard has, write the HTML report. Exit 0 when every check holds, 1 when one
fails, 2 when the run itself could not happen. The server is stopped on every way out.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path

import psycopg2.extensions
import pytest

import rlsguard.suite
from rlsguard import __version__
from rlsguard.config import find_project_root, load_settings
from rlsguard.errors import RlsguardError
from rlsguard.migrate import MigrationProject
from rlsguard.plugin import ProvidedServer
from rlsguard.server import BACKENDS, DEFAULT_IMAGE, DSN_ENV, Server, provision, request_from
from rlsguard.server.process import SigtermAsInterrupt, wait_interruptibly

DEFAULT_REPORT = Path("reports") / "rlsguard-report.html"
EXIT_OK, EXIT_FAILED, EXIT_UNABLE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlsguard",
        description="Prove that a PostgreSQL schema keeps its tenants apart.",
    )
    parser.add_argument("--version", action="version", version=f"rlsguard {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check",
        help="provision a server, migrate, run every check, write the report",
        description=(
            "Start a throwaway PostgreSQL (or use --dsn), migrate to head, run every check and "
            "write the HTML report. Exit 0: all checks hold; 1: a check failed; "
            "2: the run could not happen."
        ),
    )
    check.add_argument(
        "--project",
        type=Path,
        default=None,
        help="project folder (default: nearest pyproject.toml)",
    )
    check.add_argument(
        "--dsn", default=None, help=f"use this server instead of starting one (or {DSN_ENV})"
    )
    check.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="where the server comes from (default auto)",
    )
    check.add_argument(
        "--pg-image", default=None, help=f"image for the docker backend (default {DEFAULT_IMAGE})"
    )
    check.add_argument(
        "--revision", default=None, help="check the schema as of this revision (default head)"
    )
    check.add_argument(
        "--report",
        type=Path,
        default=None,
        help=f"HTML report path (default <project>/{DEFAULT_REPORT})",
    )
    check.add_argument(
        "-q", "--quiet", action="store_true", help="one line per failure, not per check"
    )
    check.add_argument(
        "pytest_args", nargs=argparse.REMAINDER, help="after --: passed on to pytest"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        return check(arguments)
    except RlsguardError as error:
        print(f"rlsguard: error: {error}", file=sys.stderr)
        return EXIT_UNABLE
    except KeyboardInterrupt:
        print("rlsguard: interrupted; the server was stopped", file=sys.stderr)
        return EXIT_UNABLE
    except Exception:  # a bug in rlsguard: show it, but still as "could not run"
        traceback.print_exc()
        return EXIT_UNABLE


def check(arguments: argparse.Namespace) -> int:
    project_root = (arguments.project or find_project_root()).resolve()
    if not project_root.is_dir():
        print(f"rlsguard: error: no project folder at {project_root}", file=sys.stderr)
        return EXIT_UNABLE
    settings = load_settings(project_root)
    project = MigrationProject(settings.alembic_ini_path, settings.version_table)
    if arguments.revision:
        project.resolve(arguments.revision)
    request = request_from(arguments.backend, arguments.dsn, arguments.pg_image).validated()
    report = (arguments.report or project_root / DEFAULT_REPORT).resolve()
    sigterm = SigtermAsInterrupt()
    sigterm.install()
    # Queries wait in select(), so Ctrl-C and SIGTERM cancel a long statement at once
    # instead of after it ends. Process-wide, which is why only the command sets it.
    previous_wait = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(wait_interruptibly)
    try:
        with provision(request) as server:
            print(f"rlsguard: PostgreSQL {server.server_version} from {server.where()}", flush=True)
            exit_code = _run_suite(arguments, project_root, report, server)
    finally:
        psycopg2.extensions.set_wait_callback(previous_wait)
        sigterm.uninstall()
    return _summarize(exit_code, report)


def _run_suite(
    arguments: argparse.Namespace, project_root: Path, report: Path, server: Server
) -> int:
    suite = Path(rlsguard.suite.__file__)
    pytest_args = [
        str(suite),
        "--rootdir", str(suite.parent),
        "-c", os.devnull,
        "--noconftest",
        "-p", "no:cacheprovider",
        "--rlsguard-project", str(project_root),
        "--html", str(report),
        "--self-contained-html",
        "-q" if arguments.quiet else "-v",
        "-rfE",
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
    ]  # fmt: skip
    if arguments.revision:
        pytest_args += ["--rlsguard-revision", arguments.revision]
    extra = list(arguments.pytest_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    report.parent.mkdir(parents=True, exist_ok=True)
    with _working_directory(suite.parent):  # test ids then read suite.py::test_...
        return int(pytest.main(pytest_args + extra, plugins=[ProvidedServer(server)]))


@contextlib.contextmanager
def _working_directory(folder: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def _summarize(exit_code: int, report: Path) -> int:
    if exit_code == pytest.ExitCode.OK:
        print(f"rlsguard: every check holds; report: {report}")
        return EXIT_OK
    if exit_code == pytest.ExitCode.TESTS_FAILED:
        print(f"rlsguard: checks FAILED; report: {report}")
        return EXIT_FAILED
    print(f"rlsguard: the run could not complete (pytest exit {exit_code}); report: {report}")
    return EXIT_UNABLE


if __name__ == "__main__":
    raise SystemExit(main())
