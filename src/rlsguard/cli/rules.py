"""What ``rlsguard checks`` and ``rlsguard explain`` do: the rules' documentation, read
from their registries (no database, no Hypothesis, no SQLAlchemy)."""

from __future__ import annotations

import argparse
import os
import sys

from rich.console import Console

from rlsguard.cli.actions import documented
from rlsguard.cli.exits import EXIT_OK
from rlsguard.errors import ConfigError
from rlsguard.report.rules import close_to, explain, named, print_checks


def _rules_console() -> Console:
    """The terminal's width, or COLUMNS; 100 columns in a pipe when COLUMNS is unset."""
    wide = sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit()
    return Console(width=None if wide else 100)


def run_explain(arguments: argparse.Namespace) -> int:
    word: str = arguments.rule
    rules = documented()
    found = named(rules, word)
    if not found:
        close = close_to(rules, word)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise ConfigError(
            f"no check or probe has the id or name {word!r}{hint} "
            "(`rlsguard checks` lists them all)"
        )
    print("\n".join(explain(rule) for rule in found), end="")
    return EXIT_OK


def run_checks(_arguments: argparse.Namespace) -> int:
    print_checks(documented(), _rules_console())
    return EXIT_OK
