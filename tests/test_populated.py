"""``rlsguard scan`` on a copy of a database in use: the rows the probes make never collide
with the rows already there, and the probes judge only rows they made."""

from __future__ import annotations

from typing import Any

import pytest

from rlsguard.findings import Outcome
from rlsguard.probes.runner import ProbeResult
from rlsguard.probes.transcript import Session
from rlsguard.run import Run
from tests.conftest import execute, query
from tests.corpus.cases import BOUND, CORRECT, Case, case, tenant_bound
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

# Keys numbered by the server (serial, identity ALWAYS), with rows imported above where
# the sequences stand: a row numbered by a sequence would collide with them.
SEQUENCED_KEYS = case(
    "sequenced-keys",
    """
CREATE TABLE tickets (
    ticket_id serial PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants,
    subject text NOT NULL,
    UNIQUE (tenant_id, ticket_id)
);
CREATE TABLE replies (
    reply_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants,
    ticket_id integer NOT NULL,
    body text NOT NULL,
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets (tenant_id, ticket_id)
);
"""
    + tenant_bound("tickets", "replies"),
)
SEQUENCED_IN_USE = """
INSERT INTO tenants (name, domain) SELECT 'tenant ' || n, 'd' || n || '.example'
    FROM generate_series(1, 4) n;
INSERT INTO tickets (ticket_id, tenant_id, subject)
    SELECT n, (SELECT min(tenant_id::text)::uuid FROM tenants), 'subject ' || n
    FROM generate_series(1, 200) n;
INSERT INTO replies (reply_id, tenant_id, ticket_id, body) OVERRIDING SYSTEM VALUE
    SELECT ticket_id, tenant_id, ticket_id, 'reply' FROM tickets;
"""
SEQUENCES = (
    "SELECT t.last_value, t.is_called, r.last_value, r.is_called"
    " FROM tickets_ticket_id_seq t, replies_reply_id_seq r"
)
KEYS = {"crm.notes": "note_id", "documents": "document_id", "tickets": "ticket_id"}


def results_on(run: Run, built: BuiltCase) -> list[ProbeResult]:
    return run_all_probes(run, built, 10)


def outcomes(results: list[ProbeResult]) -> dict[str, tuple[Outcome, str | None]]:
    return {result.label: (result.status, result.message) for result in results}


def statuses(results: list[ProbeResult], built: BuiltCase) -> dict[str, Outcome]:
    return {result.label.replace(built.names["app"], "{app}"): result.status for result in results}


@pytest.mark.parametrize(
    ("case", "rows", "leaky_table"),
    [
        (INTEGER_KEYS, IN_USE, "crm.notes"),
        (UUID_KEYS, UUID_IN_USE, "documents"),
        (SEQUENCED_KEYS, SEQUENCED_IN_USE, "tickets"),
    ],
    ids=["integer-keys", "uuid-keys", "sequenced-keys"],
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
    # the read asks for the rows the probe made by their keys: the database's own rows
    # are neither read (a populated table is not read whole) nor shown in the evidence
    transcript = read.transcript or ""
    (select,) = [line for line in transcript.splitlines() if line.startswith('SELECT "')]
    assert ") IN (" in select.partition(" WHERE (")[2], transcript
    assert "row(s) the probe did not make" not in transcript
    theirs = query(in_use.url, f"SELECT {KEYS[leaky_table]} FROM {leaky_table}")
    assert not [value for (value,) in theirs if f"({value!r}," in transcript]


def test_keys_numbered_by_the_server_are_numbered_by_rlsguard_and_sequences_stay(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    """Rows imported above where the sequences stand: every probe still acts (none is
    "cannot" for a duplicate key), and no sequence moved (nextval never rolls back)."""
    in_use = case_database(SEQUENCED_KEYS)
    execute(in_use.url, SEQUENCED_IN_USE)
    before = query(in_use.url, SEQUENCES)
    results = results_on(rlsguard_run, in_use)
    cannot = [f"{r.label}: {r.message}" for r in results if r.status is Outcome.CANNOT]
    assert cannot == []
    assert {r.label for r in results} >= {
        "rls[public.tickets-cross-tenant-insert]",
        "rls[public.replies-cross-tenant-update]",
    }
    assert query(in_use.url, SEQUENCES) == before


def test_a_blanket_update_stopped_by_rows_already_there_is_no_pass(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    """Any ticket may be updated, as long as the new row is the tenant's: the takeover
    UPDATE is stopped by the replies of the tickets already there (a foreign key), which
    judges nothing, so the probe must not pass on the strength of its by-key UPDATE."""
    in_use = case_database(SEQUENCED_KEYS)
    execute(in_use.url, SEQUENCED_IN_USE)
    execute(
        in_use.url,
        f"CREATE POLICY tickets_edit ON tickets FOR UPDATE TO {in_use.names['app']}"
        f" USING (true) WITH CHECK ({BOUND})",
    )
    (update,) = [
        result
        for result in results_on(rlsguard_run, in_use)
        if result.label == "rls[public.tickets-cross-tenant-update]"
    ]
    assert update.status in (Outcome.FAIL, Outcome.CANNOT), update.message


def test_a_populated_table_is_read_only_for_the_rows_the_probes_made(
    rlsguard_run: Run, case_database: BuildCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reads that judge rows (a tenant's, an admin's, the stateful model's) ask for
    the rows the example made by their keys: with 300 rows already in each table, no
    answer carries them all (an admin's read of the whole table did, in every example)."""
    in_use = case_database(INTEGER_KEYS)
    execute(in_use.url, IN_USE)
    largest: list[tuple[int, str]] = []
    attempt = Session.attempt

    def counted(self: Session, statement: Any, params: Any = None) -> Any:
        answer = attempt(self, statement, params)
        largest.append((len(answer.rows), self.transcript.steps[-1].statement[:120]))
        return answer

    monkeypatch.setattr(Session, "attempt", counted)
    results = results_on(rlsguard_run, in_use)
    judged = {r.label for r in results if r.status is Outcome.PASS}
    assert {
        "rls[crm.notes-admin-bypass]",
        "rls[crm.notes-cross-tenant-read]",
        "rls[crm.notes-own-rows-visible]",
        "rls[tenant-tables-stateful]",
    } <= judged, outcomes(results)
    assert max(largest) < (50, ""), max(largest)
