"""How ``rlsguard check`` hands its server to the plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rlsguard.server.base import Server


class ProvidedServer:
    """Hands an already started server to the plugin (``rlsguard check`` does this)."""

    def __init__(self, server: Server) -> None:
        self.server = server
