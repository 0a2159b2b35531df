"""Tenancy models beyond one tenant column and one setting: memberships, JWT claims,
the Supabase preset, a context entered through a function, helpers reading a session
table, admins by role, by setting or none. For each: the correct schema gets no error
finding and every probe holds; a broken variant is found statically and by a probe on
the right object."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from rlsguard.analyzer import Analysis, scan
from rlsguard.config import Settings, settings_from_table
from rlsguard.findings import Outcome, Severity
from rlsguard.probes.runner import ProbeResult
from rlsguard.run import Run
from rlsguard.server.databases import connected
from tests.conftest import execute
from tests.corpus.cases import Case
from tests.corpus.harness import BuildCase, BuiltCase, fill, run_all_probes

pytestmark = pytest.mark.slow

EXAMPLES = 40


def model(name: str, sql: str, **table: Any) -> Case:
    """A case on an empty database whose settings come from a ``[tool.rlsguard]`` table
    (the roles are the test's own)."""
    parsed = settings_from_table(table, __import__("pathlib").Path("."), f"model {name}")
    chosen = {
        field.name: getattr(parsed, field.name)
        for field in dataclasses.fields(Settings)
        if field.name in table or field.name in _derived(table)
    }
    return Case(name, sql, frozenset(), "", chosen)


def _derived(table: dict[str, Any]) -> set[str]:
    """Keys a table sets without naming them: a preset's, and the tenant setting a
    context implies."""
    found = {"tenant_setting"} if "context" in table else set()
    if "preset" in table:
        from rlsguard.config import PRESETS

        found |= set(PRESETS[table["preset"]]) - {"app_role", "admin_roles"}
    return found


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


def break_and_check(
    run: Run, case_database: BuildCase, case: Case, breaking: str
) -> tuple[Analysis, dict[str, ProbeResult], dict[str, str]]:
    built = case_database(case)
    execute(built.url, fill(breaking, built.names))
    return analysis_of(built), by_label(run_all_probes(run, built, EXAMPLES)), built.names


# -- membership: the application sets the user; policies look up the user's orgs ---------------

ME = "nullif(current_setting('app.user_id', true), '')::uuid"
MY_ORGS = "SELECT m.org_id FROM memberships m WHERE m.user_id = app_user_id()"
MEMBERSHIP = f"""
CREATE FUNCTION app_user_id() RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT {ME} $$;
CREATE TABLE orgs (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE users (id uuid PRIMARY KEY, email text NOT NULL);
CREATE TABLE memberships (
    org_id uuid NOT NULL REFERENCES orgs,
    user_id uuid NOT NULL REFERENCES users,
    PRIMARY KEY (org_id, user_id)
);
CREATE TABLE projects (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL REFERENCES orgs,
    title text NOT NULL
);
CREATE TABLE user_profiles (user_id uuid PRIMARY KEY REFERENCES users, bio text NOT NULL);
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY;
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY orgs_member ON orgs FOR SELECT TO {{app}} USING (id IN ({MY_ORGS}));
CREATE POLICY users_self ON users TO {{app}} USING (id = app_user_id());
CREATE POLICY memberships_own ON memberships FOR SELECT TO {{app}} USING (user_id = app_user_id());
CREATE POLICY projects_member ON projects TO {{app}}
    USING (org_id IN ({MY_ORGS})) WITH CHECK (org_id IN ({MY_ORGS}));
CREATE POLICY profiles_self ON user_profiles TO {{app}}
    USING (user_id = app_user_id()) WITH CHECK (user_id = app_user_id());
CREATE POLICY orgs_admin ON orgs TO {{admin}} USING (true) WITH CHECK (true);
CREATE POLICY users_admin ON users TO {{admin}} USING (true) WITH CHECK (true);
CREATE POLICY memberships_admin ON memberships TO {{admin}} USING (true) WITH CHECK (true);
CREATE POLICY projects_admin ON projects TO {{admin}} USING (true) WITH CHECK (true);
CREATE POLICY profiles_admin ON user_profiles TO {{admin}} USING (true) WITH CHECK (true);
GRANT SELECT ON orgs, memberships TO {{app}};
GRANT SELECT, UPDATE ON users TO {{app}};
GRANT SELECT, INSERT, UPDATE, DELETE ON projects, user_profiles TO {{app}};
GRANT SELECT, INSERT, UPDATE, DELETE ON orgs, users, memberships, projects, user_profiles
    TO {{admin}};
"""
MEMBERSHIP_MODEL = dict(
    tenant_column="org_id",
    context={"app.user_id": "{principal}"},
    membership={"table": "memberships", "principal": "user_id", "tenant": "org_id"},
)
MEMBERS = model("membership", MEMBERSHIP, **MEMBERSHIP_MODEL)


def test_membership_tenancy_holds_and_tables_without_the_column_are_tenant_data(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    built = case_database(MEMBERS)
    analysis = analysis_of(built)
    assert errors(analysis) == []
    tenant_tables = analysis.tenancy.tenant_tables
    assert {"public.users", "public.user_profiles", "public.memberships"} <= set(tenant_tables)
    results = run_all_probes(rlsguard_run, built, EXAMPLES)
    assert not not_held(results), '\n'.join(not_held(results))
    labels = by_label(results)
    assert labels["rls[public.user_profiles-cross-tenant-read]"].witnessed > 0


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
        "CREATE POLICY memberships_join ON memberships FOR INSERT TO {app} "
        "WITH CHECK (user_id = app_user_id()); GRANT INSERT ON memberships TO {app}",
    )
    found = {(f.check, f.object) for f in analysis.findings}
    assert ("RG302", "public.memberships") in found
    assert ("RG307", "public.projects") in found


# -- JWT claims: the tenant is in the server-set app_metadata; admins by a claim; no admin role

JWT = "nullif(current_setting('request.jwt.claims', true), '')::jsonb"
CLAIMED = "(jwt() -> 'app_metadata' ->> 'tenant_id')::uuid"
SERVICE = "(jwt() ->> 'role') = 'service_role'"
CLAIMS = f"""
CREATE FUNCTION jwt() RETURNS jsonb LANGUAGE sql STABLE AS $$ SELECT {JWT} $$;
CREATE TABLE tenants (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE notes (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants,
    body text NOT NULL
);
CREATE TABLE comments (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    note_id uuid NOT NULL REFERENCES notes ON DELETE CASCADE,
    body text NOT NULL
);
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE comments ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenants_own ON tenants FOR SELECT TO {{app}} USING (id = {CLAIMED} OR {SERVICE});
CREATE POLICY notes_own ON notes TO {{app}}
    USING (tenant_id = {CLAIMED} OR {SERVICE}) WITH CHECK (tenant_id = {CLAIMED} OR {SERVICE});
CREATE POLICY comments_own ON comments TO {{app}}
    USING (note_id IN (SELECT id FROM notes) OR {SERVICE})
    WITH CHECK (note_id IN (SELECT id FROM notes) OR {SERVICE});
GRANT SELECT ON tenants TO {{app}};
GRANT SELECT, INSERT, UPDATE, DELETE ON notes, comments TO {{app}};
"""
CLAIMS_MODEL = dict(
    tenant_column="tenant_id",
    admin_roles=[],
    context={
        "request.jwt.claims": '{"sub": "{principal}", "role": "authenticated", '
        '"app_metadata": {"tenant_id": "{tenant}"}}'
    },
    admin_context={"request.jwt.claims": '{"role": "service_role"}'},
    untrusted_claims=["user_metadata"],
)
CLAIMED_TENANTS = model("jwt-claims", CLAIMS, **CLAIMS_MODEL)


def test_claims_tenancy_with_an_admin_claim_and_no_admin_role_holds(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    built = case_database(CLAIMED_TENANTS, admin_roles=())
    analysis = analysis_of(built)
    assert errors(analysis) == []
    results = run_all_probes(rlsguard_run, built, EXAMPLES)
    assert not not_held(results), '\n'.join(not_held(results))
    # the admin is the application with the service_role claim: no role of its own
    assert by_label(results)["rls[public.notes-admin-bypass]"].witnessed > 0


@pytest.mark.parametrize(
    ("breaking", "check", "probe"),
    [
        (
            "ALTER POLICY notes_own ON notes USING (tenant_id = "
            "(jwt() -> 'user_metadata' ->> 'tenant_id')::uuid)",
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

UID = (
    "coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),"
    " (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid"
)
MY_TEAMS = "SELECT tm.team_id FROM team_members tm WHERE tm.user_id = auth.uid()"
SUPABASE = f"""
CREATE SCHEMA auth;
CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT {UID} $$;
ALTER ROLE {{admin}} BYPASSRLS;
GRANT USAGE ON SCHEMA auth TO {{app}}, {{admin}};
CREATE TABLE teams (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE team_members (
    team_id uuid NOT NULL REFERENCES teams,
    user_id uuid NOT NULL REFERENCES auth.users,
    PRIMARY KEY (team_id, user_id)
);
CREATE TABLE profiles (id uuid PRIMARY KEY REFERENCES auth.users, display_name text NOT NULL);
CREATE TABLE tasks (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    team_id uuid NOT NULL REFERENCES teams,
    title text NOT NULL
);
ALTER TABLE teams ENABLE ROW LEVEL SECURITY;
ALTER TABLE team_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE profiles ENABLE ROW LEVEL SECURITY;
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
CREATE POLICY teams_read ON teams FOR SELECT TO {{app}} USING (id IN ({MY_TEAMS}));
CREATE POLICY members_read ON team_members FOR SELECT TO {{app}} USING (user_id = auth.uid());
CREATE POLICY profiles_own ON profiles TO {{app}}
    USING (id = auth.uid()) WITH CHECK (id = auth.uid());
CREATE POLICY tasks_team ON tasks TO {{app}}
    USING (team_id IN ({MY_TEAMS})) WITH CHECK (team_id IN ({MY_TEAMS}));
GRANT SELECT ON teams, team_members TO {{app}};
GRANT SELECT, INSERT, UPDATE, DELETE ON profiles, tasks TO {{app}};
GRANT SELECT, INSERT, UPDATE, DELETE ON teams, team_members, profiles, tasks TO {{admin}};
"""
SUPABASE_MODEL = dict(
    preset="supabase",
    tenant_column="team_id",
    membership={"table": "team_members", "principal": "user_id", "tenant": "team_id"},
)
SUPABASE_TEAMS = model("supabase", SUPABASE, **SUPABASE_MODEL)


def test_the_supabase_preset_reads_auth_uid_and_holds(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    built = case_database(SUPABASE_TEAMS)
    analysis = analysis_of(built)
    assert errors(analysis) == []
    assert "public.profiles" in analysis.tenancy.tenant_tables  # through auth.users
    results = run_all_probes(rlsguard_run, built, EXAMPLES)
    assert not not_held(results), '\n'.join(not_held(results))
    assert by_label(results)["rls[public.team_members-self-enrolment]"].witnessed > 0


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

SESSION_TABLE = """
CREATE SCHEMA ctx;
CREATE SCHEMA crm;
CREATE TABLE ctx.sessions (backend integer PRIMARY KEY, tenant_id integer NOT NULL);
CREATE FUNCTION crm.set_tenant(tenant integer) RETURNS void LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog AS $$
    INSERT INTO ctx.sessions VALUES (pg_backend_pid(), tenant)
    ON CONFLICT (backend) DO UPDATE SET tenant_id = excluded.tenant_id $$;
CREATE FUNCTION crm.current_tenant() RETURNS integer LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog AS $$
    SELECT tenant_id FROM ctx.sessions WHERE backend = pg_backend_pid() $$;
GRANT USAGE ON SCHEMA ctx TO {owner};
GRANT SELECT, INSERT, UPDATE ON ctx.sessions TO {owner};
ALTER FUNCTION crm.set_tenant(integer) OWNER TO {owner};
ALTER FUNCTION crm.current_tenant() OWNER TO {owner};
REVOKE ALL ON FUNCTION crm.set_tenant(integer), crm.current_tenant() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm.set_tenant(integer), crm.current_tenant() TO {app};
GRANT USAGE ON SCHEMA crm TO {app}, {admin};
CREATE TABLE crm.accounts (tenant_id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE crm.contacts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id integer NOT NULL REFERENCES crm.accounts,
    email text NOT NULL,
    UNIQUE (tenant_id, email)
);
ALTER TABLE crm.accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE crm.contacts ENABLE ROW LEVEL SECURITY;
CREATE POLICY accounts_tenant ON crm.accounts FOR SELECT TO {app}
    USING (tenant_id = crm.current_tenant());
CREATE POLICY accounts_admin ON crm.accounts FOR SELECT TO {admin} USING (true);
CREATE POLICY contacts_tenant ON crm.contacts TO {app}
    USING (tenant_id = crm.current_tenant()) WITH CHECK (tenant_id = crm.current_tenant());
CREATE POLICY contacts_admin ON crm.contacts TO {admin} USING (true) WITH CHECK (true);
GRANT SELECT ON crm.accounts TO {app}, {admin};
GRANT SELECT, INSERT, UPDATE, DELETE ON crm.contacts TO {app}, {admin};
"""
FUNCTION_MODEL = dict(
    schemas=["crm"],
    tenant_column="tenant_id",
    context_statement="SELECT crm.set_tenant({tenant})",
    context_functions={"crm.current_tenant": "tenant"},
)
ENTERED_BY_FUNCTION = model("context-function", SESSION_TABLE, **FUNCTION_MODEL)


def test_a_context_entered_through_a_function_and_read_from_a_session_table_holds(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    built = case_database(ENTERED_BY_FUNCTION)
    analysis = analysis_of(built)
    assert errors(analysis) == []
    results = run_all_probes(rlsguard_run, built, EXAMPLES)
    assert not not_held(results), '\n'.join(not_held(results))
    read = by_label(results)["rls[crm.contacts-cross-tenant-read]"]
    assert "crm.set_tenant(" in (read.transcript or "") or read.witnessed > 0


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

T = "current_setting('app.tenant', true)"
U = "nullif(current_setting('app.user', true), '')::uuid"
ADMIN = "current_setting('app.is_admin', true) = 'on'"
AUTHORS = f"""
CREATE TABLE tenants (id text PRIMARY KEY);
CREATE TABLE users (
    id uuid PRIMARY KEY,
    tenant_id text NOT NULL REFERENCES tenants,
    name text NOT NULL,
    UNIQUE (tenant_id, id)
);
CREATE TABLE docs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id text NOT NULL REFERENCES tenants,
    author_id uuid NOT NULL,
    body text NOT NULL,
    FOREIGN KEY (tenant_id, author_id) REFERENCES users (tenant_id, id)
);
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY users_tenant ON users TO {{app}}
    USING (tenant_id = {T} OR {ADMIN}) WITH CHECK (tenant_id = {T} OR {ADMIN});
CREATE POLICY docs_read ON docs FOR SELECT TO {{app}} USING (tenant_id = {T} OR {ADMIN});
CREATE POLICY docs_add ON docs FOR INSERT TO {{app}}
    WITH CHECK ((tenant_id = {T} AND author_id = {U}) OR {ADMIN});
CREATE POLICY docs_edit ON docs FOR UPDATE TO {{app}}
    USING (author_id = {U} OR {ADMIN}) WITH CHECK (author_id = {U} OR {ADMIN});
CREATE POLICY docs_drop ON docs FOR DELETE TO {{app}} USING (author_id = {U} OR {ADMIN});
GRANT SELECT ON tenants TO {{app}};
GRANT SELECT, INSERT, UPDATE, DELETE ON users, docs TO {{app}};
"""
AUTHORS_MODEL = dict(
    tenant_column="tenant_id",
    admin_roles=[],
    context={"app.tenant": "{tenant}", "app.user": "{principal}"},
    principal_table="users",
    admin_context={"app.is_admin": "on"},
)
BY_AUTHOR = model("admin-setting", AUTHORS, **AUTHORS_MODEL)


def test_an_admin_setting_and_an_author_setting_hold_when_declared(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    built = case_database(BY_AUTHOR, admin_roles=())
    analysis = analysis_of(built)
    assert errors(analysis) == []
    results = run_all_probes(rlsguard_run, built, EXAMPLES)
    assert not not_held(results), '\n'.join(not_held(results))
    assert by_label(results)["rls[public.docs-admin-bypass]"].witnessed > 0


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
