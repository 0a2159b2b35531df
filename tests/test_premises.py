"""A pass is a proof: a probe whose premise never held says "cannot", never "pass".

Every INSERT on these schemas is swallowed by a trigger (it returns NULL: no error, no
row), so no probe that judges rows ever has one to judge; and the application may write
every table, so no refusal for lack of privilege stands in for a proof either."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from rlsguard.findings import Outcome
from rlsguard.probes import all_probes
from rlsguard.probes.transcript import refused_setup
from rlsguard.run import Run
from tests.conftest import execute
from tests.corpus.cases import CORRECT
from tests.corpus.doors import DOORS_DONE_RIGHT
from tests.corpus.harness import BuildCase, run_all_probes, run_probe
from tests.corpus.models import CLAIMS_READING_USER_METADATA, MEMBERS

pytestmark = pytest.mark.slow

VANISHING_ROWS = """
CREATE FUNCTION public.swallow_row() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    RETURN NULL;
END
$body$;
DO $body$
DECLARE
    found record;
BEGIN
    FOR found IN
        SELECT c.oid::regclass AS name FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    LOOP
        EXECUTE 'CREATE TRIGGER swallow BEFORE INSERT ON ' || found.name
            || ' FOR EACH ROW EXECUTE FUNCTION public.swallow_row()';
        EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON ' || found.name || ' TO {app}';
    END LOOP;
END
$body$;
"""

# Probes whose proof is not a row: RP110 logs in as the application and tries SET ROLE;
# for RP114 and RP127 a TRUNCATE or CREATE TRIGGER refused for lack of rights is the
# proof, whatever the table holds.
NOT_ABOUT_ROWS = {"RP110", "RP114", "RP127"}


def test_no_probe_passes_when_no_row_can_be_made(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    tried: set[str] = set()
    for case in [*CORRECT, DOORS_DONE_RIGHT, MEMBERS, CLAIMS_READING_USER_METADATA]:
        built = case_database(case)
        execute(built.url, VANISHING_ROWS.replace("{app}", built.names["app"]))
        results = run_all_probes(rlsguard_run, built, 3)
        for result in results:
            if result.probe.id in NOT_ABOUT_ROWS:
                continue
            tried.add(result.probe.id)
            assert result.status is not Outcome.PASS, f"{case.name}: {result.label} passed"
            assert result.witnessed == 0, f"{case.name}: {result.label}"
    assert tried == {probe.id for probe in all_probes()} - NOT_ABOUT_ROWS


@pytest.mark.parametrize("case", CORRECT[:1], ids=["hardened"])
def test_a_pass_counts_the_examples_it_rests_on(
    rlsguard_run: Run, case_database: BuildCase, case: object
) -> None:
    built = case_database(case)
    results = run_all_probes(rlsguard_run, built, 10)
    by_item = {(result.probe.id, result.target): result for result in results}
    for result in results:
        assert result.status is Outcome.PASS, result.message
        # a pass carried from an alike table rests on that table's examples
        proof = by_item[(result.probe.id, result.proven_on or result.target)]
        assert proof.proven_on is None
        assert 0 < proof.witnessed <= proof.examples, result.label
    assert any(result.proven_on for result in results)


def test_every_probe_states_its_premise() -> None:
    assert [probe.id for probe in all_probes() if len(probe.premise) < 20] == []


def test_a_trigger_that_refuses_setup_rows_is_named(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    built = case_database(CORRECT[0])
    execute(
        built.url,
        "CREATE FUNCTION public.refuse_documents() RETURNS trigger LANGUAGE plpgsql AS"
        " $body$ BEGIN RAISE EXCEPTION 'documents are imported, never inserted'; END $body$;"
        " CREATE TRIGGER refuse BEFORE INSERT ON public.documents"
        " FOR EACH ROW EXECUTE FUNCTION public.refuse_documents()",
    )
    result = run_probe(rlsguard_run, built, "RP101", "public.documents", built.url)
    assert result.status is Outcome.CANNOT
    assert "documents are imported, never inserted [SQLSTATE P0001, raised in" in (
        result.message or ""
    )
    assert "refuse_documents()" in (result.message or "")
    counts = re.search(
        r"in (\d+) example\(s\), (\d+) of them ended by a refused setup row", result.message or ""
    )
    assert counts is not None, result.message
    assert int(counts.group(1)) == result.examples >= int(counts.group(2)) > 0
    # sent with other setup rows, and a RAISE names no table: the candidates are named
    assert "cannot generate rows for one of public.tenants, public.users, public.documents" in (
        result.message or ""
    )


def test_a_constraint_that_refuses_setup_rows_is_named_with_the_row(
    rlsguard_run: Run, case_database: BuildCase
) -> None:
    built = case_database(CORRECT[0])
    execute(
        built.url,
        "ALTER TABLE public.documents ADD CONSTRAINT title_is_a_year CHECK (title ~ '^[0-9]{4}$')",
    )
    result = run_probe(rlsguard_run, built, "RP101", "public.documents", built.url)
    assert result.status is Outcome.CANNOT
    message = result.message or ""
    assert "cannot generate rows for public.documents because the database refused one" in message
    assert 'violates check constraint "title_is_a_year" (Failing row contains (' in message


class _Refusal(Exception):
    """What psycopg2 raises, as far as a refusal of setup rows is read."""

    pgcode = "23514"

    def __init__(self, table: str | None) -> None:
        super().__init__('new row violates check constraint "c"')
        schema, name = table.split(".") if table else (None, None)
        self.diag = SimpleNamespace(
            schema_name=schema, table_name=name, context=None, message_detail=None
        )


SENT_TOGETHER = [
    ("public.tenants", "INSERT INTO public.tenants (tenant_id) VALUES (1)"),
    ("public.documents", "INSERT INTO public.documents (title) VALUES ('x')"),
]


def test_the_refused_statement_is_quoted_when_the_error_names_its_table() -> None:
    said = str(refused_setup(_Refusal("public.documents"), SENT_TOGETHER))  # type: ignore[arg-type]
    assert said.startswith("cannot generate rows for public.documents because")
    assert said.endswith("; the statement: INSERT INTO public.documents (title) VALUES ('x')")


def test_without_a_table_named_the_candidates_are() -> None:
    said = str(refused_setup(_Refusal(None), SENT_TOGETHER))  # type: ignore[arg-type]
    assert said.startswith("cannot generate rows for one of public.tenants, public.documents")
    assert "the statement" not in said
