"""The static checks: each one a small function, registered with a stable id (see
``registry``); importing this package registers them all."""

from __future__ import annotations

from rlsguard.checks import (  # noqa: F401  registers them
    admin,
    context,
    data,
    doors,
    functions,
    policies,
    rls,
    roles,
    server,
)
from rlsguard.checks.registry import REGISTRY, Check

__all__ = ["Check", "all_checks"]


def all_checks() -> list[Check]:
    return REGISTRY.sorted()
