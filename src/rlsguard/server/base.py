"""The one interface every way of providing a PostgreSQL server implements."""

from __future__ import annotations

import abc
import time
from types import TracebackType
from typing import Self

import psycopg2
from sqlalchemy.engine import URL

from rlsguard.errors import ProvisionError
from rlsguard.server.driver import MINIMUM_VERSION_NUM, refusal_reason, too_old, unreachable
from rlsguard.server.urls import psycopg2_params, redact


class Server(abc.ABC):
    """A PostgreSQL server rlsguard may create databases on.

    ``url`` names a superuser (or a role allowed to CREATE DATABASE) and a maintenance
    database. ``stop()`` is idempotent and releases everything ``start()`` made.
    """

    backend: str = ""

    def __init__(self) -> None:
        self._url: URL | None = None
        self.server_version = ""
        self.version_num = 0
        self.started_in = 0.0

    @property
    def url(self) -> URL:
        if self._url is None:
            raise RuntimeError(f"the {self.backend} server has not been started")
        return self._url

    @abc.abstractmethod
    def _start(self) -> URL:
        """Bring the server up and return the URL to reach it."""

    def _begin(self) -> None:  # noqa: B027  (a hook: most sources have nothing to begin)
        """Set going what can run while the caller goes on; ``_start`` finishes it. By
        default nothing: all of the start waits for ``start``."""

    @abc.abstractmethod
    def _stop(self) -> None:
        """Release whatever ``_begin`` and ``_start`` acquired. Must tolerate a
        half-finished start."""

    @abc.abstractmethod
    def where(self) -> str:
        """How the server was provided, for reports: no password in it."""

    def begin(self) -> Self:
        """Start what can run on its own (a local server's ``initdb``) and return at once;
        ``start`` then finishes. A source that cannot serve may say so here
        (BackendUnavailable). Either way the caller must ``stop`` it."""
        try:
            self._begin()
        except BaseException:
            self.stop()
            raise
        return self

    def start(self) -> Self:
        """Start the server; a server that is already started is returned as it is."""
        if self._url is not None:
            return self
        began = time.perf_counter()
        try:
            self._url = self._start()
            self.server_version, version_num = read_server_version(self._url)
            self.version_num = version_num
            if version_num < MINIMUM_VERSION_NUM:
                raise ProvisionError(too_old(self.server_version, self.where()))
        except BaseException:
            self.stop()
            raise
        self.started_in = time.perf_counter() - began
        return self

    def stop(self) -> None:
        self._stop()
        self._url = None

    @property
    def major(self) -> int:
        """The server's major version (PostgreSQL 10 and later number them by one part)."""
        return self.version_num // 10000

    def describe(self) -> str:
        version = f"PostgreSQL {self.server_version}, " if self.server_version else ""
        return f"{version}{self.where()}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        shown = redact(self._url) if self._url is not None else "not started"
        return f"<{type(self).__name__} {shown}>"


def read_server_version(url: URL) -> tuple[str, int]:
    connection = psycopg2.connect(connect_timeout=10, **psycopg2_params(url))
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('server_version'), "
                "current_setting('server_version_num')::int"
            )
            version, version_num = cursor.fetchone() or ("", 0)
    finally:
        connection.close()
    return str(version), int(version_num)


def try_connect(url: URL, timeout_seconds: int = 5) -> str | None:
    """Connect once; return None on success or the server's reason for refusing."""
    try:
        connection = psycopg2.connect(connect_timeout=timeout_seconds, **psycopg2_params(url))
    except psycopg2.Error as error:
        return refusal_reason(error, url.password)
    connection.close()
    return None


def unreachable_message(url: URL, reason: str) -> str:
    return unreachable(psycopg2_params(url), reason)
