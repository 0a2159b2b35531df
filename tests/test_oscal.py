"""The OSCAL export: an assessment-results document NIST's models accept (compliance-trestle
validates it), with an observation per item and a finding per control."""

from __future__ import annotations

import copy
from typing import Any

import pydantic
import pytest
from trestle.oscal.assessment_results import AssessmentResults

from rlsguard.report.controls.assessment import assess
from rlsguard.report.controls.mapping import SHIPPED, read_mapping
from rlsguard.report.evidence.records import ItemRecord
from rlsguard.report.oscal import assessment_results, control_id

RECORDS = [
    ItemRecord("t::RG101", "check", "pass", "RG101", "rls-enabled", "public.notes"),
    ItemRecord(
        "t::RP101",
        "probe",
        "fail",
        "RP101",
        "cross-tenant-read",
        "public.notes",
        message="tenant A read 2 rows of tenant B",
    ),
    ItemRecord("t::RG405", "check", "cannot", "RG405", "append-only", "public.log", reason="x"),
    ItemRecord("t::m", "migration", "pass", name="test_single_head"),
]


def document(records: list[ItemRecord] = RECORDS) -> dict[str, Any]:
    return assessment_results(
        title="rlsguard isolation evidence: notes",
        version="0.1.0",
        started="2026-12-01T10:00:00Z",
        finished="2026-12-01T10:01:00Z",
        facts={"Git commit": "abc", "Schema fingerprint (SHA-256)": "f" * 64},
        records=records,
        assessments=assess(read_mapping(SHIPPED), records),
        report_name="rlsguard-report.html",
    )


def validated(oscal: dict[str, Any]) -> AssessmentResults:
    return AssessmentResults.model_validate(oscal["assessment-results"])


def test_the_export_is_valid_oscal_with_an_observation_per_item() -> None:
    model = validated(document())
    [result] = model.results
    assert len(result.observations or []) == len(RECORDS)
    controls = result.reviewed_controls.control_selections[0].include_controls or []
    assert "soc2-cc6.1" in [c.control_id for c in controls]
    failing = next(o for o in result.observations or [] if "RP101" in (o.title or ""))
    assert failing.types == ["finding"]
    assert failing.methods == ["TEST"]
    assert failing.relevant_evidence[0].href == ("rlsguard-report.html#cell-RP101-public.notes")


def test_a_pass_carried_from_an_alike_table_says_so() -> None:
    carried = ItemRecord(
        "t::RP109", "probe", "pass", "RP109", "admin-bypass", "public.tags",
        examples=5, witnessed=5, proven_on="public.notes",
    )  # fmt: skip
    [result] = validated(document([*RECORDS, carried])).results
    observation = next(o for o in result.observations or [] if "RP109" in (o.title or ""))
    assert observation.methods == ["TEST", "EXAMINE"]
    assert ("proven-on", "public.notes") in [(p.name, p.value) for p in observation.props or []]
    assert observation.description.startswith(
        "proven on public.notes, whose row security is the same, and in 5 example(s) of its own"
    )


def test_a_failing_item_makes_its_controls_findings_not_satisfied() -> None:
    [result] = validated(document()).results
    by_control = {f.target.target_id: f for f in result.findings or []}
    cc61 = by_control["soc2-cc6.1"]
    assert cc61.target.status.state.value == "not-satisfied"
    assert cc61.target.status.reason == "fail"
    failing = next(o.uuid for o in result.observations or [] if "RP101" in (o.title or ""))
    assert failing in [r.observation_uuid for r in cc61.related_observations or []]
    logging = by_control["iso27001-8.15"]  # its only evidence (RG405) could not run
    assert logging.target.status.state.value == "not-satisfied"
    assert logging.target.status.reason == "other"
    assert logging.target.status.remarks.startswith("not tested")
    passing = document([RECORDS[0], RECORDS[3]])
    [result] = validated(passing).results
    states = {f.target.target_id: f.target.status.state.value for f in result.findings or []}
    assert states["soc2-cc8.1"] == "satisfied"


def test_control_ids_are_oscal_tokens() -> None:
    ids = [control_id(f, c) for f in read_mapping(SHIPPED) for c in f.controls]
    assert "hipaa-164.312-a-1" in ids
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    "break_it",
    [
        lambda d: d["assessment-results"].pop("import-ap"),
        lambda d: d["assessment-results"]["results"][0]["findings"][0]["target"]["status"].update(
            state="passed"
        ),
        lambda d: d["assessment-results"]["results"][0]["observations"][0].update(uuid="1"),
    ],
    ids=["no-import-ap", "unknown-state", "bad-uuid"],
)
def test_the_validator_rejects_a_broken_document(break_it: Any) -> None:
    broken = copy.deepcopy(document())
    break_it(broken)
    with pytest.raises(pydantic.ValidationError):
        validated(broken)
