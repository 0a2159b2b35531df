"""Acting as the application, an admin, or nobody, on one connection, and writing down
everything that was done so a failure can be replayed in psql.

Every example runs inside one transaction that is rolled back. The tenant context is
set the way the application sets it: ``SET LOCAL ROLE <app_role>``, then its entry
(``set_config(<setting>, <tenant>, true)``, a claims document, or a statement).
Statements that may fail run under a savepoint, so a rejected write does not end the example.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from rlsguard.errors import ServerGone
from rlsguard.probes.entry import Entry
from rlsguard.server.driver import QUERY_CANCELED, is_connection_lost, quote_ident

Params = Sequence[Any] | dict[str, Any] | None
Shown = Callable[[tuple[Any, ...]], bool]  # is this row one the probe made?


@dataclass
class Answer:
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    rowcount: int = 0
    error_code: str | None = None
    error: str | None = None
    notices: list[str] = field(default_factory=list)  # NOTICE/WARNING messages it raised

    @property
    def failed(self) -> bool:
        return self.error_code is not None

    @property
    def touched(self) -> int:
        """The rows a write changed: none when it was refused."""
        return 0 if self.failed else self.rowcount

    def describe(self, limit: int = 5, made: Shown | None = None) -> str:
        """What came back, and how many notices it raised (counted, not shown: one may carry
        a scanned database's own data); with ``made``, the values of rows the probe did not
        make are counted, never shown."""
        said = f"; {len(self.notices)} notice(s) raised" if self.notices else ""
        return self._described(limit, made) + said

    def _described(self, limit: int, made: Shown | None) -> str:
        if self.failed:
            return f"ERROR {self.error_code}: {self.error}"
        if self.rows:
            ours = [row for row in self.rows if made is None or made(row)]
            shown = ", ".join(repr(row) for row in ours[:limit])
            more = f", ... ({len(ours)} rows)" if len(ours) > limit else ""
            others = len(self.rows) - len(ours)
            hidden = f"{others} row(s) the probe did not make" if others else ""
            listed = ", ".join(part for part in (shown + more, hidden) if part)
            return f"{len(self.rows)} row{'s' if len(self.rows) != 1 else ''}: {listed}"
        return f"{self.rowcount} row{'s' if self.rowcount != 1 else ''}"


@dataclass
class Step:
    statement: str
    answer: Answer | None = None
    comment: str | None = None
    guarded: bool = False  # ran under a savepoint: a refusal does not end the transaction


class Transcript:
    def __init__(self) -> None:
        self.steps: list[Step] = []

    def note(self, comment: str) -> None:
        self.steps.append(Step("", comment=comment))

    def render(self, title: str, made: Shown | None = None) -> str:
        lines = [f"-- {title}", "BEGIN;"]
        for step in self.steps:
            if step.comment and not step.statement:
                lines.append(f"-- {step.comment}")
                continue
            refused = step.answer is not None and step.answer.failed
            if step.guarded and refused:
                lines.append("SAVEPOINT attempt;")
            lines.append(step.statement.rstrip(";") + ";")
            if step.answer is not None and (refused or step.answer.rows or step.answer.rowcount):
                lines.append(f"--> {step.answer.describe(made=made)}")
            if step.guarded and refused:
                lines.append("ROLLBACK TO SAVEPOINT attempt;")
        lines.append("ROLLBACK;")
        return "\n".join(lines)


class SetupFailed(Exception):
    """The database refused a row rlsguard made up (a constraint it did not understand)."""

    def __init__(self, table: str, error: str, statement: str | None = None) -> None:
        said = f"cannot generate rows for {table} because the database refused one: {error}"
        if statement:
            shown = (
                statement
                if len(statement) <= STATEMENT_SHOWN
                else (statement[:STATEMENT_SHOWN] + "...")
            )
            said += f"; the statement: {shown}"
        super().__init__(said)
        self.table = table


STATEMENT_SHOWN = 400  # characters of a refused statement a "cannot" message quotes


def refused_setup(error: psycopg2.Error, deferred: list[tuple[str, str]]) -> SetupFailed:
    """Which of the INSERTs sent together the database refused: the one of the table the
    error names, or the only one; else the tables they were for."""
    diag = getattr(error, "diag", None)
    named = f"{getattr(diag, 'schema_name', None)}.{getattr(diag, 'table_name', None)}"
    found = [pair for pair in deferred if pair[0] == named] or deferred
    if len(found) == 1:
        return SetupFailed(found[0][0], refusal_of(error), found[0][1])
    tables = list(dict.fromkeys(table for table, _ in found))
    return SetupFailed(
        tables[0] if len(tables) == 1 else f"one of {', '.join(tables)}", refusal_of(error)
    )


class StatementCancelled(Exception):
    """A statement outlived statement_timeout: neither a refusal nor an answer."""


def _lost_or(error: psycopg2.Error, connection: psycopg2.extensions.connection) -> Exception:
    """What a failed statement means when it is not the database refusing it: the server
    gone, or a statement cancelled (never read as a refusal, which would prove isolation)."""
    if is_connection_lost(error, connection):
        return ServerGone(_first_line(error))
    if error.pgcode == QUERY_CANCELED:
        return StatementCancelled(
            f"a statement was cancelled ({_first_line(error)}); raise statement_timeout"
        )
    return error


class Session:
    """One probe example's transaction on a psycopg2 connection, with its transcript.

    Setup INSERTs and role switches are not sent on their own: they wait in ``_pending``
    and go out in front of the next statement, so an example costs few round trips.
    """

    def __init__(self, connection: psycopg2.extensions.connection, entry: Entry) -> None:
        self.connection = connection
        self.entry = entry
        # the principal who acts for a tenant (made on first use); set by the example
        self.principal_of: Callable[[Any], Any] = lambda _tenant: None
        self.transcript = Transcript()
        self.identity = "setup"
        self._cursor = connection.cursor()
        self._savepoints = 0
        self._pending: list[str] = []
        self._deferred: list[tuple[str, str]] = []  # (table, statement) of pending INSERTs
        self.lost: ServerGone | None = None  # the connection is gone: no answer can be trusted

    def begin(self) -> None:
        self._rollback()
        self.transcript = Transcript()
        self.identity = "setup"
        self._clear_pending()

    def end(self) -> None:
        self._clear_pending()
        self._rollback()

    def _rollback(self) -> None:
        try:
            self.connection.rollback()
        except psycopg2.Error as error:
            raise self._lost_or(error) from None

    def mark(self, name: str) -> int:
        """A savepoint after what is pending (one round trip); what ``back_to`` returns to.
        The setup's refusal raises SetupFailed. Returns the transcript's length there."""
        self.execute(f"SAVEPOINT {name}")
        return len(self.transcript.steps)

    def back_to(self, name: str, steps: int) -> None:
        """Undo everything since ``mark(name)`` (rows, role, settings: all were local to
        the savepoint), with the next statement; the transcript forgets it too."""
        self._clear_pending()
        self._pending.append(f"ROLLBACK TO SAVEPOINT {name}")
        self.identity = "setup"
        del self.transcript.steps[steps:]

    def defer(self, table: str, statement: str | sql.Composable, params: Params) -> None:
        """A setup INSERT that goes out with the next statement."""
        text = self.text_of(statement, params)
        self._hold(text)
        self._deferred.append((table, text))

    # -- who we are ------------------------------------------------------------------------

    def as_setup(self) -> None:
        if self.identity != "setup":
            self._hold("RESET ROLE")
            self.identity = "setup"

    def as_role(
        self,
        role: str,
        tenant: Any = None,
        *,
        context: str = "set",
        edits: dict[str, Any] | None = None,
    ) -> None:
        """Become ``role``; with ``context`` "set" enter ``tenant`` the way the application
        does (``edits``: claims a user changed), "empty" sets its settings to '', "fresh"
        to what a new login as the application has (the database's defaults), "unset"
        leaves them alone."""
        entering = context == "set" and tenant is not None
        principal = self.principal_of(tenant) if entering and self.entry.needs_principal else None
        self._hold(f"SET LOCAL ROLE {quote_ident(role)}")
        if entering:
            statements = self.entry.enter(tenant, principal, edits)
        elif context == "fresh":
            statements = self.entry.fresh()
        else:
            statements = self.entry.emptied() if context != "unset" else []
        for statement, params in statements:
            self._hold(self.text_of(statement, params))
        self.identity = role

    def as_admin(self, admin: str) -> None:
        """Become an admin: its role, or the application in the admin context."""
        if admin != self.entry.admin_label:
            self.as_role(admin, None, context="empty")
            return
        self.as_role(self.entry.app, None, context="empty")
        for statement, params in self.entry.as_admin():
            self._hold(self.text_of(statement, params))

    def previous_request(
        self, role: str, statement: str | sql.Composable, params: Params = None
    ) -> Answer:
        """A request of its own before this example's rows exist, as ``role``, committed:
        what it leaves behind is only what outlives a transaction (session settings). It
        is read only, so it changes no data; nothing pending goes out with it."""
        text = self.text_of(statement, params)
        self.transcript.note("a previous request on this connection, committed")
        steps = ["SET TRANSACTION READ ONLY", f"SET LOCAL ROLE {quote_ident(role)}", text]
        for part in steps[:-1]:
            self.transcript.steps.append(Step(part))
        self._rollback()
        try:
            self._cursor.execute(";\n".join(steps))
            answer = _answer(self._cursor)
            self.connection.commit()
        except psycopg2.Error as error:
            if is_connection_lost(error, self.connection):
                raise self._lost_or(error) from None
            self._rollback()
            answer = Answer(error_code=error.pgcode, error=_first_line(error))
        self.transcript.steps += [Step(text, answer), Step("COMMIT"), Step("BEGIN")]
        return answer

    def forget(self, settings: Sequence[str]) -> None:
        """Put session settings back to what the login had (after ``previous_request``)."""
        self._rollback()
        try:
            self._cursor.execute(";\n".join(f"RESET {quote_ident(name)}" for name in settings))
            self.connection.commit()
        except psycopg2.Error as error:
            raise self._lost_or(error) from None

    # -- running statements ----------------------------------------------------------------

    def execute(self, statement: str | sql.Composable, params: Params = None) -> Answer:
        """Run a statement that must succeed (setup, role switches)."""
        step = Step(self.text_of(statement, params))
        self.transcript.steps.append(step)
        if not self._pending:
            try:
                self._cursor.execute(step.statement)
            except psycopg2.Error as error:
                raise self._lost_or(error) from None
            step.answer = _answer(self._cursor)
            return step.answer
        step.answer = self._send_after_pending(step.statement, refusal_ends=True)
        return step.answer

    def attempt(self, statement: str | sql.Composable, params: Params = None) -> Answer:
        """Run a statement that may be rejected; the example goes on either way. The
        savepoint goes out with the statement (one round trip) and is never released:
        the example's transaction is rolled back anyway."""
        step = Step(self.text_of(statement, params), guarded=True)
        self.transcript.steps.append(step)
        step.answer = self._send_after_pending(step.statement)
        return step.answer

    def _send_after_pending(self, text: str, *, refusal_ends: bool = False) -> Answer:
        """Send what is pending, a savepoint and ``text`` in one round trip. A refusal of
        ``text`` is rolled back to the savepoint (or raised, with ``refusal_ends``); a
        refusal of the pending part ends the example. With nothing pending only ``text``
        can have been refused, so the rollback waits for the next statement."""
        self._savepoints += 1
        name = f"probe_{self._savepoints}"
        pending = self._pending
        deferred = self._deferred
        self._clear_pending()
        batch = "".join(f"{part};\n" for part in pending) + f"SAVEPOINT {name};\n{text}"
        del self.connection.notices[:]
        try:
            self._cursor.execute(batch)
            answer = _answer(self._cursor)
            answer.notices = [notice.strip() for notice in self.connection.notices]
            return answer
        except psycopg2.Error as error:
            if is_connection_lost(error, self.connection) or error.pgcode == QUERY_CANCELED:
                raise self._lost_or(error) from None
            refusal = Answer(error_code=error.pgcode, error=_first_line(error))
            refusal.notices = [notice.strip() for notice in self.connection.notices]
            if not pending and not refusal_ends:
                self._pending.append(f"ROLLBACK TO SAVEPOINT {name}")
                return refusal
            try:
                self._cursor.execute(f"ROLLBACK TO SAVEPOINT {name}")
            except psycopg2.Error as later:  # no savepoint yet: the pending part failed
                if is_connection_lost(later, self.connection):
                    raise self._lost_or(later) from None
                if not deferred:
                    raise error from None
                raise refused_setup(error, deferred) from None
            if refusal_ends:
                raise error
            return refusal

    def _lost_or(self, error: psycopg2.Error) -> Exception:
        meaning = _lost_or(error, self.connection)
        if isinstance(meaning, ServerGone):
            self.lost = meaning
        return meaning

    def _hold(self, text: str) -> None:
        self.transcript.steps.append(Step(text))
        self._pending.append(text)

    def _clear_pending(self) -> None:
        self._pending = []
        self._deferred = []

    def text_of(self, statement: str | sql.Composable, params: Params) -> str:
        if params is None and isinstance(statement, str):
            return statement
        return self._cursor.mogrify(statement, params).decode(errors="replace")


def _answer(cursor: Any) -> Answer:
    rows = [tuple(row) for row in cursor.fetchall()] if cursor.description is not None else []
    return Answer(rows=rows, rowcount=max(cursor.rowcount, 0))


def _first_line(error: psycopg2.Error) -> str:
    diagnostics = getattr(error, "diag", None)
    message = getattr(diagnostics, "message_primary", None)
    return str(message or str(error).strip().splitlines()[0])


def refusal_of(error: psycopg2.Error) -> str:
    """The database's reason, its SQLSTATE, and the function (a trigger's, a CHECK's) that
    raised it when one did."""
    diag = getattr(error, "diag", None)
    context = str(getattr(diag, "context", None) or "")
    raised_in = re.search(r"(?:PL/pgSQL|SQL) function ([^\s(]+\([^)]*\))", context)
    where = f", raised in {raised_in.group(1)}" if raised_in else ""
    detail = str(getattr(diag, "message_detail", None) or "")
    shown = f" ({detail.splitlines()[0]})" if detail.startswith("Failing row contains") else ""
    return f"{_first_line(error)}{shown} [SQLSTATE {error.pgcode}{where}]"
