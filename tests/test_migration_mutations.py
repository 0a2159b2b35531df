"""The migration checks catch deliberately broken copies of the platform's migrations,
and stay quiet on the unbroken copy."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from rlsguard import migration_checks
from rlsguard.errors import MigrationError
from rlsguard.run import Run
from tests.conftest import HEAD_REVISION, REVISIONS, Mutation, replace_once

MakeRun = Callable[[dict[str, Mutation] | None], Run]


@pytest.fixture
def run_of(project_copy: Callable[..., Path], run_for: Callable[[Path], Run]) -> MakeRun:
    def make(mutations: dict[str, Mutation] | None = None) -> Run:
        return run_for(project_copy(mutations))

    return make


def test_the_unbroken_copy_passes_every_check(run_of: MakeRun) -> None:
    run = run_of(None)
    assert migration_checks.head_problems(run) == []
    assert migration_checks.upgrade_from_empty_problems(run) == []
    for revision in REVISIONS:
        assert migration_checks.roundtrip_problems(run, revision) == [], revision
    assert migration_checks.downgrade_to_base_problems(run) == []
    assert migration_checks.model_problems(run) == []


def test_a_downgrade_that_leaves_the_table_behind(run_of: MakeRun) -> None:
    run = run_of(
        {
            "004_add_tenant_configs_table": replace_once(
                '    op.drop_table("tenant_configs")', "    pass"
            )
        }
    )
    problems = migration_checks.roundtrip_problems(run, "004_add_tenant_configs_table")
    assert (
        "downgrade of 004_add_tenant_configs_table did not restore the schema: "
        "left behind: table public.tenant_configs" in "\n".join(problems)
    )
    assert any("left behind: index public.ix_tenant_configs_tenant_id" in line for line in problems)
    assert problems[-1].startswith(
        "upgrading 004_add_tenant_configs_table again failed: "
        'relation "tenant_configs" already exists [SQLSTATE 42P07]'
    )
    # Downgrading everything then trips over the table that was left behind.
    with pytest.raises(MigrationError) as failure:
        migration_checks.downgrade_to_base_problems(run)
    assert failure.value.revision == "003_add_templates_table"
    assert "cannot drop table templates because other objects depend on it" in str(failure.value)


def test_a_downgrade_that_forgets_to_disable_rls(run_of: MakeRun) -> None:
    run = run_of(
        {
            "002_enable_rls": replace_once(
                '        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")\n', ""
            )
        }
    )
    problems = migration_checks.roundtrip_problems(run, "002_enable_rls")
    changed = [line for line in problems if "changed: table public." in line]
    assert len(changed) == 4, problems
    assert all("rls=off" in line and "-> owner=postgres rls=on" in line for line in changed)
    assert migration_checks.downgrade_to_base_problems(run) == []  # the tables go anyway


def test_a_downgrade_that_forgets_a_policy(run_of: MakeRun) -> None:
    run = run_of(
        {
            "002_enable_rls": replace_once(
                '        op.execute(f"DROP POLICY uber_admin_bypass_{table} ON {table}")\n', ""
            )
        }
    )
    *problems, upgrade_again = migration_checks.roundtrip_problems(run, "002_enable_rls")
    assert 'policy "uber_admin_bypass_users" for table "users" already exists' in upgrade_again
    assert sorted(line.split("left behind: ")[1].split(" (")[0] for line in problems) == [
        f"policy public.{table}.uber_admin_bypass_{table}"
        for table in ("audit_logs", "documents", "tenant_api_keys", "users")
    ]


def test_a_dropped_index_shows_as_a_model_difference(run_of: MakeRun) -> None:
    run = run_of(
        {
            "001_initial_schema": replace_once(
                '    op.create_index("ix_users_role", "users", ["role"])\n', ""
            )
        }
    )
    # the models are those this process imported first: of the repository or of a copy
    [problem] = migration_checks.model_problems(run) or []
    models = r"/\S+/migrations/platform_models\.py"
    assert re.fullmatch(
        f"add_index ix_users_role on users: the models in {models} declare this and no "
        f"migration creates it: write the migration, or remove it from {models}",
        problem,
    ), problem
    assert migration_checks.roundtrip_problems(run, "001_initial_schema") == []


def test_a_broken_upgrade_names_the_revision_and_the_sql_error(run_of: MakeRun) -> None:
    run = run_of(
        {
            "003_add_templates_table": replace_once(
                "    op.bulk_insert(_seed_table(), [_as_json_text(FINTECH_TEMPLATE)])",
                '    op.execute("ALTER TABLE no_such_table ADD COLUMN x int")',
            )
        }
    )
    with pytest.raises(MigrationError) as failure:
        migration_checks.upgrade_from_empty_problems(run)
    message = str(failure.value)
    assert failure.value.revision == "003_add_templates_table"
    assert message.startswith("upgrade of revision 003_add_templates_table failed: ")
    assert 'relation "no_such_table" does not exist [SQLSTATE 42P01]' in message
    assert "SQL: ALTER TABLE no_such_table ADD COLUMN x int" in message


def test_two_heads_are_reported(run_of: MakeRun, project_copy: Callable[..., Path]) -> None:
    run = run_of(None)
    branch = run.settings.project_root / "migrations" / "versions" / "005_branch.py"
    branch.write_text(
        'revision = "005_branch"\ndown_revision = "003_add_templates_table"\n'
        "branch_labels = None\ndepends_on = None\n\n"
        "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
    )
    run = Run(settings=run.settings, given_server=run.server)
    try:
        (problem,) = migration_checks.head_problems(run)
        # the rest of the suite still runs on the schema of both heads: one failure, named
        assert migration_checks.upgrade_from_empty_problems(run) == []
        assert run.analysis().tenancy.tenant_tables
    finally:
        run.close()
    assert problem.startswith(
        f"expected exactly one head, found 2: 005_branch, {HEAD_REVISION}; "
        "merge them with `alembic merge heads`"
    )
