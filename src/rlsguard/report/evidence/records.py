"""One record per rlsguard test item: what it checked, on what, and how it ended."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from rlsguard.findings import Outcome

UNCHANGED_PREFIX = "unchanged since base"


@dataclass
class ItemRecord:
    nodeid: str
    kind: str  # "migration", "check" or "probe"
    status: Outcome
    check: str | None = None  # RG101, RP101; None for migration tests
    name: str | None = None
    object: str | None = None
    severity: str | None = None
    message: str | None = None
    reason: str | None = None  # why a finding is accepted, or why a probe could not run
    evidence: str | None = None  # the SQL transcript of a probe's shrunk example
    remediation: str | None = None
    seed: int | None = None
    examples: int | None = None
    witnessed: int | None = None  # a probe's examples whose premise held
    rejected: int | None = None  # a probe's examples ended by a refused setup row
    rows_shared_with: list[str] = field(default_factory=list)  # see "Rows shared" in probes.md
    proven_on: str | None = None  # see "Alike tables" in probes.md
    alike_in: str | None = None  # what the two tables share, as Probe.alike_in says it
    findings: list[dict[str, Any]] = field(default_factory=list)
    duration: float = 0.0

    def __post_init__(self) -> None:
        self.status = Outcome(self.status)  # a record read back from JSON holds the text

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status.value}

    @property
    def alike_note(self) -> str | None:
        """What a pass carried from an alike table rests on (docs/probes.md)."""
        if self.proven_on is None:
            return None
        alike = self.alike_in or "row security is the same"
        return (
            f"proven on {self.proven_on}, whose {alike}, and in "
            f"{self.examples} example(s) of its own (docs/probes.md, Alike tables)"
        )


def status_of(outcome: str, wasxfail: bool, findings: list[dict[str, Any]], reason: str) -> Outcome:
    """A pytest outcome read as evidence: an xfail is an accepted finding (or one the gate's
    base already had), a skip a probe that could not act, a pass with a finding a warning."""
    if wasxfail:
        return Outcome.UNCHANGED if reason.startswith(UNCHANGED_PREFIX) else Outcome.ACCEPTED
    if outcome == "failed":
        return Outcome.FAIL
    if outcome == "skipped":
        return Outcome.CANNOT
    return Outcome.WARNING if findings else Outcome.PASS


def status_counts(records: list[ItemRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        counts[record.status] = counts.get(record.status, 0) + 1
    return counts
