"""Plain ``alembic upgrade head`` / ``alembic downgrade base`` against whatever database
RLSGUARD_DATABASE_URL names, and offline SQL generation."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, pool

from rlsguard.run import Run
from tests.conftest import HEAD_REVISION, PROJECT, REVISIONS, query, run_python

ALEMBIC = [str(Path(sys.executable).parent / "alembic"), "-c", str(PROJECT / "alembic.ini")]


def alembic(*arguments: str, env: dict[str, str]) -> str:
    result = run_python("-c", "import sys; from alembic.config import main; main(sys.argv[1:])",
                        *ALEMBIC[1:], *arguments, env=env, cwd=PROJECT)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


@pytest.mark.slow
def test_upgrade_head_and_downgrade_base_from_the_command_line(rlsguard_run: Run) -> None:
    name = rlsguard_run.empty_database("alembic_cli")
    url = rlsguard_run.url(name)
    env = {
        "RLSGUARD_DATABASE_URL": url.render_as_string(hide_password=False).replace("+psycopg2", "")
    }
    try:
        log = alembic("upgrade", "head", env=env)
        for older, newer in itertools.pairwise(REVISIONS):
            assert f"Running upgrade {older} -> {newer}" in log
        assert query(url, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
        assert (
            rlsguard_run.fingerprint(name).sha256()
            == rlsguard_run.fingerprint(rlsguard_run.template()).sha256()
        )
        alembic("downgrade", "base", env=env)
        assert rlsguard_run.fingerprint(name).differences(rlsguard_run.empty_fingerprint()) == []
    finally:
        rlsguard_run.drop(name)


def test_no_database_named_is_a_clear_message() -> None:
    result = run_python("-c", "import sys; from alembic.config import main; main(sys.argv[1:])",
                        *ALEMBIC[1:], "upgrade", "head", env={"RLSGUARD_DATABASE_URL": ""}, cwd=PROJECT)  # fmt: skip
    assert result.returncode != 0
    assert "No database to migrate: set RLSGUARD_DATABASE_URL" in result.stdout + result.stderr


def test_offline_sql_for_the_whole_history() -> None:
    sql = alembic(
        "upgrade",
        "head",
        "--sql",
        env={"RLSGUARD_DATABASE_URL": "postgresql://offline@localhost/x"},
    )
    assert "CREATE TABLE tenants" in sql
    assert "CREATE POLICY tenant_isolation_users ON users" in sql
    assert "Fintech Template" in sql
    assert sql.count("UPDATE alembic_version SET version_num=") == len(REVISIONS) - 1


@pytest.mark.slow
def test_an_engine_handed_in_is_migrated_as_pytest_alembic_does(rlsguard_run: Run) -> None:
    """pytest-alembic puts an Engine, not a Connection, in ``config.attributes``."""
    name = rlsguard_run.empty_database("alembic_engine")
    url = rlsguard_run.url(name)
    engine = create_engine(url, poolclass=pool.NullPool)
    config = Config(str(PROJECT / "alembic.ini"))
    config.attributes["connection"] = engine
    try:
        command.upgrade(config, "head")
        assert query(url, "SELECT version_num FROM alembic_version") == [(HEAD_REVISION,)]
        command.downgrade(config, "base")
        assert rlsguard_run.fingerprint(name).differences(rlsguard_run.empty_fingerprint()) == []
    finally:
        engine.dispose()
        rlsguard_run.drop(name)
