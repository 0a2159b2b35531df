"""What ``rlsguard scan`` does: an existing database, read-only. Loaded only when it runs
(``commands`` parses without it). A static scan reads the catalog on a driver connection:
it loads neither SQLAlchemy, Hypothesis nor pytest, rich only for text and Alembic only
for SARIF (``probing`` loads the rest, when the probes run)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rlsguard.analyzer import scan
from rlsguard.checks import all_checks
from rlsguard.cli.exits import EXIT_FAILED, EXIT_OK
from rlsguard.config import DSN_ENV, find_project_root, load_settings
from rlsguard.errors import ConfigError, RlsguardError
from rlsguard.options import command_overrides
from rlsguard.registration import Rule
from rlsguard.report.document import scan_document
from rlsguard.report.sarif import sarif_document, schema_artifact
from rlsguard.server.driver import direct_connection
from rlsguard.server.dsn import connection_params, timeout_options
from rlsguard.server.process import interruptible

if TYPE_CHECKING:
    from rich.console import Console

    from rlsguard.config import Settings


def run_scan(arguments: argparse.Namespace) -> int:
    dsn = arguments.dsn or os.environ.get(DSN_ENV)
    if not dsn:
        raise ConfigError(f"scan needs a database: --dsn URL or {DSN_ENV}")
    project_root = (arguments.project or find_project_root()).resolve()
    settings = load_settings(project_root, command_overrides(arguments))
    params = _bounded(connection_params(dsn), settings)
    with interruptible():
        with direct_connection(params) as connection:
            analysis = scan(connection, settings)
        if not arguments.static_only:
            from rlsguard.cli.probing import probed  # noqa: PLC0415  (Hypothesis, SQLAlchemy)

            analysis = probed(analysis, arguments, settings, dsn)
    if arguments.format == "json":
        print(json.dumps(scan_document(analysis), indent=2))
    elif arguments.format == "sarif":
        artifact = schema_artifact(project_root, _newest_migration(settings))
        print(json.dumps(sarif_document(analysis, documented(), artifact), indent=2))
    else:
        from rlsguard.report.console import print_analysis  # noqa: PLC0415  (rich: text only)

        print_analysis(analysis, _console())
    return EXIT_FAILED if analysis.failed else EXIT_OK


def _bounded(params: dict[str, str], settings: Settings) -> dict[str, str]:
    """The connection's statements wait for a lock and run only as long as allowed."""
    given = params.get("options", "")
    options = timeout_options(given, settings.lock_timeout, settings.statement_timeout)
    return {**params, "options": options}


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


def _console() -> Console:
    """A terminal's own width; 160 columns in a CI log or a pipe, where rich would use 80."""
    from rich.console import Console  # noqa: PLC0415  (not for JSON or SARIF)

    return Console(width=None if sys.stdout.isatty() else 160)


def documented() -> list[Rule]:
    """Every rule: the static checks, then the probes."""
    from rlsguard.probes import all_probes  # noqa: PLC0415  (SARIF, checks, explain only)

    return [*all_checks(), *all_probes()]
