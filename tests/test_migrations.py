"""rlsguard's generic migration checks, run against the platform's migrations.

The static isolation checks (``rlsguard.suite.test_isolation``) are not imported here:
the shipped schema fails them, and tests/test_platform_findings.py pins exactly how."""

from rlsguard.suite import (  # noqa: F401
    test_downgrade_to_base_leaves_nothing,
    test_models_match_migrations,
    test_revision_roundtrip,
    test_single_head,
    test_upgrade_from_empty_to_head,
)
