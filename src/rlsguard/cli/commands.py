"""The ``rlsguard`` command: ``check`` (the main job), ``scan`` (analyze an existing
database, read-only), ``checks`` (list them) and ``explain ID|NAME`` (one rule's doc).

Exit status: 0 nothing failed, 1 a check failed, 2 the run could not happen.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import hypothesis
from rich.console import Console
from sqlalchemy.engine import URL

from rlsguard import __version__
from rlsguard.analyzer import scan
from rlsguard.checks import all_checks
from rlsguard.cli.check import DEFAULT_REPORT, run_check
from rlsguard.cli.exits import EXIT_FAILED, EXIT_OK, EXIT_UNABLE
from rlsguard.cli.init import INIT_HELP, add_init_arguments, run_init
from rlsguard.config import Settings, find_project_root, load_settings
from rlsguard.errors import ConfigError, RlsguardError
from rlsguard.history.migrate import MigrationProject
from rlsguard.options import CHECK, SCAN, add_command_options, command_overrides
from rlsguard.plugin.evidence import EVIDENCE_NAME
from rlsguard.probes import all_probes
from rlsguard.probes.runner import probe_database
from rlsguard.registration import Rule
from rlsguard.report.console import print_analysis
from rlsguard.report.document import scan_document
from rlsguard.report.evidence.history import HISTORY_NAME, NoHistory, signers, verify
from rlsguard.report.evidence.signing import SIGNING_KEY_ENV, key_id, public_key
from rlsguard.report.rules import close_to, explain, named, print_checks
from rlsguard.report.sarif import sarif_document, schema_artifact
from rlsguard.server import DSN_ENV, PROBE_DSN_ENV
from rlsguard.server.databases import connected, refused, server_gone
from rlsguard.server.external import ExternalServer
from rlsguard.server.process import interruptible
from rlsguard.server.urls import parse_dsn, with_timeouts


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
        type=Path,
        default=None,
        metavar="PATH",
        help=f"HTML report path (default <project>/{DEFAULT_REPORT})",
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
        said = server_gone(error) or refused(error)
        if said is not None:
            print(f"rlsguard: error: {said}", file=sys.stderr)
            return EXIT_UNABLE
        traceback.print_exc()
        return EXIT_UNABLE


def _verify_evidence(folder: Path, public_key_file: Path | None) -> int:
    key = public_key(public_key_file) if public_key_file else None
    try:
        held, problem = verify(folder, EVIDENCE_NAME, key)
    except NoHistory as missing:
        print(f"rlsguard: error: {missing}", file=sys.stderr)
        return EXIT_UNABLE
    if problem is not None:
        print(f"rlsguard: the evidence does NOT hold: {problem} ({held} record(s) before hold)")
        return EXIT_FAILED
    if key is not None:
        signing = f", each signed by key {key_id(key)}"
    else:
        keys = signers(folder)
        signing = (
            f"; signed by key {', '.join(keys)}, signatures not checked (give --public-key)"
            if keys
            else ""
        )
    print(
        f"rlsguard: the evidence holds: {held} record(s) in {folder / HISTORY_NAME}, each "
        f"following the one before, and the last run's files are the ones it wrote{signing}"
    )
    return EXIT_OK


def _dispatch(arguments: argparse.Namespace) -> int:
    if arguments.command == "check":
        return run_check(arguments, command_overrides(arguments))
    if arguments.command == "scan":
        return _scan(arguments)
    if arguments.command == "init":
        return run_init(arguments)
    if arguments.command == "evidence":
        return _verify_evidence(arguments.folder, arguments.public_key)
    if arguments.command == "checks":
        print_checks(_documented(), _rules_console())
        return EXIT_OK
    return _explain(arguments.rule)


def _scan(arguments: argparse.Namespace) -> int:
    dsn = arguments.dsn or os.environ.get(DSN_ENV)
    if not dsn:
        raise ConfigError(f"scan needs a database: --dsn URL or {DSN_ENV}")
    project_root = (arguments.project or find_project_root()).resolve()
    settings = load_settings(project_root, command_overrides(arguments))
    with interruptible(), ExternalServer(parse_dsn(dsn)) as server:
        url = with_timeouts(server.url, settings.lock_timeout, settings.statement_timeout)
        with connected(url) as connection:
            analysis = scan(connection, settings)
        if not arguments.static_only:
            profile = settings_for_probes(arguments.max_examples)
            with contextlib.redirect_stdout(sys.stderr):  # stdout carries the JSON document alone
                results = probe_database(
                    url,
                    analysis.tenancy,
                    profile,
                    arguments.seed,
                    arguments.shrink_seconds,
                    probe_url=_probe_url(arguments, settings),
                )
            analysis = analysis.with_probes(results)
    if arguments.format == "json":
        print(json.dumps(scan_document(analysis), indent=2))
    elif arguments.format == "sarif":
        artifact = schema_artifact(project_root, _newest_migration(settings))
        print(json.dumps(sarif_document(analysis, _documented(), artifact), indent=2))
    else:
        print_analysis(analysis, _console())
    return EXIT_FAILED if analysis.failed else EXIT_OK


def _probe_url(arguments: argparse.Namespace, settings: Settings) -> URL | None:
    dsn = arguments.probe_dsn or os.environ.get(PROBE_DSN_ENV)
    if not dsn:
        return None
    return with_timeouts(parse_dsn(dsn), settings.lock_timeout, settings.statement_timeout)


def _newest_migration(settings: Settings) -> Path | None:
    """The file of the head revision, when the project has an Alembic history."""
    try:
        project = MigrationProject(settings.alembic_ini_path, settings.version_table)
    except RlsguardError:
        return None
    heads = project.heads()
    script = project.script.get_revision(heads[0]) if len(heads) == 1 else None
    return Path(script.path) if script is not None else None


def settings_for_probes(max_examples: int | None) -> hypothesis.settings:
    current = hypothesis.settings()
    return hypothesis.settings(current, max_examples=max_examples or current.max_examples)


def _console() -> Console:
    """A terminal's own width; 160 columns in a CI log or a pipe, where rich would use 80."""
    return Console(width=None if sys.stdout.isatty() else 160)


def _rules_console() -> Console:
    """The terminal's width, or COLUMNS; 100 columns in a pipe when COLUMNS is unset."""
    wide = sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit()
    return Console(width=None if wide else 100)


def _documented() -> list[Rule]:
    return [*all_checks(), *all_probes()]


def _explain(word: str) -> int:
    documented = _documented()
    found = named(documented, word)
    if not found:
        close = close_to(documented, word)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise ConfigError(
            f"no check or probe has the id or name {word!r}{hint} "
            "(`rlsguard checks` lists them all)"
        )
    print("\n".join(explain(rule) for rule in found), end="")
    return EXIT_OK
