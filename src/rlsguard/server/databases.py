"""Databases a run creates on its server (empty ones, and clones of a migrated
template), each dropped again when the run closes.

Names carry the pid and a random token, so two runs against one server never collide.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, create_engine
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

from rlsguard.errors import DatabaseRefusalError, ServerGone
from rlsguard.server.driver import (
    LOCK_NOT_AVAILABLE,
    QUERY_CANCELED,
    is_connection_lost,
    quote_ident,
)
from rlsguard.server.urls import redacted, with_database

MAX_IDENTIFIER = 63
REFUSAL_HINTS = {
    QUERY_CANCELED: "\n    (it ran longer than statement_timeout: raise it in [tool.rlsguard])",
    LOCK_NOT_AVAILABLE: "\n    (another session held a lock longer than lock_timeout allows)",
    "42501": "\n    (the login lacks a privilege: rlsguard needs a superuser's URL for --dsn)",
}


def describe_failure(error: BaseException) -> str:
    """The database's own words for a failed statement, and the statement; a URL in them
    shows no password."""
    return redacted(_described(error))


def _described(error: BaseException) -> str:
    if isinstance(error, DBAPIError) and error.orig is not None:
        original: Any = error.orig
        diagnostics = getattr(original, "diag", None)
        message = getattr(diagnostics, "message_primary", None) or str(original).strip()
        code = getattr(original, "pgcode", None)
        statement = " ".join(str(error.statement or "").split())
        if len(statement) > 400:
            statement = statement[:400] + " ..."
        located = f" [SQLSTATE {code}]" if code else ""
        said = f"{message}{located}\n    SQL: {statement}" if statement else f"{message}{located}"
        lines = str(getattr(diagnostics, "message_detail", None) or "").splitlines()
        detail = "; ".join(" ".join(line.split()) for line in lines if line.strip())
        if detail:  # e.g. which objects depend on a role a downgrade drops
            said += f"\n    DETAIL: {detail[:400]}{' ...' if len(detail) > 400 else ''}"
        return said
    return f"{type(error).__name__}: {error}"


def refused(error: BaseException) -> DatabaseRefusalError | None:
    """A database error in one of rlsguard's own statements (not a migration's, not a
    probe's), said as the database said it and what to change; None for any other error."""
    if not isinstance(error, DBAPIError) or error.orig is None:
        return None
    code = getattr(error.orig, "pgcode", None)
    hint = REFUSAL_HINTS.get(code or "", "")
    return DatabaseRefusalError(
        f"the database refused a statement of rlsguard: {describe_failure(error)}{hint}"
    )


def server_gone(error: BaseException) -> ServerGone | None:
    """The error as "the server went away" when all it says is that the connection is gone
    (a terminated backend, a stopped server), from a place that does not say so itself."""
    original = error.orig if isinstance(error, DBAPIError) else error
    if original is None or not is_connection_lost(original):
        return None
    said = str(original).strip()
    return ServerGone(said.splitlines()[0] if said else type(original).__name__)


class Databases:
    def __init__(self, server_url: URL) -> None:
        self.server_url = server_url
        self.token = f"rlsguard_{os.getpid()}_{secrets.token_hex(3)}"
        self._admin: Engine = create_engine(
            server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool
        )
        self._created: list[str] = []
        self._counter = 0

    def name_for(self, label: str) -> str:
        self._counter += 1
        slug = re.sub(r"[^a-z0-9_]+", "_", label.lower()).strip("_")
        return f"{self.token}_{self._counter}_{slug}"[:MAX_IDENTIFIER]

    def url(self, name: str) -> URL:
        return with_database(self.server_url, name)

    def create(self, label: str, template: str | None = None, name: str | None = None) -> str:
        """Create a database (empty, from ``template0``, or a copy of ``template``) named
        after ``label`` (or exactly ``name``); return its name."""
        name = name or self.name_for(label)
        self._execute(
            f"CREATE DATABASE {quote_ident(name)} TEMPLATE {quote_ident(template or 'template0')}"
        )
        self._created.append(name)
        return name

    def drop(self, name: str) -> None:
        self._execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
        if name in self._created:
            self._created.remove(name)

    def close(self) -> None:
        """Drop every database this run created, newest first."""
        try:
            for name in reversed(self._created):
                self.drop(name)
        except OperationalError:  # the server is gone, and its databases with it (or left)
            pass
        finally:
            self._admin.dispose()

    @property
    def created(self) -> tuple[str, ...]:
        return tuple(self._created)

    def _execute(self, statement: str) -> None:
        with self._admin.connect() as connection:
            connection.exec_driver_sql(statement)


@contextmanager
def connected(url: URL) -> Iterator[Connection]:
    """A connection of its own (no pool left behind), closed afterwards."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()
