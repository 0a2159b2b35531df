"""Every static check catches the broken schemas of the corpus (exactly the findings
expected, on the right objects) and stays silent on the correct ones."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.engine import URL

import rlsguard.analyzer
from rlsguard.analyzer import Analysis, scan
from rlsguard.checks import all_checks
from rlsguard.config import Allowance, Settings
from rlsguard.errors import ConfigError
from rlsguard.run import Run
from rlsguard.server.databases import connected
from tests.corpus.cases import BROKEN as BROKEN_BASE
from tests.corpus.cases import CORRECT as CORRECT_BASE
from tests.corpus.cases import Case
from tests.corpus.doors import DOORS_BROKEN, DOORS_DONE_RIGHT
from tests.corpus.harness import BuildCase, fill

CORRECT = [*CORRECT_BASE, DOORS_DONE_RIGHT]
BROKEN = [*BROKEN_BASE, *DOORS_BROKEN]

Analyze = Callable[..., tuple[Analysis, dict[str, str]]]


@pytest.fixture
def analyze_case(case_database: BuildCase) -> Analyze:
    """Build a case's schema in a new database, with roles of its own, and scan it."""

    def run_case(case: Case, **overrides: object) -> tuple[Analysis, dict[str, str]]:
        built = case_database(case, **overrides)
        with connected(built.url) as connection:
            return scan(connection, built.settings), built.names

    return run_case


def found(analysis: Analysis) -> set[tuple[str, str]]:
    return {(finding.check, finding.object) for finding in analysis.findings}


@pytest.mark.parametrize("case", CORRECT, ids=[case.name for case in CORRECT])
def test_correct_schemas_have_no_findings(analyze_case: Analyze, case: Case) -> None:
    analysis, _names = analyze_case(case)
    assert [str(finding) for finding in analysis.findings] == []
    assert len(analysis.inspections) > 10
    assert all(inspection.outcome == "pass" for inspection in analysis.inspections)


@pytest.mark.parametrize("case", BROKEN, ids=[case.name for case in BROKEN])
def test_broken_schemas_get_exactly_their_findings(analyze_case: Analyze, case: Case) -> None:
    analysis, names = analyze_case(case)
    expected = {(check, fill(target, names)) for check, target in case.expect}
    assert found(analysis) == expected, "\n".join(str(finding) for finding in analysis.findings)
    assert all(finding.message for finding in analysis.findings)


def test_every_check_is_caught_by_some_broken_schema() -> None:
    caught = {check for case in BROKEN for check, _target in case.expect}
    assert caught == {check.id for check in all_checks()}


def test_every_check_has_a_doc_with_a_fix() -> None:
    for check in all_checks():
        assert "What " in check.doc, check.id
        assert "How it is used:" in check.doc, check.id
        assert "Fix" in check.doc, check.id
        assert check.attacks or check.id in RULES_BEYOND_ATTACKS, check.id


RULES_BEYOND_ATTACKS = {"RG405"}  # configured rules (append_only), not a row of docs/attacks.md


# -- the config, checked against the database --------------------------------------------------


HARDENED_CASE = Case("config", "")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"app_role": "app_usr"},
            r"app_role 'app_usr' does not exist in database .*; roles there: .*rg_\w+_app",
        ),
        ({"admin_roles": ("nobody_here",)}, r"admin_roles 'nobody_here' does not exist"),
        (
            {"tenant_column": "org_id"},
            r"tenant_column 'org_id' is in no table of schema\(s\) public .*columns found in several tables: .*tenant_id",
        ),
        (
            {"tenant_setting": "app.tenant"},
            r"tenant_setting 'app.tenant' is read by no policy or function .*; they read: app.current_tenant_id",
        ),
        ({"schemas": ("public", "crm")}, r"schema 'crm' .* does not exist .*; it has: public"),
        (
            {"global_tables": ("lookups",)},
            r"global_tables entry 'lookups' is not a table .*tables: .*public.countries",
        ),
        (
            {"allow": (Allowance("RG999", "public.users", "why"),)},
            r"allow names check 'RG999', which does not exist; checks: RG101",
        ),
    ],
    ids=[
        "app-role",
        "admin-role",
        "tenant-column",
        "tenant-setting",
        "schema",
        "global-table",
        "allow-check",
    ],
)
def test_config_that_does_not_fit_the_database(
    analyze_case: Analyze, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        analyze_case(HARDENED_CASE, **overrides)


def test_a_database_without_tenant_tables_is_nothing_to_check(
    rlsguard_empty_database: Callable[[], URL],
) -> None:
    """An empty schema would pass every check without proving anything: refused."""
    settings = Settings(app_role="postgres", admin_roles=())
    with connected(rlsguard_empty_database()) as connection:
        with pytest.raises(ConfigError, match=r"nothing to check: no table of schema\(s\) public"):
            scan(connection, settings)
        assert scan(connection, settings, lenient=True).inspections  # earlier revisions may


def test_accepted_findings_do_not_fail(analyze_case: Analyze) -> None:
    unique = next(case for case in BROKEN if case.name == "unique-not-scoped")
    reason = "e-mail addresses are globally unique by design (one login across tenants)"
    analysis, _ = analyze_case(
        unique,
        allow=(
            Allowance("RG401", "public.users", reason),
            Allowance("RG101", "public.nowhere", "stale entry"),
        ),
    )
    (finding,) = analysis.findings
    assert (finding.accepted, finding.reason) == (True, reason)
    assert not analysis.failed
    assert [item.object for item in analysis.unused_allowances] == ["public.nowhere"]
    (inspection,) = [item for item in analysis.inspections if item.findings]
    assert inspection.outcome == "accepted"


def test_warnings_do_not_fail_errors_do(analyze_case: Analyze) -> None:
    warning, _ = analyze_case(next(case for case in BROKEN if case.name == "unique-not-scoped"))
    error, _ = analyze_case(next(case for case in BROKEN if case.name == "rls-disabled"))
    assert not warning.failed
    assert error.failed


def test_the_catalog_is_read_in_a_handful_of_queries(analyze_case: Analyze) -> None:
    analysis, _ = analyze_case(HARDENED_CASE)
    assert analysis.tenancy.catalog.queries <= 12


def test_the_scan_cannot_write(rlsguard_run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    def writing_reader(connection: object) -> None:
        connection.exec_driver_sql("CREATE TABLE sneaky (x int)")  # type: ignore[attr-defined]

    monkeypatch.setattr(rlsguard.analyzer, "read_catalog", writing_reader)
    with (
        connected(rlsguard_run.url(rlsguard_run.working_database())) as connection,
        pytest.raises(Exception, match="cannot execute CREATE TABLE in a read-only transaction"),
    ):
        scan(connection, rlsguard_run.settings)
