"""The control mapping: the shipped one names only rules that exist and covers every rule,
a project adds and picks frameworks, and each control is judged from what the run did."""

from __future__ import annotations

import inspect
import json
import shutil
from pathlib import Path

import pytest

from rlsguard import suite
from rlsguard.checks import all_checks
from rlsguard.config import load_settings
from rlsguard.errors import ConfigError
from rlsguard.probes import all_probes
from rlsguard.report.controls.assessment import ControlStatus, assess, controls_html
from rlsguard.report.controls.mapping import (
    MIGRATION_EVIDENCE,
    SHIPPED,
    frameworks_for,
    known_evidence,
    read_mapping,
)
from rlsguard.report.evidence.records import ItemRecord
from tests.conftest import OWN_BACKEND
from tests.test_cli import HARDENED_PROJECT, rlsguard

REQUIRED = {
    "SOC 2": {"CC6.1", "CC6.3", "CC8.1"},
    "ISO/IEC 27001:2022": {"5.15", "8.2", "8.3", "8.15", "8.32"},
    "PCI DSS v4.0.1": {"7.2.1", "7.2.2", "10.3.2", "6.5.1"},
    "HIPAA Security Rule": {"164.312(a)(1)", "164.312(b)"},
    "NIST SP 800-53 Rev. 5": {"AC-3", "AC-4", "AC-6", "AU-9", "SC-4", "CM-3"},
}
OWN_MAPPING = """
[[framework]]
name = "SOC 2"
key = "soc2"

[[framework.control]]
id = "CC6.1"
title = "Our reading of CC6.1"
rationale = "only the read probe"
evidence = ["RP101"]

[[framework]]
name = "Acme policy"
key = "acme"
source = "Acme security policy 2026"

[[framework.control]]
id = "SEC-7"
title = "Tenants are isolated"
rationale = "the read probe and RLS"
evidence = ["RG101", "RP101"]
"""


def test_the_shipped_mapping_has_the_controls_auditors_ask_for() -> None:
    shipped = {f.name: {c.id for c in f.controls} for f in read_mapping(SHIPPED)}
    for framework, controls in REQUIRED.items():
        assert controls <= shipped.get(framework, set()), framework


def test_every_rule_is_evidence_for_a_control_and_the_mapping_names_only_real_ones() -> None:
    named = {item for f in read_mapping(SHIPPED) for c in f.controls for item in c.evidence}
    rules = {rule.id for rule in [*all_checks(), *all_probes()]}
    assert rules <= named, sorted(rules - named)
    assert named <= known_evidence()
    migration_tests = {
        name.removeprefix("test_")
        for name, function in inspect.getmembers(suite, inspect.isfunction)
        if name.startswith("test_")
    }
    assert set(MIGRATION_EVIDENCE) == migration_tests


def test_a_control_is_judged_by_what_its_evidence_did() -> None:
    def record(nodeid: str, status: str, check: str = "RP101") -> ItemRecord:
        return ItemRecord(nodeid, "probe", status, check, "cross-tenant-read", "public.notes")

    [soc2] = [f for f in read_mapping(SHIPPED) if f.name == "SOC 2"]
    cc61 = next(c for c in soc2.controls if c.id == "CC6.1")
    soc2_cc61 = type(soc2)(soc2.name, soc2.key, soc2.source, (cc61,))

    def status(*records: ItemRecord, complete: bool = True) -> ControlStatus:
        [assessment] = assess([soc2_cc61], records, complete=complete)
        return assessment.status

    assert status(record("a", "pass"), record("b", "accepted")) is ControlStatus.SATISFIED
    assert status(record("a", "pass"), record("b", "cannot")) is ControlStatus.PARTLY_TESTED
    assert status(record("a", "pass"), record("b", "fail")) is ControlStatus.NOT_SATISFIED
    assert status(record("a", "unchanged")) is ControlStatus.NOT_SATISFIED
    assert status(record("a", "cannot")) is ControlStatus.NOT_TESTED
    assert (
        status(record("a", "fail", check="RG999")) is ControlStatus.NOT_TESTED
    )  # not its evidence
    assert status() is ControlStatus.NOT_TESTED
    # a run of some of the checks (-k, -x): what ran held, and the rest is not known
    partial = (record("a", "pass"),)
    assert status(*partial, complete=False) is ControlStatus.PARTLY_TESTED
    assert status(record("a", "fail"), complete=False) is ControlStatus.NOT_SATISFIED
    migration = ItemRecord("m", "migration", "fail", name="test_revision_roundtrip[001_x]")
    cc81 = [a for a in assess(read_mapping(SHIPPED), [migration]) if a.control.id == "CC8.1"]
    assert cc81[0].status is ControlStatus.NOT_SATISFIED
    page = controls_html(assess([soc2_cc61], [record("a", "fail")]))
    assert "not satisfied" in page
    assert 'href="#rule-RP101"' in page


def test_a_project_adds_its_own_mapping_and_picks_frameworks(tmp_path: Path) -> None:
    (tmp_path / "controls.toml").write_text(OWN_MAPPING)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.rlsguard]\ncontrol_mappings = ["controls.toml"]\nframeworks = ["soc2", "Acme policy"]\n'
    )
    settings = load_settings(tmp_path)
    mapping = frameworks_for(tmp_path, settings.control_mappings, settings.frameworks)
    frameworks = mapping.shown
    assert [f.name for f in frameworks] == ["SOC 2", "Acme policy"]
    soc2 = frameworks[0]
    assert [c.id for c in soc2.controls] == ["CC6.1", "CC6.3", "CC8.1"]  # CC6.1 replaced
    assert soc2.controls[0].evidence == ("RP101",)
    assert soc2.source.startswith("AICPA")  # the project's file gave none
    assert frameworks[1].controls[0].evidence == ("RG101", "RP101")
    assert frameworks[1].source == "Acme security policy 2026"
    assert "NIST SP 800-53 Rev. 5" in mapping.left_out
    page = controls_html(assess(frameworks, []), mapping.left_out)
    assert "Not shown (<code>frameworks</code> in [tool.rlsguard]): ISO/IEC 27001:2022" in page
    assert page.count("<h3>") == 2
    everything = frameworks_for(tmp_path, (), ())
    assert (len(everything.shown), everything.left_out) == (len(REQUIRED), [])  # all


@pytest.mark.parametrize(
    ("mapping", "frameworks", "said"),
    [
        (
            OWN_MAPPING.replace('["RP101"]', '["RP101", "RP999"]'),
            (),
            "evidence rlsguard does not have: RP999",
        ),
        (OWN_MAPPING.replace('key = "acme"\n', ""), (), "missing key"),
        (OWN_MAPPING.replace("[[framework]]", "[[frameworks]]"), (), "[[framework]] tables only"),
        (OWN_MAPPING + "\n[[", (), "is not valid TOML"),
        (
            OWN_MAPPING,
            ("SOC 3",),
            "names 'SOC 3', which no control mapping has; known (name or key): SOC 2 (soc2), ",
        ),
    ],
    ids=["unknown-evidence", "missing-key", "not-frameworks", "not-toml", "unknown-framework"],
)
def test_a_wrong_mapping_or_framework_is_named(
    tmp_path: Path, mapping: str, frameworks: tuple[str, ...], said: str
) -> None:
    (tmp_path / "controls.toml").write_text(mapping)
    with pytest.raises(ConfigError) as raised:
        frameworks_for(tmp_path, ("controls.toml",), frameworks)
    assert said in str(raised.value)


def test_a_missing_mapping_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read the control mapping .*nowhere\.toml"):
        frameworks_for(tmp_path, ("nowhere.toml",), ())


@pytest.mark.parametrize(
    ("config", "environment", "said"),
    [
        ('frameworks = ["SOC 3"]\n', {}, "frameworks in [tool.rlsguard] names 'SOC 3'"),
        ('control_mappings = ["nowhere.toml"]\n', {}, "cannot read the control mapping"),
        ("", {"RLSGUARD_SIGNING_KEY": "/nowhere/key.pem"}, "RLSGUARD_SIGNING_KEY is neither"),
        ("", {"RLSGUARD_CHROMIUM": "no-such-browser"}, "RLSGUARD_CHROMIUM=no-such-browser"),
    ],
    ids=["unknown-framework", "missing-mapping", "unusable-signing-key", "no-chromium"],
)
def test_what_the_report_needs_is_refused_before_a_server_starts(
    tmp_path: Path, config: str, environment: dict[str, str], said: str
) -> None:
    project = tmp_path / "project"
    shutil.copytree(HARDENED_PROJECT, project)
    (project / "pyproject.toml").write_text((project / "pyproject.toml").read_text() + config)
    code, output = rlsguard(
        "check", "--project", str(project), "--backend", OWN_BACKEND, "--pdf", cwd=tmp_path,
        env=environment,
    )  # fmt: skip
    assert code == 2, output
    assert said in output
    assert "server:" not in output  # it stopped before one started
    evidence = json.loads((project / "reports" / "rlsguard-evidence.incomplete.json").read_text())
    assert said in evidence["incomplete"]
