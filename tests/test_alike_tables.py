"""Tenant tables whose row security is the same are probed once (probes/alike.py): a
property that row security alone decides, proven on one of them, holds on the others; a
table that differs in anything that may decide its rows is probed on its own, and a broken
one still fails."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import psycopg2.extensions
import pytest
from hypothesis import settings

from rlsguard.analyzer import scan
from rlsguard.findings import Outcome
from rlsguard.probes import all_probes
from rlsguard.probes.alike import AlikeTables
from rlsguard.probes.registry import PROBES, Probe, ProbeFailure
from rlsguard.probes.runner import ALIKE_EXAMPLES, ProbeResult, ProbeRunner
from rlsguard.run import Run
from rlsguard.schema.targets import tenant_tables
from rlsguard.server.databases import connected
from tests.corpus.cases import BOUND, case, tenant_bound
from tests.corpus.harness import BuildCase, acting_connections

pytestmark = [pytest.mark.slow]


def _table(name: str, extra: str = "") -> str:
    return (
        f"CREATE TABLE {name} (\n"
        f"    {name}_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),\n"
        "    tenant_id uuid NOT NULL REFERENCES tenants ON DELETE CASCADE,\n"
        f"    body text NOT NULL{extra}\n);\n"
    )


ALIKE = case(
    "alike-tables",
    _table("notes")
    + tenant_bound("notes")
    # alike too, with documents' foreign key to users: its side channel (RP108) is alike
    + _table(
        "drafts",
        ",\n    user_id uuid NOT NULL,\n"
        "    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id)",
    )
    + tenant_bound("drafts")
    # alike in row security, but its key to users leaves the tenant out (RP108 fails)
    + _table("pointing", ",\n    user_id uuid NOT NULL REFERENCES users (user_id)")
    + tenant_bound("pointing")
    # documents' key, checked at commit; and a key of its own rows
    + _table(
        "postponed",
        ",\n    user_id uuid NOT NULL,\n"
        "    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) "
        "DEFERRABLE INITIALLY DEFERRED",
    )
    + tenant_bound("postponed")
    + _table(
        "threads",
        ",\n    user_id uuid NOT NULL,\n"
        "    FOREIGN KEY (tenant_id, user_id) REFERENCES threads (tenant_id, threads_id),\n"
        "    UNIQUE (tenant_id, threads_id)",
    )
    + tenant_bound("threads")
    # the same policies' names and grants, but the application's policy lets every row through
    + _table("leaky")
    + "ALTER TABLE leaky ENABLE ROW LEVEL SECURITY; ALTER TABLE leaky FORCE ROW LEVEL SECURITY;\n"
    "CREATE POLICY leaky_app ON leaky TO {app} USING (true) WITH CHECK (true);\n"
    "CREATE POLICY leaky_admin ON leaky TO {admin} USING (true) WITH CHECK (true);\n"
    "GRANT SELECT, INSERT, UPDATE, DELETE ON leaky TO {app}, {admin};\n"
    # alike in its policies, but a trigger, or a CHECK that runs the database's own function
    + _table("triggered")
    + tenant_bound("triggered")
    + "CREATE FUNCTION untouched() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RETURN NEW; END $$;\n"
    "CREATE TRIGGER triggered_untouched BEFORE UPDATE ON triggered "
    "FOR EACH ROW EXECUTE FUNCTION untouched();\n"
    "CREATE FUNCTION tenant_known(uuid) RETURNS boolean LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT $1 IS NOT NULL $$;\n"
    + _table("guarded", ",\n    CHECK (tenant_known(tenant_id))")
    + tenant_bound("guarded")
    # alike, but the database refuses every row the probes make of it
    + _table("refusing", ",\n    CHECK (md5(body) = 'never')")
    + tenant_bound("refusing"),
)

# tables whose rows something besides the compared facts may decide
ODD = case(
    "odd-row-security",
    _table("ruled")
    + tenant_bound("ruled")
    + "CREATE RULE ruled_said AS ON DELETE TO ruled DO ALSO NOTIFY ruled;\n"
    + "".join(
        _table(name) + f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;\n"
        f"CREATE POLICY {name}_app ON {name} TO {{app}} USING ({BOUND} AND tableoid > 0);\n"
        for name in ("by_oid", "by_oid_too")
    )
    # the same text, but on self_read it reads the table itself
    + "".join(
        _table(name) + f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;\n"
        f"CREATE POLICY {name}_app ON {name} TO {{app}} USING ({BOUND} AND EXISTS "
        "(SELECT FROM self_read s WHERE s.body = 'x'));\n"
        for name in ("self_read", "reads_self_read")
    )
    + _table("parent")
    + tenant_bound("parent")
    + "CREATE TABLE child () INHERITS (parent);\n"
    + tenant_bound("child")
    + _table("narrowed")
    + tenant_bound("narrowed")
    + "GRANT SELECT (body) ON narrowed TO {group};\n"
    # the tenants' table, and one with its shape and row security
    + "CREATE TABLE tenant_twins (tenant_id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
    "name text NOT NULL);\n"
    "ALTER TABLE tenant_twins ENABLE ROW LEVEL SECURITY;\n"
    "ALTER TABLE tenant_twins FORCE ROW LEVEL SECURITY;\n"
    f"CREATE POLICY tenant_twins_app ON tenant_twins FOR SELECT TO {{app}} USING ({BOUND});\n"
    "CREATE POLICY tenant_twins_admin ON tenant_twins TO {admin} USING (true) "
    "WITH CHECK (true);\n"
    "GRANT SELECT ON tenant_twins TO {app};\n"
    "GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_twins TO {admin};\n"
    + _table("twin")
    + tenant_bound("twin")
    # the same policy on a column that compares otherwise (a collation of its own)
    + "".join(
        _table(name, extra) + f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;\n"
        f"CREATE POLICY {name}_app ON {name} TO {{app}} USING ({BOUND} AND body <> 'x');\n"
        for name, extra in (("labelled", ""), ("labelled_c", ' COLLATE "C"'))
    ),
)
# documents, users and 20 notes tables: one group, cut into parts when spread over workers
MANY = case(
    "many-alike-tables",
    "".join(
        _table(f"note_{number:02d}") + tenant_bound(f"note_{number:02d}") for number in range(1, 21)
    ),
)
ALIKE_PROBES = [
    probe
    for probe in all_probes()
    if probe.same_on_alike_tables and not probe.alike_by_foreign_keys
]
MakeRunner = Callable[..., ProbeRunner]


@pytest.fixture
def runner_for(rlsguard_run: Run, case_database: BuildCase) -> Iterator[MakeRunner]:
    opened: list[psycopg2.extensions.connection] = []

    def make(built_case: object, spread_over: int = 1, **overrides: object) -> ProbeRunner:
        built = case_database(built_case, **overrides)
        with connected(built.url) as connection:
            tenancy = scan(connection, built.settings).tenancy
        connections = acting_connections(rlsguard_run, built.url, tenancy)
        opened.extend(connections.values())
        profile = settings(max_examples=8)
        return ProbeRunner(tenancy, connections, profile, spread_over=spread_over)

    yield make
    for connection in opened:
        connection.close()


def test_alike_tables_are_grouped_by_what_decides_their_rows(runner_for: MakeRunner) -> None:
    runner = runner_for(ALIKE)
    alike = runner.alike
    assert {table: alike.model_of(table) for table in tenant_tables(runner.tenancy)} == {
        "public.documents": None,  # the first of its group
        "public.notes": "public.documents",
        "public.drafts": "public.documents",
        "public.pointing": "public.documents",
        "public.postponed": "public.documents",
        "public.threads": "public.documents",
        "public.users": "public.documents",
        "public.leaky": None,
        "public.triggered": None,
        "public.guarded": None,
        "public.refusing": "public.documents",
        "public.tenants": None,  # the tenants' own table is made differently
    }
    by_keys = {
        table: alike.model_of(table, foreign_keys=True) for table in tenant_tables(runner.tenancy)
    }
    assert by_keys["public.drafts"] == "public.documents"
    for table in ("documents", "pointing", "postponed", "threads", "leaky", "triggered"):
        assert by_keys[f"public.{table}"] is None, table


def test_what_else_may_decide_rows_keeps_a_table_to_itself(runner_for: MakeRunner) -> None:
    tenancy = runner_for(ODD).tenancy
    alike = AlikeTables(tenancy, tenant_tables(tenancy))
    models = {table: alike.model_of(table) for table in tenant_tables(tenancy)}
    assert models["public.twin"] == "public.documents"  # the control: alike
    assert "public.child" not in models  # an inheritance child is probed through its parent
    for table in (
        "ruled", "by_oid", "by_oid_too", "self_read", "parent", "narrowed", "tenants", "labelled_c"
    ):  # fmt: skip
        assert models[f"public.{table}"] is None, table


def test_a_pass_is_proven_once_and_a_broken_alike_table_still_fails(runner_for: MakeRunner) -> None:
    runner = runner_for(ALIKE)
    judged: list[tuple[str, str]] = []
    judge = runner._judge

    def counted(probe: Probe, target: str, company: object) -> ProbeResult:
        judged.append((probe.id, target))
        return judge(probe, target, company)

    runner._judge = counted
    results = {
        (probe.id, table): runner.run(probe, f"public.{table}", company=ALIKE_PROBES)
        for table in ("notes", "documents", "leaky", "triggered", "guarded", "refusing")
        for probe in ALIKE_PROBES
        if table != "refusing" or probe.id == "RP101"
    }
    for probe in ALIKE_PROBES:
        # notes comes first: its model is proven in full then (and its own turn reuses that
        # proof), and notes itself in a few examples
        notes, documents = results[(probe.id, "notes")], results[(probe.id, "documents")]
        assert documents.status is Outcome.PASS, documents.message
        assert documents.proven_on is None
        assert documents.witnessed >= 1
        assert notes.status is Outcome.PASS
        assert notes.proven_on == "public.documents"
        assert 1 <= notes.witnessed <= notes.examples <= ALIKE_EXAMPLES < documents.examples
        for table in ("triggered", "guarded"):
            own = results[(probe.id, table)]
            assert (own.proven_on, own.examples >= 1) == (None, True), (probe.id, table)
    in_full = [
        (probe.id, f"public.{table}")
        for table in ("documents", "leaky", "triggered", "guarded")
        for probe in ALIKE_PROBES
    ]
    assert sorted(judged) == sorted([*in_full, ("RP101", "public.refusing")])  # notes never
    # a table alike to documents whose rows cannot be made is not proven by documents
    refusing = results[("RP101", "refusing")]
    assert refusing.status is Outcome.CANNOT
    assert refusing.proven_on is None
    assert "violates check constraint" in (refusing.message or "")
    leaky = results[("RP101", "leaky")]
    assert leaky.status is Outcome.FAIL
    assert leaky.proven_on is None
    assert "public.leaky that are not its own" in (leaky.message or "")


def test_every_table_is_probed_when_the_config_says_so(runner_for: MakeRunner) -> None:
    runner = runner_for(ALIKE, probe_every_table=True)
    assert all(runner.alike.model_of(table) is None for table in tenant_tables(runner.tenancy))
    result = runner.run(PROBES["RP101"], "public.notes", company=ALIKE_PROBES)
    assert result.status is Outcome.PASS
    assert result.proven_on is None
    assert result.witnessed >= 1


def test_a_failure_on_the_first_table_leaves_each_alike_table_to_its_own_probe(
    runner_for: MakeRunner,
) -> None:
    broken = case(
        "alike-but-all-open",
        _table("notes")
        + tenant_bound("notes")
        + "CREATE POLICY documents_open ON documents TO {app} USING (true);\n"
        "CREATE POLICY notes_open ON notes TO {app} USING (true);\n",
    )
    runner = runner_for(broken)
    assert runner.alike.model_of("public.notes") == "public.documents"
    notes = runner.run(PROBES["RP101"], "public.notes", company=ALIKE_PROBES)
    assert notes.status is Outcome.FAIL
    assert notes.proven_on is None
    assert "public.notes that are not its own" in (notes.message or "")


def test_only_a_pass_is_carried(runner_for: MakeRunner) -> None:
    """Had documents failed, notes is probed in full, whatever its few examples show."""
    runner = runner_for(ALIKE)
    judge = runner._judge

    def failing_on_documents(probe: Probe, target: str, company: object) -> ProbeResult:
        result = judge(probe, target, company)
        if target != "public.documents":
            return result
        return dataclasses.replace(result, status=Outcome.FAIL, message="made up")

    runner._judge = failing_on_documents
    notes = runner.run(PROBES["RP101"], "public.notes", company=ALIKE_PROBES)
    assert notes.status is Outcome.PASS
    assert notes.proven_on is None
    assert notes.examples > ALIKE_EXAMPLES


def test_a_failure_in_an_alike_tables_own_examples_stands(runner_for: MakeRunner) -> None:
    """A failure the few examples of notes showed stands, even when its full run does not
    find it again (here the few examples' failure is made up)."""
    runner = runner_for(ALIKE)
    together = runner._prove_together

    def failing_in_few(
        target: str, probes: list[Probe], examples: int | None = None
    ) -> tuple[dict[str, ProbeResult], dict[str, ProbeFailure]]:
        passes, failures = together(target, probes, examples)
        if target == "public.notes" and examples == ALIKE_EXAMPLES:
            passes.pop("RP101", None)
            failures["RP101"] = ProbeFailure("made up: tenant A read a row of tenant B")
        return passes, failures

    runner._prove_together = failing_in_few
    notes = runner.run(PROBES["RP101"], "public.notes", company=ALIKE_PROBES)
    assert notes.status is Outcome.FAIL
    assert notes.proven_on is None
    assert "made up" in (notes.message or "")
    assert "did not find it again" in (notes.message or "")


def test_an_alike_tables_carried_properties_share_no_full_run(runner_for: MakeRunner) -> None:
    """On drafts, every property documents proves (its foreign key to users is alike, so
    the side channel RP108 too) runs in a few shared examples. On pointing, whose key to
    users is not, RP108 runs in full without the others, and fails."""
    runner = runner_for(ALIKE)
    together = runner._prove_together
    runs: list[tuple[str, int | None, tuple[str, ...]]] = []

    def recorded(
        target: str, probes: list[Probe], examples: int | None = None
    ) -> tuple[dict[str, ProbeResult], dict[str, ProbeFailure]]:
        runs.append((target, examples, tuple(sorted(probe.id for probe in probes))))
        return together(target, probes, examples)

    runner._prove_together = recorded
    company = list(all_probes())
    on_drafts = [probe for probe in company if "public.drafts" in probe.objects(runner.tenancy)]
    assert PROBES["RP108"] in on_drafts
    results = {probe.id: runner.run(probe, "public.drafts", company=company) for probe in on_drafts}
    assert all(result.status is Outcome.PASS for result in results.values()), results
    assert results["RP108"].proven_on == "public.documents"
    carried = tuple(sorted(probe.id for probe in ALIKE_PROBES if probe.shares_rows))
    drafts_runs = [(examples, ids) for target, examples, ids in runs if target == "public.drafts"]
    assert drafts_runs == [(ALIKE_EXAMPLES, tuple(sorted((*carried, "RP108"))))]
    assert [target for target, examples, _ in runs if examples is None] == ["public.documents"]

    runs.clear()
    pointing = {
        probe.id: runner.run(probe, "public.pointing", company=company) for probe in on_drafts
    }
    side_channel = pointing.pop("RP108")
    assert side_channel.status is Outcome.FAIL
    assert side_channel.proven_on is None
    assert "another tenant's row of public.users" in (side_channel.message or "")
    assert all(pointing[probe.id].proven_on == "public.documents" for probe in ALIKE_PROBES)
    pointing_runs = [
        (examples, ids) for target, examples, ids in runs if target == "public.pointing"
    ]
    assert (ALIKE_EXAMPLES, carried) in pointing_runs
    assert all(
        examples == ALIKE_EXAMPLES or set(ids).isdisjoint(carried)
        for examples, ids in pointing_runs
    )


def test_spread_over_workers_a_big_group_is_proven_once_a_part(runner_for: MakeRunner) -> None:
    """With two workers the group of 22 tables is cut into two parts of consecutive tables,
    each proven on its own first table, so that a worker proves what it reports."""
    runner = runner_for(MANY, spread_over=2)
    tables = tenant_tables(runner.tenancy)
    alone = AlikeTables(runner.tenancy, tables)
    group = [table for table in tables if alone.model_of(table) == "public.documents"]
    group.insert(0, "public.documents")
    assert len(group) == 22
    assert AlikeTables(runner.tenancy, tables, spread_over=1).model_of(group[-1]) == group[0]
    spread = runner.alike
    firsts = [table for table in group if spread.model_of(table) is None]
    assert firsts == [group[0], group[11]]
    part_of = {table: firsts[index >= 11] for index, table in enumerate(group)}
    for table in group:
        assert spread.model_of(table) in (None, part_of[table]), table
        by_keys = spread.model_of(table, foreign_keys=True)
        assert by_keys is None or part_of[by_keys] == part_of[table], table

    member = group[12]
    result = runner.run(PROBES["RP101"], member, company=ALIKE_PROBES)
    assert result.status is Outcome.PASS, result.message
    assert result.proven_on == group[11]
    assert ("RP101", "public.documents") not in runner._results  # the other part's
