"""What the plugin is handed: ``rlsguard check``'s server, and an xdist worker's share of
its controller's session (the workerinput keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rlsguard.server.base import Server

SHARED = "rlsguard_shared"  # the keys in a worker's workerinput
WORKERS = "rlsguard_workers"  # set for every worker of a controller that uses rlsguard


class ProvidedServer:
    """Hands an already started server to the plugin (``rlsguard check`` does this)."""

    def __init__(self, server: Server) -> None:
        self.server = server
