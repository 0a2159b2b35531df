"""The top of the HTML report: the verdict first, as ``rlsguard check`` says it on the
console (one line per cause to fix), then what pins the schema, what was accepted and why,
and what the run does not prove. Every value is escaped."""

from __future__ import annotations

import html
from collections.abc import Iterable

from rlsguard.config import Allowance
from rlsguard.findings import Outcome
from rlsguard.report.evidence.records import ItemRecord
from rlsguard.report.summary import causes, not_proven, stale_allowances, verdict

PINNING = ("Alembic head", "Schema fingerprint (SHA-256)", "Git commit", "PostgreSQL server")


def verdict_html(
    records: list[ItemRecord],
    facts: dict[str, str],
    *,
    incomplete: str | None,
    allow: tuple[Allowance, ...],
    unprobed_tables: list[str],
) -> str:
    found = causes(records, [])
    passed = not found and incomplete is None
    said = verdict(passed, records, len(found))
    word = "FAIL" if found else ("INCOMPLETE" if incomplete else "PASS")
    pinned = [f"{key}: {facts[key]}" for key in PINNING if facts.get(key)]
    accepted = [
        f"{finding['check']} {finding['name']} on {finding['object']}: {finding['message']} "
        f"(accepted: {finding['reason']})"
        for record in records
        if record.status is Outcome.ACCEPTED
        for finding in record.findings
        if finding.get("accepted")
    ]
    unproven = not_proven(records) + stale_allowances(allow, records)
    unproven += [f"NOT PROVEN {table}: no probe acted on this table" for table in unprobed_tables]
    parts = [
        f'<h2 class="rlsguard-verdict-{word.lower()}">Verdict: {word}</h2>',
        _paragraph(f"This run is INCOMPLETE: {incomplete}." if incomplete else said),
        _paragraph(said) if incomplete and found else "",
        _listed("Causes to fix", [cause.line() for cause in found], ordered=True),
        _listed("The schema", pinned),
        _listed("Accepted findings", accepted),
        _listed("Not proven", unproven),
    ]
    return f'<section id="rlsguard-verdict">{"".join(parts)}</section>'


def _paragraph(text: str) -> str:
    return f"<p><strong>{html.escape(text)}</strong></p>"


def _listed(title: str, lines: Iterable[str], *, ordered: bool = False) -> str:
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    if not items:
        return ""
    tag = "ol" if ordered else "ul"
    return f"<h3>{html.escape(title)}</h3><{tag}>{items}</{tag}>"
