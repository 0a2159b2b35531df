"""Every revision's roundtrip (up, down, up again) walked on one database and one
connection, oldest first: each starts where the one before it ended, so no copy of a
template is made per revision, and each state's fingerprint is read once.

The walk starts from an empty database and applies the revisions in order, as the
templates are built, so a revision starts from the schema its template's copy has. It
only ever vouches for a clean roundtrip: at the first revision that fails, does not
restore the schema or leaves another version in the version table, it stops, and that
revision and every later one are judged on a copy of their previous revision's template,
which says what went wrong.

A walk that reached the last revision has built the schema from nothing, one revision
at a time: ``ended_at`` hands that build to the check of a second build from nothing.
``visit`` is told of each revision whose roundtrip held, with the walk's database there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import SQLAlchemyError

from rlsguard.errors import RlsguardError
from rlsguard.history.migrate import BASE, MigrationProject

Schema = TypeVar("Schema")  # what ``read`` gives: compared by ==


@dataclass
class Walk(Generic[Schema]):
    project: MigrationProject
    new_database: Callable[[], URL]  # an empty database, dropped with the run
    read: Callable[[Connection], Schema]  # the schema's fingerprint
    visit: Callable[[str, URL], None] | None = None
    held: set[str] = field(default_factory=set)  # revisions whose roundtrip held
    stopped: bool = False
    position: str = BASE
    _at: Schema | None = None
    _connection: Connection | None = None
    _url: URL | None = None
    _closing: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def held_for(self, revision: str) -> bool:
        """Walk on to ``revision``; whether its roundtrip held on the way."""
        order = self.project.revision_ids()
        while not self.stopped and revision not in self.held and revision in order:
            following = [item for item in order if self.project.previous(item) == self.position]
            if len(following) != 1:  # a branch, or the end: a walk is a line
                self.stop()
                break
            self._roundtrip(following[0])
        return revision in self.held

    def _roundtrip(self, revision: str) -> None:
        project = self.project
        try:
            with project.exclusive():
                connection = self._connected()
                before = self._at if self._at is not None else self.read(connection)
                project.upgrade_on(connection, revision)
                after_up = self.read(connection)
                project.step_down_on(connection, revision)
                restored = self.read(connection) == before
                landed = project.current_on(connection)
                project.upgrade_on(connection, revision)
                again = self.read(connection)
        except (RlsguardError, SQLAlchemyError):
            self.stop()  # judged on a copy, which says why
            return
        expected = () if self.position == BASE else (self.position,)
        if not restored or landed != expected or again != after_up:
            self.stop()
            return
        self.held.add(revision)
        self.position, self._at = revision, again
        if self.visit is not None and self._url is not None:
            self.visit(revision, self._url)

    def ended_at(self, revision: str) -> tuple[tuple[str, ...], Schema] | None:
        """When the walk stands at ``revision`` with every roundtrip on the way clean: its
        database's version table and schema (as ``read`` gives it); else None. It does not
        walk on."""
        if self.stopped or self._connection is None or self._at is None:
            return None
        if self.position != revision:  # not there yet, or beyond (an earlier revision)
            return None
        try:
            return self.project.current_on(self._connection), self._at
        except (RlsguardError, SQLAlchemyError):
            return None

    def _connected(self) -> Connection:
        if self._connection is None:
            self._url = url = self.new_database()
            self._connection = self._closing.enter_context(
                self.project.connection_for_migrations(url)
            )
        return self._connection

    def stop(self) -> None:
        self.stopped = True
        self.close()

    def close(self) -> None:
        self._connection = None
        with contextlib.suppress(SQLAlchemyError):  # the server may be gone
            self._closing.close()
