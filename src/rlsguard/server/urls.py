"""Database URLs: parsing what a person typed, and showing it without the password."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.engine import URL

from rlsguard.server.dsn import connection_params, describe_params, timeout_options

DRIVER = "postgresql+psycopg2"


def parse_dsn(dsn: str) -> URL:
    """The DSN (see ``dsn.connection_params``) as a psycopg2 SQLAlchemy URL."""
    params = connection_params(dsn)
    port = params.pop("port", None)
    return URL.create(
        DRIVER,
        username=params.pop("user", None),
        password=params.pop("password", None),
        host=params.pop("host", None),
        port=int(port) if port else None,
        database=params.pop("dbname", None),
        query=params,
    )


def redact(url: URL) -> str:
    """The URL as a string with the password replaced by ``***``."""
    return url.render_as_string(hide_password=True)


def describe(url: URL) -> str:
    """Where a URL points, for error messages: ``user@host:port/database``."""
    return describe_params(psycopg2_params(url))


def with_database(url: URL, database: str) -> URL:
    return url.set(database=database)


def psycopg2_params(url: URL) -> dict[str, Any]:
    """Keyword arguments for ``psycopg2.connect``."""
    params: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": url.database,
    }
    for key, value in url.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    return {key: value for key, value in params.items() if value is not None}


def with_timeouts(url: URL, lock_timeout: str, statement_timeout: str) -> URL:
    """``url`` whose connections wait at most ``lock_timeout`` for a lock and run a
    statement for at most ``statement_timeout`` (libpq ``options``, kept from ``url``)."""
    given = url.query.get("options", "")
    kept = given if isinstance(given, str) else " ".join(given)
    options = timeout_options(kept, lock_timeout, statement_timeout)
    return url.update_query_dict({"options": options})


# user:password@ in a URL, and query parameters whose name says they carry a secret
_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^/\s:@]*)(?::[^/\s@]*)?@", re.I
)
_SECRET_PARAMETER = re.compile(
    r"(?P<name>[?&;](?:[\w.-]*(?:token|secret|passw(?:or)?d|pwd|api[_-]?key|apikey|auth|"
    r"signature|sig|credential|session)[\w.-]*|key|code))=(?P<value>[^&;#\s]*)",
    re.I,
)


def redacted(value: str) -> str:
    """``value`` with the credentials of every URL in it replaced by ``***``: the password
    (the user stays), and query parameters named like a secret (token, api_key, ...)."""
    value = _CREDENTIALS.sub(
        lambda found: (
            f"{found['scheme']}{found['user'] or '***'}:***@"
            if ":" in found.group(0)[len(found["scheme"]) :]
            else f"{found['scheme']}***@"
        ),
        value,
    )
    return _SECRET_PARAMETER.sub(lambda found: f"{found['name']}=***", value)
