"""Reading a database URL or libpq connection string as the driver's connection
parameters, with libpq's own parser: the one place a DSN is understood (``urls`` makes a
SQLAlchemy URL of it), and all a static scan needs to connect."""

from __future__ import annotations

from collections.abc import Mapping

from psycopg2.extensions import parse_dsn as parse_libpq

from rlsguard.errors import ConfigError

POSTGRES_SCHEMES = ("postgresql", "postgres")


def connection_params(dsn: str) -> dict[str, str]:
    """Accept ``postgresql://``, ``postgres://``, ``postgresql+psycopg2://`` or a libpq
    keyword string (``host=... dbname=...``); return libpq's keywords for it."""
    text = dsn.strip()
    if not text:
        raise ConfigError("the database URL is empty")
    if "://" not in text:
        return _checked_port(_parsed(text, "not a database URL or libpq connection string"), text)
    scheme, _, rest = text.partition("://")
    backend = scheme.split("+", 1)[0].lower()
    if backend not in POSTGRES_SCHEMES:
        raise ConfigError(f"rlsguard needs a PostgreSQL URL, got {backend!r}: {redact_text(text)}")
    uri = _spaces_in_query(_at_signs_in_password_escaped(f"postgresql://{rest}"))
    return _checked_port(_parsed(uri, f"not a database URL: {redact_text(text)}"), text)


def _parsed(text: str, problem: str) -> dict[str, str]:
    try:
        return dict(parse_libpq(text))
    except Exception as error:  # psycopg2.ProgrammingError, with libpq's reason
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "unreadable"
        raise ConfigError(f"{problem} ({reason})") from None


def _checked_port(params: dict[str, str], text: str) -> dict[str, str]:
    port = params.get("port")
    if port is None:
        return params
    where = redact_text(text) if "://" in text else "the connection string"
    if not port.isdigit():
        raise ConfigError(f"the port in {where} is not a number: {port!r}")
    if not 0 < int(port) < 65536:
        raise ConfigError(f"the port in {where} is out of range (1 to 65535)")
    return params


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


def _spaces_in_query(text: str) -> str:
    """A ``+`` in the query is a space, as in a form (and as SQLAlchemy renders a URL's
    ``options``); libpq would keep it as a plus."""
    location, question, query = text.partition("?")
    return f"{location}{question}{query.replace('+', '%20')}"


def redact_text(text: str) -> str:
    """Hide a password in a URL-looking string that could not be parsed."""
    scheme, sep, rest = text.partition("://")
    if not sep or "@" not in rest:
        return text
    credentials, _, location = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{location}" if ":" in credentials else text


def describe_params(params: Mapping[str, object]) -> str:
    """Where the parameters point, for error messages: ``user@host:port/database``."""
    host = params.get("host") or "localhost (Unix socket)"
    return (
        f"{params.get('user') or '(default user)'}@{host}:{params.get('port') or 5432}/"
        f"{params.get('dbname') or '(default database)'}"
    )


def timeout_options(given: str, lock_timeout: str, statement_timeout: str) -> str:
    """libpq ``options`` that keep ``given`` and bound how long a connection waits for a
    lock and runs a statement."""
    bounds = f"-c lock_timeout={lock_timeout} -c statement_timeout={statement_timeout}"
    return f"{given} {bounds}".strip()
