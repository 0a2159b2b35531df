"""A revision's ``migration_timeout``: once a revision has run that long, its running
statement is cancelled and every later one refused, so a revision of many short
statements (or of Python that waits between them) stops as surely as one long statement."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, event


class RevisionOverran(Exception):
    """A statement of a revision that has already run for ``migration_timeout``."""


class RevisionDeadline:
    """Active for one revision on the connection that migrates it."""

    def __init__(self, connection: Connection, seconds: float | None) -> None:
        self.connection = connection
        self.seconds = seconds
        self.expired = False
        self._timer: threading.Timer | None = None
        self._dbapi: Any = None

    def __enter__(self) -> RevisionDeadline:
        if self.seconds is None:
            return self
        self._dbapi = self.connection.connection.dbapi_connection
        event.listen(self.connection, "before_cursor_execute", self._refuse)
        self._timer = threading.Timer(self.seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        if self._timer is None:
            return
        self._timer.cancel()
        event.remove(self.connection, "before_cursor_execute", self._refuse)

    def _expire(self) -> None:
        self.expired = True
        if self._dbapi is not None:
            self._dbapi.cancel()  # libpq's cancel request: safe from another thread

    def _refuse(self, _connection: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if self.expired:
            shown = " ".join(statement.split())
            raise RevisionOverran(f"its time was up before this statement\n    SQL: {shown[:400]}")
