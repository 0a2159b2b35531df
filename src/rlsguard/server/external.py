"""A server someone else runs, named by a DSN: used as is, never stopped by rlsguard."""

from __future__ import annotations

from sqlalchemy.engine import URL

from rlsguard.errors import ProvisionError
from rlsguard.server.base import Server, try_connect, unreachable_message
from rlsguard.server.databases import connected
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

    def require_superuser(self) -> ExternalServer:
        """For a run's server: rlsguard creates its databases and its probe login there,
        and the migrations create roles, all of which need a superuser."""
        with connected(self._given) as connection:
            user, superuser = connection.exec_driver_sql(
                "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
            ).one()
        if not superuser:
            raise ProvisionError(
                f"the login of {redact(self._given)} ({user}) is not a superuser: rlsguard "
                "creates its own databases, the migrations' roles and a login for the probes "
                "on that server; give a superuser's URL, or no DSN to let rlsguard start a server"
            )
        return self

    def _stop(self) -> None:
        """The server belongs to someone else: nothing to stop."""

    def where(self) -> str:
        return f"DSN {redact(self._given)}"


class SharedServer(ExternalServer):
    """The server of another process of the same run (pytest-xdist's controller, for its
    workers): used as is and never stopped here; its owner stops it."""

    backend = "shared"

    def __init__(self, url: URL, owner_where: str) -> None:
        super().__init__(url)
        self._owner_where = owner_where

    def where(self) -> str:
        return f"{self._owner_where}, shared with pytest-xdist's workers"
