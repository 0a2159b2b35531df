"""End to end: this repository's migration tests (tests/test_migrations.py and
tests/test_seed_report.py) fail, and name the right tests, when a revision's
downgrade is broken, an index is dropped, or a policy is changed. (The isolation
items of tests/test_migrations.py are left out here: tests/test_probes.py and
tests/test_static_checks.py prove those.)"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from rlsguard.server import Server
from tests.conftest import Mutation, replace_once, run_python

SUITES = ("tests/test_migrations.py", "tests/test_seed_report.py")

TENANT_PREDICATE = "USING (tenant_id = current_setting('app.current_tenant_id', true)::uuid)"

MUTATIONS: dict[str, tuple[dict[str, Mutation], set[str]]] = {
    "unbroken": ({}, set()),
    "broken-downgrade": (
        {
            "004_add_tenant_configs_table": replace_once(
                '    op.drop_table("tenant_configs")', "    pass"
            )
        },
        {
            "tests/test_migrations.py::test_revision_roundtrip[004_add_tenant_configs_table]",
            "tests/test_migrations.py::test_downgrade_to_base_leaves_nothing",
        },
    ),
    "dropped-index": (
        {
            "001_initial_schema": replace_once(
                '    op.create_index("ix_users_role", "users", ["role"])\n', ""
            )
        },
        {
            "tests/test_migrations.py::test_models_match_migrations",
            "tests/test_seed_report.py::test_the_twenty_indexes_by_name_and_uniqueness",
        },
    ),
    "changed-policy": (
        {"002_enable_rls": replace_once(TENANT_PREDICATE, "USING (tenant_id IS NOT NULL)")},
        {
            f"tests/test_seed_report.py::test_policies_enforce_what_the_report_says[{table}]"
            for table in ("audit_logs", "documents", "tenant_api_keys", "users")
        }
        # 006's downgrade puts back the policy as shipped, not the changed one
        | {"tests/test_migrations.py::test_revision_roundtrip[006_force_rls_tenant_policies]"},
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MUTATIONS))
def test_migration_suite_fails_exactly_where_the_migrations_broke(
    name: str,
    project_copy: Callable[..., Path],
    rlsguard_server: Server,
    tmp_path: Path,
) -> None:
    mutations, expected_failures = MUTATIONS[name]
    copy = project_copy(mutations)
    result = run_python(
        "-m", "pytest", *SUITES,
        "--rlsguard-project", str(copy),
        "--rlsguard-dsn", rlsguard_server.url.render_as_string(hide_password=False),
        "--html", str(tmp_path / "report.html"),
        "-p", "no:cacheprovider",
        "-k", "not test_isolation and not test_probes",
        "-q", "-rf",
    )  # fmt: skip
    failed = set(re.findall(r"^FAILED (\S+)", result.stdout, flags=re.MULTILINE))
    assert failed == expected_failures, result.stdout[-3000:]
    assert result.returncode == (1 if expected_failures else 0), result.stdout[-3000:]
    assert re.search(r"\d+ passed", result.stdout), result.stdout[-3000:]
