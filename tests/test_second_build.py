"""The roundtrip walk, once it has reached the head with every roundtrip clean, serves as
the second build from nothing (the check that the migrations are deterministic) and, for
the evidence's timeline, as the database each revision is analysed on: the same verdicts
and steps as building them apart, without building them again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rlsguard import migration_checks
from rlsguard.report.evidence.timeline import timeline
from rlsguard.run import Run
from tests.conftest import HEAD_REVISION, REVISIONS, Mutation, replace_once

DATABASE_NAME = "    name = op.get_bind().exec_driver_sql('SELECT current_database()').scalar()\n"
MADE_IN = replace_once(
    "def upgrade() -> None:\n",
    f"def upgrade() -> None:\n{DATABASE_NAME}    op.execute(f'CREATE TABLE \"made_in_{{name}}\" ()')\n",
)
DROPPED = replace_once(
    "def downgrade() -> None:\n",
    f"def downgrade() -> None:\n{DATABASE_NAME}    op.execute(f'DROP TABLE \"made_in_{{name}}\"')\n",
)
# a table named after the database it is made in: each build's schema is its own
PER_DATABASE: dict[str, Mutation] = {HEAD_REVISION: lambda source: DROPPED(MADE_IN(source))}


def built_from_nothing(run: Run, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The labels of the empty databases ``run`` makes from now on."""
    labels: list[str] = []
    make = run.empty_database

    def spied(label: str = "empty") -> str:
        labels.append(label)
        return make(label)

    monkeypatch.setattr(run, "empty_database", spied)
    return labels


def walk_to_the_head(run: Run) -> None:
    for revision in REVISIONS:
        assert migration_checks.roundtrip_problems(run, revision) == [], revision


@pytest.mark.parametrize(
    ("walked", "built_by_the_check"),
    [(REVISIONS, []), (REVISIONS[:1], ["upgrade_from_empty"])],
    ids=["to the head", "short of it"],
)
def test_the_walk_that_reached_the_head_is_the_second_build(
    walked: list[str],
    built_by_the_check: list[str],
    run_for: Callable[[Path], Run],
    project_copy: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A walk short of the head leaves the check a build of its own."""
    run = run_for(project_copy())
    made = built_from_nothing(run, monkeypatch)
    for revision in walked:
        assert migration_checks.roundtrip_problems(run, revision) == [], revision
    assert made == ["roundtrip_walk"]
    assert migration_checks.upgrade_from_empty_problems(run) == []
    assert made == ["roundtrip_walk", *built_by_the_check]


@pytest.mark.parametrize("walked", [True, False], ids=["on the walk", "built apart"])
def test_a_schema_that_depends_on_the_database_is_caught(
    walked: bool,
    run_for: Callable[[Path], Run],
    project_copy: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = run_for(project_copy(PER_DATABASE))
    made = built_from_nothing(run, monkeypatch)
    if walked:
        walk_to_the_head(run)  # up, down, up on one database: each roundtrip is clean
    problems = migration_checks.upgrade_from_empty_problems(run)
    assert ("upgrade_from_empty" in made) is not walked
    template = run.template(HEAD_REVISION)
    differs = "a second build from nothing differs: "
    assert all(line.startswith(differs) for line in problems), problems
    tables = [line for line in problems if " table public.made_in_" in line]
    assert len(tables) == 2, tables
    assert any(
        line.startswith(f"{differs}missing: table public.made_in_{template} ") for line in tables
    )
    assert any(
        line.startswith(f"{differs}only in the second build: table public.made_in_")
        for line in tables
    )


def test_the_timeline_reads_the_revisions_the_walk_analysed(
    run_for: Callable[[Path], Run],
    project_copy: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = project_copy()
    apart = run_for(project)
    expected = timeline(apart)
    run = run_for(project)
    run.analyses_along_the_walk = True
    made = built_from_nothing(run, monkeypatch)
    walk_to_the_head(run)
    assert timeline(run) == expected
    assert made == ["roundtrip_walk"]  # no database of the timeline's own


def test_a_walk_that_is_not_asked_to_analyses_nothing(
    run_for: Callable[[Path], Run], project_copy: Callable[..., Path]
) -> None:
    run = run_for(project_copy())
    walk_to_the_head(run)
    assert not any(run._analysed(revision) for revision in REVISIONS)
