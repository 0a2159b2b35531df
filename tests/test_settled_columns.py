"""Columns nothing reads are not drawn: each row gets one valid value for them, and the
probes spend their draws on the columns that decide who reads or writes a row."""

from __future__ import annotations

import pytest

from rlsguard.probes.plans import Planner
from rlsguard.run import Run
from tests.corpus.cases import Case
from tests.corpus.harness import Analyze, BuildCase, run_probe

pytestmark = pytest.mark.slow

TENANT = "tenant_id = nullif(current_setting('app.tenant', true), '')::uuid"
NOTES = Case(
    "notes-with-columns-nothing-reads",
    base=f"""
CREATE TYPE mood AS ENUM ('calm', 'busy');
CREATE TABLE tenants (tenant_id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE notes (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants,
    body text NOT NULL,
    extra jsonb,
    weight integer NOT NULL,
    title varchar(20) NOT NULL,
    shared boolean NOT NULL,
    slug text NOT NULL UNIQUE,
    rating integer NOT NULL CHECK (rating BETWEEN 1 AND 5),
    kind mood NOT NULL
);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY notes_app ON notes TO {{app}} USING ({TENANT} OR shared) WITH CHECK ({TENANT});
GRANT SELECT ON tenants TO {{app}};
GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO {{app}};
""",
    settings={"tenant_setting": "app.tenant"},
)
SETTLED = {"body": "", "extra": None, "weight": 0, "title": ""}
DRAWN = {"shared", "slug", "rating", "kind"}  # a policy's, unique, checked, an enum


@pytest.mark.parametrize(
    ("more", "settled"),
    [
        ("", SETTLED),
        (  # what a view shows, or filters on, may depend on a column it names
            "CREATE VIEW heavy_notes AS SELECT id FROM notes WHERE weight > 3;",
            {"body": "", "extra": None, "title": ""},
        ),
        (  # a unique index on an expression holds the columns it reads
            "CREATE UNIQUE INDEX notes_body ON notes (lower(body));",
            {"extra": None, "weight": 0, "title": ""},
        ),
        (  # so does one on a generated column
            "ALTER TABLE notes ADD COLUMN title_key text GENERATED ALWAYS AS (upper(title)) "
            "STORED; CREATE UNIQUE INDEX notes_title ON notes (title_key) WHERE weight > 0;",
            {"body": "", "extra": None},
        ),
        (  # a function's body may filter on a column (a definer function's leak)
            "CREATE FUNCTION heavy(p uuid) RETURNS SETOF uuid LANGUAGE sql STABLE "
            "SECURITY DEFINER AS 'SELECT id FROM notes WHERE tenant_id = p AND weight > 0';",
            {"body": "", "extra": None, "title": ""},
        ),
        (  # a trigger may read any column of the row
            "CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RETURN NEW; END $$; "
            "CREATE TRIGGER stamp BEFORE INSERT ON notes FOR EACH ROW EXECUTE FUNCTION stamp();",
            {},
        ),
        (  # so may a function a policy calls
            "CREATE FUNCTION visible(uuid) RETURNS boolean LANGUAGE sql STABLE AS 'SELECT true'; "
            "CREATE POLICY notes_seen ON notes AS RESTRICTIVE TO {app} USING (visible(id));",
            {},
        ),
    ],
    ids=[
        "alone",
        "a view names one",
        "a unique expression",
        "a unique generated column",
        "a function reads one",
        "a trigger",
        "a policy calls a function",
    ],
)
def test_columns_nothing_reads_get_one_value_and_the_rest_are_drawn(
    analyze_case: Analyze, more: str, settled: dict[str, object]
) -> None:
    analysis, _names = analyze_case(
        Case(NOTES.name, more, base=NOTES.base, settings=NOTES.settings)
    )
    plan = Planner(analysis.tenancy).plan("public.notes")
    assert plan.settled == settled
    assert set(plan.strategies) >= DRAWN
    assert not set(plan.strategies) & set(settled)


@pytest.mark.parametrize(
    ("policy", "more", "status"),
    [
        (f"{TENANT} OR shared", "", "fail"),
        (TENANT, "", "pass"),
        (TENANT, "CREATE UNIQUE INDEX notes_body ON notes (lower(body));", "pass"),
    ],
    ids=["open on a flag", "bound to the tenant", "a unique expression"],
)
def test_rows_with_settled_columns_are_made_and_the_flag_a_policy_reads_is_drawn(
    rlsguard_run: Run, case_database: BuildCase, policy: str, more: str, status: str
) -> None:
    """The rows hold the settled values (NOT NULL columns among them) and still meet every
    unique index (few examples are refused for a duplicate); ``shared``, which the policy
    reads, is drawn, so a policy open on it is caught."""
    built = case_database(
        Case(NOTES.name, more, base=NOTES.base.replace(f"{TENANT} OR shared", policy),
             settings=NOTES.settings)
    )  # fmt: skip
    result = run_probe(rlsguard_run, built, "RP101", "public.notes", built.url)
    assert result.status.value == status, result.message
    assert result.witnessed > 0
    # lower(body) of two drawn bodies may collide now and then; with body settled to one
    # value every example of two rows would be refused (555 of 700 when it was)
    assert result.rejected * 2 < result.examples, (result.rejected, result.examples)


def test_a_definer_functions_filter_on_a_column_is_drawn_and_its_leak_caught(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    """A SECURITY DEFINER function that returns another tenant's rows only where a column
    holds some value: with that column settled to 0 it would return nothing, and RP112
    would pass on examples that never met the leak (a user's trial found it)."""
    leaky = (
        "CREATE FUNCTION heavy_notes(p uuid) RETURNS SETOF uuid LANGUAGE sql STABLE "
        "SECURITY DEFINER AS 'SELECT id FROM notes WHERE tenant_id = p AND weight > 0'; "
        "GRANT EXECUTE ON FUNCTION heavy_notes(uuid) TO {app};"
    )
    built = case_database(Case(NOTES.name, leaky, base=NOTES.base, settings=NOTES.settings))
    result = run_probe(rlsguard_run, built, "RP112", "public.heavy_notes(p uuid)", built.url)
    assert result.status.value == "fail", result.message


@pytest.mark.parametrize(
    ("policy", "status"),
    [(f"{TENANT} OR visibility = 'all'", "fail"), (f"{TENANT} AND visibility <> 'hidden'", "pass")],
    ids=["open on a word", "narrowed by a word"],
)
def test_a_text_column_a_policy_compares_with_a_word_meets_that_word(
    rlsguard_run: Run, case_database: BuildCase, policy: str, status: str
) -> None:
    """Random text never is 'all': the words the policies write are drawn too, so a policy
    open to every row whose text column holds one is caught (a user's trial found none of
    the probes did)."""
    base = NOTES.base.replace(
        "    kind mood NOT NULL\n", "    kind mood NOT NULL,\n    visibility text NOT NULL\n"
    )
    built = case_database(
        Case(NOTES.name, base=base.replace(f"{TENANT} OR shared", policy), settings=NOTES.settings)
    )
    result = run_probe(rlsguard_run, built, "RP101", "public.notes", built.url)
    assert result.status.value == status, result.message
