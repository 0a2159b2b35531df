"""Where the PostgreSQL server comes from (``sources``), the databases rlsguard makes on
it (``databases``), and the driver alone (``driver``, ``dsn``: what a static scan needs).

The names below are loaded on first use, so that importing ``rlsguard.server.driver``
does not load SQLAlchemy and every backend.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rlsguard.server.base import Server
    from rlsguard.server.docker import DockerServer
    from rlsguard.server.external import ExternalServer
    from rlsguard.server.local import LocalServer
    from rlsguard.server.sources import Provisioning, ServerRequest, provision, request_from

__all__ = [
    "DockerServer",
    "ExternalServer",
    "LocalServer",
    "Provisioning",
    "Server",
    "ServerRequest",
    "provision",
    "request_from",
]

_HOMES = {
    "Server": "base",
    "DockerServer": "docker",
    "ExternalServer": "external",
    "LocalServer": "local",
    "Provisioning": "sources",
    "ServerRequest": "sources",
    "provision": "sources",
    "request_from": "sources",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
