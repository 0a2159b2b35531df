"""The pytest plugin seen from a user's test suite: inner pytest sessions in
subprocesses, with their own test files, against the outer session's server."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from xml.etree import ElementTree

import pytest

from rlsguard.server import Server
from tests.conftest import (
    OWN_BACKEND,
    PROJECT,
    hardened_user_project,
    rlsguard_databases,
    run_python,
)

pytestmark = pytest.mark.slow


def write_suite(folder: Path, tests: str, rlsguard_table: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(
        f'[tool.rlsguard]\nalembic_ini = "{PROJECT / "alembic.ini"}"\n{rlsguard_table}'
    )
    (folder / "test_inner.py").write_text(textwrap.dedent(tests))
    return folder


def inner_command(folder: Path, *options: str) -> list[str]:
    return [
        "-m", "pytest", str(folder / "test_inner.py"),
        "--rootdir", str(folder), "-c", str(folder / "pyproject.toml"),
        "-p", "no:cacheprovider", "-q", "-rA", "-W", "error::rlsguard.plugin.RlsguardWarning",
        *options,
    ]  # fmt: skip


def dsn_of(server: Server) -> str:
    return server.url.render_as_string(hide_password=False)


COUNT_TENANTS = 'rlsguard_connection.execute(text("SELECT count(*) FROM tenants")).scalar()'
INSERT_TENANT = "INSERT INTO tenants (name, domain) VALUES ('Acme', 'acme.example')"


def test_each_test_gets_a_rolled_back_transaction(tmp_path: Path, rlsguard_server: Server) -> None:
    folder = write_suite(
        tmp_path,
        f"""
        from sqlalchemy import text

        def test_writes(rlsguard_connection):
            rlsguard_connection.execute(text("{INSERT_TENANT}"))
            assert {COUNT_TENANTS} == 1

        def test_sees_nothing_of_it(rlsguard_connection):
            assert {COUNT_TENANTS} == 0
        """,
    )
    result = run_python(*inner_command(folder, "--rlsguard-dsn", dsn_of(rlsguard_server)))
    assert result.returncode == 0, result.stdout
    assert "2 passed" in result.stdout


LOADED = """
import sys

def test_what_is_loaded():
    names = ("rlsguard.plugin.session", "rlsguard.run", "sqlalchemy", "alembic")
    print("LOADED:", ",".join(name for name in names if name in sys.modules))
"""


@pytest.mark.parametrize(
    ("project_file", "loaded"),
    [
        (None, ""),
        ("alembic.ini", "rlsguard.plugin.session,rlsguard.run,sqlalchemy,alembic"),
        ("pyproject.toml", "rlsguard.plugin.session,rlsguard.run,sqlalchemy,alembic"),
    ],
    ids=["rlsguard merely installed", "an Alembic project", "a [tool.rlsguard] table"],
)
def test_a_run_that_does_not_use_rlsguard_loads_none_of_it(
    project_file: str | None, loaded: str, tmp_path: Path
) -> None:
    """The plugin is loaded by every pytest run where rlsguard is installed: its session
    (SQLAlchemy, Alembic, Hypothesis, the report: about 0.8 s) only where the run uses it."""
    (tmp_path / "test_inner.py").write_text(LOADED)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    if project_file == "alembic.ini":
        (tmp_path / "alembic.ini").write_text((PROJECT / "alembic.ini").read_text())
    elif project_file == "pyproject.toml":
        (tmp_path / "pyproject.toml").write_text('[tool.rlsguard]\ntenant_column = "org_id"\n')
    environment = {name: value for name, value in os.environ.items() if "RLSGUARD" not in name}
    result = run_python(
        "-m", "pytest", str(tmp_path / "test_inner.py"), "--rootdir", str(tmp_path),
        "-c", str(tmp_path / "pytest.ini"), "-p", "no:cacheprovider", "-q", "-s",
        env=environment, inherit_env=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"LOADED: {loaded}\n" in result.stdout, result.stdout
    with_setting = run_python(  # a setting in the environment points the run at rlsguard
        "-m", "pytest", str(tmp_path / "test_inner.py"), "--rootdir", str(tmp_path),
        "-c", str(tmp_path / "pytest.ini"), "-p", "no:cacheprovider", "-q", "-s",
        env={**environment, "RLSGUARD_PG_VERSION": "15"}, inherit_env=False,
    )  # fmt: skip
    assert "LOADED: rlsguard.plugin.session," in with_setting.stdout, with_setting.stdout


@pytest.mark.parametrize(
    ("imported", "analysed"),
    [("test_revision_roundtrip", False), ("test_revision_roundtrip, test_isolation", True)],
    ids=["migration tests alone", "with the static checks"],
)
def test_the_walk_analyses_the_revisions_only_for_a_timeline(
    imported: str, analysed: bool, tmp_path: Path, rlsguard_server: Server
) -> None:
    """The evidence's timeline is read where checks or probes run; a run of the migration
    tests alone reads none, and its roundtrip walk analyses nothing on the way."""
    folder = write_suite(
        tmp_path,
        f"""
        from rlsguard.suite import {imported}

        def test_the_walk_is_told(rlsguard_run):
            assert rlsguard_run.analyses_along_the_walk is {analysed}
        """,
    )
    result = run_python(*inner_command(folder, "--rlsguard-dsn", dsn_of(rlsguard_server)))
    # the platform's allowances are not in this config: some static checks fail
    assert re.search(r"^PASSED \S*::test_the_walk_is_told$", result.stdout, re.M), result.stdout


def test_a_test_that_commits_is_warned_and_the_next_one_starts_clean(
    tmp_path: Path, rlsguard_server: Server
) -> None:
    folder = write_suite(
        tmp_path,
        f"""
        import warnings
        from sqlalchemy import text

        def test_commits(rlsguard_connection):
            rlsguard_connection.execute(text("{INSERT_TENANT}"))
            rlsguard_connection.commit()

        def test_sees_nothing_of_it(rlsguard_connection):
            assert {COUNT_TENANTS} == 0
        """,
    )
    result = run_python(
        *inner_command(
            folder,
            "--rlsguard-dsn",
            dsn_of(rlsguard_server),
            "-W",
            "default::rlsguard.plugin.RlsguardWarning",
        )
    )
    assert result.returncode == 0, result.stdout
    assert "test_inner.py::test_commits committed on rlsguard_connection" in result.stdout
    assert "Use rlsguard_clone for a test that must commit" in result.stdout


def test_clones_for_committing_tests_and_nothing_left_on_the_server(
    tmp_path: Path, rlsguard_server: Server
) -> None:
    made = tmp_path / "made.txt"
    folder = write_suite(
        tmp_path,
        f"""
        import os
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        def count(url):
            engine = create_engine(url)
            with engine.connect() as connection:
                found = connection.execute(text("SELECT count(*) FROM tenants")).scalar()
            engine.dispose()
            return found

        def test_commits_into_a_clone(rlsguard_clone):
            with open(r"{made}", "w") as noted:  # which process made the databases
                noted.write(f"{{os.getpid()}} {{make_url(rlsguard_clone).database}}")
            engine = create_engine(rlsguard_clone)
            with engine.begin() as connection:
                connection.execute(text("{INSERT_TENANT}"))
            engine.dispose()
            assert count(rlsguard_clone) == 1

        def test_the_next_clone_is_fresh(rlsguard_clone, rlsguard_empty_database):
            assert count(rlsguard_clone) == 0
            empty = rlsguard_empty_database()
            engine = create_engine(empty)
            with engine.connect() as connection:
                assert connection.execute(text("SELECT count(*) FROM pg_class WHERE relname = 'tenants'")).scalar() == 0
            engine.dispose()
        """,
    )
    result = run_python(*inner_command(folder, "--rlsguard-dsn", dsn_of(rlsguard_server)))
    assert result.returncode == 0, result.stdout
    pid, clone = made.read_text().split()
    ours = f"rlsguard_{pid}_"  # the other xdist worker's runs come and go meanwhile
    assert clone.startswith(ours)
    assert [name for name in rlsguard_databases(rlsguard_server.url) if name.startswith(ours)] == []


def test_a_chosen_revision(tmp_path: Path, rlsguard_server: Server) -> None:
    folder = write_suite(
        tmp_path,
        """
        from sqlalchemy import text

        def test_version(rlsguard_connection, rlsguard_run):
            assert rlsguard_connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "002_enable_rls"
            assert rlsguard_run.revision == "002_enable_rls"
        """,
    )
    result = run_python(
        *inner_command(
            folder,
            "--rlsguard-dsn",
            dsn_of(rlsguard_server),
            "--rlsguard-revision",
            "002_enable_rls",
        )
    )
    assert result.returncode == 0, result.stdout


def test_no_server_fails_the_database_tests_with_one_clear_message(tmp_path: Path) -> None:
    folder = write_suite(
        tmp_path,
        """
        def test_needs_a_database(rlsguard_connection):
            pass

        def test_also_needs_one(rlsguard_server):
            pass

        def test_needs_none():
            pass
        """,
    )
    result = run_python(
        *inner_command(folder, "--rlsguard-dsn", "postgresql://carol:pa55word@127.0.0.1:1/nowhere")
    )
    assert result.returncode == 1, result.stdout
    assert "1 passed, 2 errors" in result.stdout
    assert "cannot connect to PostgreSQL as carol@127.0.0.1:1/nowhere" in result.stdout
    assert "pa55word" not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout


def test_an_unknown_config_key_stops_the_run(tmp_path: Path) -> None:
    folder = write_suite(tmp_path, "def test_x():\n    pass\n", 'tenant_colum = "org_id"\n')
    result = run_python(*inner_command(folder))
    assert result.returncode == 4, result.stdout + result.stderr
    assert (
        "unknown key 'tenant_colum' (did you mean 'tenant_column'?) in [tool.rlsguard]"
        in result.stderr
    )
    assert "known keys: alembic_ini, version_table, tenant_column" in result.stderr


CONCURRENT = """
from sqlalchemy import text

def test_write_and_count(rlsguard_connection, rlsguard_clone):
    rlsguard_connection.execute(text("INSERT INTO tenants (name, domain) VALUES ('Acme', 'acme.example')"))
    assert rlsguard_connection.execute(text("SELECT count(*) FROM tenants")).scalar() == 1
"""


@pytest.mark.parametrize("backend", ["dsn", "local"])
def test_two_sessions_at_once_do_not_collide(
    tmp_path: Path, rlsguard_server: Server, backend: str
) -> None:
    options = (
        ["--rlsguard-dsn", dsn_of(rlsguard_server)]
        if backend == "dsn"
        else ["--rlsguard-backend", OWN_BACKEND]
    )
    sessions = []
    for number in (1, 2):
        folder = write_suite(tmp_path / f"session{number}", CONCURRENT)
        sessions.append(
            subprocess.Popen(
                [sys.executable, *inner_command(folder, *options)],
                cwd=folder,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = [session.communicate(timeout=240)[0] for session in sessions]
    for session, output in zip(sessions, outputs, strict=True):
        assert session.returncode == 0, output
        assert "1 passed" in output


def readme_reports_block() -> str:
    """The pytest config the docs say to add for the report files, verbatim."""
    readme = (PROJECT / "docs" / "evidence.md").read_text()
    block = readme.split("<!-- pytest-reports -->\n```toml\n", 1)[1].split("```", 1)[0]
    assert block.startswith("[tool.pytest.ini_options]\n"), block
    return block


def test_plain_pytest_with_the_readme_config_writes_the_reports_of_rlsguard_check(
    tmp_path: Path, rlsguard_server: Server
) -> None:
    """A user's project: a test module importing rlsguard.suite, [tool.rlsguard], and the
    README's block; plain ``pytest`` in its folder writes the HTML report, the JSON
    evidence and JUnit where ``rlsguard check`` does."""
    project = hardened_user_project(tmp_path / "project", "\n" + readme_reports_block())
    (project / "tests").mkdir()
    (project / "tests" / "test_isolation.py").write_text(
        "from rlsguard.suite import *  # noqa: F403\n"
    )
    result = run_python(
        "-m", "pytest", "-p", "no:cacheprovider", "-q",
        "--rlsguard-dsn", dsn_of(rlsguard_server), "--rlsguard-max-examples", "5",
        cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    reports = project / "reports"
    page = reports / "rlsguard-report.html"
    evidence = json.loads((reports / "rlsguard-evidence.json").read_text())
    assert evidence["report"]["sha256"] == hashlib.sha256(page.read_bytes()).hexdigest()
    assert {item["kind"] for item in evidence["items"]} == {"migration", "check", "probe"}
    assert evidence["environment"]["Alembic head"] == "0001_hardened"
    assert 'id="rlsguard-matrix"' in page.read_text()
    junit = ElementTree.parse(reports / "rlsguard-junit.xml").getroot()
    cases = {case.get("name") for case in junit.iter("testcase")}
    assert "RG101 rls-enabled[public.documents]" in cases


def test_without_the_readme_config_plain_pytest_leaves_no_files(
    tmp_path: Path, rlsguard_server: Server
) -> None:
    """What the README says: rlsguard does not add report options on its own."""
    project = hardened_user_project(tmp_path / "project")
    (project / "test_heads.py").write_text("from rlsguard.suite import test_single_head\n")
    result = run_python(
        "-m", "pytest", "-p", "no:cacheprovider", "-q",
        "--rlsguard-dsn", dsn_of(rlsguard_server), cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    left = {path.name for path in project.iterdir()} - {"__pycache__"}
    assert left == {"pyproject.toml", "test_heads.py"}
