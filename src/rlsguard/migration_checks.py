"""The migration checks: one head, a clean build from nothing, every revision walked
up -> down -> up with the schema fingerprint compared at each turn, a downgrade to
base that leaves nothing behind, and models that match the migrated DDL.

Each check returns the problems it found, as lines a person can act on; an empty
list means the check holds. A revision that fails to apply raises MigrationError.
"""

from __future__ import annotations

from rlsguard.errors import MigrationError
from rlsguard.history.migrate import BASE, HEAD
from rlsguard.run import Run
from rlsguard.schema.fingerprint import Fingerprint


def _differences(
    what: str, expected: Fingerprint, found: Fingerprint, added: str = "left behind"
) -> list[str]:
    return [f"{what}: {line}" for line in expected.differences(found, added)]


def head_problems(run: Run) -> list[str]:
    heads = run.project.heads()
    if len(heads) == 1:
        return []
    if not heads:
        return [f"no revisions found under {run.project.script.dir}"]
    return [
        f"expected exactly one head, found {len(heads)}: {', '.join(sorted(heads))}; "
        "merge them with `alembic merge heads`"
    ]


def upgrade_from_empty_problems(run: Run) -> list[str]:
    """A second build from nothing must end at the head revision with the same schema as
    the session's template, built in one upgrade (so the migrations are deterministic).
    When the roundtrip walk has reached the head, every roundtrip clean, its database is
    that second build (made one revision at a time); else a new, empty database is
    upgraded to head."""
    head = run.resolve(HEAD)
    walked = run.roundtrip_walk().ended_at(head)
    if walked is not None:
        return _second_build_problems(run, *walked)
    with run.disposable(run.empty_database("upgrade_from_empty")) as name:
        url = run.url(name)
        run.project.upgrade(url, head)
        return _second_build_problems(run, run.project.current(url), run.fingerprint(name))


def _second_build_problems(run: Run, current: tuple[str, ...], found: Fingerprint) -> list[str]:
    problems = []
    if sorted(current) != sorted(run.project.heads()):
        problems.append(f"after upgrade the database is at {current}, not at the head")
    expected = run.fingerprint(run.template(HEAD))
    return problems + _differences(
        "a second build from nothing differs", expected, found, added="only in the second build"
    )


def roundtrip_problems(run: Run, revision: str) -> list[str]:
    """Starting just below ``revision``: up, down (the schema must be what it was), up
    again (the schema must be what the first upgrade made). The run's walk through every
    revision vouches for a clean one; else it is judged on a copy of the previous
    revision's template, which says what went wrong."""
    if run.roundtrip_walk().held_for(revision):
        return []
    project = run.project
    parents = project.parents(revision)
    first = parents[0] if parents else BASE
    start = run.empty_database(f"roundtrip_{revision}") if first == BASE else run.clone(first)
    # one connection for the whole walk; the start is a copy of the previous revision's
    # template, so its fingerprint is that revision's (read once per run)
    with run.disposable(start) as name, project.migrating(run.url(name)) as connection:
        for other in parents[1:]:  # a merge starts where all of its branches have arrived
            project.join_branch_on(connection, other)
        if parents[1:]:
            before = run.fingerprint_on(connection)
        else:
            before = run.revision_fingerprint(first, connection)
        project.upgrade_on(connection, revision)
        after_up = run.fingerprint_on(connection)
        project.step_down_on(connection, revision)
        problems = _differences(
            f"downgrade of {revision} did not restore the schema",
            before,
            run.fingerprint_on(connection),
        )
        landed, expected = tuple(sorted(project.current_on(connection))), tuple(sorted(parents))
        if landed != expected:
            problems.append(
                f"after downgrading {revision} the version table says {landed or '(empty)'}, "
                f"expected {expected or '(empty)'}"
            )
        try:
            project.upgrade_on(connection, revision)
        except MigrationError as error:
            return [*problems, f"upgrading {revision} again failed: {error.reason}"]
        return problems + _differences(
            f"upgrading {revision} again built a different schema",
            after_up,
            run.fingerprint_on(connection),
        )


def downgrade_to_base_problems(run: Run) -> list[str]:
    """From head all the way down: nothing of the schema may remain, and the version
    table (which Alembic keeps) must be empty."""
    with run.disposable(run.clone(HEAD, label="downgrade_to_base")) as name:
        url = run.url(name)
        run.project.downgrade(url, BASE)
        problems = _differences(
            "after downgrade to base", run.empty_fingerprint(), run.fingerprint(name)
        )
        remaining = run.project.current(url)
        if remaining:
            problems.append(f"after downgrade to base the version table still holds {remaining}")
        return problems


def model_problems(run: Run) -> list[str] | None:
    """Autogenerate's differences between the models and the database at head; None
    when the project's env.py declares no ``target_metadata``."""
    return run.project.model_differences(run.url(run.working_database(HEAD)))
