"""rlsguard's generic migration checks, run against the platform's migrations."""

from rlsguard.suite import *  # noqa: F403
