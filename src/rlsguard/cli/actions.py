"""What ``rlsguard`` does for ``scan`` (an existing database, read-only), ``checks`` and
``explain``. Loaded only when one of them runs (``commands`` parses without it); it loads
neither pytest nor, unless SARIF is asked for, Alembic."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

import hypothesis
from rich.console import Console
from sqlalchemy.engine import URL

from rlsguard.analyzer import scan
from rlsguard.checks import all_checks
from rlsguard.cli.exits import EXIT_FAILED, EXIT_OK
from rlsguard.config import DSN_ENV, PROBE_DSN_ENV, Settings, find_project_root, load_settings
from rlsguard.errors import ConfigError, RlsguardError
from rlsguard.options import command_overrides
from rlsguard.probes import all_probes
from rlsguard.probes.runner import probe_database
from rlsguard.registration import Rule
from rlsguard.report.console import print_analysis
from rlsguard.report.document import scan_document
from rlsguard.report.rules import close_to, explain, named, print_checks
from rlsguard.report.sarif import sarif_document, schema_artifact
from rlsguard.server.databases import connected
from rlsguard.server.external import ExternalServer
from rlsguard.server.process import interruptible
from rlsguard.server.urls import parse_dsn, with_timeouts


def run_scan(arguments: argparse.Namespace) -> int:
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
    from rlsguard.history.migrate import MigrationProject  # noqa: PLC0415  (Alembic: SARIF only)

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


def run_explain(arguments: argparse.Namespace) -> int:
    word: str = arguments.rule
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


def run_checks(_arguments: argparse.Namespace) -> int:
    print_checks(_documented(), _rules_console())
    return EXIT_OK
