"""Findings: what a check found wrong with one object, and their JSON form; the outcomes
a rule can have on one object."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from rlsguard.config import Allowance


class Severity(StrEnum):
    ERROR = "error"  # a cross-tenant read or write: fails the run
    WARNING = "warning"  # a weakness or side channel: reported, does not fail the run


class Outcome(StrEnum):
    """How a rule ended on one object: in the console, the JSON, the matrix and SARIF."""

    PASS = "pass"  # it held
    FAIL = "fail"  # an error-level finding
    WARNING = "warning"  # a warning-level finding: reported, does not fail the run
    ACCEPTED = "accepted"  # every finding is accepted in [tool.rlsguard] allow
    UNCHANGED = "unchanged"  # the gate's base already had it
    CANNOT = "cannot"  # a probe that could not act (no rows, no privilege to act)
    NOT_APPLICABLE = "n/a"  # the rule does not run on this object

    @property
    def acted(self) -> bool:
        """The rule judged the object (it held or it found something)."""
        return self not in (Outcome.CANNOT, Outcome.NOT_APPLICABLE)


def not_proven(tables: Iterable[str], probed: Iterable[tuple[str, Outcome]]) -> list[str]:
    """The tables no probe could act on, from (object, outcome) of every probe that ran."""
    acted = {table for table, outcome in probed if outcome.acted}
    return sorted(table for table in tables if table not in acted)


@dataclass(frozen=True)
class Finding:
    check: str  # stable id, e.g. RG101
    name: str  # short name, e.g. rls-enabled
    severity: Severity
    object: str  # schema-qualified table, view or function, or a role name
    message: str
    accepted: bool = False
    reason: str | None = None  # why it was accepted, from [tool.rlsguard] allow
    evidence: str | None = None  # a probe's SQL transcript of the failing example
    seed: int | None = None  # the Hypothesis seed that reproduces it
    cause: str | None = None  # what is behind it, e.g. "policy notes_admin"
    # the other checks the same cause breaks on the same object (one finding per cause)
    same_cause: tuple[str, ...] = ()
    fix: str | None = None  # the SQL that repairs it, for this object (else the check's doc)

    @property
    def fails(self) -> bool:
        return self.severity is Severity.ERROR and not self.accepted

    def accept(self, allowances: tuple[Allowance, ...]) -> Finding:
        """Accepted by an ``allow`` entry for its check, or for any check its cause breaks
        on the same object (one entry accepts one cause)."""
        checks = (self.check, *self.same_cause)
        for allowance in allowances:
            if allowance.check in checks and allowance.object == self.object:
                return replace(self, accepted=True, reason=allowance.reason)
        return self

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        return data

    def __str__(self) -> str:
        accepted = f" [accepted: {self.reason}]" if self.accepted else ""
        where = f"{self.check} {self.name} {self.severity.value} {self.object}"
        return f"{where}: {self.message}{self.cause_note}{accepted}"

    @property
    def cause_note(self) -> str:
        if not self.same_cause:
            return ""
        return f" (one cause, {self.cause}, also breaks {', '.join(self.same_cause)})"


def by_cause(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per cause and object: the first check's, the others named in it."""
    found: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for finding in findings:
        if finding.cause is not None and finding.same_cause:
            key = (finding.object, finding.cause)
            if key in seen:
                continue
            seen.add(key)
        found.append(finding)
    return found


def grouped(findings: list[Finding]) -> list[Finding]:
    """Each finding told which other checks share its cause on its object."""
    checks: dict[tuple[str, str], list[str]] = {}
    for finding in findings:
        if finding.cause is not None:
            checks.setdefault((finding.object, finding.cause), []).append(finding.check)
    return [
        replace(
            finding,
            same_cause=tuple(
                sorted(set(checks[(finding.object, finding.cause)]) - {finding.check})
            ),
        )
        if finding.cause is not None
        else finding
        for finding in findings
    ]
