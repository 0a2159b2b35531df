"""What rlsguard prints: findings as text tables for a terminal (rich), and the gate's
verdict read back from the evidence file a run wrote (the rules themselves: ``rules``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from rlsguard.analyzer import Analysis, severity_counts
from rlsguard.findings import Outcome

STYLES = {"error": "bold red", "warning": "yellow", "accepted": "dim"}


def print_analysis(analysis: Analysis, console: Console) -> None:
    findings = analysis.causes
    tenancy = analysis.tenancy
    console.print(
        f"rlsguard scan of [bold]{tenancy.catalog.database}[/bold]: "
        f"{len(tenancy.tenant_tables)} tenant tables, app role {tenancy.app.name}, "
        f"admin roles {', '.join(admin.name for admin in tenancy.admins) or 'none'}"
    )
    if findings:
        table = Table(show_lines=False, expand=False)
        for heading in ("check", "severity", "object", "finding"):
            table.add_column(heading, overflow="fold")
        for finding in findings:
            state = "accepted" if finding.accepted else finding.severity.value
            message = (
                finding.message
                + finding.cause_note
                + (f"\n[accepted: {finding.reason}]" if finding.accepted else "")
            )
            table.add_row(
                Text(f"{finding.check} {finding.name}"),
                Text(state, style=STYLES[state]),
                Text(finding.object),
                Text(message),
                style="dim" if finding.accepted else None,
            )
        console.print(table)
    for finding in findings:
        if finding.evidence and not finding.accepted:
            console.print()
            console.print(Text(f"{finding.check} {finding.name}[{finding.object}]", style="bold"))
            console.print(Text(finding.evidence))
            if finding.seed is not None:
                console.print(f"-- reproduce with: rlsguard scan --seed {finding.seed}")
    counts = severity_counts(analysis.findings)
    passed = sum(1 for item in analysis.inspections if item.outcome is Outcome.PASS)
    probes = analysis.probe_results
    held = sum(1 for result in probes if result.status is Outcome.PASS)
    unable = sum(1 for result in probes if result.status is Outcome.CANNOT)
    examples = sum(result.witnessed for result in probes)
    alike = sum(1 for result in probes if result.proven_on and result.status is Outcome.PASS)
    console.print(
        f"{counts['error']} errors, {counts['warning']} warnings, {counts['accepted']} accepted; "
        f"{passed} of {len(analysis.inspections)} inspections clean"
        + (
            f"; {held} of {len(probes)} probes held"
            + (f" ({alike} of them proven on an alike table)" if alike else "")
            + f" over {examples} witnessed examples, {unable} could not act"
            if probes
            else ""
        )
    )
    unproven = analysis.not_proven_by_a_probe
    if unproven:
        console.print(f"[yellow]not proven by a probe: {', '.join(unproven)}[/yellow]")
    for allowance in analysis.unused_allowances:
        console.print(
            f"[yellow]allow entry {allowance.check} {allowance.object} matched no finding[/yellow]"
        )


def print_gate(evidence: Path) -> None:
    if not evidence.is_file():
        return
    document = json.loads(evidence.read_text())
    gate = document.get("gate")
    if not gate:
        return
    appeared_in = _where_each_appeared(document.get("timeline") or [])
    print(
        f"rlsguard: against {gate['base']} ({gate['base_revision']}): "
        f"{len(gate['added'])} finding(s) added, {len(gate['new_errors'])} of them new errors; "
        f"{len(gate['fixed'])} fixed; {len(gate['unchanged'])} unchanged"
    )
    for title, items in (("added", gate["added"]), ("fixed", gate["fixed"])):
        for item in items:
            revision = appeared_in.get((item["check"], item["object"]))
            where = f" (appeared in revision {revision})" if revision and title == "added" else ""
            print(
                f"  {title}: {item['check']} {item.get('name', '')} [{item['severity']}] "
                f"{item['object']}{where}"
            )


def _where_each_appeared(timeline: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for step in timeline:
        for item in step["appeared"]:
            found[(item["check"], item["object"])] = step["revision"]
    return found
