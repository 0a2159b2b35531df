"""Schemas of tenancy models beyond one column and one setting (memberships, JWT claims,
the Supabase preset, a context entered through a function, admins by a setting), each
correct, with its ``[tool.rlsguard]`` table. Placeholders as in ``cases``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rlsguard.config import PRESETS, Settings, settings_from_table
from tests.corpus.cases import Case


def model(name: str, sql: str, **table: Any) -> Case:
    """A case on an empty database whose settings come from a ``[tool.rlsguard]`` table
    (the roles are the test's own)."""
    parsed = settings_from_table(table, Path("."), f"model {name}")
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
        found |= set(PRESETS[table["preset"]]) - {"app_role", "admin_roles"}
    return found


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
MEMBERSHIP_MODEL = {
    "tenant_column": "org_id",
    "context": {"app.user_id": "{principal}"},
    "membership": {"table": "memberships", "principal": "user_id", "tenant": "org_id"},
}
MEMBERS = model("membership", MEMBERSHIP, **MEMBERSHIP_MODEL)
# broken: WITH CHECK (user_id = me) lets a user join any org
JOIN_ANY = (
    "CREATE POLICY memberships_join ON memberships FOR INSERT TO {app} "
    "WITH CHECK (user_id = app_user_id()); GRANT INSERT ON memberships TO {app};"
)
MEMBERS_JOINING_ANY = model("membership-join-any", MEMBERSHIP + JOIN_ANY, **MEMBERSHIP_MODEL)

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
CLAIMS_MODEL = {
    "tenant_column": "tenant_id",
    "admin_roles": [],
    "context": {
        "request.jwt.claims": '{"sub": "{principal}", "role": "authenticated", '
        '"app_metadata": {"tenant_id": "{tenant}"}}'
    },
    "admin_context": {"request.jwt.claims": '{"role": "service_role"}'},
    "untrusted_claims": ["user_metadata"],
}
CLAIMED_TENANTS = model("jwt-claims", CLAIMS, **CLAIMS_MODEL)
# the same, where notes also reads a claim the user can edit (bound all the same: an AND)
THEMED = f"""
ALTER POLICY notes_own ON notes
    USING (tenant_id = {CLAIMED} AND coalesce(jwt() -> 'user_metadata' ->> 'theme', '') <> 'x'
           OR {SERVICE});
"""
CLAIMS_READING_USER_METADATA = model("jwt-claims-themed", CLAIMS + THEMED, **CLAIMS_MODEL)
# broken: the tenant taken from a claim the user can edit
USER_METADATA = (
    "ALTER POLICY notes_own ON notes USING (tenant_id = "
    "(jwt() -> 'user_metadata' ->> 'tenant_id')::uuid);"
)
CLAIMS_TRUSTING_USER_METADATA = model(
    "jwt-claims-user-metadata", CLAIMS + USER_METADATA, **CLAIMS_MODEL
)

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
SUPABASE_MODEL = {
    "preset": "supabase",
    "tenant_column": "team_id",
    "membership": {"table": "team_members", "principal": "user_id", "tenant": "team_id"},
}
SUPABASE_TEAMS = model("supabase", SUPABASE, **SUPABASE_MODEL)

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
FUNCTION_MODEL = {
    "schemas": ["crm"],
    "tenant_column": "tenant_id",
    "context_statement": "SELECT crm.set_tenant({tenant})",
    "context_functions": {"crm.current_tenant": "tenant"},
}
ENTERED_BY_FUNCTION = model("context-function", SESSION_TABLE, **FUNCTION_MODEL)

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
AUTHORS_MODEL = {
    "tenant_column": "tenant_id",
    "admin_roles": [],
    "context": {"app.tenant": "{tenant}", "app.user": "{principal}"},
    "principal_table": "users",
    "admin_context": {"app.is_admin": "on"},
}
BY_AUTHOR = model("admin-setting", AUTHORS, **AUTHORS_MODEL)


# -- JWT claims read through helpers: a claims document that defaults to '{}', the tenant
# from it, and a boolean admin test; the tenants table writable only in the admin context
HELPED = """
CREATE FUNCTION jwt_claims() RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('request.jwt.claims', true), '')::jsonb, '{}'::jsonb) $$;
CREATE FUNCTION current_tenant() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT nullif(jwt_claims() -> 'app_metadata' ->> 'tenant_id', '')::uuid $$;
CREATE FUNCTION is_service_role() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(jwt_claims() ->> 'role' = 'service_role', false) $$;
CREATE TABLE tenants (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE notes (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants,
    body text NOT NULL
);
CREATE TABLE tags (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants,
    label text NOT NULL
);
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE tags ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenants_read ON tenants FOR SELECT TO {app}
    USING (id = current_tenant() OR is_service_role());
CREATE POLICY tenants_add ON tenants FOR INSERT TO {app} WITH CHECK (is_service_role());
CREATE POLICY tenants_edit ON tenants FOR UPDATE TO {app}
    USING (is_service_role()) WITH CHECK (is_service_role());
CREATE POLICY notes_own ON notes TO {app}
    USING (tenant_id = current_tenant() OR is_service_role())
    WITH CHECK (tenant_id = current_tenant() OR is_service_role());
CREATE POLICY tags_own ON tags TO {app}
    USING (tenant_id = current_tenant()
           OR coalesce((jwt_claims() ->> 'role') = 'service_role', false))
    WITH CHECK (tenant_id = current_tenant()
                OR coalesce((jwt_claims() ->> 'role') = 'service_role', false));
GRANT SELECT, INSERT, UPDATE ON tenants TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON notes, tags TO {app};
"""
HELPED_MODEL = {
    "tenant_column": "tenant_id",
    "admin_roles": [],
    "context": {"request.jwt.claims": '{"app_metadata": {"tenant_id": "{tenant}"}}'},
    "admin_context": {"request.jwt.claims": '{"role": "service_role"}'},
}
CLAIMS_THROUGH_HELPERS = model("jwt-helpers", HELPED, **HELPED_MODEL)

# -- integer keys, a tenants table keyed by id, and a child table bound through its
# parent's key: `task_id IN (SELECT t.id FROM tasks t WHERE t.org_id = <tenant>)` is a
# lookup of the parent row, not a membership (a new user's project, issue 13)
ORG = "nullif(current_setting('app.org_id', true), '')::integer"
PARENTS = f"""
CREATE TABLE organisations (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE projects (
    id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    org_id integer NOT NULL REFERENCES organisations,
    name text NOT NULL,
    UNIQUE (org_id, id)
);
CREATE TABLE tasks (
    id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    org_id integer NOT NULL REFERENCES organisations,
    project_id integer NOT NULL,
    title text NOT NULL,
    FOREIGN KEY (org_id, project_id) REFERENCES projects (org_id, id)
);
CREATE TABLE comments (
    id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    task_id integer NOT NULL REFERENCES tasks,
    body text NOT NULL
);
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE comments ENABLE ROW LEVEL SECURITY;
CREATE POLICY projects_web ON projects TO {{app}} USING (org_id = {ORG}) WITH CHECK (org_id = {ORG});
CREATE POLICY tasks_web ON tasks TO {{app}} USING (org_id = {ORG}) WITH CHECK (org_id = {ORG});
CREATE POLICY comments_web ON comments TO {{app}}
    USING (task_id IN (SELECT t.id FROM tasks t WHERE t.org_id = {ORG}))
    WITH CHECK (task_id IN (SELECT t.id FROM tasks t WHERE t.org_id = {ORG}));
CREATE POLICY projects_support ON projects TO {{admin}} USING (true) WITH CHECK (true);
CREATE POLICY tasks_support ON tasks TO {{admin}} USING (true) WITH CHECK (true);
CREATE POLICY comments_support ON comments TO {{admin}} USING (true) WITH CHECK (true);
GRANT SELECT ON organisations TO {{app}}, {{admin}};
GRANT SELECT, INSERT, UPDATE, DELETE ON projects, tasks, comments TO {{app}}, {{admin}};
"""
PARENTS_MODEL = {"tenant_column": "org_id", "tenant_setting": "app.org_id"}
BOUND_THROUGH_PARENT = model("parent-lookup", PARENTS, **PARENTS_MODEL)


# the correct schema of each tenancy model above
CORRECT_MODELS = [
    BOUND_THROUGH_PARENT,
    MEMBERS,
    CLAIMED_TENANTS,
    CLAIMS_THROUGH_HELPERS,
    SUPABASE_TEAMS,
    ENTERED_BY_FUNCTION,
    BY_AUTHOR,
]
