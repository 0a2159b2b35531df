"""The walk through every revision's roundtrip on one database vouches only for clean
roundtrips: at the first broken one it stops, and that revision and the later ones are
judged on copies of their templates, which say what went wrong."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rlsguard.migration_checks import roundtrip_problems
from rlsguard.run import Run
from tests.conftest import replace_once

pytestmark = pytest.mark.slow

BROKEN = {
    # the upgrade again fails too (the table is there)
    "leaves-a-table": (
        "004_add_tenant_configs_table",
        replace_once('    op.drop_table("tenant_configs")', "    pass"),
        "left behind: table public.tenant_configs",
    ),
    # only the fingerprint after the downgrade shows it (the GRANT again changes nothing)
    "leaves-a-grant": (
        "005_application_roles",
        replace_once('        op.execute(f"REVOKE USAGE ON SCHEMA public FROM {role}")\n', ""),
        "USAGE",
    ),
}


def test_the_walk_vouches_for_every_clean_roundtrip(
    project_copy: Callable[..., Path], run_for: Callable[[Path], Run]
) -> None:
    run = run_for(project_copy())
    revisions = run.project.revision_ids()
    walk = run.roundtrip_walk()
    assert [walk.held_for(revision) for revision in revisions] == [True] * len(revisions)
    assert not walk.stopped
    assert [roundtrip_problems(run, revision) for revision in revisions] == [[]] * len(revisions)


@pytest.mark.parametrize("case", list(BROKEN))
def test_the_walk_stops_at_a_broken_downgrade_and_the_copies_say_why(
    case: str, project_copy: Callable[..., Path], run_for: Callable[[Path], Run]
) -> None:
    broken_at, mutation, said = BROKEN[case]
    run = run_for(project_copy({broken_at: mutation}))
    revisions = run.project.revision_ids()
    at = revisions.index(broken_at)
    walk = run.roundtrip_walk()
    assert [walk.held_for(revision) for revision in revisions] == [True] * at + [False] * (
        len(revisions) - at
    )
    assert walk.stopped
    problems = roundtrip_problems(run, broken_at)
    assert problems[0].startswith(f"downgrade of {broken_at} did not restore the schema: ")
    assert said in "\n".join(problems), problems
    # the later revisions are judged on copies of their templates, where they hold
    assert [roundtrip_problems(run, revision) for revision in revisions[at + 1 :]] == [[]] * (
        len(revisions) - at - 1
    )
