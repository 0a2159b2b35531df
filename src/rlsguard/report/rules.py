"""What rlsguard says about its own rules: the list (``rlsguard checks``), one rule
explained in three sections (``rlsguard explain``), and the rules a word names."""

from __future__ import annotations

import difflib
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from rlsguard.analyzer import probe_fix_docs, split_fix
from rlsguard.checks.registry import Check
from rlsguard.probes.registry import Probe
from rlsguard.registration import Rule

ATTACKS_DOC = "docs/attacks.md"
USED = "How it is used:"
DOC_WIDTH = 84  # the width the rules' docstrings are written to


@dataclass(frozen=True)
class Explanation:
    proves: str
    reproduce: str
    fix: str

    def sections(self) -> dict[str, str]:
        return {
            "What it proves": self.proves,
            "How to reproduce": self.reproduce,
            "How to fix": self.fix,
        }


def explanation(rule: Rule) -> Explanation:
    if isinstance(rule, Probe):
        return _probe_explanation(rule)
    if isinstance(rule, Check):
        return _check_explanation(rule)
    raise TypeError(f"{rule.id} is neither a check nor a probe")


def _check_explanation(check: Check) -> Explanation:
    """A check's doc says what leaks, how it is used and the fix, in that order."""
    before_fix, fix = split_fix(check.doc)
    leaks, _, used = before_fix.partition(USED)
    found = (
        "Find it in a database, or at every revision of a project's migrations:\n\n"
        "    rlsguard scan --static-only --dsn URL\n    rlsguard check"
    )
    return Explanation(
        proves=f"{check.title}.\n\n{leaks.strip()}",
        reproduce=f"{used.strip()}\n\n{found}" if used.strip() else "",
        fix=fix,
    )


def _probe_explanation(probe: Probe) -> Explanation:
    """A probe's doc says what it does; its fix is its own (a ``Fix:`` in its doc) or that
    of the checks in its ``fixes_from``."""
    before_fix, own_fix = split_fix(probe.doc)
    steps = before_fix.strip()
    premise = "\n\n" + textwrap.fill(
        f"Premise (an example counts only when it held): {probe.premise}", DOC_WIDTH
    )
    replay = (
        "A failure prints the shrunk example as a SQL transcript to replay in psql, and the\n"
        "Hypothesis seed N that finds it again:\n\n"
        f"    rlsguard check --seed N -- -k <table>-{probe.name}\n"
        "    rlsguard scan --dsn URL --seed N"
    )
    return Explanation(
        proves=f"{probe.title}." + (premise if probe.premise else ""),
        reproduce=f"{steps}\n\n{replay}" if steps else "",
        fix=own_fix or probe_fix_docs(probe),
    )


def explain(rule: Rule) -> str:
    kind = "probe" if isinstance(rule, Probe) else "check"
    attacks = ", ".join(str(number) for number in rule.attacks) or "none"
    head = (
        f"{rule.id} {rule.name} ({rule.severity.value}, {kind})\n"
        f"Attacks ({ATTACKS_DOC}): {attacks}\n"
    )
    body = "".join(f"\n{title}:\n{text}\n" for title, text in explanation(rule).sections().items())
    return head + body


def named(rules: Sequence[Rule], word: str) -> list[Rule]:
    """The rules whose id or name is ``word``, whatever its case (a name two rules share,
    such as a check and the probe that proves it, names both)."""
    wanted = word.strip().lower()
    return [rule for rule in rules if wanted in (rule.id.lower(), rule.name.lower())]


def close_to(rules: Sequence[Rule], word: str) -> list[str]:
    """``id name`` of the rules whose id or name is spelt like ``word``."""
    by_word = {key.lower(): rule for rule in rules for key in (rule.id, rule.name)}
    close = difflib.get_close_matches(word.strip().lower(), by_word, n=3, cutoff=0.6)
    return list(dict.fromkeys(f"{by_word[key].id} {by_word[key].name}" for key in close))


def print_checks(rules: Sequence[Rule], console: Console) -> None:
    """A table on a terminal; plain text (no box drawing, no colour) for a pipe or a file,
    both as wide as the console."""
    if console.is_terminal:
        table = Table(caption=f"attacks: rows of {ATTACKS_DOC}")
        for heading in ("id", "name", "severity", "attacks", "title"):
            table.add_column(heading, overflow="fold")
        for rule in rules:
            table.add_row(rule.id, rule.name, rule.severity.value, _attacks(rule), rule.title)
        console.print(table)
        return
    for line in plain_checks(rules, console.width):
        console.out(line, highlight=False)


def plain_checks(rules: Sequence[Rule], width: int) -> list[str]:
    """Per rule: id, name, severity and attacks on one line, the title wrapped below."""
    name_width = max((len(rule.name) for rule in rules), default=0)
    indent = " " * 7
    lines = []
    for rule in rules:
        head = f"{rule.id:<6} {rule.name:<{name_width}}  {rule.severity.value:<7}  attacks "
        lines.extend(textwrap.wrap(head + _attacks(rule), width, subsequent_indent=indent))
        lines.extend(
            textwrap.wrap(rule.title, width, initial_indent=indent, subsequent_indent=indent)
        )
    footer = f"attacks: rows of {ATTACKS_DOC}; `rlsguard explain ID|NAME` tells one in full"
    return lines + textwrap.wrap(footer, width)


def _attacks(rule: Rule) -> str:
    return ", ".join(str(number) for number in rule.attacks) or "-"
