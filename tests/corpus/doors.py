"""The doors around RLS, built on the hardened schema: functions judged by their bodies,
triggers, LEAKPROOF, updatable views and the tenant context's hygiene. One correct
schema with every door done right, and one broken schema per way of getting it wrong.

The functions belong to the superuser that builds the case (who skips RLS), so only
their bodies keep a caller to its tenant."""

from __future__ import annotations

from tests.corpus.cases import BOUND, case

TENANT = "nullif(current_setting('app.current_tenant_id', true), '')::uuid"

DOORS_DONE_RIGHT = case(
    "doors-done-right",
    f"""
    CREATE FUNCTION document_title(id uuid) RETURNS text LANGUAGE sql STABLE
        SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$ SELECT title FROM public.documents WHERE document_id = id AND {BOUND} $$;
    CREATE FUNCTION my_titles(pattern text) RETURNS SETOF text LANGUAGE plpgsql STABLE
        SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    DECLARE
        tenant uuid := {TENANT};
    BEGIN
        RETURN QUERY SELECT d.title FROM public.documents AS d
            WHERE d.tenant_id = tenant AND d.title LIKE pattern;
    END $$;
    CREATE FUNCTION rename_document(id uuid, new_title text) RETURNS void LANGUAGE sql
        SECURITY DEFINER SET search_path = pg_catalog, public
        AS $$ UPDATE public.documents SET title = new_title WHERE document_id = id AND {BOUND} $$;
    CREATE TABLE document_counts (
        tenant_id uuid PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
        documents bigint NOT NULL DEFAULT 0
    );
    ALTER TABLE document_counts ENABLE ROW LEVEL SECURITY;
    ALTER TABLE document_counts FORCE ROW LEVEL SECURITY;
    CREATE POLICY document_counts_app ON document_counts FOR SELECT TO {{app}} USING ({BOUND});
    CREATE POLICY document_counts_admin ON document_counts TO {{admin}}
        USING (true) WITH CHECK (true);
    GRANT SELECT ON document_counts TO {{app}};
    GRANT SELECT, INSERT, UPDATE, DELETE ON document_counts TO {{admin}};
    CREATE FUNCTION count_document() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = pg_catalog, public AS $$
    BEGIN
        INSERT INTO public.document_counts AS c (tenant_id, documents)
            VALUES (NEW.tenant_id, 1)
            ON CONFLICT (tenant_id) DO UPDATE SET documents = c.documents + 1;
        RETURN NEW;
    END $$;
    CREATE TRIGGER documents_counted AFTER INSERT ON documents
        FOR EACH ROW EXECUTE FUNCTION count_document();
    CREATE VIEW my_documents WITH (security_barrier = true)
        AS SELECT * FROM documents WHERE {BOUND} WITH CASCADED CHECK OPTION;
    GRANT SELECT, INSERT, UPDATE ON my_documents TO {{app}};
    CREATE VIEW my_recent_documents AS SELECT * FROM my_documents WITH CASCADED CHECK OPTION;
    GRANT SELECT, INSERT ON my_recent_documents TO {{app}};
    CREATE FUNCTION same_text(a text, b text) RETURNS boolean LANGUAGE sql IMMUTABLE
        LEAKPROOF AS $$ SELECT a = b $$;
    CREATE FUNCTION set_tenant(tenant uuid) RETURNS void LANGUAGE sql
        AS $$ SELECT set_config('app.current_tenant_id', tenant::text, true) $$;
    ALTER ROLE {{app}} SET app.current_tenant_id = '';
    """,
)

DOORS_BROKEN = [
    case(
        "definer-reads-by-a-tenant-parameter",
        """
        CREATE FUNCTION tenant_titles(p_tenant uuid) RETURNS SETOF text LANGUAGE sql STABLE
            SECURITY DEFINER SET search_path = pg_catalog, public
            AS $$ SELECT title FROM public.documents WHERE tenant_id = p_tenant $$;
        """,
        "RG503 public.tenant_titles(p_tenant uuid)",
    ),
    case(
        "definer-writes-for-a-tenant-parameter",
        """
        CREATE FUNCTION add_document(p_tenant uuid, p_user uuid, p_title text) RETURNS uuid
            LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
            INSERT INTO public.documents (tenant_id, user_id, title, content_hash)
            VALUES (p_tenant, p_user, p_title, md5(p_title)) RETURNING document_id $$;
        """,
        "RG503 public.add_document(p_tenant uuid, p_user uuid, p_title text)",
    ),
    case(
        "definer-updates-any-tenant's-row",
        """
        CREATE FUNCTION rename_document(id uuid, new_title text) RETURNS void LANGUAGE sql
            SECURITY DEFINER SET search_path = pg_catalog, public
            AS $$ UPDATE public.documents SET title = new_title WHERE document_id = id $$;
        """,
        "RG503 public.rename_document(id uuid, new_title text)",
    ),
    case(
        "definer-falls-back-to-every-tenant",  # with no tenant set, COALESCE matches any
        """
        CREATE FUNCTION document_title(id uuid) RETURNS text LANGUAGE sql STABLE
            SECURITY DEFINER SET search_path = pg_catalog, public AS $$
            SELECT title FROM public.documents WHERE document_id = id AND tenant_id =
                coalesce(nullif(current_setting('app.current_tenant_id', true), '')::uuid, tenant_id)
        $$;
        """,
        "RG503 public.document_title(id uuid)",
    ),
    case(
        "definer-runs-dynamic-sql",
        f"""
        CREATE FUNCTION count_rows(relation text) RETURNS bigint LANGUAGE plpgsql STABLE
            SECURITY DEFINER SET search_path = pg_catalog, public AS $$
        DECLARE found bigint;
        BEGIN
            EXECUTE format('SELECT count(*) FROM %I WHERE {BOUND.replace("'", "''")}', relation)
                INTO found;
            RETURN found;
        END $$;
        """,
        "RG503 public.count_rows(relation text)",
    ),
    case(
        "definer-trigger-touches-other-tenants",
        """
        CREATE FUNCTION retitle_duplicates() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
            SET search_path = pg_catalog, public AS $$
        BEGIN
            UPDATE public.documents SET title = NEW.title
                WHERE content_hash = NEW.content_hash AND document_id <> NEW.document_id;
            RETURN NEW;
        END $$;
        CREATE TRIGGER documents_retitled AFTER INSERT ON documents
            FOR EACH ROW EXECUTE FUNCTION retitle_duplicates();
        """,
        "RG507 public.documents",
    ),
    case(
        "leakproof-function-that-casts",
        """
        CREATE FUNCTION numbered(value text) RETURNS boolean LANGUAGE sql IMMUTABLE
            LEAKPROOF AS $$ SELECT value::integer > 0 $$;
        """,
        "RG511 public.numbered(value text)",
    ),
    case(
        "leakproof-function-that-raises",
        """
        CREATE FUNCTION checked(value text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE
            LEAKPROOF AS $$
        BEGIN
            IF value = '' THEN RAISE EXCEPTION 'empty value: %', value; END IF;
            RETURN true;
        END $$;
        """,
        "RG511 public.checked(value text)",
    ),
    case(
        "leakproof-cheap-function-that-notices",  # cheap: the planner runs it before RLS
        """
        CREATE FUNCTION noticed(value text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE
            LEAKPROOF COST 1 AS $$
        BEGIN
            RAISE NOTICE 'looking at %', value;
            RETURN true;
        END $$;
        """,
        "RG511 public.noticed(value text)",
    ),
    case(
        "view-writable-without-check-option",
        f"""
        CREATE VIEW my_documents WITH (security_barrier = true)
            AS SELECT * FROM documents WHERE {BOUND};
        GRANT SELECT, INSERT, UPDATE ON my_documents TO {{app}};
        """,
        "RG508 public.my_documents",
    ),
    case(
        "nested-view-with-a-local-check-option",  # LOCAL checks only the outer view's WHERE
        f"""
        CREATE VIEW filtered_documents WITH (security_barrier = true)
            AS SELECT * FROM documents WHERE {BOUND};
        CREATE VIEW my_documents AS SELECT * FROM filtered_documents WITH LOCAL CHECK OPTION;
        GRANT SELECT, INSERT ON my_documents TO {{app}};
        """,
        "RG508 public.my_documents",
    ),
    case(
        "trigger-granted",
        "GRANT TRIGGER ON documents TO {app};",
        "RG506 public.documents",
    ),
    case(
        "set-tenant-for-the-session",
        """
        CREATE FUNCTION set_tenant(tenant uuid) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM set_config('app.current_tenant_id', tenant::text, false);
        END $$;
        """,
        "RG509 public.set_tenant(tenant uuid)",
    ),
    case(
        "tenant-default-for-the-database",
        """
        DO $$ BEGIN
            EXECUTE format('ALTER DATABASE %I SET app.current_tenant_id = %L',
                           current_database(), '00000000-0000-0000-0000-000000000002');
        END $$;
        """,
        "RG510 {app}",
    ),
    case(
        "tenant-default-for-the-role",
        "ALTER ROLE {app} SET app.current_tenant_id = '00000000-0000-0000-0000-000000000001';",
        "RG510 {app}",
    ),
]
