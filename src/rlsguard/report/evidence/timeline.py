"""The static findings after each revision of the history: in which revision a leak
appeared, and in which it was fixed."""

from __future__ import annotations

from dataclasses import dataclass, field

from rlsguard.errors import RlsguardError
from rlsguard.run import Run

Key = tuple[str, str, str]  # check, object, severity


@dataclass
class RevisionStep:
    revision: str
    appeared: list[Key] = field(default_factory=list)
    fixed: list[Key] = field(default_factory=list)
    total: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        def listed(keys: list[Key]) -> list[dict[str, str]]:
            return [{"check": c, "object": o, "severity": s} for c, o, s in keys]

        return {
            "revision": self.revision,
            "appeared": listed(self.appeared),
            "fixed": listed(self.fixed),
            "findings": self.total,
            "error": self.error,
        }


def timeline(run: Run, upto: str | None = None) -> list[RevisionStep]:
    """One step per revision, oldest first, up to ``upto`` (default: the run's). A step
    says what changed since its parent: on a branch, since the revision it branched
    from; at a merge, since all of its branches."""
    history = run.project.up_to(run.resolve(upto or run.revision))
    steps: list[RevisionStep] = []
    found: dict[str, set[Key]] = {}
    for revision, analysis in zip(history, run.lenient_analyses(history), strict=True):
        if isinstance(analysis, RlsguardError):
            steps.append(RevisionStep(revision, error=str(analysis).splitlines()[0]))
            continue
        now = found[revision] = {
            (finding.check, finding.object, finding.severity.value)
            for finding in analysis.findings
            if not finding.accepted
        }
        parents = run.project.parents(revision)
        before = set[Key]().union(*(found.get(parent, set()) for parent in parents))
        steps.append(RevisionStep(revision, sorted(now - before), sorted(before - now), len(now)))
    return steps
