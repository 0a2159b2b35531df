"""A server someone else runs, named by a DSN: used as is, never stopped by rlsguard."""

from __future__ import annotations

from sqlalchemy.engine import URL

from rlsguard.errors import ProvisionError
from rlsguard.server.base import Server, try_connect, unreachable_message
from rlsguard.server.urls import redact


class ExternalServer(Server):
    backend = "dsn"

    def __init__(self, url: URL) -> None:
        super().__init__()
        self._given = url

    def _start(self) -> URL:
        reason = try_connect(self._given)
        if reason is not None:
            raise ProvisionError(unreachable_message(self._given, reason))
        return self._given

    def _stop(self) -> None:
        """The server belongs to someone else: nothing to stop."""

    def where(self) -> str:
        return f"DSN {redact(self._given)}"
