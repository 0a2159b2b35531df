"""Every probe fails, with a readable transcript, on a schema broken in the way it is
about, and holds on the correct schemas of the corpus."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg2
import pytest
from hypothesis import settings

from rlsguard.analyzer import scan
from rlsguard.findings import Outcome
from rlsguard.probes import all_probes, together
from rlsguard.probes.registry import PROBES
from rlsguard.probes.rows import Example, World
from rlsguard.probes.runner import ProbeResult, ProbeRunner
from rlsguard.probes.stateful import VIEWS_CHECKED
from rlsguard.probes.together import SAVEPOINT as SHARED_SAVEPOINT
from rlsguard.probes.together import prove_together
from rlsguard.probes.transcript import StatementCancelled
from rlsguard.run import Run
from rlsguard.server.databases import connected
from rlsguard.server.local import discover_local_binaries
from tests.corpus.cases import BROKEN, Case
from tests.corpus.cases import CORRECT as CORRECT_BASE
from tests.corpus.doors import DOORS_BROKEN, DOORS_DONE_RIGHT
from tests.corpus.harness import BuildCase, BuiltCase, acting_connections, fill
from tests.corpus.models import CLAIMS_TRUSTING_USER_METADATA, MEMBERS_JOINING_ANY

pytestmark = [pytest.mark.slow, pytest.mark.isolation]  # isolation: see test_server_versions.py

CORRECT = [*CORRECT_BASE, DOORS_DONE_RIGHT]
CASES = {
    case.name: case
    for case in (
        *CORRECT,
        *BROKEN,
        *DOORS_BROKEN,
        MEMBERS_JOINING_ANY,
        CLAIMS_TRUSTING_USER_METADATA,
    )
}
EXAMPLES = 10


@dataclass
class Probing:
    built: BuiltCase
    runner: ProbeRunner

    def run(self, probe_id: str, target: str) -> ProbeResult:
        return self.runner.run(PROBES[probe_id], fill(target, self.built.names))


Probe = Callable[..., Probing]


@pytest.fixture
def probing(rlsguard_run: Run, case_database: BuildCase) -> Iterator[Probe]:
    opened: list[psycopg2.extensions.connection] = []

    def make(case: Case, examples: int = EXAMPLES, **runner_options: object) -> Probing:
        built = case_database(case)
        with connected(built.url) as connection:
            tenancy = scan(connection, built.settings).tenancy
        connections = acting_connections(rlsguard_run, built.url, tenancy)
        opened.extend(connections.values())
        profile = settings(settings(), max_examples=examples)
        return Probing(built, ProbeRunner(tenancy, connections, profile, **runner_options))  # type: ignore[arg-type]

    yield make
    for connection in opened:
        connection.close()


BREAKS = [
    (
        "RP101",
        "permissive-true-for-app",
        "public.documents",
        Outcome.FAIL,
        "sees 1 row(s) of public.documents that are not its own",
    ),
    ("RP101", "rls-disabled", "public.documents", Outcome.FAIL, "that are not its own"),
    # a column a policy reads is drawn despite its default (false: the rows never leaked)
    ("RP101", "public-flag-with-a-default", "public.documents", Outcome.FAIL, "not its own"),
    (
        "RP102",
        "with-check-true",
        "public.documents",
        Outcome.FAIL,
        "inserted a row of another tenant into public.documents",
    ),
    ("RP103", "update-policy-open", "public.documents", Outcome.FAIL, "row(s) of other tenants"),
    (
        "RP103",
        "update-open-but-checked",
        "public.documents",
        Outcome.FAIL,
        "to the tenant's own values without WHERE touched",
    ),
    (
        "RP128",
        "policy-ignores-the-tenant",
        "public.documents",
        Outcome.FAIL,
        "through MERGE",
    ),
    (
        "RP104",
        "policy-ignores-the-tenant",
        "public.documents",
        Outcome.FAIL,
        "deleted a row of another tenant",
    ),
    (
        "RP105",
        "update-moves-user-rows",
        "public.users",
        Outcome.FAIL,
        "moved its row of public.users to another tenant",
    ),
    (
        "RP106",
        "fails-open-when-unset",
        "public.documents",
        Outcome.FAIL,
        "with the tenant setting unset",
    ),
    (
        "RP106",
        "tenant-default-for-the-role",
        "public.documents",
        Outcome.FAIL,
        "by default), {app} reads 1 row(s) of public.documents",
    ),
    (
        "RP106",
        "tenant-default-for-the-database",
        "public.documents",
        Outcome.FAIL,
        "by default), {app} reads 1 row(s) of public.documents",
    ),
    (
        "RP106",
        "empty-setting-cast",
        "public.documents",
        Outcome.WARNING,
        "invalid input syntax for type uuid",
    ),
    (
        "RP107",
        "unique-not-scoped",
        "public.users",
        Outcome.WARNING,
        "fails with a duplicate key while a fresh value succeeds",
    ),
    (
        "RP108",
        "foreign-key-only-by-id",
        "public.documents",
        Outcome.FAIL,
        "references another tenant's row of public.users",
    ),
    (
        "RP109",
        "admin-without-policy",
        "public.documents",
        Outcome.FAIL,
        "cannot read every tenant's rows of public.documents",
    ),
    ("RP110", "app-member-of-admin", "{app}", Outcome.FAIL, "can SET ROLE"),
    ("RP110", "app-bypassrls", "{app}", Outcome.FAIL, "row level security is not active"),
    (
        "RP111",
        "view-with-owner-rights",
        "public.document_titles",
        Outcome.FAIL,
        "the view shows other tenants' data",
    ),
    (
        "RP111",
        "materialized-view",
        "public.document_stats",
        Outcome.FAIL,
        "the view shows other tenants' data",
    ),
    (
        "RP112",
        "definer-function-of-a-superuser",
        "public.document_title(id uuid)",
        Outcome.FAIL,
        "answers differently",
    ),
    (
        "RP113",
        "partition-without-rls",
        "public.events_2024",
        Outcome.FAIL,
        "reading public.events_2024 directly",
    ),
    (
        "RP113",
        "inheritance-child-without-rls",
        "public.documents_archive",
        Outcome.FAIL,
        "reading public.documents_archive",
    ),
    (
        "RP114",
        "truncate-granted",
        "public.documents",
        Outcome.FAIL,
        "emptied public.documents for every tenant",
    ),
    (
        "RP112",
        "definer-falls-back-to-every-tenant",
        "public.document_title(id uuid)",
        Outcome.FAIL,
        "with no tenant set, public.document_title(id uuid) answers differently",
    ),
    (
        "RP112",
        "definer-writes-for-a-tenant-parameter",
        "public.add_document(p_tenant uuid, p_user uuid, p_title text)",
        Outcome.FAIL,
        "answers differently",
    ),
    (
        "RP127",
        "trigger-granted",
        "public.documents",
        Outcome.FAIL,
        "attached a trigger to public.documents",
    ),
    (
        "RP112",
        "definer-reads-by-a-tenant-parameter",
        "public.tenant_titles(p_tenant uuid)",
        Outcome.FAIL,
        "answers differently",
    ),
    (
        "RP115",
        "policy-hides-own-rows",
        "public.documents",
        Outcome.WARNING,
        "does not see its own rows of public.documents",
    ),
    (
        "RP112",
        "definer-updates-any-tenant's-row",
        "public.rename_document(id uuid, new_title text)",
        Outcome.FAIL,
        "changed that tenant's rows of public.documents",
    ),
    ("RP120", "permissive-true-for-app", "tenant-tables", Outcome.FAIL, "sees"),
    ("RP120", "admin-without-policy", "tenant-tables", Outcome.FAIL, "does not see"),
    ("RP121", "membership-join-any", "public.memberships", Outcome.FAIL, "joined tenant"),
    (
        "RP123",
        "view-writable-without-check-option",
        "public.my_documents",
        Outcome.FAIL,
        "an INSERT through public.my_documents wrote a row of another tenant into",
    ),
    (
        "RP123",
        "nested-view-with-a-local-check-option",
        "public.my_documents",
        Outcome.FAIL,
        "an INSERT through public.my_documents wrote a row of another tenant into",
    ),
    (
        "RP124",
        "definer-trigger-touches-other-tenants",
        "public.documents",
        Outcome.FAIL,
        "changed rows of another tenant in public.documents",
    ),
    (
        "RP125",
        "leakproof-cheap-function-that-notices",
        "public.noticed(value text)",
        Outcome.FAIL,
        "made it tell another tenant's value",
    ),
    (
        "RP126",
        "set-tenant-for-the-session",
        "public.set_tenant(tenant uuid)",
        Outcome.FAIL,
        "the next request on the connection, setting no tenant, reads",
    ),
    (
        "RP122",
        "jwt-claims-user-metadata",
        "public.notes",
        Outcome.FAIL,
        "with the claims user_metadata.tenant_id set to tenant",
    ),
]


@pytest.mark.parametrize("expected", BREAKS, ids=[f"{probe}-{case}" for probe, case, *_ in BREAKS])
def test_each_probe_catches_its_break(
    probing: Probe, expected: tuple[str, ...], rlsguard_run: Run
) -> None:
    probe_id, _, target, status, message = expected
    probed = broken_case(probing, rlsguard_run, expected)
    assert fill(target, probed.built.names) in PROBES[probe_id].objects(probed.runner.tenancy)
    result = probed.run(probe_id, target)
    assert result.status == status, result.message
    assert fill(message, probed.built.names) in (result.message or "")
    transcript = result.transcript or ""
    assert transcript.startswith(f"-- rlsguard {result.label}")
    assert "BEGIN;" in transcript
    assert transcript.endswith("ROLLBACK;")
    assert "SET LOCAL" in transcript


def broken_case(probing: Probe, rlsguard_run: Run, expected: tuple[str, ...]) -> Probing:
    """The case of a BREAKS entry, built (a skip on a server its probe cannot act on)."""
    probe_id, case_name, *_ = expected
    major = rlsguard_run.server.major
    if major < SINCE.get(probe_id, 0):
        pytest.skip(f"{probe_id} needs PostgreSQL {SINCE[probe_id]}+; this server is {major}")
    return probing(CASES[case_name])


# probes of what older servers do not have
SINCE = {"RP128": 15}  # MERGE
SHARED_BREAKS = [expected for expected in BREAKS if PROBES[expected[0]].shares_rows]


@pytest.mark.parametrize(
    "expected", SHARED_BREAKS, ids=[f"{probe}-{case}" for probe, case, *_ in SHARED_BREAKS]
)
def test_properties_sharing_rows_catch_each_break_on_the_shared_rows(
    probing: Probe, expected: tuple[str, ...], rlsguard_run: Run
) -> None:
    """The shared examples themselves find the failure (not the run alone that follows)."""
    probe_id, _, target, _, message = expected
    probed = broken_case(probing, rlsguard_run, expected)
    runner, table = probed.runner, fill(target, probed.built.names)
    sharing = [
        item for item in all_probes() if item.shares_rows and table in item.objects(runner.tenancy)
    ]
    assert len(sharing) > 1
    tallies = {
        tally.probe.id: tally
        for tally in prove_together(table, sharing, runner.sharing(PROBES[probe_id]))
    }
    found = tallies[probe_id].failure
    assert found is not None, tallies[probe_id]
    assert fill(message, probed.built.names) in found.message
    assert found.transcript.startswith(f"-- rlsguard {PROBES[probe_id].label(table)}")
    assert f"SAVEPOINT {SHARED_SAVEPOINT};" in found.transcript


def test_each_property_runs_alone_when_the_shared_examples_stop(
    probing: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shared run that stops half way (here: a statement cancelled while the fourth
    example's rows are made) vouches for nothing, not even what its first examples
    witnessed; each property is then judged on its own examples."""
    probed = probing(CASES["hardened"])
    runner, table = probed.runner, fill("public.documents", probed.built.names)
    made = []
    make_world = together.make_world

    def cancelled_at_the_fourth(example: Example, table: str) -> World:
        made.append(table)
        if len(made) > 3:
            raise StatementCancelled("a statement was cancelled (canceling statement ...)")
        return make_world(example, table)

    monkeypatch.setattr(together, "make_world", cancelled_at_the_fourth)
    result = runner.run(PROBES["RP101"], table, company=all_probes())
    assert result.status is Outcome.PASS, result.message
    assert result.shared_with == ()
    assert result.witnessed >= 1


def test_a_failure_on_shared_rows_stands_when_the_probe_alone_finds_none(
    probing: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    probed = probing(CASES["permissive-true-for-app"])
    runner, table = probed.runner, fill("public.documents", probed.built.names)

    def passing(probe: object, target: str) -> ProbeResult:
        return ProbeResult(probe, target, Outcome.PASS, None, None, 7, 0.1, None, 7)  # type: ignore[arg-type]

    monkeypatch.setattr(runner, "_run_alone", passing)
    result = runner.run(PROBES["RP101"], table, company=all_probes())
    assert result.status is Outcome.FAIL
    assert "alone, 7 example(s) did not find it again" in (result.message or "")
    assert f"SAVEPOINT {SHARED_SAVEPOINT};" in (result.transcript or "")


def test_merge_is_probed_where_the_server_has_it(probing: Probe, rlsguard_run: Run) -> None:
    tenancy = probing(CASES["policy-ignores-the-tenant"]).runner.tenancy
    targets = PROBES["RP128"].objects(tenancy)
    assert bool(targets) == (rlsguard_run.server.major >= 15), targets


def test_every_probe_has_a_break() -> None:
    assert {probe for probe, *_ in BREAKS} == {probe.id for probe in all_probes()}


@pytest.mark.parametrize("case", CORRECT, ids=[case.name for case in CORRECT])
def test_every_probe_holds_on_the_correct_schemas(probing: Probe, case: Case) -> None:
    runner = probing(case, examples=10).runner
    results = runner.run_all()
    assert len(results) >= 15
    shared = {result.probe.id for result in results if result.shared_with}
    assert shared == {result.probe.id for result in results if result.probe.shares_rows}
    assert len(shared) > 1
    broken = [
        f"{result.label} ({result.status}): {result.message}"
        for result in results
        if result.status != Outcome.PASS
    ]
    assert broken == []


def test_rows_that_cannot_be_made_are_reported_not_crashed(probing: Probe) -> None:
    odd = Case(
        "odd-type",
        """
        CREATE TABLE shapes (
            shape_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id uuid NOT NULL REFERENCES tenants,
            outline polygon NOT NULL
        );
        ALTER TABLE shapes ENABLE ROW LEVEL SECURITY;
        GRANT SELECT ON shapes TO {app};
        """,
    )
    result = probing(odd).run("RP101", "public.shapes")
    assert result.status == Outcome.CANNOT
    assert result.message == (
        "cannot generate rows for public.shapes because column outline has type polygon, "
        "which rlsguard cannot generate"
    )


def test_a_fixed_seed_reproduces_the_run(probing: Probe) -> None:
    """Same seed, same examples, same shrunk transcript (shrinking is given all the time
    it needs here; by default it stops after a few seconds)."""
    probed = probing(CASES["permissive-true-for-app"], fixed_seed=1234, shrink_seconds=300)
    first = probed.run("RP101", "public.documents")
    second = probed.run("RP101", "public.documents")
    assert (first.status, first.seed) == (second.status, second.seed) == (Outcome.FAIL, 1234)
    assert (first.examples, first.message) == (second.examples, second.message)

    def statements(result: ProbeResult) -> list[str]:
        return [
            line for line in (result.transcript or "").splitlines() if not line.startswith("-->")
        ]

    assert statements(first) == statements(second)


def test_the_transcript_replays_in_psql(probing: Probe, rlsguard_run: Run) -> None:
    probed = probing(CASES["permissive-true-for-app"])
    result = probed.run("RP101", "public.documents")
    assert result.status == Outcome.FAIL
    psql = discover_local_binaries()[0].bindir / "psql"
    url = probed.built.url
    replay = subprocess.run(
        [
            str(psql),
            "-X",
            "-h",
            str(url.host),
            "-p",
            str(url.port),
            "-U",
            str(url.username),
            "-d",
            str(url.database),
        ],
        input=result.transcript,
        capture_output=True,
        text=True,
        env={"PGPASSWORD": str(url.password), "PATH": "/usr/bin:/bin"},
        timeout=60,
        check=False,
    )
    assert replay.returncode == 0, replay.stderr
    assert "ERROR" not in replay.stderr, replay.stderr
    expected = [line for line in (result.transcript or "").splitlines() if line.startswith("--> ")][
        -1
    ]
    rows = int(expected.split()[1])
    assert f"({rows} row" in replay.stdout


def test_a_stateful_transcript_is_the_steps_and_the_first_divergence(probing: Probe) -> None:
    """The views that held after each step are left out: what remains is the steps, the
    one read that differs from the model, and the row it shows (one the probe made)."""
    result = probing(CASES["rls-disabled"]).run("RP120", "tenant-tables")
    assert result.status == Outcome.FAIL, result.message
    lines = (result.transcript or "").splitlines()
    reads = [line for line in lines if line.startswith('SELECT "')]
    assert len(reads) == 1, "\n".join(lines)
    assert lines[-3] == reads[0]  # then its answer, and ROLLBACK
    assert f"-- {VIEWS_CHECKED}" in lines[: lines.index(reads[0])]
    assert lines[-2].startswith("--> 1 row: (")
    assert "did not make" not in lines[-2]
