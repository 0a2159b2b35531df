"""The probes: properties proven by acting as tenants and admins on generated rows (see
``registry``); importing this package registers them all."""

from __future__ import annotations

from rlsguard.probes import (  # noqa: F401  registers them
    admin,
    doors,
    members,
    no_context,
    reads,
    roles,
    side_channels,
    side_doors,
    stateful,
    writes,
)
from rlsguard.probes.registry import PROBES, Probe

__all__ = ["Probe", "all_probes"]


def all_probes() -> list[Probe]:
    return PROBES.sorted()
