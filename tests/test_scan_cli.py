"""``rlsguard scan`` and the static checks as pytest items in ``rlsguard check``
(``checks`` and ``explain``: tests/test_rule_docs.py)."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from rlsguard.run import Run
from rlsguard.server.urls import psycopg2_params
from tests.conftest import execute, query, run_python
from tests.corpus.cases import HARDENED

pytestmark = pytest.mark.slow

HARDENED_PROJECT = Path(__file__).parent / "fixtures" / "hardened_project"


def rlsguard(*arguments: str, cwd: Path) -> tuple[int, str, str]:
    result = run_python("-m", "rlsguard.cli", *arguments, cwd=cwd)
    return result.returncode, result.stdout, result.stderr


@pytest.fixture
def hardened_database(rlsguard_run: Run) -> Iterator[str]:
    """A database with the corpus's hardened schema and roles scan_app / scan_admin."""
    server = rlsguard_run.server.url
    execute(
        server,
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'scan_app') "
        "THEN CREATE ROLE scan_app; CREATE ROLE scan_admin; END IF; END $$",
    )
    name = rlsguard_run.empty_database("scan_cli")
    execute(
        rlsguard_run.url(name),
        HARDENED.replace("{app}", "scan_app").replace("{admin}", "scan_admin"),
    )
    yield rlsguard_run.url(name).render_as_string(hide_password=False)
    rlsguard_run.drop(name)


@pytest.fixture
def probe_dsn(rlsguard_run: Run, hardened_database: str) -> str:
    """The README's login for probes, made on the scanned server as it says."""
    readme = (Path(__file__).parents[1] / "docs" / "probes.md").read_text()
    recipe = re.search(r"```sql\n(CREATE ROLE rlsguard_prober .+?)```", readme, re.DOTALL)
    assert recipe
    made = recipe.group(1).replace("app_user, uber_admin", "scan_app, scan_admin")
    server = rlsguard_run.server.url
    if not query(server, "SELECT 1 FROM pg_roles WHERE rolname = 'rlsguard_prober'"):
        execute(server, made.split("--")[0])
    url = make_url(hardened_database).set(username="rlsguard_prober", password="choose-one")
    return url.render_as_string(hide_password=False)


ROLES = ("--app-role", "scan_app", "--admin-role", "scan_admin")
FAST = ("--max-examples", "10", "--shrink-seconds", "0.5")


def test_scan_json_of_a_correct_schema(
    hardened_database: str, probe_dsn: str, tmp_path: Path
) -> None:
    common = ("scan", "--dsn", hardened_database, "--probe-dsn", probe_dsn)
    code, out, err = rlsguard(*common, "--format", "json", *ROLES, *FAST, cwd=tmp_path)
    assert code == 0, err
    document = json.loads(out)
    assert document["findings"] == []
    assert document["summary"]["error"] == 0
    assert document["summary"]["inspected"] > 20
    assert document["config"]["app_role"] == "scan_app"
    assert document["tenant_tables"] == {
        "public.documents": "carries tenant_id",
        "public.tenants": "carries tenant_id",
        "public.users": "carries tenant_id",
    }
    probes = document["probes"]
    assert len(probes) > 20
    assert {probe["status"] for probe in probes} == {"pass"}
    # a pass rests on examples: its own, or those of the alike table it was proven on
    by_item = {(probe["probe"], probe["object"]): probe for probe in probes}
    proofs = [by_item[(probe["probe"], probe["proven_on"] or probe["object"])] for probe in probes]
    assert all(proof["proven_on"] is None for proof in proofs)
    assert all(1 <= proof["witnessed"] <= proof["examples"] for proof in proofs)
    carried = [probe for probe in probes if probe["proven_on"]]
    assert {probe["object"] for probe in carried} == {"public.users"}  # documents' alike
    assert all(1 <= probe["witnessed"] <= probe["examples"] for probe in carried)  # its own


def test_scan_through_a_superuser_alone_probes_nothing_but_says_so(
    hardened_database: str, tmp_path: Path
) -> None:
    common = ("scan", "--dsn", hardened_database, *ROLES, *FAST)
    code, out, err = rlsguard(*common, "--format", "json", cwd=tmp_path)
    assert code == 0, err
    document = json.loads(out)
    statuses = {(item["probe"], item["status"]) for item in document["probes"]}
    assert ("RP110", "pass") in statuses  # it needs the superuser, and runs no user code
    assert {status for probe, status in statuses if probe != "RP110"} == {"cannot"}
    reasons = {item["message"] for item in document["findings"] if item["check"] != "RP110"}
    (reason,) = reasons
    assert reason.startswith("probes not run: connected as postgres, a superuser; the database")
    assert '(scan: --probe-dsn; see "A login for probes" in docs/probes.md)' in reason
    assert document["not_proven_by_a_probe"] == sorted(document["tenant_tables"])
    code, text, _ = rlsguard(*common, cwd=tmp_path)
    assert "1 of 36 probes held over 1 witnessed examples, 35 could not act" in text
    assert "not proven by a probe: public.documents, public.tenants, public.users" in text


def test_scan_json_of_a_broken_schema(
    rlsguard_run: Run, hardened_database: str, tmp_path: Path
) -> None:
    database = str(make_url(hardened_database).database)
    execute(
        rlsguard_run.url(database),
        "ALTER TABLE documents DISABLE ROW LEVEL SECURITY; CREATE UNIQUE INDEX users_email ON users (email)",
    )
    code, out, _ = rlsguard(
        "scan",
        "--dsn",
        hardened_database,
        "--format",
        "json",
        "--static-only",
        *ROLES,
        cwd=tmp_path,
    )
    assert code == 1
    document = json.loads(out)
    assert document["probes"] == []
    assert {(item["check"], item["severity"], item["object"]) for item in document["findings"]} == {
        ("RG101", "error", "public.documents"),
        ("RG401", "warning", "public.users"),
    }
    assert all(
        set(item) >= {"check", "severity", "object", "message"} for item in document["findings"]
    )


def test_scan_sarif_for_code_scanning(
    rlsguard_run: Run, hardened_database: str, tmp_path: Path
) -> None:
    database = str(make_url(hardened_database).database)
    execute(rlsguard_run.url(database), "ALTER TABLE documents DISABLE ROW LEVEL SECURITY")
    common = ("scan", "--dsn", hardened_database, "--static-only", *ROLES)
    code, out, _ = rlsguard(*common, "--format", "sarif", cwd=tmp_path)
    assert code == 1
    document = json.loads(out)
    assert document["version"] == "2.1.0"
    (sarif_run,) = document["runs"]
    rules = sarif_run["tool"]["driver"]["rules"]
    assert {"RG101", "RG405", "RP101"} <= {rule["id"] for rule in rules}
    (result,) = sarif_run["results"]
    assert result["ruleId"] == "RG101"
    assert result["level"] == "error"
    assert rules[result["ruleIndex"]]["id"] == "RG101"
    (location,) = result["locations"]
    assert location["logicalLocations"] == [
        {"fullyQualifiedName": "public.documents", "kind": "object"}
    ]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "pyproject.toml"
    assert "public.documents" in result["message"]["text"]


def test_scan_sarif_says_cannot_and_what_no_probe_proved(
    rlsguard_run: Run, hardened_database: str, tmp_path: Path
) -> None:
    """Without a probe login every probe is "cannot": notes, never warnings, and every
    tenant table is listed as not proven by a probe."""
    code, out, _ = rlsguard(
        "scan", "--dsn", hardened_database, *ROLES, "--format", "sarif", cwd=tmp_path
    )
    (sarif_run,) = json.loads(out)["runs"]
    probes = [result for result in sarif_run["results"] if result["ruleId"].startswith("RP")]
    assert probes
    assert {result["level"] for result in probes} == {"note"}
    assert {result["properties"]["status"] for result in probes} == {"cannot"}
    assert all(": cannot: probes not run" in result["message"]["text"] for result in probes)
    assert sarif_run["properties"]["notProvenByAProbe"] == [
        "public.documents",
        "public.tenants",
        "public.users",
    ]
    assert code == 0


def test_scan_text_and_accepted_findings(
    rlsguard_run: Run, hardened_database: str, probe_dsn: str, tmp_path: Path
) -> None:
    database = str(make_url(hardened_database).database)
    execute(rlsguard_run.url(database), "CREATE UNIQUE INDEX users_email ON users (email)")
    reason = "one login per e-mail across tenants"
    (tmp_path / "pyproject.toml").write_text(
        '[tool.rlsguard]\napp_role = "scan_app"\nadmin_roles = ["scan_admin"]\nallow = [\n'
        f'  {{check = "RG401", object = "public.users", reason = "{reason}"}},\n'
        f'  {{check = "RP107", object = "public.users", reason = "{reason}"}},\n]\n'
    )
    common = ("scan", "--dsn", hardened_database, "--probe-dsn", probe_dsn)
    code, out, _ = rlsguard(*common, *FAST, cwd=tmp_path)
    assert code == 0, out
    assert "RG401 unique-tenant-scoped" in out
    assert "RP107 unique-side-channel" in out
    assert f"accepted: {reason}" in out
    assert "0 errors, 0 warnings, 2 accepted" in out


def test_scan_probes_prove_a_leak_with_a_transcript(
    rlsguard_run: Run, hardened_database: str, probe_dsn: str, tmp_path: Path
) -> None:
    database = str(make_url(hardened_database).database)
    execute(rlsguard_run.url(database), "ALTER TABLE documents DISABLE ROW LEVEL SECURITY")
    common = ("scan", "--dsn", hardened_database, "--probe-dsn", probe_dsn, "--seed", "77")
    common = (*common, *ROLES, *FAST)
    code, out, _ = rlsguard(*common, "--format", "json", cwd=tmp_path)
    assert code == 1
    document = json.loads(out)
    read = next(item for item in document["findings"] if item["check"] == "RP101")
    assert read["object"] == "public.documents"
    assert read["seed"] == 77
    assert "SET LOCAL ROLE" in read["evidence"]
    assert "scan_app sees" in read["message"]
    statuses = {(item["probe"], item["object"]): item["status"] for item in document["probes"]}
    assert statuses[("RP101", "public.documents")] == "fail"
    assert statuses[("RP101", "public.users")] == "pass"
    code, text, _ = rlsguard(*common, cwd=tmp_path)
    assert code == 1
    assert "RP101 cross-tenant-read[public.documents]" in text
    assert "-- reproduce with: rlsguard scan --seed 77" in text
    # Nothing the probes made outlived them: every example was rolled back.
    assert query(rlsguard_run.url(database), "SELECT count(*) FROM tenants") == [(0,)]


def test_scan_without_a_database_or_with_a_bad_one(tmp_path: Path, hardened_database: str) -> None:
    code, _, err = rlsguard("scan", cwd=tmp_path)
    assert code == 2
    assert "scan needs a database: --dsn URL or RLSGUARD_DATABASE_URL" in err
    code, _, err = rlsguard(
        "scan", "--dsn", "postgresql://eve:secret-pw@127.0.0.1:1/x", cwd=tmp_path
    )
    assert code == 2
    assert "cannot connect to PostgreSQL as eve@127.0.0.1:1/x" in err
    assert "secret-pw" not in err
    code, _, err = rlsguard("scan", "--dsn", hardened_database, "--app-role", "ghost", cwd=tmp_path)
    assert code == 2
    assert "app_role 'ghost' does not exist" in err
    assert "scan_app" in err


def test_check_passes_on_the_hardened_project(rlsguard_run: Run, tmp_path: Path) -> None:
    dsn = rlsguard_run.server.url.render_as_string(hide_password=False)
    report = tmp_path / "report.html"
    code, out, err = rlsguard(
        "check",
        *FAST,
        "-v",  # pytest's own console: every item
        "--project",
        str(HARDENED_PROJECT),
        "--dsn",
        dsn,
        "--report",
        str(report),
        cwd=tmp_path,
    )
    assert code == 0, out + err
    assert "suite.py::test_isolation::RG101 rls-enabled[public.documents] PASSED" in out
    assert "suite.py::test_isolation::RG201 app-not-superuser[hardened_app] PASSED" in out
    assert "test_models_match_migrations SKIPPED" in out
    assert "suite.py::test_probes::rls[public.documents-cross-tenant-read] PASSED" in out
    assert "suite.py::test_probes::rls[tenant-tables-stateful] PASSED" in out
    # its env.py declares no models: that check could not act, and the verdict says so
    assert "rlsguard: PASS: every check that acted holds, 1 not proven" in out
    assert "NOT PROVEN migration check test_models_match_migrations: " in out
    assert "RG301 policy-isolates-reads[public.users]" in report.read_text()
    assert "Verdict: PASS</h2>" in report.read_text()
    assert "NOT PROVEN migration check test_models_match_migrations" in report.read_text()
    code, out, err = rlsguard("evidence", "verify", str(tmp_path), cwd=tmp_path)
    assert (code, err) == (0, ""), out
    assert "the evidence holds: 1 record(s) in " in out


def test_check_names_a_leak_a_new_revision_adds(rlsguard_run: Run, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(HARDENED_PROJECT, project)
    (project / "migrations" / "versions" / "0001_hardened.py").write_text(
        (HARDENED_PROJECT / "migrations" / "versions" / "0001_hardened.py")
        .read_text()
        .replace(
            'Path(__file__).resolve().parents[4] / "corpus" / "hardened.sql"',
            f"Path({str(Path(__file__).parent / 'corpus' / 'hardened.sql')!r})",
        )
    )
    (project / "migrations" / "versions" / "0002_invoices.py").write_text(
        'revision = "0002_invoices"\ndown_revision = "0001_hardened"\n\n\n'
        "def upgrade():\n"
        "    from alembic import op\n"
        "    op.execute('CREATE TABLE invoices (invoice_id uuid PRIMARY KEY DEFAULT gen_random_uuid(), '\n"
        "               'tenant_id uuid NOT NULL REFERENCES tenants, email text UNIQUE)')\n"
        "    op.execute('GRANT SELECT, INSERT ON invoices TO hardened_app')\n\n\n"
        "def downgrade():\n"
        "    from alembic import op\n"
        "    op.execute('DROP TABLE invoices')\n"
    )
    with (project / "pyproject.toml").open("a") as pyproject:
        pyproject.write(
            'allow = [{check = "RG401", object = "public.invoices", reason = "invoice e-mails are a global outbox"}]\n'
        )
    dsn = rlsguard_run.server.url.render_as_string(hide_password=False)
    code, out, err = rlsguard(
        "check",
        *FAST,
        "--seed",
        "91",
        "--project",
        str(project),
        "--dsn",
        dsn,
        "--report",
        str(tmp_path / "r.html"),
        cwd=tmp_path,
    )
    assert code == 1, out + err
    assert "1. RG101 rls-enabled on public.invoices\n" in out
    assert "   row level security is disabled on public.invoices (carries tenant_id)\n" in out
    assert "   confirmed by probes: RP101 cross-tenant-read" in out
    assert "   Fix (RG101):" in out
    assert "RG401" not in out  # accepted: in the report with its reason, not a thing to fix
    assert "the probes' examples come back with: rlsguard check --seed 91" in out
    page = (tmp_path / "r.html").read_text()
    assert "invoice e-mails are a global outbox" in page
    assert "hardened_app sees 1 row(s) of public.invoices that are not its own" in page


# the probe login's connections to this test's database (other tests probe elsewhere)
PROBING = "SELECT pid FROM pg_stat_activity WHERE usename = 'rlsguard_prober' AND datname = :name"


@pytest.fixture
def scanning(
    rlsguard_run: Run, hardened_database: str, probe_dsn: str, tmp_path: Path
) -> Iterator[subprocess.Popen[str]]:
    """``rlsguard scan`` of a correct schema, half a second into its probes (killed
    afterwards if the test left it running)."""
    scan = subprocess.Popen(
        [sys.executable, "-m", "rlsguard.cli", "scan", "--dsn", hardened_database,
         "--probe-dsn", probe_dsn, *ROLES, "--max-examples", "2000"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not query(rlsguard_run.server.url, PROBING, name=make_url(hardened_database).database):
        assert time.monotonic() < deadline, "the probes never connected"
        time.sleep(0.05)
    time.sleep(0.5)
    yield scan
    if scan.poll() is None:
        scan.kill()
        scan.communicate()


def test_a_terminated_backend_is_said_not_judged(
    rlsguard_run: Run, hardened_database: str, scanning: subprocess.Popen[str]
) -> None:
    execute(
        rlsguard_run.server.url,
        f"SELECT pg_terminate_backend(pid) FROM ({PROBING}) AS probing",
        name=make_url(hardened_database).database,
    )
    out, err = scanning.communicate(timeout=120)
    assert scanning.returncode == 2, out + err
    assert "rlsguard: error: the server went away" in err
    assert "Traceback" not in err
    assert out == ""  # no verdict printed for a run that did not finish


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_while_scanning_stops_it_and_judges_nothing(
    rlsguard_run: Run, hardened_database: str, scanning: subprocess.Popen[str], sig: signal.Signals
) -> None:
    scanning.send_signal(sig)
    out, err = scanning.communicate(timeout=30)
    assert scanning.returncode == 2, out + err
    assert "rlsguard: interrupted" in err
    assert "Traceback" not in err
    assert out == ""  # no verdict for a scan that did not finish
    probing = query(rlsguard_run.server.url, PROBING, name=make_url(hardened_database).database)
    assert probing == []  # its connections closed


def test_ctrl_c_while_the_catalog_read_waits_for_a_lock_stops_the_scan(
    hardened_database: str, tmp_path: Path
) -> None:
    """An ALTER TABLE elsewhere holds the table; the scan may wait two minutes for it (its
    lock_timeout), and Ctrl-C ends that wait at once."""
    (tmp_path / "pyproject.toml").write_text('[tool.rlsguard]\nlock_timeout = "2min"\n')
    holder = psycopg2.connect(**psycopg2_params(make_url(hardened_database)))
    try:
        with holder.cursor() as cursor:
            cursor.execute("LOCK TABLE public.documents IN ACCESS EXCLUSIVE MODE")
        scan = subprocess.Popen(
            [sys.executable, "-m", "rlsguard.cli", "scan", "--dsn", hardened_database, *ROLES,
             "--static-only"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not query(make_url(hardened_database), WAITING_FOR_A_LOCK):
            assert time.monotonic() < deadline, "the scan never waited for the lock"
            time.sleep(0.05)
        scan.send_signal(signal.SIGINT)
        out, err = scan.communicate(timeout=10)
    finally:
        holder.rollback()
        holder.close()
    assert scan.returncode == 2, out + err
    assert "rlsguard: interrupted" in err
    assert "Traceback" not in err
    assert out == ""


WAITING_FOR_A_LOCK = "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"


def test_a_static_scan_loads_no_probe_or_test_machinery(
    hardened_database: str, tmp_path: Path
) -> None:
    """``scan --static-only`` reads the catalog on a driver connection: no SQLAlchemy,
    Hypothesis or pytest; rich only for text, Alembic (and SQLAlchemy with it) only for
    SARIF, which names the newest migration and documents every rule; the probes' modules
    only for SARIF, since no allowance names a probe (bench/bench_pgrls.py measures it)."""
    heavy = ("sqlalchemy", "hypothesis", "_pytest", "alembic", "rich", "rlsguard.probes")
    loaded = (
        "import contextlib, io, sys\n"
        "from rlsguard.cli.commands import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    code = main(sys.argv[1:])\n"
        f"print(code, ','.join(m for m in {heavy!r} if m in sys.modules))\n"
    )
    common = ("scan", "--static-only", "--dsn", hardened_database, *ROLES)
    expectations = (
        ("text", "0 rich"),
        ("json", "0 "),
        ("sarif", "0 sqlalchemy,alembic,rlsguard.probes"),
    )
    for format, expected in expectations:
        done = run_python("-c", loaded, *common, "--format", format, cwd=tmp_path)
        assert done.stdout.strip() == expected.strip(), (format, done.stdout, done.stderr[-2000:])
    # an allowance that names a probe is told from a typo without loading the probes
    allowing = '{ check = "RP107", object = "public.nothing", reason = "a test" }'
    (tmp_path / "pyproject.toml").write_text(f"[tool.rlsguard]\nallow = [{allowing}]\n")
    done = run_python("-c", loaded, *common, "--format", "json", cwd=tmp_path)
    assert done.stdout.strip() == "0", (done.stdout, done.stderr[-2000:])
    (tmp_path / "pyproject.toml").write_text(
        f"[tool.rlsguard]\nallow = [{allowing.replace('RP107', 'RP199')}]\n"
    )
    done = run_python("-c", loaded, *common, "--format", "json", cwd=tmp_path)
    assert "allow names check 'RP199', which does not exist" in done.stderr, done.stderr
