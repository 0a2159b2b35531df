"""rlsguard's own checks as pytest tests, for any Alembic project.

``rlsguard check`` runs this module. In a project's own test suite, import the tests
into a test module (the tests take their database from rlsguard's fixtures)::

    from rlsguard.suite import *  # noqa: F403

or only some of them, e.g. the migration tests without the static isolation checks::

    from rlsguard.suite import (test_single_head, test_revision_roundtrip, ...)
"""

from __future__ import annotations

import pytest

from rlsguard import migration_checks
from rlsguard.plugin.items import IsolationChecks, ProbeChecks
from rlsguard.run import Run

__all__ = [
    "test_downgrade_to_base_leaves_nothing",
    "test_isolation",
    "test_models_match_migrations",
    "test_probes",
    "test_revision_roundtrip",
    "test_single_head",
    "test_upgrade_from_empty_to_head",
]


def _expect_none(problems: list[str]) -> None:
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_single_head(rlsguard_run: Run) -> None:
    _expect_none(migration_checks.head_problems(rlsguard_run))


def test_revision_roundtrip(rlsguard_run: Run, rlsguard_revision: str) -> None:
    """Parametrized with every revision of the history, oldest first."""
    _expect_none(migration_checks.roundtrip_problems(rlsguard_run, rlsguard_revision))


def test_upgrade_from_empty_to_head(rlsguard_run: Run) -> None:
    """After the roundtrips: their walk, when it reached the head, is the second build."""
    _expect_none(migration_checks.upgrade_from_empty_problems(rlsguard_run))


def test_downgrade_to_base_leaves_nothing(rlsguard_run: Run) -> None:
    _expect_none(migration_checks.downgrade_to_base_problems(rlsguard_run))


def test_models_match_migrations(rlsguard_run: Run) -> None:
    problems = migration_checks.model_problems(rlsguard_run)
    if problems is None:
        pytest.skip("env.py declares no target_metadata, so there are no models to compare")
    _expect_none([f"models and migrations differ: {line}" for line in problems])


test_isolation = IsolationChecks()
"""Expanded by the plugin into one item per static check and inspected object."""

test_probes = ProbeChecks()
"""Expanded by the plugin into one item per probe and object."""
