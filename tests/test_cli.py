"""``rlsguard check``, the main job: exit 0 when every check holds, 1 when one fails,
2 when the run could not happen; the server is stopped on every way out."""

from __future__ import annotations

import hashlib
import html as html_module
import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

import pytest
from sqlalchemy.exc import DBAPIError
from trestle.oscal.assessment_results import AssessmentResults

from rlsguard import __version__
from rlsguard.report.evidence.history import EVIDENCE_NAME, beside
from rlsguard.server import Server
from rlsguard.server.databases import connected, refused
from tests.conftest import (
    OWN_BACKEND,
    PROJECT,
    execute,
    postgres_processes_of,
    replace_once,
    run_python,
    scratch_folders_of,
)

pytestmark = pytest.mark.slow


FAST = ("--max-examples", "5", "--shrink-seconds", "0.2")
HARDENED_PROJECT = Path(__file__).parent / "fixtures" / "hardened_project"


def rlsguard(*arguments: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = run_python("-m", "rlsguard.cli", *arguments, cwd=cwd, env=env)
    return result.returncode, result.stdout + result.stderr


def rlsguard_leaving_nothing(*arguments: str, cwd: Path) -> tuple[int, str]:
    """Run the command and check that no server process or folder of it outlives it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rlsguard.cli", *arguments],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = process.communicate(timeout=240)[0]
    assert postgres_processes_of(process.pid) == [], output
    assert scratch_folders_of(process.pid) == [], output
    return process.returncode, output


def dsn_of(server: Server) -> str:
    return server.url.render_as_string(hide_password=False)


def test_check_on_the_shipped_schema_reports_its_leaks(
    project_copy: Callable[..., Path],
) -> None:
    """The README's main job at the shipped revision, on a copy of this project, with a
    server of its own: the migrations pass, the shipped schema's isolation findings fail
    the run ([tool.rlsguard.until] makes postgres the app and admin role there)."""
    copy = project_copy()
    code, output = rlsguard_leaving_nothing(
        "check", "--revision", "004_add_tenant_configs_table", *FAST, cwd=copy
    )
    assert code == 1, output
    assert (
        "rlsguard check: project at revision 004_add_tenant_configs_table on PostgreSQL 1" in output
    )
    assert "app role postgres; admin roles postgres" in output  # the [tool.rlsguard.until] in force
    assert re.search(r"^  migrations: +12 run: 12 held \(", output, re.M), output
    assert "rlsguard: FAIL: " in output
    # a table without RLS is a cause of its own, with its fix and the probes it lets through
    assert re.findall(r"^\d+\. RG101 rls-enabled on (.*)$", output, re.M) == [
        "public.tenant_configs",
        "public.tenants",
    ]
    assert "ALTER TABLE public.tenants ENABLE ROW LEVEL SECURITY;" in output
    assert "confirmed by probes: RP101 cross-tenant-read" in output
    assert "migration check" not in output
    report = copy / "reports" / "rlsguard-report.html"
    html = report.read_text()
    assert "test_downgrade_to_base_leaves_nothing" in html
    assert "RG201 app-not-superuser[postgres]" in html
    assert "PostgreSQL server" in html
    assert 'id="rlsguard-matrix"' in html
    # the verdict first: before the environment and the matrix, each cause in one line
    assert html.index('id="rlsguard-verdict"') < html.index('id="rlsguard-environment"')
    assert html.index('id="rlsguard-verdict"') < html.index('id="rlsguard-matrix"')
    assert "Verdict: FAIL</h2>" in html
    assert "<li>FAIL RG101 rls-enabled on public.tenant_configs" in html
    assert "Alembic head: 004_add_tenant_configs_table</li>" in html
    assert "Evidence (psql transcript)" in html
    assert "Remediation" in html
    evidence = json.loads((copy / "reports" / "rlsguard-evidence.json").read_text())
    assert evidence["report"]["sha256"] == hashlib.sha256(report.read_bytes()).hexdigest()
    environment = evidence["environment"]
    assert environment["Alembic head"] == "004_add_tenant_configs_table"
    assert environment["Revisions applied"].endswith(
        "003_add_templates_table, 004_add_tenant_configs_table"
    )
    assert re.fullmatch(r"[0-9a-f]{64}", environment["Schema fingerprint (SHA-256)"])
    assert environment["Tenancy config"]["app_role"] == "postgres"  # a table, not a blob
    assert environment["Hypothesis"].endswith("up to 5 examples per property")
    for key in ("rlsguard", "PostgreSQL server", "Started (UTC)", "Finished (UTC)"):
        assert environment[key], key
    read = next(
        item for item in evidence["items"]
        if item["check"] == "RP101" and item["object"] == "public.documents"
    )  # fmt: skip
    assert read["status"] == "fail"
    assert "SET LOCAL ROLE" in read["evidence"]
    assert read["witnessed"] >= 1
    assert read["rows_shared_with"] == []  # a failure is the probe's own run's, shrunk
    bypass = next(
        item for item in evidence["items"]
        if item["check"] == "RP109" and item["object"] == "public.documents"
    )  # fmt: skip
    assert bypass["status"] == "pass"
    assert 1 <= bypass["witnessed"] <= bypass["examples"] - bypass["rejected"]
    assert "RP101" in bypass["rows_shared_with"]
    # users' row security is documents' at 004: a pass proven there holds here, and says so;
    # what failed there is probed here
    items = {(item["check"], item["object"]): item for item in evidence["items"]}
    alike = items[("RP109", "public.users")]
    assert (alike["status"], alike["proven_on"]) == ("pass", "public.documents")
    assert 1 <= alike["witnessed"] <= alike["examples"]  # and in examples of its own
    assert items[("RP101", "public.users")]["status"] == "fail"
    assert items[("RP101", "public.users")]["proven_on"] is None
    assert bypass["proven_on"] is None
    assert "proven on public.documents, whose row security is the same" in html
    # the app is a superuser that owns the table: the policies' fix would change nothing
    assert read["remediation"].startswith("Fix (RG102):\n")
    assert "Fix (RG201):\nALTER ROLE postgres NOSUPERUSER;" in read["remediation"]
    assert "Fix (RG301)" not in read["remediation"]
    row = next(
        row for row in evidence["matrix"]["rows"] if row["object"] == "public.tenant_configs"
    )
    assert row["cells"]["RG101"]["status"] == "fail"
    assert (copy / "reports" / "rlsguard-junit.xml").is_file()
    assert_one_rendering_per_item(html)
    controls = {(c["framework"], c["control"]): c for c in evidence["controls"]}
    assert controls[("SOC 2", "CC6.1")]["status"] == "not satisfied"
    assert controls[("SOC 2", "CC8.1")]["status"] == "not satisfied"  # RG101 at this revision
    assert html.index('id="rlsguard-verdict"') < html.index('id="rlsguard-controls"')
    oscal = json.loads((copy / "reports" / "rlsguard-oscal.json").read_text())
    [result] = AssessmentResults.model_validate(oscal["assessment-results"]).results
    assert len(result.observations or []) == len(evidence["items"])
    states = {f.target.target_id: f.target.status.state.value for f in result.findings or []}
    assert states["soc2-cc6.1"] == "not-satisfied"
    history = (copy / "reports" / "rlsguard-history.jsonl").read_text().splitlines()
    assert "rlsguard-oscal.json" in json.loads(history[-1])["files"]


def assert_one_rendering_per_item(page: str) -> None:
    """pytest-html's results: an rlsguard check or probe says what it found once (its
    record, as an extra), with no pytest traceback or captured log beside it; a probe
    that could not act says why."""
    blob = re.search(r'data-jsonblob="([^"]*)"', page)
    assert blob, "no results in the report"
    tests = json.loads(html_module.unescape(blob.group(1)))["tests"]
    rules = [runs[-1] for node, runs in tests.items() if re.search(r"::R[GP]\d{3} ", node)]
    assert rules
    for run in rules:
        assert run["log"] == "" or run["log"].startswith("could not act: "), run["log"][:300]
    failed = [run for run in rules if run["result"] == "Failed"]
    assert failed
    assert all(len(run["extras"]) == 1 for run in failed)
    assert "Captured log" not in page


def test_check_at_head_holds(project_copy: Callable[..., Path]) -> None:
    """The README's main job as it is: every check holds at head, four findings accepted."""
    code, output = rlsguard_leaving_nothing("check", *FAST, cwd=project_copy())
    assert code == 0, output
    assert "rlsguard check: project at revision head (008_api_key_tenant_lookup)" in output
    assert re.search(r"^  migrations: +12 run: 12 held \(", output, re.M), output
    # users and tenant_configs have documents' row security: 9 properties each proven there
    said = r"^  probes: +\d+ run: \d+ held \(18 of them proven on an alike table\), 2 accepted \("
    assert re.search(said, output, re.M), output
    assert re.search(
        r"^rlsguard: PASS: every check holds \(\d+ held \(18 of them proven on an alike table\), "
        r"4 accepted\)",
        output,
        re.M,
    )


def test_a_broken_downgrade_fails_the_check(
    project_copy: Callable[..., Path], rlsguard_server: Server, tmp_path: Path
) -> None:
    copy = project_copy(
        {
            "004_add_tenant_configs_table": replace_once(
                '    op.drop_table("tenant_configs")', "    pass"
            )
        }
    )
    report = tmp_path / "out" / "report.html"
    code, output = rlsguard(
        "check", *FAST, "--dsn", dsn_of(rlsguard_server), "--report", str(report), "-q", cwd=copy
    )
    assert code == 1, output
    assert output.startswith("rlsguard: FAIL: "), output  # -q: the verdict, one line per cause
    assert re.search(
        r"^FAIL migration check test_revision_roundtrip\[004_add_tenant_configs_table\]: .*"
        r"did not restore the schema: left behind: ",
        output,
        re.M,
    ), output
    assert report.is_file()


def test_a_failing_migration_names_the_revision_and_stops_the_server(
    project_copy: Callable[..., Path],
) -> None:
    copy = project_copy(
        {"002_enable_rls": replace_once("ON {table} TO postgres", "ON {table} TO no_such_role")}
    )
    code, output = rlsguard_leaving_nothing("check", *FAST, cwd=copy)
    assert code == 1, output
    assert "migration check test_revision_roundtrip[002_enable_rls]" in output, output
    assert "[alembic" not in output
    assert (
        'upgrade of revision 002_enable_rls failed: role "no_such_role" does not exist [SQLSTATE 42704]'
        in output
    )
    assert "SQL: CREATE POLICY uber_admin_bypass_users ON users TO no_such_role" in output
    assert "Traceback" not in output
    assert "The above exception" not in output  # the error alone, not the driver's beneath it
    assert "rlsguard: FAIL: 1 cause(s) to fix" in output  # one revision, however many it stopped
    evidence = json.loads((copy / "reports" / "rlsguard-evidence.json").read_text())
    first, *stopped = evidence["timeline"]  # what the history reached, and where it broke
    assert (first["revision"], first["error"]) == ("001_initial_schema", None)
    assert first["findings"] > 0
    assert [step["revision"] for step in stopped][:2] == [
        "002_enable_rls",
        "003_add_templates_table",
    ]
    assert all("upgrade of revision 002_enable_rls failed" in step["error"] for step in stopped)
    junit = ElementTree.parse(copy / "reports" / "rlsguard-junit.xml").getroot()
    failures = [case for case in junit.iter("testcase") if case.find("failure") is not None]
    assert evidence["summary"]["fail"] == len(failures)  # the items the failure stopped too
    stood_in = {item["kind"]: item for item in evidence["items"] if "could not" in item["name"]}
    assert sorted(stood_in) == ["check", "probe"]
    assert stood_in["probe"]["message"].startswith("probes not run: upgrade of revision 002")


NO_SERVER = textwrap.dedent(
    """
    import sys
    from rlsguard.server import local, embedded, docker
    local.SYSTEM_BINDIR_GLOBS = ()
    embedded.WHEELS = (embedded.Wheel("no-such-wheel", "no_such_embedded_package", ()),)
    docker.SOCKET_CANDIDATES = ()
    from rlsguard.cli.commands import main
    sys.exit(main(sys.argv[1:]))
    """
)


def test_no_server_anywhere_exits_2_with_the_fixes_and_no_traceback(
    project_copy: Callable[..., Path], tmp_path: Path
) -> None:
    copy = project_copy()
    result = run_python(
        "-c", NO_SERVER, "check",
        cwd=copy,
        env={"PATH": str(tmp_path), "DOCKER_HOST": "", "RLSGUARD_DATABASE_URL": "", "PG_BINDIR": "",
             "RLSGUARD_SERVER_CACHE": str(tmp_path / "no-fetched-servers")},
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "rlsguard found no PostgreSQL server to test against." in result.stderr
    fixes = ("--dsn", "Docker", "apt-get install postgresql", "rlsguard[embedded]", "server fetch")
    for fix in fixes:
        assert fix in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_unreachable_dsn_exits_2_and_hides_the_password(project_copy: Callable[..., Path]) -> None:
    code, output = rlsguard(
        "check", "--dsn", "postgresql://dave:t0ps3cret@127.0.0.1:1/db", cwd=project_copy()
    )
    assert code == 2, output
    assert "cannot connect to PostgreSQL as dave@127.0.0.1:1/db" in output
    assert "t0ps3cret" not in output
    assert "Traceback" not in output


def test_bad_input_exits_2(project_copy: Callable[..., Path], tmp_path: Path) -> None:
    code, output = rlsguard_leaving_nothing("check", "--backend", "podman", cwd=tmp_path)
    assert code == 2
    assert "invalid choice: 'podman'" in output
    code, output = rlsguard_leaving_nothing("check", "--max-examples", "0", cwd=tmp_path)
    assert code == 2
    assert "argument --max-examples: must be at least 1, not 0" in output
    code, output = rlsguard("scan", "--shrink-seconds", "-1", cwd=tmp_path)
    assert code == 2
    assert "argument --shrink-seconds: must be 0 or more, not -1" in output
    code, output = rlsguard_leaving_nothing(
        "check", "--project", str(tmp_path / "missing"), cwd=tmp_path
    )
    assert code == 2
    assert "no project folder at" in output
    code, output = rlsguard_leaving_nothing("check", "--project", str(tmp_path), cwd=tmp_path)
    assert code == 2
    assert f"no Alembic config at {tmp_path / 'alembic.ini'}" in output
    copy = project_copy()
    with (copy / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n[tool.rlsguard.extra]\nx = 1\n")
    code, output = rlsguard_leaving_nothing("check", "--project", str(copy), cwd=tmp_path)
    assert code == 2
    assert "unknown key 'extra' in [tool.rlsguard]" in output
    (copy / "pyproject.toml").write_text((PROJECT / "pyproject.toml").read_text())
    code, output = rlsguard_leaving_nothing(
        "check", "--revision", "999_nope", "--project", str(copy), cwd=tmp_path
    )
    assert code == 2
    assert "unknown revision '999_nope'; known: 001_initial_schema, 002_enable_rls" in output


def test_version(tmp_path: Path) -> None:
    code, output = rlsguard("--version", cwd=tmp_path)
    assert (code, output.strip()) == (0, f"rlsguard {__version__}")


def test_a_config_the_schema_contradicts_ends_in_one_rlsguard_line(tmp_path: Path) -> None:
    """Found only once the schema is built (inside the pytest run): still exit 2, and the
    last line names the problem instead of calling it an interruption."""
    code, output = rlsguard_leaving_nothing(
        "check", "--project", str(HARDENED_PROJECT), "--backend", OWN_BACKEND, "--schema", "nothere",
        "--report", str(tmp_path / "report.html"), cwd=tmp_path,
    )  # fmt: skip
    assert code == 2, output
    last = output.strip().splitlines()[-1]
    assert last.startswith("rlsguard: error: schema 'nothere'"), output
    assert "`rlsguard init` proposes" in last
    assert "interrupted" not in last
    evidence = json.loads(beside(tmp_path / EVIDENCE_NAME).read_text())
    assert evidence["complete"] is False
    assert evidence["incomplete"].startswith("could not collect the checks: schema 'nothere'")


def test_a_dsn_whose_login_is_no_superuser_is_refused_before_anything_runs(
    rlsguard_server: Server, tmp_path: Path
) -> None:
    execute(
        rlsguard_server.url,
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'not_super') THEN "
        "CREATE ROLE not_super LOGIN CREATEDB PASSWORD 'pw-of-not-super'; END IF; END $$",
    )
    login = rlsguard_server.url.set(username="not_super", password="pw-of-not-super")
    dsn = login.render_as_string(hide_password=False)
    code, output = rlsguard("check", "--dsn", dsn, "--project", str(PROJECT), cwd=tmp_path)
    assert code == 2, output
    assert "(not_super) is not a superuser: rlsguard creates its own databases" in output
    assert "pw-of-not-super" not in output
    assert "Traceback" not in output


def test_a_statement_of_rlsguard_the_database_refuses_is_said_with_what_to_change(
    rlsguard_server: Server,
) -> None:
    with connected(rlsguard_server.url) as connection:
        connection.exec_driver_sql("SET statement_timeout = '10ms'")
        with pytest.raises(DBAPIError) as cut_short:
            connection.exec_driver_sql("SELECT pg_sleep(1)")
    said = str(refused(cut_short.value))
    assert said.startswith("the database refused a statement of rlsguard: canceling statement")
    assert "SQL: SELECT pg_sleep(1)" in said
    assert said.endswith("(it ran longer than statement_timeout: raise it in [tool.rlsguard])")
    assert refused(ValueError("not the database's")) is None


HEAVY = ("sqlalchemy", "hypothesis", "_pytest", "alembic", "pglast", "rich", "psycopg2")
LOADED = """
import contextlib, io, sys
from rlsguard.cli.commands import main
with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):
    main(sys.argv[1:])
print(",".join(name for name in {heavy!r} if name in sys.modules))
"""


@pytest.mark.parametrize(
    "arguments",
    [("--version",), ("--help",), ("check", "--help"), ("evidence", "verify", "nowhere")],
    ids=["version", "help", "check-help", "evidence-verify"],
)
def test_commands_that_need_no_database_load_none_of_its_machinery(
    arguments: tuple[str, ...], tmp_path: Path
) -> None:
    """Parsing, and verifying evidence, import no SQLAlchemy, Hypothesis, pytest, Alembic,
    pglast, rich or driver (bench/bench_startup.py measures what that saves)."""
    done = run_python("-c", LOADED.format(heavy=HEAVY), *arguments, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", done.stdout


@pytest.mark.parametrize(
    "arguments", [("checks",), ("explain", "RP101")], ids=["checks", "explain"]
)
def test_the_rules_documentation_loads_no_probe_or_database_machinery(
    arguments: tuple[str, ...], tmp_path: Path
) -> None:
    """``checks`` and ``explain`` register every rule, probes included, without loading
    SQLAlchemy, Hypothesis, pytest or Alembic (the probes load Hypothesis when they run)."""
    heavy = ("sqlalchemy", "hypothesis", "_pytest", "alembic")
    done = run_python("-c", LOADED.format(heavy=heavy), *arguments, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", done.stdout


FREEZES_SEEN = """
import gc, sys
from rlsguard.cli.commands import main
callers, freeze = [], gc.freeze
def spied():
    callers.append(sys._getframe(1).f_code.co_name)
    freeze()
gc.freeze = spied
code = main(sys.argv[1:])
print("FROZEN", code, ",".join(callers), gc.get_freeze_count())
"""


def test_check_keeps_what_lives_for_the_run_out_of_the_collectors_sight(tmp_path: Path) -> None:
    """Once before pytest starts (the imports) and once before the first item (what
    collection built): each full collection then skips it (bench/bench_versus.py)."""
    done = run_python(
        "-c", FREEZES_SEEN, "check", "--project", str(HARDENED_PROJECT), "--backend", OWN_BACKEND,
        *FAST, "-q", "--report", str(tmp_path / "reports" / "report.html"), cwd=tmp_path,
    )  # fmt: skip
    said = re.search(r"^FROZEN (\d+) (\S*) (\d+)$", done.stdout, re.M)
    assert said is not None, done.stdout + done.stderr
    assert said[1] == "0", done.stdout
    assert said[2] == "_run_suite,pytest_runtestloop"
    assert int(said[3]) > 50_000  # the modules of pytest, Hypothesis, SQLAlchemy and Alembic


@pytest.mark.parametrize("exists", [True, False], ids=["a folder", "a path ending with /"])
def test_a_report_folder_holds_the_report(tmp_path: Path, exists: bool) -> None:
    """``--report runs`` (a folder) or ``--report runs/`` names a folder: the report goes
    in it under its usual name, instead of the run failing at its end on writing a file
    over a folder, or writing a report named ``runs`` without an extension."""
    folder = tmp_path / "runs"
    if exists:
        folder.mkdir()
    code, output = rlsguard(
        "check", "--project", str(HARDENED_PROJECT), "--backend", OWN_BACKEND, *FAST, "-q",
        "--report", str(folder) + ("" if exists else "/"), cwd=tmp_path,
    )  # fmt: skip
    assert code == 0, output
    assert f"report: {folder / 'rlsguard-report.html'}" in output
    assert (folder / "rlsguard-report.html").is_file()
    assert (folder / EVIDENCE_NAME).is_file()
    assert "Traceback" not in output
