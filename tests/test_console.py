"""``rlsguard check``'s own console, read as a person reads it: a header, a line per
phase, the verdict first, then one block per cause with its fix; no pytest internals and
no alembic logs unless asked for (-v, or pytest arguments after --)."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from rlsguard.config import Allowance
from rlsguard.findings import Finding, Severity
from rlsguard.report.evidence.records import ItemRecord
from rlsguard.report.summary import causes, not_proven, stale_allowances, verdict
from rlsguard.report.verdict import verdict_html
from rlsguard.server import Server
from tests.conftest import VERSIONS
from tests.test_cli import FAST, dsn_of, rlsguard

GOLDEN = Path(__file__).parent / "fixtures" / "console" / "broken_revision.txt"

BROKEN_REVISION = '''"""RLS off on documents, and a downgrade that forgets to turn it back on."""

from alembic import op

revision = "009_documents_without_rls"
down_revision = "008_api_key_tenant_lookup"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("ALTER TABLE documents DISABLE ROW LEVEL SECURITY")


def downgrade():
    pass
'''

PYTEST_INTERNALS = (
    "rootdir:",
    "configfile:",
    "metadata:",
    "plugins:",
    "PASSED",
    "suite.py::",
    "test session starts",
    "[alembic",
    "INFO ",
)


def normalised(output: str, project: Path) -> str:
    """Times, the server's version and address, paths and a probe's drawn values out."""
    text = output.replace(str(project), "<project>")
    text = re.sub(r"on PostgreSQL [^;]+;", "on PostgreSQL <version>;", text)
    text = re.sub(r"ready in [\d.]+ s \(.*\)$", "ready in <t> s (<server>)", text, flags=re.M)
    text = re.sub(r"\(\d+\.\d s\)", "(<t> s)", text)
    text = re.sub(r"0{8}-0{4}-5eed-[0-9a-f-]{17}", "<tenant>", text)
    return re.sub(r"\d+ row\(s\)", "<n> row(s)", text)


@pytest.fixture
def broken_project(project_copy: Callable[..., Path]) -> Path:
    """The platform with one more revision: RLS off on a tenant table (one cause, which
    the static checks and the probes find), and a downgrade that does not undo it."""
    copy = project_copy()
    (copy / VERSIONS / "009_documents_without_rls.py").write_text(BROKEN_REVISION)
    return copy


@pytest.mark.slow
def test_the_console_of_a_broken_revision(broken_project: Path, rlsguard_server: Server) -> None:
    code, output = rlsguard(
        "check", *FAST, "--seed", "7", "--dsn", dsn_of(rlsguard_server), cwd=broken_project
    )
    assert code == 1, output
    for internal in PYTEST_INTERNALS:
        assert internal not in output, internal
    if os.environ.get("RLSGUARD_WRITE_GOLDEN"):  # after a deliberate change of the console
        GOLDEN.write_text(normalised(output, broken_project))
    assert normalised(output, broken_project) == GOLDEN.read_text(), output


@pytest.mark.slow
def test_quiet_says_the_verdict_and_one_line_per_cause(
    broken_project: Path, rlsguard_server: Server
) -> None:
    code, output = rlsguard(
        "check", *FAST, "--seed", "7", "--dsn", dsn_of(rlsguard_server), "-q", cwd=broken_project
    )
    assert code == 1, output
    assert normalised(output, broken_project).splitlines() == [
        "rlsguard: FAIL: 2 cause(s) to fix (158 held (9 of them proven on an alike table), "
        "11 failed, 4 accepted); "
        "report: <project>/reports/rlsguard-report.html",
        "FAIL migration check test_revision_roundtrip[009_documents_without_rls]: downgrade of "
        "009_documents_without_rls did not restore the schema: changed: table public.documents: "
        "owner=postgres rls=on force=on persistence=p options=[] partition_of=[] -> "
        "owner=postgres rls=off force=on persistence=p options=[] partition_of=[]",
        "FAIL RG101 rls-enabled on public.documents (+9 probes): row level security is disabled "
        "on public.documents (carries tenant_id)",
    ]


# -- the blocks, from records alone (no server) ------------------------------------------------


def record(kind: str, *findings: Finding, remediation: str = "", name: str = "") -> ItemRecord:
    return ItemRecord(
        nodeid=f"suite.py::{kind}",
        kind=kind,
        status="fail",
        check=findings[0].check if findings else None,
        object=findings[0].object if findings else None,
        name=name or None,
        message=None if findings else "upgrade of revision 002 failed",
        remediation=remediation,
        findings=[finding.to_json() for finding in findings],
    )


def finding(check: str, target: str, message: str = "", **fields: object) -> Finding:
    return Finding(check, check.lower(), Severity.ERROR, target, message or check, **fields)  # type: ignore[arg-type]


def test_one_block_per_cause_with_the_probes_that_confirm_it() -> None:
    found = causes(
        [
            record("migration", name="test_single_head"),
            record("check", finding("RG101", "t1"), remediation="Fix (RG101): enable RLS"),
            record("check", finding("RG101", "t2"), remediation="Fix (RG101): enable RLS"),
            record(
                "check",
                finding("RG506", "t4", "can TRUNCATE"),
                finding("RG506", "t4", "can TRIGGER"),
                remediation="Fix (RG506): REVOKE TRUNCATE, TRIGGER",
            ),
            record(
                "check",
                finding("RG301", "t3", cause="policy p", same_cause=("RG302",)),
                remediation="Fix (RG301): restrict p",
            ),
            record(
                "check",
                finding("RG302", "t3", cause="policy p", same_cause=("RG301",)),
                remediation="Fix (RG302): check p",
            ),
            record(
                "probe",
                finding("RP101", "t3", "reads (cause: policy p, found statically by RG301)"),
            ),
            record("probe", finding("RP102", "t1", "inserts")),  # RLS off explains it
            record("probe", finding("RP109", "t9", "leaks"), remediation="Fix (RG999): x"),
            record("probe", finding("RP109", "t8", "leaks"), remediation="Fix (RG999): x"),
        ],
        [
            ("suite.py::test_isolation::schema could not be built", "static checks not run"),
            ("suite.py::test_probes::rls[t1-a]", "connection refused"),
            ("suite.py::test_probes::rls[t2-a]", "connection refused"),
        ],
    )
    assert [cause.line() for cause in found] == [
        "FAIL migration check test_single_head: upgrade of revision 002 failed",
        "FAIL schema could not be built: static checks not run",
        "FAIL rls[t1-a] and 1 more item(s): connection refused",
        "FAIL RG101 rg101 on t1, t2 (+1 probe): RG101",
        "FAIL RG506 rg506 on t4: can TRUNCATE",
        "FAIL RG301 rg301 on t3 (+1 probe): RG301",
        "FAIL RP109 rp109 on t9, t8: leaks",
    ]
    rls = found[3]
    assert rls.lines(4) == [
        "4. RG101 rg101 on t1, t2",
        "   RG101",
        "   confirmed by probes: RP102 rp102",
        "   Fix (RG101): enable RLS",
    ]
    assert found[4].lines(5) == [
        "5. RG506 rg506 on t4",
        "   can TRUNCATE",
        "   can TRIGGER",
        "   Fix (RG506): REVOKE TRUNCATE, TRIGGER",
    ]


def test_a_revision_that_does_not_apply_is_one_cause_for_every_item_it_stopped() -> None:
    failed = (
        "upgrade of revision 003 failed: canceling statement due to user request [SQLSTATE "
        "57014] (it ran longer than migration_timeout 3s)\n    SQL: SELECT pg_sleep(1)"
    )

    def migration_check(name: str, message: str) -> ItemRecord:
        return dataclasses.replace(record("migration", name=name), message=message)

    found = causes(
        [
            migration_check("test_upgrade_from_empty_to_head", f"MigrationError: {failed}"),
            migration_check("test_revision_roundtrip[003]", f"MigrationError: {failed}"),
            migration_check("test_revision_roundtrip[002]", "downgrade of 002 did not restore"),
        ],
        [
            (
                "suite.py::test_isolation::schema could not be built",
                f"static checks not run: {failed}",
            )
        ],
    )
    assert [cause.line() for cause in found] == [
        "FAIL migration check test_upgrade_from_empty_to_head and 2 more item(s): MigrationError: "
        + failed.splitlines()[0],
        "FAIL migration check test_revision_roundtrip[002]: downgrade of 002 did not restore",
    ]
    assert found[0].lines(1)[-1] == "       SQL: SELECT pg_sleep(1)"


def test_an_allow_entry_that_matched_nothing_is_called_stale() -> None:
    accepted = record("check", finding("RG401", "public.users", accepted=True))
    allow = (
        Allowance("RG401", "public.users", "ids are random"),
        Allowance("RG403", "public.ghost", "a table since dropped"),
    )
    looked = ItemRecord(nodeid="suite.py::x", kind="check", status="pass", check="RG403")
    assert stale_allowances(allow, [accepted, looked]) == [
        "STALE allow entry RG403 public.ghost: it matched no finding in this run (fixed since, "
        "or naming another object); remove it from [tool.rlsguard] allow"
    ]


def test_an_allow_entry_of_a_rule_that_never_acted_is_not_called_stale() -> None:
    """A run whose migrations failed ran no check: it cannot tell whether an entry still
    matches anything."""
    allow = (Allowance("RG403", "public.ghost", "a table since dropped"),)
    not_run = cannot("RG403", "public.ghost", "static checks not run: the migration failed")
    assert stale_allowances(allow, [not_run]) == []
    assert stale_allowances(allow, []) == []


def cannot(check: str | None, target: str | None, reason: str | None) -> ItemRecord:
    return ItemRecord(
        nodeid="suite.py::x",
        kind="probe" if check else "migration",
        status="cannot",
        check=check,
        name=check.lower() if check else "test_models_match_migrations",
        object=target,
        reason=reason,
    )


def test_what_could_not_act_is_named_and_a_pass_says_it_is_not_proven() -> None:
    same = "cannot generate rows for public.tasks"
    records = [
        *(cannot("RP101", f"public.t{number}", same) for number in range(7)),
        cannot(None, None, "env.py declares no target_metadata"),
        ItemRecord(nodeid="suite.py::y", kind="check", status="pass", check="RG101"),
    ]
    assert not_proven(records) == [
        "NOT PROVEN RP101 rp101 on public.t0, RP101 rp101 on public.t1, RP101 rp101 on "
        "public.t2, RP101 rp101 on public.t3, RP101 rp101 on public.t4 and 2 more: " + same,
        "NOT PROVEN migration check test_models_match_migrations: env.py declares no "
        "target_metadata",
    ]
    assert verdict(True, records, 0) == (
        "rlsguard: PASS: every check that acted holds, 8 not proven (1 held, 8 could not act)"
    )
    assert verdict(True, records[-1:], 0) == "rlsguard: PASS: every check holds (1 held)"
    # not every check ran (-k, -x, --collect-only): never a PASS
    assert verdict(True, records[-1:], 0, "-k x") == (
        "rlsguard: INCOMPLETE: every check that ran holds (1 held), but not every check ran: -k x"
    )
    assert verdict(True, [], 0, "--collect-only") == (
        "rlsguard: INCOMPLETE: no check ran: --collect-only"
    )


def test_the_report_opens_with_the_verdict_said_as_the_console_says_it() -> None:
    hostile = "public.<img src=x onerror=alert(1)>"
    kept = finding("RG401", "public.keys", "shared hash", accepted=True, reason="random secrets")
    accepted = dataclasses.replace(record("check", kept), status="accepted")
    looked = ItemRecord(nodeid="suite.py::x", kind="check", status="pass", check="RG403")
    page = verdict_html(
        [record("check", finding("RG101", hostile)), accepted, looked],
        {"Alembic head": "004", "Schema fingerprint (SHA-256)": "ab12", "Run": "complete"},
        incomplete=None,
        allow=(Allowance("RG403", "public.gone", "old"),),
        unprobed_tables=["public.audit"],
    )
    assert page.startswith('<section id="rlsguard-verdict"><h2 class="rlsguard-verdict-fail">')
    assert "<img" not in page  # every value escaped
    assert "<li>FAIL RG101 rg101 on public.&lt;img src=x onerror=alert(1)&gt;: RG101</li>" in page
    assert "<li>Alembic head: 004</li><li>Schema fingerprint (SHA-256): ab12</li>" in page
    assert "<li>RG401 rg401 on public.keys: shared hash (accepted: random secrets)</li>" in page
    assert "STALE allow entry RG403 public.gone" in page
    assert "<li>NOT PROVEN public.audit: no probe acted on this table</li>" in page
    stopped = verdict_html([], {}, incomplete="interrupted", allow=(), unprobed_tables=[])
    assert (
        "Verdict: INCOMPLETE</h2><p><strong>This run is INCOMPLETE: interrupted.</strong>"
        in stopped
    )
    # a failure found before the run stopped (-x) is the verdict; the stop is said too
    failing = [record("check", finding("RG101", "public.a"))]
    failed_first = verdict_html(failing, {}, incomplete="-x", allow=(), unprobed_tables=[])
    assert "Verdict: FAIL</h2><p><strong>This run is INCOMPLETE: -x.</strong>" in failed_first
    assert "rlsguard: FAIL: 1 cause(s) to fix" in failed_first
