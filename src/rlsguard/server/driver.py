"""What rlsguard knows of PostgreSQL through its driver alone (psycopg2, no SQLAlchemy):
the SQLSTATEs it reacts to, lost connections, quoting, and the setting that marks a
server rlsguard started. A static scan needs nothing more."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg2
import psycopg2.extensions

from rlsguard.errors import ProvisionError
from rlsguard.server.dsn import describe_params

MINIMUM_VERSION_NUM = 130000  # DROP DATABASE ... WITH (FORCE)

LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of a lock not had within lock_timeout
QUERY_CANCELED = "57014"  # SQLSTATE of a statement stopped by statement_timeout
# SQLSTATEs of a connection the server ended: admin_shutdown, crash_shutdown,
# cannot_connect_now, and class 08 (connection exceptions)
SERVER_ENDED = ("57P01", "57P02", "57P03")
# set on every server rlsguard starts itself (``-c rlsguard.server=throwaway``), so that
# any connection to it, a DSN's included, can tell it holds nobody's data
THROWAWAY_SETTING = "rlsguard.server"


def is_connection_lost(error: BaseException, connection: Any = None) -> bool:
    """A psycopg2 error that means the server or the connection is gone, not a refusal."""
    if not isinstance(error, psycopg2.Error):
        return False
    code = error.pgcode or ""
    if code in SERVER_ENDED or code.startswith("08"):
        return True
    closed = bool(getattr(connection, "closed", 0))
    return closed or (
        not code and isinstance(error, psycopg2.OperationalError | psycopg2.InterfaceError)
    )


def quote_ident(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def refusal_reason(error: psycopg2.Error, password: object) -> str:
    """Why the server refused a connection, on one line, without the password."""
    message = str(error)
    text = " ".join(line.strip() for line in message.strip().splitlines() if line.strip())
    if password:
        text = text.replace(str(password), "***")
    return text or "connection refused"


def unreachable(params: Mapping[str, object], reason: str) -> str:
    return f"cannot connect to PostgreSQL as {describe_params(params)}: {reason}"


def too_old(version: str, where: str) -> str:
    return f"PostgreSQL {version} at {where} is too old: rlsguard needs 13 or newer"


@contextmanager
def direct_connection(
    params: dict[str, Any], timeout_seconds: int = 10
) -> Iterator[psycopg2.extensions.connection]:
    """A driver connection to a server someone else runs (see ``dsn``), closed afterwards:
    what a static scan reads the catalog on, without SQLAlchemy."""
    try:
        connection = psycopg2.connect(connect_timeout=timeout_seconds, **params)
    except psycopg2.Error as error:
        reason = refusal_reason(error, params.get("password"))
        raise ProvisionError(unreachable(params, reason)) from None
    try:
        if connection.server_version < MINIMUM_VERSION_NUM:
            version = connection.parameter_status("server_version") or "?"
            raise ProvisionError(too_old(version, f"DSN {describe_params(params)}"))
        yield connection
    finally:
        connection.close()
