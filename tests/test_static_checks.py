"""Every static check catches the broken schemas of the corpus (exactly the findings
expected, on the right objects) and stays silent on the correct ones."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import psycopg2.extensions
import pytest
from sqlalchemy.engine import URL

import rlsguard.analyzer
from rlsguard.analyzer import Analysis, scan
from rlsguard.checks import all_checks
from rlsguard.checks.server import release_of
from rlsguard.config import Allowance, Settings
from rlsguard.errors import ConfigError
from rlsguard.findings import Finding, Severity
from rlsguard.run import Run
from rlsguard.server.databases import connected
from tests.conftest import execute
from tests.corpus.cases import BROKEN as BROKEN_BASE
from tests.corpus.cases import CORRECT as CORRECT_BASE
from tests.corpus.cases import Case
from tests.corpus.doors import DOORS_BROKEN, DOORS_DONE_RIGHT
from tests.corpus.harness import Analyze, BuildCase, fill

CORRECT = [*CORRECT_BASE, DOORS_DONE_RIGHT]
BROKEN = [*BROKEN_BASE, *DOORS_BROKEN]

# judged by the server's release, not the schema: proven on version numbers
# (tests/test_server_versions.py) and on the running server (below)
SERVER_RULES = {"RG701"}

# the isolation tests: tests/test_server_versions.py runs them on every version here
pytestmark = pytest.mark.isolation


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
    assert found(analysis) == expected, "\n".join(map(str, analysis.findings))
    assert all(finding.message for finding in analysis.findings)


def test_every_check_is_caught_by_some_broken_schema() -> None:
    caught = {check for case in BROKEN for check, _target in case.expect}
    assert caught | SERVER_RULES == {check.id for check in all_checks()}


def test_every_check_has_a_doc_with_a_fix() -> None:
    for check in all_checks():
        assert "What " in check.doc, check.id
        assert "How it is used:" in check.doc, check.id
        assert "Fix" in check.doc, check.id
        assert check.attacks or check.id in RULES_BEYOND_ATTACKS, check.id


RULES_BEYOND_ATTACKS = {"RG405"}  # configured rules (append_only), not a row of docs/attacks.md


# -- what differs between PostgreSQL versions (tests/test_server_versions.py runs these on
# every version this machine can start) ---------------------------------------------------

# releases of the servers this project's CI runs on, and what RG701 must say of them
EXPECTED_ON = {
    (14, 23): ["CVE-2026-14666"],
    (15, 18): ["CVE-2026-14666"],
    (16, 14): ["CVE-2026-14666"],
    (17, 10): ["CVE-2026-14666"],
    (18, 6): [],
}


def test_the_check_judges_the_running_server_once_it_is_not_rlsguards_own(
    case_database: BuildCase, rlsguard_run: Run
) -> None:
    """rlsguard's own servers say so (``rlsguard.server``), and RG701 leaves them alone;
    a database whose sessions do not say so is judged like any server pointed at."""
    release = release_of(rlsguard_run.server.version_num)
    if release not in EXPECTED_ON:
        pytest.skip(f"PostgreSQL {release[0]}.{release[1]} is none of the releases CI runs")
    built = case_database(Case("server-release"))

    def server_findings() -> list[Finding]:
        with connected(built.url) as connection:
            analysis = scan(connection, built.settings)
        return [finding for finding in analysis.findings if finding.check == "RG701"]

    assert server_findings() == []
    execute(built.url, f"ALTER DATABASE {built.url.database} SET rlsguard.server = 'production'")
    judged = server_findings()
    assert sorted(finding.cause or "" for finding in judged) == EXPECTED_ON[release]
    assert all(finding.severity is Severity.ERROR for finding in judged)


def test_the_public_schema_is_writable_by_everyone_before_15(
    analyze_case: Analyze, rlsguard_run: Run
) -> None:
    """On PostgreSQL 14 every role may create objects in the public schema unless a
    database revokes it, so a definer function searching public can be hijacked (RG504);
    from 15 the schema is closed by default."""
    definer = next(case for case in BROKEN if case.name == "definer-function-of-a-superuser")
    base = definer.base.replace("REVOKE CREATE ON SCHEMA public FROM PUBLIC;", "")
    assert base != definer.base
    analysis, _names = analyze_case(dataclasses.replace(definer, base=base))
    hijackable = {item for item in found(analysis) if item[0] == "RG504"}
    assert bool(hijackable) == (rlsguard_run.server.major < 15), hijackable


def test_the_view_fix_is_one_this_version_has(case_database: BuildCase, rlsguard_run: Run) -> None:
    """RG501's fix is security_invoker from PostgreSQL 15, and on 14 (which has none) an
    owner the policies bind; either way, applying it ends the finding."""
    built = case_database(next(case for case in BROKEN if case.name == "view-with-owner-rights"))

    def view_findings() -> list[Finding]:
        with connected(built.url) as connection:
            analysis = scan(connection, built.settings)
        return [finding for finding in analysis.findings if finding.check == "RG501"]

    (finding,) = view_findings()
    invoker = "security_invoker = true" in (finding.fix or "")
    assert invoker == (rlsguard_run.server.major >= 15), finding.fix
    execute(built.url, finding.fix or "")
    assert view_findings() == []


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


def test_a_revision_before_any_tenant_table_is_checked_when_lenient(
    rlsguard_empty_database: Callable[[], URL],
) -> None:
    """A history's first revisions may make only tables the tenants share: the timeline
    of an earlier revision (lenient) counts their findings, the head (strict) refuses."""
    settings = Settings(app_role="postgres", admin_roles=())
    with connected(rlsguard_empty_database()) as connection:
        connection.exec_driver_sql("CREATE TABLE organizations (id bigint PRIMARY KEY)")
        connection.commit()
        with pytest.raises(ConfigError, match="tenant_column 'tenant_id' is in no table"):
            scan(connection, settings)
        lenient = scan(connection, settings, lenient=True)
        assert not lenient.tenancy.tenant_tables
        on_the_table = {item.check for item in lenient.findings if "organizations" in item.object}
        assert on_the_table == {"RG404"}  # judged as a table the tenants share: app may write


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


def test_the_scan_cannot_write(case_database: BuildCase, monkeypatch: pytest.MonkeyPatch) -> None:
    built = case_database(HARDENED_CASE)

    def writing_reader(connection: psycopg2.extensions.connection) -> None:
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE sneaky (x int)")

    monkeypatch.setattr(rlsguard.analyzer, "read_catalog", writing_reader)
    with (
        connected(built.url) as connection,
        pytest.raises(Exception, match="cannot execute CREATE TABLE in a read-only transaction"),
    ):
        scan(connection, built.settings)
