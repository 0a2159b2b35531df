"""Tenancy models beyond one tenant column and one setting: memberships, JWT claims,
the Supabase preset, a context entered through a function, helpers reading a session
table, admins by role, by setting or none. For each: the correct schema gets no error
finding and every probe holds; a broken variant is found statically and by a probe on
the right object."""

from __future__ import annotations

import dataclasses

import pytest

from rlsguard.analyzer import Analysis, scan
from rlsguard.config import Allowance
from rlsguard.findings import Outcome, Severity
from rlsguard.probes.runner import ProbeResult
from rlsguard.run import Run
from rlsguard.server.databases import connected
from tests.conftest import execute
from tests.corpus.cases import Case
from tests.corpus.harness import BuildCase, BuiltCase, fill, run_all_probes
from tests.corpus.models import (
    BY_AUTHOR,
    CLAIMED_TENANTS,
    CLAIMS_THROUGH_HELPERS,
    ENTERED_BY_FUNCTION,
    EXTERNAL_MEMBERS,
    JOIN_ANY,
    MEMBERS,
    MY_ORGS,
    SUPABASE_TEAMS,
    TEAMS_OF_USER,
    USER_METADATA,
)

pytestmark = pytest.mark.slow

EXAMPLES = 40


def analysis_of(built: BuiltCase) -> Analysis:
    with connected(built.url) as connection:
        return scan(connection, built.settings)


def errors(analysis: Analysis) -> list[str]:
    return [str(f) for f in analysis.findings if f.severity is Severity.ERROR]


def not_held(results: list[ProbeResult]) -> list[str]:
    """Probes that did not pass; a unique key across tenants (RP107) is a warning only."""
    return [
        f"{r.label}: {r.status} {r.message}\n{r.transcript or ''}"
        for r in results
        if r.status is not Outcome.PASS
        and not (r.status is Outcome.WARNING and r.probe.id == "RP107")
    ]


def by_label(results: list[ProbeResult]) -> dict[str, ProbeResult]:
    return {result.label: result for result in results}


def holding(
    run: Run, case_database: BuildCase, case: Case, **overrides: object
) -> tuple[Analysis, dict[str, ProbeResult]]:
    """A correct schema: no error finding, and every probe holds."""
    built = case_database(case, **overrides)
    analysis = analysis_of(built)
    assert errors(analysis) == []
    results = run_all_probes(run, built, EXAMPLES)
    assert not not_held(results), "\n".join(not_held(results))
    return analysis, by_label(results)


def break_and_check(
    run: Run, case_database: BuildCase, case: Case, breaking: str
) -> tuple[Analysis, dict[str, ProbeResult], dict[str, str]]:
    built = case_database(case)
    execute(built.url, fill(breaking, built.names))
    return analysis_of(built), by_label(run_all_probes(run, built, EXAMPLES)), built.names


# -- membership: the application sets the user; policies look up the user's orgs ---------------


def test_membership_tenancy_holds_and_tables_without_the_column_are_tenant_data(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    analysis, results = holding(rlsguard_run, case_database, MEMBERS)
    tenant_tables = analysis.tenancy.tenant_tables
    assert {"public.users", "public.user_profiles", "public.memberships"} <= set(tenant_tables)
    assert results["rls[public.user_profiles-cross-tenant-read]"].witnessed > 0


@pytest.mark.parametrize(
    ("breaking", "check", "probe"),
    [
        (
            "ALTER POLICY profiles_self ON user_profiles USING (true)",
            ("RG301", "public.user_profiles"),
            "rls[public.user_profiles-cross-tenant-read]",
        ),
        (
            f"ALTER POLICY projects_member ON projects USING (org_id IN ({MY_ORGS}) OR true)",
            ("RG301", "public.projects"),
            "rls[public.projects-cross-tenant-read]",
        ),
    ],
    ids=["profiles-open", "projects-open"],
)
def test_a_broken_membership_schema_is_caught_statically_and_by_a_probe(
    rlsguard_run: Run, case_database: BuildCase, breaking: str, check: tuple[str, str], probe: str
) -> None:
    analysis, results, _names = break_and_check(rlsguard_run, case_database, MEMBERS, breaking)
    assert check in {(f.check, f.object) for f in analysis.findings}
    assert results[probe].status is Outcome.FAIL, results[probe].message


def test_a_member_who_can_enrol_in_any_org_is_found(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    """WITH CHECK (user_id = me) on memberships lets a user join any org."""
    analysis, _results, _names = break_and_check(
        rlsguard_run,
        case_database,
        MEMBERS,
        JOIN_ANY,
    )
    found = {(f.check, f.object) for f in analysis.findings}
    assert ("RG302", "public.memberships") in found
    assert ("RG307", "public.projects") in found
    # its foreign key to users cannot carry org_id: a user is in several orgs
    assert ("RG402", "public.memberships") not in found


def test_members_whose_users_live_elsewhere_are_made_and_every_probe_holds(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    """No table of users: a principal is a new number of the membership's column, and its
    membership a setup row (before, none was made: every tenant saw nothing, the probes of
    the memberships crashed and the stateful probe failed)."""
    analysis, results = holding(rlsguard_run, case_database, EXTERNAL_MEMBERS)
    assert analysis.tenancy.principal_table is None
    for label in (
        "rls[public.boards-own-rows-visible]",
        "rls[public.memberships-cross-tenant-read]",
        "rls[public.events-cross-tenant-read]",
        "rls[tenant-tables-stateful]",
    ):
        assert results[label].witnessed > 0, label


@pytest.mark.parametrize(
    ("breaking", "table"),
    [
        (
            f"ALTER POLICY boards_member ON boards USING (team_id IN ({TEAMS_OF_USER}) OR true)",
            "boards",
        ),
        ("ALTER POLICY events_member ON events USING (team_id IS NOT NULL)", "events"),
    ],
    ids=["boards-open", "events-open"],
)
def test_members_whose_users_live_elsewhere_are_caught_reading_other_teams(
    rlsguard_run: Run, case_database: BuildCase, breaking: str, table: str
) -> None:
    analysis, results, _names = break_and_check(
        rlsguard_run, case_database, EXTERNAL_MEMBERS, breaking
    )
    assert ("RG301", f"public.{table}") in {(f.check, f.object) for f in analysis.findings}
    read = results[f"rls[public.{table}-cross-tenant-read]"]
    assert read.status is Outcome.FAIL, read.message


# -- JWT claims: the tenant is in the server-set app_metadata; admins by a claim; no admin role


def test_claims_tenancy_with_an_admin_claim_and_no_admin_role_holds(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    _analysis, results = holding(rlsguard_run, case_database, CLAIMED_TENANTS, admin_roles=())
    # the admin is the application with the service_role claim: no role of its own
    assert results["rls[public.notes-admin-bypass]"].witnessed > 0


@pytest.mark.parametrize(
    ("breaking", "check", "probe"),
    [
        (
            USER_METADATA,
            ("RG304", "public.notes"),
            "rls[public.notes-edited-claims]",
        ),
        (
            "ALTER POLICY notes_own ON notes WITH CHECK (true)",
            ("RG302", "public.notes"),
            "rls[public.notes-cross-tenant-insert]",
        ),
        (
            "ALTER POLICY comments_own ON comments USING (true)",
            ("RG301", "public.comments"),
            "rls[public.comments-cross-tenant-read]",
        ),
    ],
    ids=["user-metadata", "notes-insert-open", "comments-open"],
)
def test_a_broken_claims_schema_is_caught_statically_and_by_a_probe(
    rlsguard_run: Run, case_database: BuildCase, breaking: str, check: tuple[str, str], probe: str
) -> None:
    built = case_database(CLAIMED_TENANTS, admin_roles=())
    execute(built.url, fill(breaking, built.names))
    analysis = analysis_of(built)
    assert check in {(f.check, f.object) for f in analysis.findings}, errors(analysis)
    results = by_label(run_all_probes(rlsguard_run, built, EXAMPLES))
    assert results[probe].status is Outcome.FAIL, results[probe].message


# -- the Supabase preset, on a minimal auth schema of our own ------------------------------------


def test_the_supabase_preset_reads_auth_uid_and_holds(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    analysis, results = holding(rlsguard_run, case_database, SUPABASE_TEAMS)
    assert "public.profiles" in analysis.tenancy.tenant_tables  # through auth.users
    assert results["rls[public.team_members-self-enrolment]"].witnessed > 0


def test_a_supabase_user_who_can_join_any_team_is_caught_statically_and_by_a_probe(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    built = case_database(SUPABASE_TEAMS)
    execute(
        built.url,
        fill(
            "CREATE POLICY members_join ON team_members FOR INSERT TO {app} "
            "WITH CHECK (user_id = auth.uid()); GRANT INSERT ON team_members TO {app}",
            built.names,
        ),
    )
    found = {(f.check, f.object) for f in analysis_of(built).findings}
    assert ("RG302", "public.team_members") in found
    results = by_label(run_all_probes(rlsguard_run, built, EXAMPLES))
    enrol = results["rls[public.team_members-self-enrolment]"]
    assert enrol.status is Outcome.FAIL, enrol.message
    assert "joined tenant" in (enrol.message or "")


# -- context through a function; a helper that reads a session table; integer tenant ids; a
# schema other than public --------------------------------------------------------------------


def test_a_context_entered_through_a_function_and_read_from_a_session_table_holds(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    _analysis, results = holding(rlsguard_run, case_database, ENTERED_BY_FUNCTION)
    assert results["rls[crm.contacts-cross-tenant-read]"].witnessed > 0


def test_without_the_declared_helper_the_session_table_policy_is_not_trusted(
    case_database: BuildCase,
) -> None:
    """What the catalog cannot say (current_tenant() reads a table) the config says; without
    it the policy is not taken as bound."""
    built = case_database(
        dataclasses.replace(
            ENTERED_BY_FUNCTION, settings={**ENTERED_BY_FUNCTION.settings, "context_functions": ()}
        )
    )
    assert ("RG301", "crm.contacts") in {(f.check, f.object) for f in analysis_of(built).findings}


def test_a_broken_function_entered_schema_is_caught_by_a_probe(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    analysis, results, _names = break_and_check(
        rlsguard_run,
        case_database,
        ENTERED_BY_FUNCTION,
        "ALTER POLICY contacts_tenant ON crm.contacts USING (true)",
    )
    assert ("RG301", "crm.contacts") in {(f.check, f.object) for f in analysis.findings}
    read = results["rls[crm.contacts-cross-tenant-read]"]
    assert read.status is Outcome.FAIL, read.message
    assert "crm.set_tenant(" in (read.transcript or "")


# -- admin by a setting; the current user as a second, honest setting; text tenant ids ---------


def test_an_admin_setting_and_an_author_setting_hold_when_declared(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    _analysis, results = holding(rlsguard_run, case_database, BY_AUTHOR, admin_roles=())
    assert results["rls[public.docs-admin-bypass]"].witnessed > 0


def test_undeclared_the_same_settings_are_bypasses(case_database: BuildCase) -> None:
    """The model the issue started from: one tenant setting, admins by role only."""
    built = case_database(
        dataclasses.replace(
            BY_AUTHOR, settings={"tenant_column": "tenant_id", "tenant_setting": "app.tenant"}
        ),
        admin_roles=(),
    )
    found = {(f.check, f.object) for f in analysis_of(built).findings}
    assert {("RG301", "public.docs"), ("RG304", "public.docs")} <= found
    trusted = case_database(
        dataclasses.replace(
            BY_AUTHOR,
            settings={
                "tenant_column": "tenant_id",
                "tenant_setting": "app.tenant",
                "trusted_settings": ("app.user", "app.is_admin"),
            },
        ),
        admin_roles=(),
    )
    found = {(f.check, f.object) for f in analysis_of(trusted).findings}
    assert ("RG304", "public.docs") not in found
    assert ("RG301", "public.docs") in found  # trusted is not bound


def test_a_broken_author_policy_is_caught_statically_and_by_a_probe(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    built = case_database(BY_AUTHOR, admin_roles=())
    execute(built.url, "ALTER POLICY docs_edit ON docs USING (true)")
    assert ("RG301", "public.docs") in {(f.check, f.object) for f in analysis_of(built).findings}
    results = by_label(run_all_probes(rlsguard_run, built, EXAMPLES))
    update = results["rls[public.docs-cross-tenant-update]"]
    assert update.status is Outcome.FAIL, update.message


def test_one_admin_setting_policy_is_one_finding_and_one_allow_accepts_it(
    case_database: BuildCase,
) -> None:
    """Undeclared, the admin-setting policy breaks RG301, RG302 and RG304 on docs: one
    cause, reported once, accepted by one allow entry."""
    undeclared = {"tenant_column": "tenant_id", "tenant_setting": "app.tenant"}
    built = case_database(dataclasses.replace(BY_AUTHOR, settings=undeclared), admin_roles=())
    analysis = analysis_of(built)
    on_users = [f for f in analysis.causes if f.object == "public.users" and f.cause]
    assert len(on_users) == 1, [str(f) for f in on_users]
    assert on_users[0].cause == "policy users_tenant"
    assert set(on_users[0].same_cause) | {on_users[0].check} == {"RG301", "RG302", "RG304"}
    assert "also breaks" in str(on_users[0])
    allowed = case_database(
        dataclasses.replace(BY_AUTHOR, settings=undeclared),
        admin_roles=(),
        allow=(Allowance("RG304", "public.users", "admins by setting, set by the proxy"),),
    )
    accepted = [f for f in analysis_of(allowed).findings if f.object == "public.users" and f.cause]
    assert len(accepted) >= 3
    assert all(f.accepted for f in accepted)


def test_claims_read_through_helpers_and_a_boolean_admin_helper_hold(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    """A claims document defaulting to '{}', the tenant read from it by a helper, the admin
    by is_service_role() or coalesce(<role claim test>, false); the tenants table written
    only in the admin context is not a global table the application changes (RG404)."""
    analysis, _results = holding(
        rlsguard_run, case_database, CLAIMS_THROUGH_HELPERS, admin_roles=()
    )
    assert [str(f) for f in analysis.findings] == []  # no warning either (RG404)
    broken = case_database(CLAIMS_THROUGH_HELPERS, admin_roles=())
    execute(broken.url, "ALTER POLICY tags_own ON tags USING (tenant_id = current_tenant() "
            "OR coalesce((jwt_claims() ->> 'role') <> 'service_role', true))")  # fmt: skip
    found = {(f.check, f.object) for f in analysis_of(broken).findings}
    assert ("RG301", "public.tags") in found
