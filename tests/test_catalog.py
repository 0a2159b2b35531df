"""The catalog read: every kind of record the checks rely on, read right."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rlsguard.run import Run
from rlsguard.schema.catalog import Catalog, Grant, read_catalog
from rlsguard.server.databases import connected
from tests.conftest import execute, query

SCHEMA = """
CREATE TYPE mood AS ENUM ('calm', 'busy');
CREATE DOMAIN short_text AS varchar(20);
CREATE TABLE tenants (tenant_id uuid PRIMARY KEY DEFAULT gen_random_uuid());
CREATE TABLE things (
    thing_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,
    label short_text NOT NULL DEFAULT 'x',
    feeling mood,
    tags text[],
    doubled bigint GENERATED ALWAYS AS (thing_id * 2) STORED,
    CONSTRAINT label_not_blank CHECK (label <> ''),
    UNIQUE (tenant_id, label)
);
CREATE UNIQUE INDEX things_feeling ON things (tenant_id, feeling) WHERE feeling IS NOT NULL;
CREATE TABLE logs (tenant_id uuid, at date) PARTITION BY RANGE (at);
CREATE TABLE logs_2024 PARTITION OF logs FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE things_archive () INHERITS (things);
CREATE VIEW thing_labels WITH (security_invoker = true) AS SELECT label FROM things;
CREATE MATERIALIZED VIEW thing_counts AS SELECT tenant_id, count(*) FROM things GROUP BY tenant_id;
CREATE FUNCTION cat_tenant() RETURNS uuid LANGUAGE sql STABLE LEAKPROOF SECURITY DEFINER
    SET search_path = pg_catalog AS $$ SELECT nullif(current_setting('app.t', true), '')::uuid $$;
ALTER TABLE things ENABLE ROW LEVEL SECURITY;
ALTER TABLE things FORCE ROW LEVEL SECURITY;
CREATE POLICY things_app ON things AS RESTRICTIVE FOR UPDATE TO cat_app
    USING (tenant_id = cat_tenant()) WITH CHECK (tenant_id IN (SELECT tenant_id FROM tenants));
GRANT SELECT, INSERT ON things TO cat_app;
GRANT UPDATE (label) ON things TO cat_app;
GRANT USAGE ON SEQUENCE things_thing_id_seq TO cat_app;
REVOKE EXECUTE ON FUNCTION cat_tenant() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cat_tenant() TO cat_app;
"""


@pytest.fixture(scope="module")
def catalog(rlsguard_run: Run) -> Iterator[Catalog]:
    server = rlsguard_run.server.url
    execute(
        server,
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cat_app') THEN "
        "CREATE ROLE cat_group BYPASSRLS; CREATE ROLE cat_app NOINHERIT IN ROLE cat_group; END IF; END $$",
    )
    name = rlsguard_run.empty_database("catalog")
    execute(rlsguard_run.url(name), SCHEMA)
    with connected(rlsguard_run.url(name)) as connection:
        yield read_catalog(connection)
    rlsguard_run.drop(name)


def test_kinds(catalog: Catalog) -> None:
    kinds = {name: relation.kind for name, relation in catalog.relations.items()}
    assert kinds["public.tenants"] == "table"
    assert kinds["public.logs"] == "partitioned table"
    assert kinds["public.logs_2024"] == "partition"
    assert kinds["public.things_archive"] == "inheritance child"
    assert kinds["public.thing_labels"] == "view"
    assert kinds["public.thing_counts"] == "materialized view"
    assert kinds["public.things_thing_id_seq"] == "sequence"
    assert catalog.relations["public.logs_2024"].parents == ("public.logs",)
    assert catalog.relations["public.things_archive"].parents == ("public.things",)
    assert {table.name for table in catalog.tables()} == {
        "tenants",
        "things",
        "logs",
        "logs_2024",
        "things_archive",
    }


def test_owner_rls_and_options(catalog: Catalog) -> None:
    things = catalog.relations["public.things"]
    assert (things.owner, things.rls_enabled, things.rls_forced) == ("postgres", True, True)
    view = catalog.relations["public.thing_labels"]
    assert view.option("security_invoker") == "true"
    assert view.reads == ("public.things",)
    assert catalog.relations["public.thing_counts"].reads == ("public.things",)


def test_columns(catalog: Catalog) -> None:
    things = catalog.relations["public.things"]
    column = {item.name: item for item in things.columns}
    assert [item.name for item in things.columns] == [
        "thing_id",
        "tenant_id",
        "label",
        "feeling",
        "tags",
        "doubled",
    ]
    assert (column["thing_id"].type, column["thing_id"].identity) == ("bigint", "a")
    assert column["doubled"].generated == "s"
    assert (column["label"].type_kind, column["label"].domain_base, column["label"].default) == (
        "d",
        "character varying(20)",
        "'x'::character varying",
    )
    assert column["label"].not_null
    assert (column["feeling"].type_kind, column["feeling"].enum_labels) == ("e", ("calm", "busy"))
    assert (column["tags"].type, column["tags"].element_type) == ("text[]", "text")
    assert column["label"].grants == (Grant("cat_app", "UPDATE"),)


def test_constraints_and_indexes(catalog: Catalog) -> None:
    things = catalog.relations["public.things"]
    by_kind = {(item.kind, item.columns) for item in things.constraints}
    assert ("p", ("thing_id",)) in by_kind
    assert ("u", ("tenant_id", "label")) in by_kind
    assert ("c", ("label",)) in by_kind
    (fk,) = things.foreign_keys
    assert (fk.columns, fk.references, fk.referenced_columns, fk.on_delete) == (
        ("tenant_id",),
        "public.tenants",
        ("tenant_id",),
        "c",
    )
    partial = next(index for index in things.indexes if index.name == "things_feeling")
    assert (partial.unique, partial.columns, partial.predicate) == (
        True,
        ("tenant_id", "feeling"),
        "(feeling IS NOT NULL)",
    )


def test_policies(catalog: Catalog) -> None:
    (policy,) = catalog.relations["public.things"].policies
    assert (policy.command, policy.permissive, policy.roles) == ("UPDATE", False, ("cat_app",))
    assert policy.using == "(tenant_id = cat_tenant())"
    assert policy.check == "(tenant_id IN ( SELECT tenants.tenant_id\n   FROM tenants))"
    assert policy.reads_tables == ("public.tenants",)
    assert policy.calls_functions == ("public.cat_tenant()",)


def test_roles_and_privileges(catalog: Catalog) -> None:
    app, group = catalog.roles["cat_app"], catalog.roles["cat_group"]
    assert (app.inherit, app.member_of) == (False, ("cat_group",))
    assert (group.bypassrls, group.superuser) == (True, False)
    assert catalog.roles["postgres"].superuser
    things = catalog.relations["public.things"]
    assert {grant.privilege for grant in things.grants if grant.grantee == "cat_app"} == {
        "SELECT",
        "INSERT",
    }
    sequence = catalog.relations["public.things_thing_id_seq"]
    assert Grant("cat_app", "USAGE") in sequence.grants


def test_functions(catalog: Catalog) -> None:
    function = catalog.functions["public.cat_tenant()"]
    assert (function.security_definer, function.leakproof, function.volatility) == (True, True, "s")
    assert function.setting("search_path") == "pg_catalog"
    assert function.owner == "postgres"
    assert "app.t" in function.source
    assert {grant.grantee for grant in function.grants if grant.privilege == "EXECUTE"} == {
        "postgres",
        "cat_app",
    }


def test_foreign_tables_are_read_when_the_server_has_file_fdw(rlsguard_run: Run) -> None:
    available = query(
        rlsguard_run.server.url,
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'file_fdw'",
    )
    name = rlsguard_run.empty_database("foreign")
    try:
        if available == [(1,)]:
            execute(
                rlsguard_run.url(name),
                "CREATE EXTENSION file_fdw; CREATE SERVER files FOREIGN DATA WRAPPER file_fdw; "
                "CREATE FOREIGN TABLE outside (x int) SERVER files OPTIONS (filename '/dev/null')",
            )
        with connected(rlsguard_run.url(name)) as connection:
            catalog = read_catalog(connection)
        expected = {"public.outside": "foreign table"} if available == [(1,)] else {}
        assert {key: value.kind for key, value in catalog.relations.items()} == expected
    finally:
        rlsguard_run.drop(name)
