"""The evidence as an OSCAL assessment-results document (NIST's JSON model): the controls
of the mapping reviewed, the schema as the subject, one observation per check, probe and
migration item, and one finding per control saying whether it is satisfied."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

from rlsguard.findings import Outcome
from rlsguard.report.controls.assessment import FAILING, Assessment, ControlStatus
from rlsguard.report.controls.mapping import Control, Framework
from rlsguard.report.evidence.matrix import cell_anchor
from rlsguard.report.evidence.records import ItemRecord

OSCAL_NAME = "rlsguard-oscal.json"
OSCAL_VERSION = "1.1.2"
NAMESPACE = "https://github.com/rlsguard/rlsguard/ns/oscal"  # rlsguard's own property names
METHOD = {"check": "EXAMINE", "probe": "TEST", "migration": "TEST"}


def control_id(framework: Framework, control: Control) -> str:
    """An OSCAL token for a control: the framework's key and the control's id, lowercase
    (``soc2-cc6.1``, ``hipaa-164.312-a-1``)."""
    spelt = re.sub(r"[^a-z0-9._-]+", "-", control.id.lower()).strip("-")
    return f"{framework.key}-{spelt}"


def assessment_results(
    *,
    title: str,
    version: str,
    started: str,
    finished: str,
    facts: dict[str, str],
    records: Sequence[ItemRecord],
    assessments: Sequence[Assessment],
    report_name: str | None,
) -> dict[str, Any]:
    run = uuid.uuid5(uuid.NAMESPACE_URL, f"rlsguard:{started}:{facts.get('Git commit', '')}")

    def new_id(*parts: str) -> str:
        return str(uuid.uuid5(run, ":".join(parts)))

    schema = new_id("schema")
    observation_ids = {record.nodeid: new_id("observation", record.nodeid) for record in records}
    observations = [
        _observation(record, observation_ids[record.nodeid], schema, finished, report_name)
        for record in records
    ]
    findings = [
        _finding(a, new_id("finding", control_id(a.framework, a.control)), observation_ids)
        for a in assessments
    ]
    result: dict[str, Any] = {
        "uuid": new_id("result"),
        "title": title,
        "description": "Static checks of the catalog, property-based probes acting as tenants, "
        "and migration tests, run by rlsguard on a schema built from the project's migrations.",
        "start": started,
        "end": finished,
        "props": [_prop(_name(key), value) for key, value in facts.items() if value],
        "local-definitions": {
            "components": [
                {
                    "uuid": schema,
                    "type": "software",
                    "title": f"PostgreSQL schema at {facts.get('Alembic head', 'its head')}",
                    "description": "The schema built from the project's migrations; "
                    f"fingerprint {facts.get('Schema fingerprint (SHA-256)', 'unknown')}.",
                    "status": {"state": "operational"},
                }
            ]
        },
        "reviewed-controls": {
            "control-selections": [
                {
                    "include-controls": [
                        {"control-id": control_id(a.framework, a.control)} for a in assessments
                    ]
                }
                if assessments
                else {"include-all": {}}
            ]
        },
        "observations": observations,
    }
    if findings:
        result["findings"] = findings
    return {
        "assessment-results": {
            "uuid": new_id("document"),
            "metadata": {
                "title": title,
                "last-modified": finished,
                "version": version,
                "oscal-version": OSCAL_VERSION,
            },
            "import-ap": {
                "href": "#rlsguard-checks",
                "remarks": "rlsguard has no separate assessment plan: its checks and probes "
                "(`rlsguard checks`) are the plan, and the control mapping it ships says "
                "which of them give evidence for which control.",
            },
            "results": [result],
        }
    }


def _observation(
    record: ItemRecord, id: str, schema: str, collected: str, report_name: str | None
) -> dict[str, Any]:
    what = " ".join(filter(None, [record.check, record.name]))
    on = f" on {record.object}" if record.object else ""
    said = record.message or record.reason or record.alike_note or f"{record.status.value}"
    observation: dict[str, Any] = {
        "uuid": id,
        "title": f"{what}{on}: {record.status.value}",
        "description": said,
        "props": [
            _prop("status", record.status.value),
            _prop("pytest-node-id", record.nodeid),
        ],
        "methods": [METHOD.get(record.kind, "TEST")] + (["EXAMINE"] if record.proven_on else []),
        "subjects": [{"subject-uuid": schema, "type": "component"}],
        "collected": collected,
    }
    if record.proven_on:
        observation["props"].append(_prop("proven-on", record.proven_on))
    if record.status in FAILING or record.status is Outcome.WARNING:
        observation["types"] = ["finding"]
    if report_name and record.check and record.object:
        observation["relevant-evidence"] = [
            {
                "href": f"{report_name}#{cell_anchor(record.check, record.object)}",
                "description": "The item's cell in the report's isolation matrix.",
            }
        ]
    return observation


def _finding(assessment: Assessment, id: str, observation_ids: dict[str, str]) -> dict[str, Any]:
    status = assessment.status
    target = control_id(assessment.framework, assessment.control)
    objective: dict[str, Any] = {
        "state": "satisfied" if status is ControlStatus.SATISFIED else "not-satisfied",
        "reason": {
            ControlStatus.SATISFIED: "pass",
            ControlStatus.NOT_SATISFIED: "fail",
        }.get(status, "other"),
    }
    if status in (ControlStatus.PARTLY_TESTED, ControlStatus.NOT_TESTED):
        objective["remarks"] = f"{status.value}: {assessment.summary()}"
    related = [
        {"observation-uuid": observation_ids[record.nodeid]}
        for record in assessment.items
        if record.nodeid in observation_ids
    ]
    finding: dict[str, Any] = {
        "uuid": id,
        "title": f"{assessment.framework.name} {assessment.control.id}: {status.value}",
        "description": assessment.control.rationale,
        "target": {
            "type": "objective-id",
            "target-id": target,
            "title": assessment.control.title,
            "status": objective,
        },
    }
    if related:
        finding["related-observations"] = related
    return finding


def _name(key: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")


def _prop(name: str, value: str) -> dict[str, str]:
    return {"name": name, "ns": NAMESPACE, "value": str(value)}
