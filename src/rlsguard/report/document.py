"""The JSON document ``rlsguard scan --format json`` prints (its shape is a stable
convention: ``{"findings": [{"check", "severity", "object", "message", ...}], ...}``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from rlsguard import __version__
from rlsguard.analyzer import Analysis, severity_counts


def scan_document(analysis: Analysis) -> dict[str, Any]:
    tenancy = analysis.tenancy
    settings = dataclasses.asdict(tenancy.settings)
    settings.pop("project_root", None)
    return {
        "rlsguard": __version__,
        "database": tenancy.catalog.database,
        "server_version_num": tenancy.catalog.server_version_num,
        "config": settings,
        "summary": {
            **severity_counts(analysis.findings),
            "checks": len({inspection.check.id for inspection in analysis.inspections}),
            "inspected": len(analysis.inspections),
            "failed": analysis.failed,
        },
        "findings": [finding.to_json() for finding in analysis.findings],
        # one per cause and object: the findings a person fixes, each naming the others
        "causes": [finding.to_json() for finding in analysis.causes],
        "inspections": [
            {"check": item.check.id, "object": item.object, "outcome": item.outcome.value}
            for item in analysis.inspections
        ],
        "probes": [
            {
                "probe": result.probe.id,
                "name": result.probe.name,
                "object": result.target,
                "status": result.status.value,
                "examples": result.examples,
                "witnessed": result.witnessed,
                "rejected": result.rejected,
                "seconds": round(result.seconds, 3),
                "seed": result.seed,
                "rows_shared_with": list(result.shared_with),
                "proven_on": result.proven_on,
                "alike_in": result.alike_in,
            }
            for result in analysis.probe_results
        ],
        "tenant_tables": dict(sorted(tenancy.tenant_tables.items())),
        "not_proven_by_a_probe": analysis.not_proven_by_a_probe,
        "global_tables": sorted(table.qualified for table in tenancy.global_relations),
        "unused_allowances": [dataclasses.asdict(item) for item in analysis.unused_allowances],
    }
