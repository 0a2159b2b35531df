"""A history that branches and merges: each branch's roundtrip starts from its parent, a
merge's from all of its branches, and a downgrade to base reverts the merge and both
branches (Alembic's "-1" is ambiguous at a merge)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rlsguard.migration_checks import (
    downgrade_to_base_problems,
    roundtrip_problems,
    upgrade_from_empty_problems,
)
from rlsguard.report.evidence.timeline import timeline
from rlsguard.run import Run
from tests.conftest import VERSIONS, migration

HEAD = "008_api_key_tenant_lookup"
MERGE = "010_merge"


def branched(project_copy: Callable[..., Path], merge_downgrade: str) -> Path:
    """The platform, then two branches from its head, each adding a table, merged by a
    revision that adds a third."""
    project = project_copy()
    versions = project / VERSIONS
    for branch in ("a", "b"):
        name = f"009_branch_{branch}"
        table = f"branch_{branch}"
        create = f"CREATE TABLE {table} (tenant_id uuid NOT NULL, id int)"  # no RLS
        text = migration(name, HEAD, [create], [f"DROP TABLE {table}"])
        (versions / f"{name}.py").write_text(text)
    parents = ("009_branch_a", "009_branch_b")
    create = "CREATE TABLE merged (tenant_id uuid NOT NULL, id int)"
    merge = migration(MERGE, parents, [create], [merge_downgrade])  # type: ignore[arg-type]
    (versions / f"{MERGE}.py").write_text(merge)
    return project


def test_a_merge_is_walked_up_down_up_and_down_to_base(
    run_for: Callable[[Path], Run], project_copy: Callable[..., Path]
) -> None:
    run = run_for(branched(project_copy, "DROP TABLE merged"))
    assert run.project.parents(MERGE) == ("009_branch_a", "009_branch_b")
    for revision in ("009_branch_a", "009_branch_b", MERGE):
        assert roundtrip_problems(run, revision) == []
    assert upgrade_from_empty_problems(run) == []
    assert downgrade_to_base_problems(run) == []


def test_the_timeline_tells_each_revision_against_its_own_parents(
    run_for: Callable[[Path], Run], project_copy: Callable[..., Path]
) -> None:
    run = run_for(branched(project_copy, "DROP TABLE merged"))
    steps = {step.revision: step for step in timeline(run)}
    assert [step.revision for step in steps.values()][-3:] == sorted(
        ["009_branch_a", "009_branch_b", MERGE], key=run.project.revision_ids().index
    )
    for revision, table in (("009_branch_a", "branch_a"), ("009_branch_b", "branch_b")):
        step = steps[revision]
        assert step.error is None
        assert ("RG101", f"public.{table}", "error") in step.appeared
        assert {key[1] for key in step.appeared} == {f"public.{table}"}, step.appeared
        assert step.fixed == []  # the other branch's tables are not "fixed" by this one
    merged = steps[MERGE]
    assert {key[1] for key in merged.appeared} == {"public.merged"}
    assert merged.fixed == []
    assert merged.total == steps[HEAD].total + sum(
        len(steps[name].appeared) for name in ("009_branch_a", "009_branch_b", MERGE)
    )
    up_to_a = [step.revision for step in timeline(run, upto="009_branch_a")]
    assert up_to_a == [*run.project.revision_ids()[:8], "009_branch_a"]  # not the other branch


def test_a_merge_whose_downgrade_leaves_its_table_is_caught(
    run_for: Callable[[Path], Run], project_copy: Callable[..., Path]
) -> None:
    run = run_for(branched(project_copy, "SELECT 1"))
    problems = roundtrip_problems(run, MERGE)
    assert problems
    assert problems[0].startswith(f"downgrade of {MERGE} did not restore the schema")
    assert "merged" in problems[0]
    assert not any("version table" in problem for problem in problems)
