"""``rlsguard scan`` on a copy of a database in use: the rows the probes make never collide
with the rows already there, and the probes judge only rows they made."""

from __future__ import annotations

import pytest

from rlsguard.findings import Outcome
from rlsguard.probes.runner import ProbeResult
from rlsguard.run import Run
from tests.conftest import execute, query
from tests.corpus.cases import CORRECT, Case
from tests.corpus.harness import BuildCase, BuiltCase, run_all_probes

pytestmark = pytest.mark.slow

# Integer keys and integer tenant ids, no tenant table: the shape where generated values
# met real ones (a contact id 1 already taken; a generated tenant 1000001 that is a real
# tenant, whose real rows then showed up as another tenant's).
INTEGER_KEYS = Case(
    "integer-keys",
    "",
    frozenset(),
    """
CREATE SCHEMA crm;
CREATE FUNCTION crm.current_org() RETURNS integer LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('app.org', true), '')::integer $$;
CREATE TABLE crm.contacts (
    contact_id integer PRIMARY KEY,
    org_id integer NOT NULL,
    email text NOT NULL,
    UNIQUE (org_id, email),
    UNIQUE (org_id, contact_id)
);
CREATE TABLE crm.notes (
    note_id bigint PRIMARY KEY,
    org_id integer NOT NULL,
    contact_id integer NOT NULL,
    body text NOT NULL,
    FOREIGN KEY (org_id, contact_id) REFERENCES crm.contacts (org_id, contact_id)
);
ALTER TABLE crm.contacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE crm.contacts FORCE ROW LEVEL SECURITY;
ALTER TABLE crm.notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE crm.notes FORCE ROW LEVEL SECURITY;
CREATE POLICY contacts_svc ON crm.contacts TO {app}
    USING (org_id = crm.current_org()) WITH CHECK (org_id = crm.current_org());
CREATE POLICY notes_svc ON crm.notes TO {app}
    USING (org_id = crm.current_org()) WITH CHECK (org_id = crm.current_org());
CREATE POLICY contacts_ops ON crm.contacts TO {admin} USING (true) WITH CHECK (true);
CREATE POLICY notes_ops ON crm.notes TO {admin} USING (true) WITH CHECK (true);
GRANT USAGE ON SCHEMA crm TO {app}, {admin};
GRANT SELECT, INSERT, UPDATE, DELETE ON crm.contacts, crm.notes TO {app}, {admin};
""",
    {"tenant_column": "org_id", "tenant_setting": "app.org", "schemas": ("crm",)},
)

IN_USE = """
INSERT INTO crm.contacts
    SELECT n, 1000000 + n % 10 + 1, 'person' || n || '@example.com' FROM generate_series(1, 300) n;
INSERT INTO crm.notes
    SELECT n, 1000000 + n % 10 + 1, n, 'note ' || n FROM generate_series(1, 300) n;
"""


# UUID keys and tenants, with a tenant table: generated UUIDs never meet random ones
UUID_KEYS = next(case for case in CORRECT if case.name == "hardened")
UUID_IN_USE = """
INSERT INTO tenants (name, domain) SELECT 'tenant ' || n, 'd' || n || '.example' FROM generate_series(1, 20) n;
INSERT INTO users (tenant_id, email) SELECT tenant_id, 'u' || n || '@example.com'
    FROM tenants, generate_series(1, 5) n;
INSERT INTO documents (tenant_id, user_id, title, content_hash)
    SELECT tenant_id, user_id, 'title', md5(user_id::text) FROM users;
"""


def results_on(run: Run, built: BuiltCase) -> list[ProbeResult]:
    return run_all_probes(run, built, 10)


def outcomes(results: list[ProbeResult]) -> dict[str, tuple[Outcome, str | None]]:
    return {result.label: (result.status, result.message) for result in results}


def statuses(results: list[ProbeResult], built: BuiltCase) -> dict[str, Outcome]:
    return {result.label.replace(built.names["app"], "{app}"): result.status for result in results}


@pytest.mark.parametrize(
    ("case", "rows", "leaky_table"),
    [(INTEGER_KEYS, IN_USE, "crm.notes"), (UUID_KEYS, UUID_IN_USE, "documents")],
    ids=["integer-keys", "uuid-keys"],
)
def test_rows_already_there_are_neither_hit_nor_judged(
    rlsguard_run: Run, case_database: BuildCase, case: Case, rows: str, leaky_table: str
) -> None:
    fresh = case_database(case)
    empty = results_on(rlsguard_run, fresh)
    # a key unique across tenants is a side channel (a warning); nothing else is wrong
    assert {status for status, _ in outcomes(empty).values()} <= {Outcome.PASS, Outcome.WARNING}
    in_use = case_database(case)
    execute(in_use.url, rows)
    assert statuses(results_on(rlsguard_run, in_use), in_use) == statuses(empty, fresh)
    # a real leak is still found with the rows there
    execute(in_use.url, f"ALTER TABLE {leaky_table} DISABLE ROW LEVEL SECURITY")
    qualified = leaky_table if "." in leaky_table else f"public.{leaky_table}"
    (read,) = [
        result
        for result in results_on(rlsguard_run, in_use)
        if result.label == f"rls[{qualified}-cross-tenant-read]"
    ]
    assert read.status is Outcome.FAIL
    assert "rows the probe made for other tenants" in (read.message or "")
    # the evidence shows the rows the probe made, and only counts the database's own
    transcript = read.transcript or ""
    assert "row(s) the probe did not make" in transcript
    key = "note_id" if leaky_table == "crm.notes" else "document_id"
    theirs = query(in_use.url, f"SELECT {key} FROM {leaky_table}")
    assert not [value for (value,) in theirs if f"({value!r}," in transcript]
