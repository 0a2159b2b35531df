"""What ``rlsguard check`` prints: the header line, a line per phase, and the summary —
the verdict first, then one block per cause with its one fix, built from the run's item
records (so it reads the same in one process and under pytest-xdist)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rlsguard.analyzer import link_of, names_object
from rlsguard.config import Allowance, Settings
from rlsguard.findings import Outcome
from rlsguard.report.evidence.records import ItemRecord

PHASES = ("migrations", "static checks", "probes")
REVISION_FAILED = re.compile(r"(?:up|down)grade of revision \S+ failed: .*")  # a MigrationError
PHASE_OF_KIND = {"migration": "migrations", "check": "static checks", "probe": "probes"}
# static checks that say RLS does not apply to the application on a table at all (it is
# off; the application owns the table and RLS is not forced): every probe failure on that
# table has this cause
RLS_NOT_APPLIED = ("RG101", "RG102")
OUTCOME_WORDS = {
    Outcome.PASS: "held",
    Outcome.FAIL: "failed",
    Outcome.WARNING: "warned",
    Outcome.ACCEPTED: "accepted",
    Outcome.UNCHANGED: "unchanged since base",
    Outcome.CANNOT: "could not act",
}


def header_line(project: str, revision: str, server: str, settings: Settings) -> str:
    return (
        f"rlsguard check: {project} at revision {revision} on PostgreSQL {server}; "
        f"tenancy: {tenancy_line(settings)}"
    )


def tenancy_line(settings: Settings) -> str:
    """The tenancy model in one line: how a row names its tenant, how the application
    enters one, who the application and the admins are."""
    if settings.context_statement:
        entry = f"entered by {settings.context_statement}"
    else:
        entry = "entered by " + ", ".join(f"{key}={value}" for key, value in settings.entry)
    parts = [f"rows by {settings.tenant_column}", entry]
    if settings.membership is not None:
        parts.append(f"members in {settings.membership.table}")
    parts += [
        f"app role {settings.app_role}",
        f"admin roles {', '.join(settings.admin_roles) or 'none'}",
        f"schemas {', '.join(settings.schemas)}",
    ]
    if settings.preset:
        parts.append(f"preset {settings.preset}")
    return "; ".join(parts)


def phase_line(
    phase: str,
    counts: Counter[Outcome],
    seconds: float,
    *,
    side_by_side: bool = False,
    alike: int = 0,
) -> str:
    """``side_by_side``: the phases ran at once on workers, and ``seconds`` is the time
    the phase's items took on them (the wall time is not the phase's own); ``alike``: the
    passes proven on an alike table (probes/alike.py)."""
    total = sum(counts.values())
    said = tally_of(counts, alike)
    took = f"{seconds:.1f} s of work on the workers" if side_by_side else f"{seconds:.1f} s"
    return f"  {phase + ':':<15}{total} run: {said or 'none'} ({took})"


@dataclass
class Cause:
    """One thing to fix: the finding that names it, the objects it is found on, the
    probes that confirmed it by acting, and its one fix."""

    title: str
    message: str
    fix: str
    objects: list[str] = field(default_factory=list)
    confirmed_by: list[str] = field(default_factory=list)
    mergeable: bool = True  # False: said as it is (a migration check, an item's error)

    def lines(self, number: int) -> list[str]:
        where = f" on {', '.join(self.objects)}" if self.objects else ""
        lines = [f"{number}. {self.title}{where}"]
        lines += [f"   {line}" for line in self.message.splitlines()]
        if self.confirmed_by:
            lines.append(f"   confirmed by probes: {', '.join(dict.fromkeys(self.confirmed_by))}")
        lines += [f"   {line}".rstrip() for line in self.fix.splitlines()]
        return lines

    def line(self) -> str:
        where = f" on {', '.join(self.objects)}" if self.objects else ""
        count = len(set(self.confirmed_by))
        probes = f" (+{count} probe{'s' if count != 1 else ''})" if count else ""
        first = self.message.splitlines()[0] if self.message else ""
        return f"FAIL {self.title}{where}{probes}: {first}"


def causes(records: list[ItemRecord], unrecorded: list[tuple[str, str]]) -> list[Cause]:
    """The failures, one block per cause: a static finding and the probes linked to it on
    the same object share a block (and so do findings of one cause, such as one policy
    breaking reads and writes); blocks with the same check and fix merge across objects.
    ``unrecorded``: (test id, text) of items that failed with an error, not a finding."""
    failing = [record for record in records if record.status is Outcome.FAIL]
    blocks: dict[tuple[str, str], Cause] = {}
    migrations = [
        (f"migration check {record.name}", record.message or "")
        for record in failing
        if record.kind == "migration"
    ]
    found = _errors_in_items(
        migrations + [(nodeid.split("::")[-1], text) for nodeid, text in unrecorded]
    )
    for record in (record for record in failing if record.kind == "check"):
        for finding in _errors(record):
            key = (finding["object"], finding["cause"] or finding["check"])
            if key not in blocks:
                blocks[key] = Cause(
                    f"{finding['check']} {finding['name']}",
                    finding["message"],
                    record.remediation or "",
                    objects=[finding["object"]],
                )
            elif blocks[key].title.startswith(f"{finding['check']} "):
                # more of the same check on the object (each privilege, each policy)
                blocks[key].message += f"\n{finding['message']}"
    for record in (record for record in failing if record.kind == "probe"):
        for finding in _errors(record):
            link = link_of(finding["message"])
            key = (finding["object"], (link[0] or link[1]) if link else "")
            if key not in blocks:
                key = next(
                    (
                        (finding["object"], check)
                        for check in RLS_NOT_APPLIED
                        if (finding["object"], check) in blocks
                    ),
                    key,
                )
            if key not in blocks and link:  # a probe of many tables names the one it failed on
                key = next(
                    (
                        named
                        for named in blocks
                        if named[1] == key[1] and names_object(finding["message"], named[0])
                    ),
                    key,
                )
            if key in blocks:
                blocks[key].confirmed_by.append(f"{finding['check']} {finding['name']}")
                continue
            blocks.setdefault(
                (finding["object"], f"{finding['check']} {record.remediation}"),
                Cause(
                    f"{finding['check']} {finding['name']}",
                    finding["message"],
                    record.remediation or "",
                    objects=[finding["object"]],
                ),
            )
    return found + _merged(list(blocks.values()))


def _errors_in_items(failed: list[tuple[str, str]]) -> list[Cause]:
    """Migration checks, and items that failed with an error rather than a finding: one
    block per error; a revision that does not apply is one cause for every item it
    stopped, whatever each item says around it."""
    names: dict[str, list[str]] = {}
    shown: dict[str, str] = {}
    for name, text in failed:
        revision_failed = REVISION_FAILED.search(text)
        key = revision_failed.group(0) if revision_failed else text
        names.setdefault(key, []).append(name)
        shown.setdefault(key, text)
    return [
        Cause(
            items[0] + (f" and {len(items) - 1} more item(s)" if len(items) > 1 else ""),
            shown[key],
            "",
            mergeable=False,
        )
        for key, items in names.items()
    ]


def _errors(record: ItemRecord) -> list[dict[str, Any]]:
    return [
        finding
        for finding in record.findings
        if finding["severity"] == "error" and not finding["accepted"]
    ]


def _merged(blocks: list[Cause]) -> list[Cause]:
    """Blocks of the same check with the same fix, as one block over their objects."""
    first: dict[tuple[str, str], Cause] = {}
    kept: list[Cause] = []
    for block in blocks:
        key = (block.title, block.fix)
        if block.mergeable and key in first:
            first[key].objects += block.objects
            first[key].confirmed_by += block.confirmed_by
            continue
        if block.mergeable:
            first[key] = block
        kept.append(block)
    return kept


def tally_of(counts: Counter[Outcome], alike: int = 0) -> str:
    """Such as "61 held (9 of them proven on an alike table), 9 failed"; ``alike``: the
    passes proven on an alike table (probes/alike.py)."""
    return ", ".join(
        f"{counts[outcome]} {word}"
        + (
            f" ({alike} of them proven on an alike table)"
            if outcome is Outcome.PASS and alike
            else ""
        )
        for outcome, word in OUTCOME_WORDS.items()
        if counts[outcome]
    )


def verdict(
    passed: bool, records: list[ItemRecord], cause_count: int, incomplete: str | None = None
) -> str:
    """``incomplete``: why not every check ran (a selection, a stop); never a PASS then."""
    counts = Counter(record.status for record in records)
    alike = sum(
        record.status is Outcome.PASS and record.proven_on is not None for record in records
    )
    tally = tally_of(counts, alike)
    if incomplete and not records:
        return f"rlsguard: INCOMPLETE: no check ran: {incomplete}"
    if incomplete:
        said = "every check that ran holds" if passed else f"{cause_count} cause(s) to fix"
        word = "INCOMPLETE" if passed else "FAIL"
        return (
            f"rlsguard: {word}: {said} ({tally or 'nothing ran'}), but not every check ran: "
            f"{incomplete}"
        )
    if passed:
        unproven = counts[Outcome.CANNOT]
        held = (
            f"every check that acted holds, {unproven} not proven"
            if unproven
            else ("every check holds")
        )
        return f"rlsguard: PASS: {held} ({tally or 'nothing ran'})"
    return f"rlsguard: FAIL: {cause_count} cause(s) to fix ({tally})"


def stale_allowances(allow: tuple[Allowance, ...], records: list[ItemRecord]) -> list[str]:
    """``allow`` entries that matched no finding of the run: fixed since, or mistyped. An
    entry of a rule that did not act in the run (its schema was never built) is not
    called stale: nothing was looked at."""
    found = {(finding["check"], finding["object"]) for r in records for finding in r.findings}
    acted = {record.check for record in records if record.status is not Outcome.CANNOT}
    return [
        f"STALE allow entry {entry.check} {entry.object}: it matched no finding in this run "
        "(fixed since, or naming another object); remove it from [tool.rlsguard] allow"
        for entry in allow
        if entry.check in acted and (entry.check, entry.object) not in found
    ]


NAMED = 5  # items named per reason; the report lists every one


def not_proven(records: list[ItemRecord]) -> list[str]:
    """What the run does not prove: the items that could not act, one line per reason."""
    by_reason: dict[str, list[str]] = {}
    for record in records:
        if record.status is Outcome.CANNOT:
            label = (
                f"{record.check} {record.name} on {record.object}"
                if record.check
                else f"migration check {record.name}"
            )
            why = record.reason or record.message or "no reason recorded"
            by_reason.setdefault(why, []).append(label)
    lines = []
    for why, labels in by_reason.items():
        more = f" and {len(labels) - NAMED} more" if len(labels) > NAMED else ""
        lines.append(f"NOT PROVEN {', '.join(labels[:NAMED])}{more}: {why}")
    return lines


def reproduce_line(records: list[ItemRecord]) -> str | None:
    """How to see the failing probes' examples again (None when no probe failed or the run
    was derandomized: then every run draws the same examples)."""
    seeds = sorted(
        {
            record.seed
            for record in records
            if record.kind == "probe" and record.status is Outcome.FAIL and record.seed is not None
        }
    )
    if not seeds:
        return None
    if len(seeds) == 1:
        return f"the probes' examples come back with: rlsguard check --seed {seeds[0]}"
    return (
        f"the failing probes drew with seeds {', '.join(map(str, seeds))}: "
        "rlsguard check --seed N repeats one (each probe's is in the report)"
    )
