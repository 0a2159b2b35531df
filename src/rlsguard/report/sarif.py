"""SARIF 2.1.0 from a scan, so findings can show in GitHub code scanning.

Findings are about database objects, not lines of code: each result names its object as
a logical location, and points at the file that defines the schema (the newest
migration when the project has one, else pyproject.toml) so code scanning can show it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlsguard import __version__
from rlsguard.analyzer import Analysis
from rlsguard.findings import Outcome
from rlsguard.registration import Rule

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning"}


def sarif_document(
    analysis: Analysis, documented: list[Rule], artifact: str = "pyproject.toml"
) -> dict[str, Any]:
    rules = [
        {
            "id": item.id,
            "name": item.name,
            "shortDescription": {"text": item.title},
            "fullDescription": {"text": item.doc.split("\n\n", 1)[0]},
            "help": {"text": item.doc},
            "defaultConfiguration": {"level": LEVELS.get(item.severity.value, "note")},
        }
        for item in documented
    ]
    index = {rule["id"]: position for position, rule in enumerate(rules)}
    # a probe that could not act proved nothing either way: a note, never a warning
    unable = {
        (item.probe.id, item.target)
        for item in analysis.probe_results
        if item.status is Outcome.CANNOT
    }
    results = []
    for finding in analysis.findings:
        cannot = (finding.check, finding.object) in unable
        level = LEVELS.get(finding.severity.value, "note")
        result: dict[str, Any] = {
            "ruleId": finding.check,
            "ruleIndex": index.get(finding.check, -1),
            "level": "note" if finding.accepted or cannot else level,
            "message": {
                "text": f"{finding.object}: {'cannot: ' if cannot else ''}{finding.message}"
            },
            "locations": [
                {
                    "physicalLocation": {"artifactLocation": {"uri": artifact}},
                    "logicalLocations": [{"fullyQualifiedName": finding.object, "kind": "object"}],
                }
            ],
            "partialFingerprints": {"rlsguard/v1": f"{finding.check}:{finding.object}"},
            "properties": {"status": "cannot" if cannot else "finding"},
        }
        if finding.accepted:
            result["suppressions"] = [{"kind": "external", "justification": finding.reason}]
        results.append(result)
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "rlsguard",
                        "version": __version__,
                        "informationUri": "https://pypi.org/project/rlsguard/",
                        "rules": rules,
                    }
                },
                "results": results,
                "properties": {"notProvenByAProbe": analysis.not_proven_by_a_probe},
            }
        ],
    }


def schema_artifact(project_root: Path, newest_migration: Path | None) -> str:
    """The file a result points at, relative to the project (as code scanning wants)."""
    if newest_migration is not None:
        try:
            return newest_migration.resolve().relative_to(project_root.resolve()).as_posix()
        except ValueError:
            pass
    return "pyproject.toml"
