"""While rlsguard runs a project's migrations, they can reach only the database rlsguard
migrates: an ``env.py`` that builds its own engine from ``DATABASE_URL`` (or any other
URL) would otherwise migrate that database, e.g. a staging one. A connection anywhere
else is refused before it is opened, so no statement is ever sent there."""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extensions
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine

from rlsguard.errors import ConfigError
from rlsguard.server.urls import redact_text

LOOPBACK = {"", "localhost", "127.0.0.1", "::1", "[::1]"}
ENV_PY_SECTION = '"What env.py must do" in docs/configuration.md'


class ForeignDatabaseError(ConfigError):
    """The project's migrations tried to connect to a database rlsguard did not hand them."""


def _same_host(one: str, other: str) -> bool:
    return one == other or (one in LOOPBACK and other in LOOPBACK)


def _where(params: Mapping[str, Any]) -> str:
    user = params.get("user") or ""
    host = params.get("host") or "localhost"
    port = params.get("port") or 5432
    return f"postgresql://{user}{'@' if user else ''}{host}:{port}/{params.get('dbname') or ''}"


class OnlyThisDatabase:
    """Refuses every connection but one to ``url``'s database, for the time it is active."""

    def __init__(self, url: URL, env_py: Path) -> None:
        self.url = url
        self.env_py = env_py.resolve()

    def check(self, params: Mapping[str, Any]) -> None:
        host = str(params.get("host") or "")
        port = int(params.get("port") or 5432)
        if (
            params.get("dbname") == self.url.database
            and port == (self.url.port or 5432)
            and _same_host(host, self.url.host or "")
        ):
            return
        raise ForeignDatabaseError(
            f"the migrations tried to connect to {redact_text(_where(params))}, not to the "
            f"database rlsguard migrates ({self.url.database}); the connection was refused "
            f"before it was opened. {self._culprit()}An env.py must use the connection "
            'rlsguard hands it (config.attributes["connection"]) or sqlalchemy.url, and read '
            f"DATABASE_URL or the like only when neither is given: see {ENV_PY_SECTION}."
        )

    def _culprit(self) -> str:
        """The line of env.py that asked for the connection, when it is on the stack."""
        for frame in reversed(traceback.extract_stack()):
            if frame.filename and Path(frame.filename).resolve() == self.env_py:
                return f"{self.env_py}, line {frame.lineno}: {(frame.line or '').strip()}. "
        return f"See {self.env_py}. "

    # -- the two ways a migration connects ------------------------------------------------------

    def on_engine_connect(self, _dialect: Any, _record: Any, _args: Any, params: Any) -> None:
        self.check(params)

    def psycopg2_connect(self, original: Any) -> Any:
        def connect(dsn: str | None = None, *args: Any, **kwargs: Any) -> Any:
            given = {key: value for key, value in kwargs.items() if value is not None}
            extra = {
                k: v
                for k, v in given.items()
                if k not in ("connection_factory", "cursor_factory", "async_")
            }
            params = psycopg2.extensions.parse_dsn(psycopg2.extensions.make_dsn(dsn, **extra))
            self.check(params)
            return original(dsn, *args, **kwargs)

        return connect


@contextlib.contextmanager
def only_this_database(url: URL, env_py: Path) -> Iterator[None]:
    guard = OnlyThisDatabase(url, env_py)
    original = psycopg2.connect
    event.listen(Engine, "do_connect", guard.on_engine_connect)
    psycopg2.connect = guard.psycopg2_connect(original)
    try:
        yield
    finally:
        psycopg2.connect = original
        event.remove(Engine, "do_connect", guard.on_engine_connect)
