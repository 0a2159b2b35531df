"""The evidence's timeline reads each revision on one database migrated a revision at a
time: the same findings as an analysis of each revision's own copy, nothing left behind,
and a revision that cannot be migrated named at every revision after it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rlsguard.report.evidence.timeline import timeline
from rlsguard.run import Run
from tests.conftest import replace_once

FAILING_REVISION = "005_application_roles"


def findings(run: Run, revision: str) -> set[tuple[str, str, str]]:
    return {
        (finding.check, finding.object, finding.severity.value)
        for finding in run.analysis(revision, lenient=True).findings
        if not finding.accepted
    }


def test_the_timeline_has_the_findings_of_each_revisions_own_copy(
    run_for: Callable[[Path], Run], project_copy: Callable[..., Path]
) -> None:
    project = project_copy()
    walked = run_for(project)
    walked.analysis("head")
    steps = timeline(walked)
    # the head's template and copy; the walk's own database is gone
    head = (*walked.built_templates().values(), walked.working_database("head"))
    assert walked.databases.created == head
    one_by_one = run_for(project)  # each revision on a template and a copy of its own
    before: set[tuple[str, str, str]] = set()
    assert [step.revision for step in steps] == walked.project.revision_ids()
    for step in steps:
        now = findings(one_by_one, step.revision)
        assert step.error is None
        assert (step.appeared, step.fixed, step.total) == (
            sorted(now - before),
            sorted(before - now),
            len(now),
        )
        before = now
    assert any(step.fixed for step in steps)
    assert any(step.appeared for step in steps[1:])


def test_a_revision_that_fails_is_named_at_every_revision_from_it(
    run_for: Callable[[Path], Run], project_copy: Callable[..., Path]
) -> None:
    project = project_copy(
        {
            FAILING_REVISION: replace_once(
                "def upgrade() -> None:\n", 'def upgrade() -> None:\n    op.execute("SELECT 1/0")\n'
            )
        }
    )
    run = run_for(project)
    steps = timeline(run, upto="007_tenant_scoped_keys")
    history = run.project.revision_ids()
    failing = history.index(FAILING_REVISION)
    assert [step.revision for step in steps] == history[
        : history.index("007_tenant_scoped_keys") + 1
    ]
    assert all(step.error is None and step.total for step in steps[:failing])
    for step in steps[failing:]:
        assert step.error is not None
        assert FAILING_REVISION in step.error
        assert "division by zero" in step.error
    assert run.databases.created == ()
