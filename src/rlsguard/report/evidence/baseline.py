"""The migration-PR gate's comparison: findings at the base ref against findings now."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Key = tuple[str, str]  # check, object


@dataclass(frozen=True)
class Baseline:
    """The findings of the schema as of the base ref (written by ``rlsguard check --base``)."""

    ref: str
    revision: str
    findings: dict[Key, dict[str, Any]]

    @classmethod
    def read(cls, path: Path) -> Baseline:
        data = json.loads(path.read_text())
        return cls(
            data["ref"],
            data["revision"],
            {(item["check"], item["object"]): item for item in data["findings"]},
        )

    def write(self, path: Path) -> None:
        document = {
            "ref": self.ref,
            "revision": self.revision,
            "findings": list(self.findings.values()),
        }
        path.write_text(json.dumps(document, indent=2, default=str))

    def knows(self, check: str, object: str) -> bool:
        return (check, object) in self.findings


@dataclass(frozen=True)
class Difference:
    added: list[dict[str, Any]]
    fixed: list[dict[str, Any]]
    unchanged: list[dict[str, Any]]

    @classmethod
    def between(
        cls, baseline: Baseline, now: list[dict[str, Any]], ran: set[Key] | None = None
    ) -> Difference:
        """``ran``: the (check, object) items that ran now; a finding of the base is fixed
        only when its item ran and found nothing (not when it was deselected, or could
        not act)."""
        current = {(item["check"], item["object"]): item for item in now}
        return cls(
            [item for key, item in sorted(current.items()) if key not in baseline.findings],
            [
                item
                for key, item in sorted(baseline.findings.items())
                if key not in current and (ran is None or key in ran)
            ],
            [item for key, item in sorted(current.items()) if key in baseline.findings],
        )

    @property
    def new_errors(self) -> list[dict[str, Any]]:
        return [
            item
            for item in self.added
            if item.get("severity") == "error" and not item.get("accepted")
        ]

    def to_json(self) -> dict[str, Any]:
        return {"added": self.added, "fixed": self.fixed, "unchanged": self.unchanged}
