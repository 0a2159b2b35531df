"""While rlsguard runs a project's migrations, they can reach only the database rlsguard
migrates: an ``env.py`` that builds its own engine from ``DATABASE_URL`` (or any other
URL) would otherwise migrate that database, e.g. a staging one. A connection anywhere
else is refused before it is opened, so no statement is ever sent there."""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg2
import psycopg2.extensions
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine

from rlsguard.errors import ConfigError
from rlsguard.server.dsn import redact_text

LOOPBACK = {"", "localhost", "127.0.0.1", "::1", "[::1]"}
ENV_PY_SECTION = '"What env.py must do" in docs/configuration.md'


class ForeignDatabaseError(ConfigError):
    """The project's migrations tried to connect to a database rlsguard did not hand them."""


# a password in source: in a URL's credentials, or given as password= (quoted or not)
PASSWORD_IN_URL = re.compile(r"(://[^:/@\s'\"]*:)[^@\s'\"]+@")
PASSWORD_GIVEN = re.compile(r"(password\s*=\s*)(?:'[^']*'|\"[^\"]*\"|[^\s'\",)]+)", re.IGNORECASE)


def hide_secrets(source: str, password: Any = None) -> str:
    """``source`` (a line of code) without ``password`` or a password it spells out."""
    if password:
        source = source.replace(str(password), "***")
    source = PASSWORD_IN_URL.sub(r"\1***@", source)
    return PASSWORD_GIVEN.sub(r"\1***", source)


def _same_host(one: str, other: str) -> bool:
    return one == other or (one in LOOPBACK and other in LOOPBACK)


def _where(params: Mapping[str, Any]) -> str:
    user = params.get("user") or ""
    host = params.get("hostaddr") or params.get("host") or "localhost"
    port = params.get("port") or 5432
    return f"postgresql://{user}{'@' if user else ''}{host}:{port}/{params.get('dbname') or ''}"


class OnlyThisDatabase:
    """Refuses every connection but one to ``url``'s database, for the time it is active."""

    def __init__(self, url: URL, env_py: Path) -> None:
        self.url = url
        self.env_py = env_py.resolve()

    def check(self, dsn: str | None, keywords: Mapping[str, Any]) -> None:
        """Lets a connection through only to the database rlsguard migrates; an address it
        cannot read is refused too."""
        password = _password_of(dsn, keywords)
        try:
            params = _address(dsn, keywords)
        except psycopg2.ProgrammingError:
            raise self._refusal(
                f"{redact_text(str(dsn))!r} (not an address libpq reads)", password
            ) from None
        host = str(params.get("hostaddr") or params.get("host") or "")
        port = str(params.get("port") or 5432)
        if (
            params.get("dbname") == self.url.database
            and port == str(self.url.port or 5432)
            and _same_host(host, self.url.host or "")
        ):
            return
        raise self._refusal(redact_text(_where(params)), password)

    def _refusal(self, where: str, password: Any) -> ForeignDatabaseError:
        return ForeignDatabaseError(
            f"the migrations tried to connect to {where}, not to the "
            f"database rlsguard migrates ({self.url.database}); the connection was refused "
            f"before it was opened. {self._culprit(password)}An env.py must use the connection "
            'rlsguard hands it (config.attributes["connection"]) or sqlalchemy.url, and read '
            f"DATABASE_URL or the like only when neither is given: see {ENV_PY_SECTION}."
        )

    def _culprit(self, password: Any) -> str:
        """The line of env.py that asked for the connection, when it is on the stack, with
        the password it may spell out hidden."""
        for frame in reversed(traceback.extract_stack()):
            if frame.filename and Path(frame.filename).resolve() == self.env_py:
                line = hide_secrets((frame.line or "").strip(), password)
                return f"{self.env_py}, line {frame.lineno}: {line}. "
        return f"See {self.env_py}. "

    # -- the ways a migration connects ----------------------------------------------------------

    def on_engine_connect(self, _dialect: Any, _record: Any, _args: Any, params: Any) -> None:
        self.check(None, params)

    def function(self, original: Any) -> Any:
        def connect(dsn: str | None = None, *args: Any, **kwargs: Any) -> Any:
            self.check(dsn, kwargs)
            return original(dsn, *args, **kwargs)

        return connect

    def coroutine(self, original: Any) -> Any:
        async def connect(dsn: str | None = None, *args: Any, **kwargs: Any) -> Any:
            self.check(dsn, kwargs)
            return await original(dsn, *args, **kwargs)

        return connect

    def class_method(self, original: Any) -> Any:
        def connect(cls: type, conninfo: str = "", *args: Any, **kwargs: Any) -> Any:
            self.check(conninfo, kwargs)
            return original.__func__(cls, conninfo, *args, **kwargs)

        return classmethod(connect)

    def async_class_method(self, original: Any) -> Any:
        async def connect(cls: type, conninfo: str = "", *args: Any, **kwargs: Any) -> Any:
            self.check(conninfo, kwargs)
            return await original.__func__(cls, conninfo, *args, **kwargs)

        return classmethod(connect)


def _password_of(dsn: str | None, keywords: Mapping[str, Any]) -> Any:
    if keywords.get("password"):
        return keywords["password"]
    try:
        return psycopg2.extensions.parse_dsn(dsn or "").get("password")
    except psycopg2.ProgrammingError:
        return None


def _address(dsn: str | None, keywords: Mapping[str, Any]) -> dict[str, Any]:
    """Where a driver's connect arguments lead, in libpq's words (asyncpg and SQLAlchemy's
    asyncpg and pg8000 dialects say ``database`` for ``dbname``)."""
    named = {
        "dbname" if key == "database" else key: value
        for key, value in keywords.items()
        if key in ADDRESS_KEYWORDS and value is not None
    }
    params = psycopg2.extensions.parse_dsn(psycopg2.extensions.make_dsn(dsn or "", **named))
    for key, variable in LIBPQ_ENVIRONMENT.items():  # what libpq falls back on
        if not params.get(key) and os.environ.get(variable):
            params[key] = os.environ[variable]
    return params


ADDRESS_KEYWORDS = ("host", "hostaddr", "port", "dbname", "database", "user")
LIBPQ_ENVIRONMENT = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
}
# The drivers' own connect functions, for an env.py that calls one directly. A driver
# already imported is guarded at once; one that is not is guarded when it is imported while
# the guard holds (a driver nobody imports costs nothing: psycopg 3 takes 0.25 s to import).
DRIVER_ENTRIES = (
    ("psycopg2", "", "connect", "function"),
    ("psycopg", "", "connect", "class_method_bound"),
    ("psycopg", "Connection", "connect", "class_method"),
    ("psycopg", "AsyncConnection", "connect", "async_class_method"),
    ("asyncpg", "", "connect", "coroutine"),
    ("asyncpg.connection", "", "connect", "coroutine"),
)


@contextlib.contextmanager
def _replaced(owner: Any, name: str, replacement: Any) -> Iterator[None]:
    original = vars(owner)[name]
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        setattr(owner, name, original)


@contextlib.contextmanager
def only_this_database(url: URL, env_py: Path) -> Iterator[None]:
    guard = OnlyThisDatabase(url, env_py)
    event.listen(Engine, "do_connect", guard.on_engine_connect)
    try:
        with contextlib.ExitStack() as replacements:
            later = _GuardOnImport(guard, replacements)
            for driver in dict.fromkeys(entry[0].partition(".")[0] for entry in DRIVER_ENTRIES):
                if driver in sys.modules:
                    _guard_driver(guard, driver, replacements)
                else:
                    later.waiting.add(driver)
            sys.meta_path.insert(0, later)
            try:
                yield
            finally:
                sys.meta_path.remove(later)
                later.waiting.clear()
    finally:
        event.remove(Engine, "do_connect", guard.on_engine_connect)


def _guard_driver(guard: OnlyThisDatabase, driver: str, replacements: contextlib.ExitStack) -> None:
    """Replaces the connect functions of ``driver`` (its package and the modules of it
    imported) with guarded ones, until ``replacements`` closes."""
    for module_name, class_name, name, kind in DRIVER_ENTRIES:
        module = sys.modules.get(module_name)
        if module_name.partition(".")[0] != driver or module is None:
            continue
        owner = getattr(module, class_name) if class_name else module
        original = getattr(owner, name)
        if kind == "class_method_bound":  # psycopg.connect is Connection.connect
            wrapped = guard.class_method(original).__get__(None, original.__self__)
        else:
            wrapped = getattr(guard, kind)(original)
        replacements.enter_context(_replaced(owner, name, wrapped))


class _GuardOnImport(importlib.abc.MetaPathFinder):
    """Guards a driver imported while the guard holds, once its package has run (before
    the importer can take a name from it); its own modules bound the originals then."""

    def __init__(self, guard: OnlyThisDatabase, replacements: contextlib.ExitStack) -> None:
        self.guard = guard
        self.replacements = replacements
        self.waiting: set[str] = set()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.waiting:
            return None
        self.waiting.discard(fullname)
        spec = next(
            (
                found
                for finder in sys.meta_path
                if finder is not self and hasattr(finder, "find_spec")
                if (found := finder.find_spec(fullname, path, target)) is not None
            ),
            None,
        )
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run_module = spec.loader.exec_module

        def exec_then_guard(module: ModuleType) -> None:
            run_module(module)
            if self in sys.meta_path:  # not a reload after the guard was lifted
                _guard_driver(self.guard, fullname, self.replacements)

        spec.loader.exec_module = exec_then_guard  # type: ignore[method-assign]
        return spec
