"""Database URLs: parsing what a person typed, and showing it without the password."""

from __future__ import annotations

import re
from typing import Any

from psycopg2.extensions import parse_dsn as parse_libpq
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from rlsguard.errors import ConfigError

DRIVER = "postgresql+psycopg2"


def parse_dsn(dsn: str) -> URL:
    """Accept ``postgresql://``, ``postgres://``, ``postgresql+psycopg2://`` or a libpq
    keyword string (``host=... dbname=...``) and return a psycopg2 SQLAlchemy URL."""
    text = dsn.strip()
    if not text:
        raise ConfigError("the database URL is empty")
    if "://" not in text:
        return _from_keywords(text)
    text = _at_signs_in_password_escaped(text)
    try:
        url = make_url(text)
    except ArgumentError as error:
        raise ConfigError(f"not a database URL: {redact_text(text)} ({error})") from None
    except ValueError:  # SQLAlchemy reads the port with int()
        raise ConfigError(f"the port in {redact_text(text)} is not a number") from None
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise ConfigError(
            f"rlsguard needs a PostgreSQL URL, got {url.get_backend_name()!r}: {redact(url)}"
        )
    if url.port is not None and not 0 < url.port < 65536:
        raise ConfigError(f"the port in {redact(url)} is out of range (1 to 65535)")
    return url.set(drivername=DRIVER)


def _at_signs_in_password_escaped(text: str) -> str:
    """``user:p@ss@host``: the host follows the last @ before the path, so an @ in the
    password is percent-encoded rather than read as the start of the host."""
    scheme, _, rest = text.partition("://")
    authority, slash, path = rest.partition("/")
    credentials, at, host = authority.rpartition("@")
    if not at or "@" not in credentials:
        return text
    user, colon, password = credentials.partition(":")
    escaped = f"{user}{colon}{password.replace('@', '%40')}"
    return f"{scheme}://{escaped}@{host}{slash}{path}"


def _from_keywords(text: str) -> URL:
    try:
        params = parse_libpq(text)
    except Exception as error:
        raise ConfigError(f"not a database URL or libpq connection string: {error}") from None
    port = params.pop("port", None)
    if port and not port.isdigit():
        raise ConfigError(f"the port in the connection string is not a number: {port!r}")
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


def redact_text(text: str) -> str:
    """Hide a password in a URL-looking string that could not be parsed."""
    scheme, sep, rest = text.partition("://")
    if not sep or "@" not in rest:
        return text
    credentials, _, location = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{location}" if ":" in credentials else text


def describe(url: URL) -> str:
    """Where a URL points, for error messages: ``user@host:port/database``."""
    host = url.host or url.query.get("host") or "localhost (Unix socket)"
    port = url.port or 5432
    return (
        f"{url.username or '(default user)'}@{host}:{port}/{url.database or '(default database)'}"
    )


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
    options = f"-c lock_timeout={lock_timeout} -c statement_timeout={statement_timeout}"
    return url.update_query_dict({"options": f"{kept} {options}".strip()})


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
