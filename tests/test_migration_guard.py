"""Migrations reach only the database rlsguard migrates: an env.py that builds its own
engine from DATABASE_URL (a common pattern) is refused before it connects, and the
database DATABASE_URL names is left as it was."""

from __future__ import annotations

import asyncio
import json
import runpy
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import asyncpg
import psycopg
import psycopg2
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from rlsguard.errors import RlsguardError
from rlsguard.history.guard import ForeignDatabaseError, only_this_database
from rlsguard.history.migrate import MIGRATION_LOCK, MigrationProject
from rlsguard.report.evidence.history import EVIDENCE_NAME, beside
from rlsguard.run import Run
from rlsguard.server import Server
from rlsguard.server.databases import connected
from rlsguard.server.urls import psycopg2_params
from tests.test_cli import FAST, dsn_of, rlsguard

pytestmark = pytest.mark.slow
ORIGINAL_CONNECT = psycopg2.connect
ORIGINAL_PSYCOPG_CONNECT = psycopg.connect.__func__  # type: ignore[attr-defined]
ORIGINAL_ASYNCPG_CONNECT = asyncpg.connect

HARDENED = Path(__file__).parent / "fixtures" / "hardened_project"
ENV_PY_FROM_DATABASE_URL = """
import os

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
config.set_main_option("sqlalchemy.url", os.environ["DATABASE_URL"])


def run_migrations_online():
    engine = engine_from_config(
        config.get_section(config.config_ini_section), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
"""


def tables_in(url: URL) -> list[str]:
    with connected(url) as connection:
        return list(
            connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
        )


def test_an_env_py_that_reads_database_url_cannot_migrate_that_database(
    tmp_path: Path, rlsguard_server: Server, rlsguard_empty_database: Callable[[], URL]
) -> None:
    project = tmp_path / "fixtures" / "project"  # its migration reads ../../corpus/hardened.sql
    shutil.copytree(HARDENED, project)
    shutil.copytree(HARDENED.parents[1] / "corpus", tmp_path / "corpus")
    (project / "migrations" / "env.py").write_text(ENV_PY_FROM_DATABASE_URL)
    staging = rlsguard_empty_database().difference_update_query(["options"])
    staging_url = staging.render_as_string(hide_password=False)
    code, output = rlsguard(
        "check", "--dsn", dsn_of(rlsguard_server), *FAST, "--project", str(project),
        cwd=tmp_path, env={"DATABASE_URL": staging_url},
    )  # fmt: skip
    assert code == 2, output
    assert f"tried to connect to postgresql://{staging.username}@" in output, output
    assert f"/{staging.database}, not to the database rlsguard migrates" in output
    assert "env.py, line 15: with engine.connect() as connection:" in output
    assert '"What env.py must do" in docs/configuration.md' in output
    assert str(staging.password) not in output
    assert tables_in(staging) == []  # nothing was created there, not even alembic_version
    evidence = json.loads(beside(project / "reports" / EVIDENCE_NAME).read_text())
    assert evidence["incomplete"].startswith(
        "could not collect the checks: the migrations tried to connect to postgresql://"
    )


def test_an_env_py_that_uses_what_rlsguard_hands_in_still_migrates(
    tmp_path: Path, rlsguard_server: Server
) -> None:
    """The recipe the README gives for the DATABASE_URL pattern."""
    project = tmp_path / "fixtures" / "project"
    shutil.copytree(HARDENED, project)
    shutil.copytree(HARDENED.parents[1] / "corpus", tmp_path / "corpus")
    env_py = ENV_PY_FROM_DATABASE_URL.replace(
        'config.set_main_option("sqlalchemy.url", os.environ["DATABASE_URL"])',
        'if not config.get_main_option("sqlalchemy.url"):\n'
        '    config.set_main_option("sqlalchemy.url", os.environ["DATABASE_URL"])',
    )
    (project / "migrations" / "env.py").write_text(env_py)
    code, output = rlsguard(
        "check", "--dsn", dsn_of(rlsguard_server), *FAST, "--project", str(project),
        cwd=tmp_path, env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:9/nowhere"},
    )  # fmt: skip
    assert code == 0, output


def test_a_plain_psycopg2_connection_elsewhere_is_refused_too(
    rlsguard_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = rlsguard_server.url
    with only_this_database(ours, Path("env.py")):
        with pytest.raises(ForeignDatabaseError, match=r"127\.0\.0\.1:1/elsewhere"):
            psycopg2.connect("postgresql://someone:secret@127.0.0.1:1/elsewhere")
        with pytest.raises(ForeignDatabaseError):
            psycopg2.connect(host="localhost", port=ours.port, dbname="template1", user="x")
        with pytest.raises(ForeignDatabaseError, match=r"192\.0\.2\.1"):  # the name, elsewhere
            psycopg2.connect(hostaddr="192.0.2.1", port=ours.port, dbname=ours.database)
        with pytest.raises(ForeignDatabaseError, match="not an address libpq reads"):
            psycopg2.connect("postgresql+asyncpg://someone:secret@db.example/other")
        allowed = psycopg2.connect(**psycopg2_params(ours))  # the database it migrates
        allowed.close()
        # nothing given: libpq's environment says where, and the refusal names it
        monkeypatch.setenv("PGHOST", "127.0.0.1")
        monkeypatch.setenv("PGPORT", str(ours.port))
        monkeypatch.setenv("PGDATABASE", "template1")
        with pytest.raises(ForeignDatabaseError, match=rf"127\.0\.0\.1:{ours.port}/template1"):
            psycopg2.connect("")
    assert psycopg2.connect is ORIGINAL_CONNECT


def test_one_migration_at_a_time_on_a_server(rlsguard_run: Run) -> None:
    """Revisions create roles, which belong to the whole server: two processes (xdist
    workers) migrating their own databases wait for each other instead of racing."""
    server = rlsguard_run.server.url

    def project(migration_timeout: str) -> MigrationProject:
        return MigrationProject(
            rlsguard_run.settings.alembic_ini_path,
            rlsguard_run.settings.version_table,
            migration_timeout=migration_timeout,
            server=lambda: rlsguard_run.server,
        )

    target = rlsguard_run.url(rlsguard_run.empty_database("serialized"))
    with connected(server) as other:  # another process, in the middle of its migration
        other.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
        with pytest.raises(RlsguardError, match="another rlsguard process kept migrating"):
            project("300ms").upgrade(target)  # it waits for the lock that long
        other.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})")
    assert project("2min").upgrade(target)  # once it is done, the migration runs


def refused(attempt: Callable[[], object]) -> str:
    with pytest.raises(ForeignDatabaseError) as refusal:
        attempt()
    return str(refusal.value)


def test_psycopg_3_and_asyncpg_are_refused_elsewhere_and_let_through_to_ours(
    rlsguard_server: Server, rlsguard_empty_database: Callable[[], URL]
) -> None:
    """Each elsewhere is a real database on a running server (template1 beside ours): only
    the guard stands between the call and a connection."""
    ours = rlsguard_empty_database()
    secret = {"host": "127.0.0.1", "port": ours.port, "user": ours.username,
              "password": ours.password}  # fmt: skip
    conninfo = psycopg.conninfo.make_conninfo(**secret, dbname="template1")
    uri = ours.set(drivername="postgresql", database="template1", query={})
    uri = uri.render_as_string(hide_password=False)
    with only_this_database(ours, Path("env.py")):
        said = [
            refused(lambda: psycopg.connect(conninfo)),
            refused(lambda: psycopg.Connection.connect(**secret, dbname="template1")),
            refused(lambda: asyncio.run(psycopg.AsyncConnection.connect(conninfo))),
            refused(lambda: asyncio.run(asyncpg.connect(uri))),
            refused(lambda: asyncio.run(asyncpg.connect(**secret, database="template1"))),
            refused(lambda: asyncio.run(_asyncpg_pool(uri))),
        ]
        psycopg.connect(**secret, dbname=ours.database).close()
        asyncio.run(_asyncpg_round_trip(**secret, database=ours.database))
    for message in said:
        assert f"127.0.0.1:{ours.port}/template1, not to the database rlsguard" in message
        assert str(ours.password) not in message
    assert psycopg.connect.__func__ is ORIGINAL_PSYCOPG_CONNECT  # type: ignore[attr-defined]
    assert asyncpg.connect is ORIGINAL_ASYNCPG_CONNECT


async def _asyncpg_pool(dsn: str) -> None:
    async with asyncpg.create_pool(dsn, min_size=1):
        pass


async def _asyncpg_round_trip(**arguments: object) -> None:
    connection = await asyncpg.connect(**arguments)
    try:
        assert await connection.fetchval("SELECT current_database()") == arguments["database"]
    finally:
        await connection.close()


IMPORTED_WHILE_GUARDED = """
import asyncio, sys
from pathlib import Path
from sqlalchemy.engine import URL
from rlsguard.history.guard import ForeignDatabaseError, only_this_database

ours = URL.create("postgresql", username="u", password="secret", host="127.0.0.1",
                  port=1, database="ours")
with only_this_database(ours, Path("env.py")):
    pass
print("imported by the guard:", sorted({"psycopg", "asyncpg"} & set(sys.modules)))
with only_this_database(ours, Path("env.py")):
    import asyncpg.connection
    import psycopg
    from psycopg import connect
    attempts = {
        "psycopg.connect": lambda: connect("host=127.0.0.1 port=1 dbname=elsewhere"),
        "psycopg.Connection.connect": lambda: psycopg.Connection.connect(dbname="elsewhere"),
        "asyncpg.connect": lambda: asyncio.run(asyncpg.connect(database="elsewhere")),
        "asyncpg.connection.connect":
            lambda: asyncio.run(asyncpg.connection.connect(database="elsewhere")),
    }
    for name, attempt in attempts.items():
        try:
            attempt()
        except ForeignDatabaseError:
            print("refused:", name)
print("restored:", psycopg.connect.__func__.__module__, asyncpg.connect.__module__,
      asyncpg.connection.connect.__module__)
"""


def test_a_driver_imported_while_migrating_is_guarded_and_none_is_imported_for_it(
    tmp_path: Path,
) -> None:
    """psycopg 3 and asyncpg, imported by env.py while the guard holds: their connect
    functions are refused elsewhere, then given back; a driver nobody imports is not
    imported by the guard (psycopg 3 alone takes a quarter of a second)."""
    script = tmp_path / "guarded.py"
    script.write_text(IMPORTED_WHILE_GUARDED)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "imported by the guard: []",
        "refused: psycopg.connect",
        "refused: psycopg.Connection.connect",
        "refused: asyncpg.connect",
        "refused: asyncpg.connection.connect",
        "restored: psycopg.connection asyncpg.connection asyncpg.connection",
    ]


@pytest.mark.parametrize(
    ("source", "quoted"),
    [
        (
            'psycopg2.connect(host="127.0.0.1", port=1, dbname="elsewhere", password="Hunter2x")',
            'psycopg2.connect(host="127.0.0.1", port=1, dbname="elsewhere", password=***)',
        ),
        (
            'psycopg2.connect("postgresql://someone:Hunter2x@127.0.0.1:1/elsewhere")',
            'psycopg2.connect("postgresql://someone:***@127.0.0.1:1/elsewhere")',
        ),
        (
            'secret = "Hunter2x"; psycopg2.connect(dbname="elsewhere", password=secret)',
            'secret = "***"; psycopg2.connect(dbname="elsewhere", password=***)',
        ),
    ],
    ids=["keyword", "url", "variable"],
)
def test_the_env_py_line_a_refusal_quotes_spells_out_no_password(
    tmp_path: Path, source: str, quoted: str
) -> None:
    env_py = tmp_path / "env.py"
    env_py.write_text(f"import psycopg2\n{source}\n")
    ours = URL.create("postgresql", "u", "ours-secret", "127.0.0.1", 1, "ours")
    with only_this_database(ours, env_py), pytest.raises(ForeignDatabaseError) as refusal:
        runpy.run_path(str(env_py))
    assert f"{env_py.resolve()}, line 2: {quoted}." in str(refusal.value)
    assert "Hunter2x" not in str(refusal.value)
