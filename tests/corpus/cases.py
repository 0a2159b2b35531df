"""Schemas the static checks must judge exactly right: correct ones (no finding at all)
and deliberately broken ones (exactly the findings listed, on the objects listed).

SQL and expectations use placeholders: {app}, {admin}, {group}, {owner} become role
names unique to the test; the tables belong to the superuser that runs the SQL (the
"migration role"). ``BOUND`` is the tenant predicate a correct policy uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

HARDENED = (Path(__file__).parent / "hardened.sql").read_text()
BOUND = "tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid"


def tenant_bound(*tables: str) -> str:
    """SQL that isolates tables with a tenant_id column on the hardened base: RLS on and
    forced, a tenant-bound policy for the app ("<table>_app"), an open one for the admin,
    and the grants."""
    lines = []
    for table in tables:
        lines += [
            f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;",
            f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY;",
            f"CREATE POLICY {table}_app ON {table} TO {{app}} USING ({BOUND}) WITH CHECK ({BOUND});",
            f"CREATE POLICY {table}_admin ON {table} TO {{admin}} USING (true) WITH CHECK (true);",
        ]
    granted = ", ".join(tables)
    lines.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {granted} TO {{app}}, {{admin}};")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Case:
    name: str
    sql: str = ""
    expect: frozenset[tuple[str, str]] = frozenset()
    base: str = HARDENED
    settings: dict[str, object] = field(default_factory=dict)
    since: int = 14  # the first PostgreSQL major version that can express the case


def case(
    name: str,
    sql: str = "",
    *expect: str,
    base: str = HARDENED,
    since: int = 14,
    **settings: object,
) -> Case:
    """``expect`` items read "RG101 public.documents"."""
    pairs = frozenset(tuple(item.split(" ", 1)) for item in expect)
    return Case(name, sql, pairs, base, settings, since)  # type: ignore[arg-type]


UNSEEN = """
CREATE SCHEMA crm;
CREATE SCHEMA billing;
CREATE FUNCTION crm.current_org() RETURNS integer LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('app.org', true), '')::integer $$;
CREATE TABLE crm.orgs (org_id integer PRIMARY KEY, label text NOT NULL);
CREATE TABLE crm.contacts (
    contact_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id integer NOT NULL REFERENCES crm.orgs,
    email text NOT NULL,
    UNIQUE (org_id, contact_id),
    UNIQUE (org_id, email)
);
CREATE TABLE billing.invoices (
    invoice_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id integer NOT NULL REFERENCES crm.orgs,
    contact_id uuid NOT NULL,
    amount numeric(12, 2) NOT NULL,
    FOREIGN KEY (org_id, contact_id) REFERENCES crm.contacts (org_id, contact_id)
);
CREATE TABLE billing.currencies (code char(3) PRIMARY KEY);
ALTER TABLE crm.orgs ENABLE ROW LEVEL SECURITY;
ALTER TABLE crm.contacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE billing.invoices ENABLE ROW LEVEL SECURITY;
CREATE POLICY orgs_svc ON crm.orgs FOR SELECT TO {app} USING (org_id = crm.current_org());
CREATE POLICY contacts_svc ON crm.contacts TO {app} USING (org_id = crm.current_org());
CREATE POLICY invoices_svc ON billing.invoices TO {app}
    USING (org_id = crm.current_org()) WITH CHECK (org_id = crm.current_org());
CREATE POLICY orgs_ops ON crm.orgs TO {admin} USING (true) WITH CHECK (true);
CREATE POLICY contacts_ops ON crm.contacts TO {admin} USING (true) WITH CHECK (true);
CREATE POLICY invoices_ops ON billing.invoices TO {admin} USING (true) WITH CHECK (true);
GRANT USAGE ON SCHEMA crm, billing TO {app}, {admin};
GRANT SELECT ON crm.orgs, billing.currencies TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON crm.contacts, billing.invoices TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON crm.orgs, crm.contacts, billing.invoices TO {admin};
"""
UNSEEN_SETTINGS = {
    "tenant_column": "org_id",
    "tenant_setting": "app.org",
    "schemas": ("crm", "billing"),
}

EVENTS = f"""
CREATE TABLE events (
    event_id uuid NOT NULL DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    happened date NOT NULL,
    body text
) PARTITION BY RANGE (happened);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE events FORCE ROW LEVEL SECURITY;
CREATE POLICY events_app ON events TO {{app}} USING ({BOUND}) WITH CHECK ({BOUND});
CREATE POLICY events_admin ON events TO {{admin}} USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON events TO {{app}};
GRANT SELECT, INSERT, UPDATE, DELETE ON events TO {{admin}};
"""

AUDIT_EVENTS = f"""
CREATE TABLE audit_events (
    event_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
    action text NOT NULL
);
ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_events_read ON audit_events FOR SELECT TO {{app}} USING ({BOUND});
CREATE POLICY audit_events_add ON audit_events FOR INSERT TO {{app}} WITH CHECK ({BOUND});
CREATE POLICY audit_events_admin ON audit_events TO {{admin}} USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON audit_events TO {{app}};
GRANT SELECT, INSERT, UPDATE, DELETE ON audit_events TO {{admin}};
"""

CORRECT = [
    case("hardened"),
    case(
        "stable-helper-function",
        """
        CREATE FUNCTION current_tenant() RETURNS uuid LANGUAGE sql STABLE
            AS $$ SELECT nullif(current_setting('app.current_tenant_id', true), '')::uuid $$;
        DROP POLICY documents_app ON documents;
        CREATE POLICY documents_app ON documents TO {app}
            USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());
        """,
    ),
    case(
        "restrictive-and-permissive",
        f"""
        DROP POLICY documents_app ON documents;
        CREATE POLICY documents_open ON documents TO {{app}} USING (true) WITH CHECK (true);
        CREATE POLICY documents_tenant ON documents AS RESTRICTIVE TO {{app}}
            USING ({BOUND}) WITH CHECK ({BOUND});
        """,
    ),
    case(
        "security-invoker-view",
        """
        CREATE VIEW document_titles WITH (security_invoker = true)
            AS SELECT document_id, title FROM documents;
        GRANT SELECT ON document_titles TO {app};
        """,
        since=15,
    ),
    case(
        "generated-columns",
        "ALTER TABLE documents ADD COLUMN title_length int GENERATED ALWAYS AS (length(title)) STORED;",
    ),
    case(
        # PostgreSQL 18's default kind: computed when read, never stored or supplied
        "virtual-generated-column",
        "ALTER TABLE documents ADD COLUMN title_words int "
        "GENERATED ALWAYS AS (array_length(string_to_array(title, ' '), 1)) VIRTUAL;",
        since=18,
    ),
    case(
        "memberships-that-give-nothing",
        """
        ALTER ROLE {group} SUPERUSER;
        GRANT {group}, {admin} TO {app} WITH INHERIT FALSE, SET FALSE;
        """,
        since=16,
    ),
    case(
        "superuser-inherited-but-not-settable",
        "ALTER ROLE {group} SUPERUSER BYPASSRLS; GRANT {group} TO {app} WITH SET FALSE;",
        since=16,
    ),
    case(
        "rls-on-no-policy-for-app",  # deny-all is safe
        """
        CREATE TABLE api_secrets (
            secret_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL REFERENCES tenants,
            secret text NOT NULL
        );
        ALTER TABLE api_secrets ENABLE ROW LEVEL SECURITY;
        ALTER TABLE api_secrets FORCE ROW LEVEL SECURITY;
        CREATE POLICY api_secrets_admin ON api_secrets TO {admin} USING (true) WITH CHECK (true);
        GRANT SELECT ON api_secrets TO {app};
        GRANT SELECT, INSERT, UPDATE, DELETE ON api_secrets TO {admin};
        """,
    ),
    case(
        "using-only-policy",  # PostgreSQL reuses USING as the check
        f"""
        DROP POLICY documents_app ON documents;
        CREATE POLICY documents_app ON documents TO {{app}} USING ({BOUND});
        """,
    ),
    case(
        "insert-policy-without-check",  # lets nothing in: not a leak
        "CREATE POLICY documents_insert ON documents FOR INSERT TO {app};",
    ),
    case(
        "read-only-global-lookup",
        "GRANT SELECT ON countries TO {app};",
        global_tables=("countries",),
    ),
    case("partition-reached-only-through-parent", EVENTS),
    case(
        "partition-with-its-own-rls",
        EVENTS
        + f"""
        ALTER TABLE events_2024 ENABLE ROW LEVEL SECURITY;
        ALTER TABLE events_2024 FORCE ROW LEVEL SECURITY;
        CREATE POLICY events_2024_app ON events_2024 TO {{app}} USING ({BOUND});
        GRANT SELECT ON events_2024 TO {{app}};
        """,
    ),
    case("append-only-audit-table", AUDIT_EVENTS, append_only=("audit_events",)),
    case(
        "json-and-array-columns",  # values psycopg2 must be handed wrapped
        f"""
        CREATE TABLE tenant_settings (
            setting_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
            preferences jsonb NOT NULL,
            tags text[]
        );
        ALTER TABLE tenant_settings ENABLE ROW LEVEL SECURITY;
        ALTER TABLE tenant_settings FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_settings_app ON tenant_settings TO {{app}}
            USING ({BOUND}) WITH CHECK ({BOUND});
        CREATE POLICY tenant_settings_admin ON tenant_settings TO {{admin}}
            USING (true) WITH CHECK (true);
        GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_settings TO {{app}}, {{admin}};
        """,
    ),
    case(
        "definer-function-of-a-tenant-bound-role",
        f"""
        CREATE POLICY documents_reporting ON documents FOR SELECT TO {{owner}} USING ({BOUND});
        GRANT USAGE ON SCHEMA public TO {{owner}};
        GRANT SELECT ON documents TO {{owner}};
        CREATE FUNCTION document_title(id uuid) RETURNS text LANGUAGE sql STABLE
            SECURITY DEFINER SET search_path = pg_catalog, public
            AS $$ SELECT title FROM public.documents WHERE document_id = id $$;
        ALTER FUNCTION document_title(uuid) OWNER TO {{owner}};
        """,
    ),
    case("unseen-schema", base=UNSEEN, **UNSEEN_SETTINGS),
]

MAINTAIN_BROKEN = [
    case(
        "app-holds-maintain",
        "GRANT MAINTAIN ON documents TO {app};",
        "RG204 {app}",
        since=17,
    ),
    case("app-in-pg-maintain", "GRANT pg_maintain TO {app};", "RG204 {app}", since=17),
]
SUPERUSER_REACHED = (
    "RG203 {app}",
    "RG401 public.tenants",
    "RG404 public.countries",
    "RG506 public.tenants",
    "RG506 public.users",
    "RG506 public.documents",
)
ADMIN_REACHED = (
    "RG203 {app}",
    "RG301 public.tenants",
    "RG301 public.users",
    "RG301 public.documents",
    "RG302 public.tenants",
    "RG302 public.users",
    "RG302 public.documents",
    "RG401 public.tenants",
)

BROKEN = [
    case(
        "rls-disabled",
        "ALTER TABLE documents DISABLE ROW LEVEL SECURITY;",
        "RG101 public.documents",
    ),
    case(
        "new-tenant-table-without-rls",
        """
        CREATE TABLE invoices (
            invoice_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL REFERENCES tenants,
            amount numeric NOT NULL
        );
        GRANT SELECT, INSERT ON invoices TO {app};
        """,
        "RG101 public.invoices",
    ),
    case(
        "child-of-tenant-table-without-rls",
        """
        CREATE TABLE document_chunks (
            chunk_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            document_id uuid NOT NULL REFERENCES documents,
            body text NOT NULL
        );
        GRANT SELECT ON document_chunks TO {app};
        """,
        "RG101 public.document_chunks",
    ),
    case(
        "app-owns-table-not-forced",
        "ALTER TABLE documents NO FORCE ROW LEVEL SECURITY; ALTER TABLE documents OWNER TO {app};",
        "RG102 public.documents",
        "RG506 public.documents",
    ),
    case(
        "app-owns-forced-table",
        "ALTER TABLE documents OWNER TO {app};",
        "RG102 public.documents",
        "RG506 public.documents",
    ),
    case(
        "partition-without-rls",
        EVENTS + "GRANT SELECT ON events_2024 TO {app};",
        "RG103 public.events_2024",
    ),
    case(
        "inheritance-child-without-rls",
        "CREATE TABLE documents_archive () INHERITS (documents); GRANT SELECT ON documents_archive TO {app};",
        "RG103 public.documents_archive",
    ),
    case(
        "app-superuser",
        "ALTER ROLE {app} SUPERUSER;",
        "RG201 {app}",
        "RG401 public.tenants",
        "RG404 public.countries",
        "RG506 public.tenants",
        "RG506 public.users",
        "RG506 public.documents",
        "RG602 public.tenants",  # the app's own policies never apply to it any more
        "RG602 public.users",
        "RG602 public.documents",
    ),
    case(
        "app-bypassrls",
        "ALTER ROLE {app} BYPASSRLS;",
        "RG202 {app}",
        "RG602 public.tenants",
        "RG602 public.users",
        "RG602 public.documents",
    ),
    case(
        "app-can-become-superuser",
        "ALTER ROLE {group} SUPERUSER; GRANT {group} TO {app};",
        *SUPERUSER_REACHED,
    ),
    case(
        "app-member-of-admin",
        "GRANT {admin} TO {app};",
        *ADMIN_REACHED,
    ),
    case(
        "app-inherits-admin-without-set",
        "GRANT {admin} TO {app} WITH INHERIT TRUE, SET FALSE;",
        *ADMIN_REACHED,
        since=16,
    ),
    case(
        "app-may-set-role-superuser-without-inherit",
        "ALTER ROLE {group} SUPERUSER; GRANT {group} TO {app} WITH INHERIT FALSE, SET TRUE;",
        *SUPERUSER_REACHED,
        since=16,
    ),
    case(
        "permissive-true-for-app",
        "CREATE POLICY documents_peek ON documents FOR SELECT TO {app} USING (true);",
        "RG301 public.documents",
    ),
    case(
        "permissive-true-to-public",
        "CREATE POLICY documents_peek ON documents FOR SELECT USING (true);",
        "RG301 public.documents",
        "RG303 public.documents",
    ),
    case(
        "permissive-true-through-a-group",
        "GRANT {group} TO {app}; CREATE POLICY documents_peek ON documents FOR SELECT TO {group} USING (true);",
        "RG301 public.documents",
    ),
    case(
        "public-flag-with-a-default",
        "ALTER TABLE documents ADD COLUMN public boolean NOT NULL DEFAULT false; "
        "CREATE POLICY documents_public ON documents FOR SELECT TO {app} USING (public);",
        "RG301 public.documents",
    ),
    case(
        "policy-ignores-the-tenant",
        "ALTER POLICY documents_app ON documents USING (user_id IS NOT NULL);",
        "RG301 public.documents",
    ),
    case(
        "with-check-true",
        "ALTER POLICY documents_app ON documents WITH CHECK (true);",
        "RG302 public.documents",
    ),
    case(
        "insert-policy-check-true",
        "CREATE POLICY documents_insert ON documents FOR INSERT TO {app} WITH CHECK (true);",
        "RG302 public.documents",
    ),
    case(
        "update-moves-rows",
        "ALTER POLICY documents_app ON documents WITH CHECK (tenant_id IS NOT NULL);",
        "RG302 public.documents",
    ),
    case(
        "policy-hides-own-rows",  # not a leak, and nothing static can tell: only the probe sees it
        "ALTER POLICY documents_app ON documents USING (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid AND title = 'never');",
    ),
    case(
        "update-policy-open",
        "CREATE POLICY documents_edit ON documents FOR UPDATE TO {app} USING (true) WITH CHECK (true);",
        "RG301 public.documents",
        "RG302 public.documents",
    ),
    case(
        # the new row must be the tenant's, but any row may be updated: an UPDATE without
        # WHERE that sets the tenant column takes every tenant's documents
        "update-open-but-checked",
        f"CREATE POLICY documents_edit ON documents FOR UPDATE TO {{app}}"
        f" USING (true) WITH CHECK ({BOUND});",
        "RG301 public.documents",
    ),
    case(
        "update-moves-user-rows",
        "ALTER POLICY users_app ON users WITH CHECK (tenant_id IS NOT NULL);",
        "RG302 public.users",
    ),
    case(
        "tenant-policy-to-public",
        f"""
        DROP POLICY documents_app ON documents;
        CREATE POLICY documents_app ON documents USING ({BOUND}) WITH CHECK ({BOUND});
        """,
        "RG303 public.documents",
    ),
    case(
        "admin-flag-setting",
        f"ALTER POLICY documents_app ON documents USING ({BOUND} OR current_setting('app.is_admin', true) = 'on');",
        "RG301 public.documents",
        "RG304 public.documents",
    ),
    case(
        "fails-open-when-unset",
        f"""ALTER POLICY documents_app ON documents
            USING ({BOUND} OR current_setting('app.current_tenant_id', true) IS NULL);""",
        "RG301 public.documents",
        "RG305 public.documents",
    ),
    case(
        "fails-open-through-coalesce",
        """ALTER POLICY documents_app ON documents USING (
            tenant_id::text = coalesce(nullif(current_setting('app.current_tenant_id', true), ''), tenant_id::text));""",
        "RG301 public.documents",
        "RG305 public.documents",
    ),
    case(
        "empty-setting-cast",
        "ALTER POLICY documents_app ON documents USING (tenant_id = current_setting('app.current_tenant_id', true)::uuid);",
        "RG306 public.documents",
    ),
    case(
        "empty-setting-cast-in-helper",
        """
        CREATE FUNCTION current_tenant() RETURNS uuid LANGUAGE sql STABLE
            AS $$ SELECT current_setting('app.current_tenant_id', true)::uuid $$;
        ALTER POLICY documents_app ON documents USING (tenant_id = current_tenant());
        """,
        "RG306 public.documents",
    ),
    case(
        "policy-trusts-a-writable-table",
        """
        CREATE TABLE memberships (tenant_id uuid NOT NULL, member name NOT NULL);
        GRANT SELECT, INSERT ON memberships TO {app};
        ALTER POLICY documents_app ON documents
            USING (tenant_id IN (SELECT m.tenant_id FROM memberships m WHERE m.member = current_user));
        """,
        "RG101 public.memberships",
        "RG307 public.documents",
    ),
    case(
        "unique-not-scoped",
        "CREATE UNIQUE INDEX users_email ON users (email);",
        "RG401 public.users",
    ),
    case(
        "foreign-key-not-scoped",
        "ALTER TABLE documents ADD CONSTRAINT documents_user FOREIGN KEY (user_id) REFERENCES users (user_id);",
        "RG402 public.documents",
    ),
    case(
        "foreign-key-only-by-id",  # as the shipped platform schema: no composite key to stop it
        """
        ALTER TABLE documents DROP CONSTRAINT documents_tenant_id_user_id_fkey;
        ALTER TABLE documents ADD CONSTRAINT documents_user FOREIGN KEY (user_id) REFERENCES users (user_id);
        """,
        "RG402 public.documents",
    ),
    case(
        "shared-sequence",
        f"""
        CREATE TABLE notes (
            note_id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            tenant_id uuid NOT NULL REFERENCES tenants,
            body text
        );
        ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
        CREATE POLICY notes_app ON notes TO {{app}} USING ({BOUND});
        CREATE POLICY notes_admin ON notes TO {{admin}} USING (true);
        GRANT SELECT, INSERT ON notes TO {{app}};
        GRANT SELECT ON notes TO {{admin}};
        """,
        "RG401 public.notes",
        "RG403 public.notes",
    ),
    case(
        "global-table-writable",
        "GRANT INSERT, UPDATE ON countries TO {app};",
        "RG404 public.countries",
    ),
    case(
        "view-with-owner-rights",
        "CREATE VIEW document_titles AS SELECT document_id, title FROM documents; "
        "GRANT SELECT ON document_titles TO {app};",
        "RG501 public.document_titles",
    ),
    case(
        "filtering-view-without-barrier",
        f"CREATE VIEW my_documents AS SELECT * FROM documents WHERE {BOUND}; GRANT SELECT ON my_documents TO {{app}};",
        "RG502 public.my_documents",
    ),
    case(
        "definer-function-of-a-superuser",
        """
        CREATE FUNCTION document_title(id uuid) RETURNS text LANGUAGE sql STABLE
            SECURITY DEFINER SET search_path = public
            AS $$ SELECT title FROM documents WHERE document_id = id $$;
        """,
        "RG503 public.document_title(id uuid)",
    ),
    case(
        "definer-function-of-a-role-an-open-policy-lets-read-everything",
        """
        CREATE POLICY documents_reporting ON documents FOR SELECT TO {owner} USING (true);
        GRANT USAGE ON SCHEMA public TO {owner};
        GRANT SELECT ON documents TO {owner};
        CREATE FUNCTION document_title(id uuid) RETURNS text LANGUAGE sql STABLE
            SECURITY DEFINER SET search_path = pg_catalog, public
            AS $$ SELECT title FROM public.documents WHERE document_id = id $$;
        ALTER FUNCTION document_title(uuid) OWNER TO {owner};
        """,
        "RG503 public.document_title(id uuid)",
    ),
    case(
        "definer-function-without-search-path",
        """
        CREATE FUNCTION document_count() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
            AS $$ SELECT count(*) FROM documents $$;
        ALTER FUNCTION document_count() OWNER TO {owner};
        """,
        "RG504 public.document_count()",
    ),
    case(
        "materialized-view",
        "CREATE MATERIALIZED VIEW document_stats AS SELECT tenant_id, count(*) FROM documents GROUP BY tenant_id; "
        "GRANT SELECT ON document_stats TO {app};",
        "RG505 public.document_stats",
    ),
    case("truncate-granted", "GRANT TRUNCATE ON documents TO {app};", "RG506 public.documents"),
    case("admin-without-policy", "DROP POLICY documents_admin ON documents;", "RG601 {admin}"),
    case(
        "admin-policy-tenant-bound",
        f"ALTER POLICY documents_admin ON documents USING ({BOUND});",
        "RG601 {admin}",
    ),
    case(
        "admin-is-superuser",
        "ALTER ROLE {admin} SUPERUSER;",
        "RG601 {admin}",
        "RG602 public.tenants",
        "RG602 public.users",
        "RG602 public.documents",
    ),
    case(
        "policy-for-a-superuser",
        "CREATE POLICY documents_postgres ON documents TO postgres USING (true);",
        "RG602 public.documents",
    ),
    case(
        "unseen-schema-table-without-rls",
        "ALTER TABLE billing.invoices DISABLE ROW LEVEL SECURITY;",
        "RG101 billing.invoices",
        base=UNSEEN,
        **UNSEEN_SETTINGS,
    ),
    case(
        "unseen-schema-open-policy",
        "CREATE POLICY contacts_all ON crm.contacts FOR SELECT TO {app} USING (org_id > 0);",
        "RG301 crm.contacts",
        base=UNSEEN,
        **UNSEEN_SETTINGS,
    ),
    case(
        "unseen-schema-cast",
        "ALTER POLICY invoices_svc ON billing.invoices USING (org_id = current_setting('app.org', true)::integer);",
        "RG306 billing.invoices",
        base=UNSEEN,
        **UNSEEN_SETTINGS,
    ),
    case(
        "append-only-table-the-app-can-change",
        AUDIT_EVENTS + "GRANT UPDATE, DELETE, TRUNCATE ON audit_events TO {app};",
        "RG405 public.audit_events",
        "RG506 public.audit_events",
        append_only=("public.audit_events",),
    ),
    *MAINTAIN_BROKEN,
]
