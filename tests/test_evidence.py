"""The audit evidence: its pieces on their own, and whole under pytest-xdist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rlsguard.checks import all_checks
from rlsguard.config import Allowance, Membership, Settings
from rlsguard.probes import all_probes
from rlsguard.probes.registry import PROBES
from rlsguard.report.evidence.baseline import Baseline, Difference
from rlsguard.report.evidence.environment import (
    ci_run_url,
    redacted_facts,
    tenancy_config,
    tenancy_rows,
)
from rlsguard.report.evidence.html import difference_html
from rlsguard.report.evidence.matrix import OTHER_FAMILY, Matrix, family_of
from rlsguard.report.evidence.records import ItemRecord, status_of
from rlsguard.server import Server
from rlsguard.server.urls import redacted
from tests.test_cli import FAST, dsn_of, rlsguard
from tests.test_report_browser import HARDENED


def test_the_ci_run_url_from_the_usual_variables() -> None:
    github = {
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/platform",
        "GITHUB_RUN_ID": "42",
    }
    assert ci_run_url(github) == "https://github.com/acme/platform/actions/runs/42"
    assert ci_run_url({"CI_JOB_URL": "https://gitlab.example/j/7"}) == "https://gitlab.example/j/7"
    assert ci_run_url({"CI": "true"}) is None


def test_outcomes_read_as_evidence() -> None:
    finding = [{"check": "RG401", "severity": "warning"}]
    assert status_of("passed", False, [], "") == "pass"
    assert status_of("passed", False, finding, "") == "warning"
    assert status_of("failed", False, finding, "") == "fail"
    assert status_of("skipped", False, [], "cannot generate rows") == "cannot"
    assert status_of("skipped", True, finding, "accepted: ...") == "accepted"
    assert status_of("skipped", True, finding, "unchanged since base main: ...") == "unchanged"


def test_the_matrix_puts_tenant_tables_first_and_marks_what_does_not_apply() -> None:
    records = [
        ItemRecord("a", "check", "pass", "RG101", "rls-enabled", "public.users"),
        ItemRecord("b", "probe", "fail", "RP101", "cross-tenant-read", "public.users"),
        ItemRecord("c", "check", "accepted", "RG201", "app-not-superuser", "app", reason="why"),
        ItemRecord("d", "migration", "pass", name="test_single_head"),
    ]
    matrix = Matrix.build(records, ["public.users", "public.documents"])
    assert matrix.rows == ["public.users", "public.documents", "app"]
    assert [id for id, _name in matrix.columns] == ["RG101", "RG201", "RP101"]
    assert matrix.status("public.users", "RP101") == "fail"
    assert matrix.status("public.documents", "RG101") == "n/a"
    assert matrix.reason("app", "RG201") == "why"
    rendered = matrix.to_html(["public.users", "public.documents"])
    assert "<script" not in rendered
    assert " title=" not in rendered
    # one table per family, a row only for the objects the family's rules ran on
    families = re.findall(r"<h3>([^<]*)</h3>", rendered)
    assert families == ["Checks: tables and ownership", "Checks: roles", "Probes: read"]
    tables = rendered.split("<h3>")[1:]
    assert "public.documents" not in tables[0]
    assert "public.documents" not in tables[1]
    assert "not act): public.documents</p>" in tables[2]  # no probe acted on it
    assert ">app <span" in tables[1]
    assert "public.users" not in tables[1]
    assert 'id="rule-RG101"' in tables[0]
    assert "rls-enabled" in tables[0]
    # a finding is a numbered note under its table, linked from and to its cell
    assert re.search(r'id="cell-RG201-app"[^>]*>accepted <sup>1</sup>', tables[1])
    assert '<li value="1"><a href="#cell-RG201-app">RG201 app</a> accepted: why' in tables[1]
    assert re.search(r'id="cell-RP101-public.users"[^>]*>fail <sup>2</sup>', tables[2])


def test_a_pass_proven_on_an_alike_table_says_where_in_the_matrix() -> None:
    records = [
        ItemRecord("a", "probe", "pass", "RP101", "cross-tenant-read", "public.users"),
        ItemRecord(
            "b", "probe", "pass", "RP101", "cross-tenant-read", "public.notes",
            examples=5, proven_on="public.users",
        ),
        ItemRecord("c", "probe", "pass", "RP108", "fk-side-channel", "public.users"),
        ItemRecord(
            "d", "probe", "pass", "RP108", "fk-side-channel", "public.notes",
            examples=5, proven_on="public.users", alike_in=PROBES["RP108"].alike_in,
        ),
    ]  # fmt: skip
    rendered = Matrix.build(records, ["public.notes", "public.users"]).to_html([])
    assert re.search(r'id="cell-RP101-public.notes"[^>]*>pass <sup>1</sup>', rendered)
    assert re.search(r'id="cell-RP101-public.users"[^>]*>pass</td>', rendered)
    assert (
        '<a href="#cell-RP101-public.notes">RP101 public.notes</a> pass: proven on public.users, '
        "whose row security is the same, and in 5 example(s) of its own" in rendered
    )
    assert (  # the foreign-key side channel is carried only where those keys agree too
        '<a href="#cell-RP108-public.notes">RP108 public.notes</a> pass: proven on public.users, '
        "whose row security and foreign keys to tenant tables are the same" in rendered
    )


def test_every_rule_has_a_family() -> None:
    assert not [r.id for r in [*all_checks(), *all_probes()] if family_of(r.id) == OTHER_FAMILY]
    assert family_of("RG999") == family_of("RP999") == OTHER_FAMILY


def test_the_gate_difference() -> None:
    def finding(check: str, object: str, severity: str = "error") -> dict[str, object]:
        return {"check": check, "object": object, "severity": severity, "accepted": False}

    baseline = Baseline(
        "main",
        "008",
        {("RG101", "t1"): finding("RG101", "t1"), ("RG401", "t2"): finding("RG401", "t2")},
    )
    now = [finding("RG101", "t1"), finding("RG101", "t3"), finding("RG403", "t4", "warning")]
    difference = Difference.between(baseline, now)
    assert [(f["check"], f["object"]) for f in difference.added] == [
        ("RG101", "t3"),
        ("RG403", "t4"),
    ]
    assert [(f["check"], f["object"]) for f in difference.fixed] == [("RG401", "t2")]
    assert [(f["check"], f["object"]) for f in difference.unchanged] == [("RG101", "t1")]
    assert [(f["check"], f["object"]) for f in difference.new_errors] == [("RG101", "t3")]
    # an item that did not run now (deselected with -k, or could not act) fixed nothing
    ran = {("RG101", "t1"), ("RG101", "t3"), ("RG403", "t4")}
    assert Difference.between(baseline, now, ran).fixed == []
    # the gate's section says which findings are accepted, and why
    now.append({**finding("RG402", "t5"), "accepted": True, "reason": "<b>by design</b>"})
    shown = difference_html(Difference.between(baseline, now), baseline)
    assert "RG402  [error] t5 (accepted: &lt;b&gt;by design&lt;/b&gt;)</li>" in shown
    assert "RG101  [error] t3</li>" in shown


def test_every_probe_names_the_fixes_that_repair_it() -> None:
    checks = {check.id for check in all_checks()}
    for probe in all_probes():
        assert probe.fixes_from, probe.id
        assert set(probe.fixes_from) <= checks, probe.id


@pytest.mark.slow
def test_the_evidence_is_whole_when_pytest_xdist_spreads_the_items(
    tmp_path: Path, rlsguard_server: Server
) -> None:
    """Items run on xdist workers; the records travel on their reports to the controller,
    which alone writes the report and the evidence."""
    page = tmp_path / "report.html"
    code, output = rlsguard(
        "check", "--dsn", dsn_of(rlsguard_server), "--report", str(page), *FAST,
        "--project", str(HARDENED), "-q", "--", "-n", "2", cwd=tmp_path,
    )  # fmt: skip
    assert code == 0, output
    evidence = json.loads((tmp_path / "rlsguard-evidence.json").read_text())
    kinds = {item["kind"] for item in evidence["items"]}
    assert kinds == {"migration", "check", "probe"}
    assert len(evidence["items"]) >= 80
    assert evidence["environment"]["Alembic head"] == "0001_hardened"
    assert 'id="rlsguard-matrix"' in page.read_text()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://bob:TOKEN@git.example/r.git", "https://bob:***@git.example/r.git"),
        ("https://TOKEN@github.com/o/r", "https://***@github.com/o/r"),
        ("https://ci.example/job/7/?token=abc&x=1", "https://ci.example/job/7/?token=***&x=1"),
        ("https://x.example/a?api_key=k;b=2", "https://x.example/a?api_key=***;b=2"),
        (
            "https://x.example/a?X-Amz-Signature=s&v=1",
            "https://x.example/a?X-Amz-Signature=***&v=1",
        ),
        ("https://ci.example/job/7/", "https://ci.example/job/7/"),
        ("feature/<b>bold</b>", "feature/<b>bold</b>"),  # not a secret: escaped where shown
    ],
)
def test_credentials_in_urls_are_redacted(text: str, shown: str) -> None:
    assert redacted(text) == shown


def test_facts_are_redacted_inside_tables_too() -> None:
    facts = {"GIT_URL": "https://u:p@h/r", "Packages": {"x": "https://u:p@h/"}, "n": 3}
    assert redacted_facts(facts) == {
        "GIT_URL": "https://u:***@h/r",
        "Packages": {"x": "https://u:***@h/"},
        "n": "3",
    }


def test_the_evidence_states_how_the_application_entered_a_tenant() -> None:
    plain = tenancy_config(Settings())
    assert plain["context"] == {"app.current_tenant_id": "{tenant}"}
    assert "membership" not in plain
    modelled = tenancy_config(
        Settings(
            context=(("app.user_id", "{principal}"),),
            membership=Membership("memberships", "user_id", "org_id"),
            admin_context=(("app.is_admin", "on"),),
            admin_roles=(),
        )
    )
    assert modelled["membership"] == {
        "table": "memberships",
        "principal": "user_id",
        "tenant": "org_id",
    }
    assert modelled["admin_context"] == {"app.is_admin": "on"}
    assert modelled["admin_roles"] == ()
    assert "tenant_setting" not in modelled  # it would read as "the tenant is app.user_id"
    assert plain["tenant_setting"] == "app.current_tenant_id"
    allowed = Settings(allow=(Allowance("RG401", "public.users", "ids are random"),))
    rows = tenancy_rows(allowed)
    assert rows["context"] == "app.current_tenant_id = {tenant}"
    assert rows["allow"] == "RG401 public.users (ids are random)"
    assert rows["schemas"] == "public"
    assert rows["probe_every_table"] == "false"  # proofs were carried between alike tables
