"""The schema fingerprint sees every kind of change a migration can make (and forget to
undo), and is the same for the same schema built twice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rlsguard.run import Run
from rlsguard.schema.fingerprint import SECTIONS, Fingerprint
from rlsguard.server.databases import connected
from tests.conftest import execute

BASE_SCHEMA = """
CREATE TABLE tenants (tenant_id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE notes (
    note_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id),
    body text DEFAULT '' NOT NULL,
    CONSTRAINT body_short CHECK (length(body) < 1000)
);
CREATE INDEX notes_tenant ON notes (tenant_id);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_isolation ON notes
    USING (tenant_id = current_setting('app.current_tenant_id', true)::uuid);
CREATE VIEW note_bodies AS SELECT body FROM notes;
CREATE FUNCTION note_count() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT count(*) FROM notes';
CREATE TYPE mood AS ENUM ('calm', 'busy');
CREATE SEQUENCE ticket_numbers START 100;
CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
"""

CHANGES = {
    "column type": (
        "ALTER TABLE tenants ALTER COLUMN name TYPE varchar(200)",
        "changed: column public.tenants.name",
    ),
    "nullability": (
        "ALTER TABLE notes ALTER COLUMN body DROP NOT NULL",
        "changed: column public.notes.body",
    ),
    "default": (
        "ALTER TABLE notes ALTER COLUMN body SET DEFAULT 'x'",
        "changed: column public.notes.body",
    ),
    "new column": (
        "ALTER TABLE notes ADD COLUMN extra int",
        "left behind: column public.notes.extra",
    ),
    "index": ("DROP INDEX notes_tenant", "missing: index public.notes_tenant"),
    "unique index": (
        "CREATE UNIQUE INDEX notes_body ON notes (body)",
        "left behind: index public.notes_body",
    ),
    "check constraint": (
        "ALTER TABLE notes DROP CONSTRAINT body_short",
        "missing: constraint public.notes.body_short",
    ),
    "foreign key": (
        "ALTER TABLE notes DROP CONSTRAINT notes_tenant_id_fkey",
        "missing: constraint public.notes.notes_tenant_id_fkey",
    ),
    "rls enabled": ("ALTER TABLE notes DISABLE ROW LEVEL SECURITY", "changed: table public.notes"),
    "rls forced": ("ALTER TABLE notes FORCE ROW LEVEL SECURITY", "changed: table public.notes"),
    "policy expression": (
        "ALTER POLICY notes_isolation ON notes USING (true)",
        "changed: policy public.notes.notes_isolation",
    ),
    "policy roles": (
        "ALTER POLICY notes_isolation ON notes TO postgres",
        "changed: policy public.notes.notes_isolation",
    ),
    "policy with check": (
        "ALTER POLICY notes_isolation ON notes WITH CHECK (tenant_id IS NOT NULL)",
        "changed: policy public.notes.notes_isolation",
    ),
    "grant": (
        "GRANT SELECT ON notes TO PUBLIC",
        "left behind: grant SELECT on public.notes to PUBLIC",
    ),
    "revoke": (
        "REVOKE TRUNCATE ON notes FROM postgres",
        "missing: grant TRUNCATE on public.notes to postgres",
    ),
    "column grant": (
        "GRANT UPDATE (body) ON notes TO PUBLIC",
        "left behind: grant UPDATE on public.notes(body) to PUBLIC",
    ),
    "function": (
        "CREATE OR REPLACE FUNCTION note_count() RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER "
        "AS 'SELECT count(*) FROM notes'",
        "changed: function public.note_count()",
    ),
    "function grant": (
        "REVOKE EXECUTE ON FUNCTION note_count() FROM PUBLIC",
        "missing: grant EXECUTE on function public.note_count() to PUBLIC",
    ),
    "view": (
        "CREATE OR REPLACE VIEW note_bodies WITH (security_invoker = true) AS SELECT body FROM notes",
        "changed: view public.note_bodies",
    ),
    "trigger": (
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'; "
        "CREATE TRIGGER notes_touch BEFORE UPDATE ON notes FOR EACH ROW EXECUTE FUNCTION touch()",
        "left behind: trigger public.notes.notes_touch",
    ),
    "enum label": ("ALTER TYPE mood ADD VALUE 'angry'", "changed: type public.mood"),
    "sequence": (
        "ALTER SEQUENCE ticket_numbers INCREMENT 5",
        "changed: sequence definition public.ticket_numbers",
    ),
    "schema": ("CREATE SCHEMA archive", "left behind: schema archive"),
    "table in another schema": (
        "CREATE SCHEMA archive; CREATE TABLE archive.old_notes (id int)",
        "left behind: table archive.old_notes",
    ),
    "extension": ("CREATE EXTENSION IF NOT EXISTS citext", "left behind: extension citext"),
    "owner": (
        "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fp_owner') THEN "
        "CREATE ROLE fp_owner; END IF; END$$; ALTER TABLE tenants OWNER TO fp_owner",
        "changed: table public.tenants",
    ),
    "default privileges": (
        "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC",
        "left behind: default privileges for postgres in * on r",
    ),
}


@pytest.fixture
def schema_pair(rlsguard_run: Run) -> Iterator[tuple[str, str]]:
    names = (rlsguard_run.empty_database("fp_a"), rlsguard_run.empty_database("fp_b"))
    for name in names:
        execute(rlsguard_run.url(name), BASE_SCHEMA)
    yield names
    for name in names:
        rlsguard_run.drop(name)


def test_the_same_schema_built_twice_has_the_same_fingerprint(
    rlsguard_run: Run, schema_pair: tuple[str, str]
) -> None:
    first, second = (rlsguard_run.fingerprint(name) for name in schema_pair)
    assert first.differences(second) == []
    assert first.sha256() == second.sha256()
    assert len(first.entries) > 40


def test_the_version_table_is_not_part_of_the_schema(
    rlsguard_run: Run, schema_pair: tuple[str, str]
) -> None:
    fingerprint = rlsguard_run.fingerprint(schema_pair[0])
    assert not [key for key in fingerprint.entries if "alembic_version" in key]


@pytest.mark.parametrize("change", list(CHANGES))
def test_every_kind_of_change_shows(
    rlsguard_run: Run, schema_pair: tuple[str, str], change: str
) -> None:
    statement, expected = CHANGES[change]
    before = rlsguard_run.fingerprint(schema_pair[0])
    execute(rlsguard_run.url(schema_pair[1]), statement)
    after = rlsguard_run.fingerprint(schema_pair[1])
    differences = before.differences(after)
    assert any(line.startswith(expected) for line in differences), differences
    assert before.sha256() != after.sha256()


def test_a_connection_plans_its_reads_once_and_sees_every_change(
    rlsguard_run: Run, schema_pair: tuple[str, str]
) -> None:
    """The roundtrip walk reads three fingerprints a revision on one connection: the
    queries are prepared on the first; after a migration's DEALLOCATE ALL (or DISCARD ALL)
    a read runs them unprepared and the next prepares them again."""
    ours = "FROM pg_prepared_statements WHERE starts_with(name, 'rlsguard_fingerprint')"
    count = f"SELECT count(*) {ours}"
    with connected(rlsguard_run.url(schema_pair[0])) as connection:
        first = rlsguard_run.fingerprint_on(connection)
        connection.exec_driver_sql("ALTER TABLE notes ADD COLUMN extra int")
        connection.commit()
        second = rlsguard_run.fingerprint_on(connection)
        assert first.differences(second) == ["left behind: column public.notes.extra (integer)"]
        assert connection.exec_driver_sql(count).scalar() == len(SECTIONS)
        one = connection.exec_driver_sql(f"SELECT name {ours} ORDER BY name LIMIT 1").scalar()
        connection.exec_driver_sql(f"DEALLOCATE {one}")  # one of them, or all of them
        connection.commit()
        assert rlsguard_run.fingerprint_on(connection) == second
        assert rlsguard_run.fingerprint_on(connection) == second
        assert connection.exec_driver_sql(count).scalar() == 2 * len(SECTIONS) - 1
        connection.rollback()
    assert rlsguard_run.fingerprint(schema_pair[1]) == first


def test_differences_read_as_before_and_after() -> None:
    before = Fingerprint({"table public.a": "rls=off", "index public.i": "CREATE INDEX i"})
    after = Fingerprint({"table public.a": "rls=on", "policy public.a.p": "for ALL"})
    assert before.differences(after) == [
        "missing: index public.i (CREATE INDEX i)",
        "left behind: policy public.a.p (for ALL)",
        "changed: table public.a: rls=off -> rls=on",
    ]
