"""Acting as the application, an admin, or nobody, on one connection, and writing down
everything that was done so a failure can be replayed in psql.

Every example runs inside one transaction that is rolled back. The tenant context is
set the way an application must set it: ``SET LOCAL ROLE <app_role>`` and
``set_config(<setting>, <tenant>, true)``. Statements that may fail run under a
savepoint, so a rejected write does not end the example.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from rlsguard.databases import quote_ident

Params = Sequence[Any] | dict[str, Any] | None


@dataclass
class Outcome:
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    rowcount: int = 0
    error_code: str | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error_code is not None

    def describe(self, limit: int = 5) -> str:
        if self.failed:
            return f"ERROR {self.error_code}: {self.error}"
        if self.rows:
            shown = ", ".join(repr(row) for row in self.rows[:limit])
            more = f", ... ({len(self.rows)} rows)" if len(self.rows) > limit else ""
            return f"{len(self.rows)} row{'s' if len(self.rows) != 1 else ''}: {shown}{more}"
        return f"{self.rowcount} row{'s' if self.rowcount != 1 else ''}"


@dataclass
class Step:
    statement: str
    outcome: Outcome | None = None
    comment: str | None = None
    guarded: bool = False  # ran under a savepoint: a refusal does not end the transaction


class Transcript:
    def __init__(self) -> None:
        self.steps: list[Step] = []

    def note(self, comment: str) -> None:
        self.steps.append(Step("", comment=comment))

    def render(self, title: str) -> str:
        lines = [f"-- {title}", "BEGIN;"]
        for step in self.steps:
            if step.comment and not step.statement:
                lines.append(f"-- {step.comment}")
                continue
            refused = step.outcome is not None and step.outcome.failed
            if step.guarded and refused:
                lines.append("SAVEPOINT attempt;")
            lines.append(step.statement.rstrip(";") + ";")
            if step.outcome is not None and (refused or step.outcome.rows or step.outcome.rowcount):
                lines.append(f"--> {step.outcome.describe()}")
            if step.guarded and refused:
                lines.append("ROLLBACK TO SAVEPOINT attempt;")
        lines.append("ROLLBACK;")
        return "\n".join(lines)


class SetupFailed(Exception):
    """The database refused a row rlsguard made up (a constraint it did not understand)."""

    def __init__(self, table: str, error: str) -> None:
        super().__init__(
            f"cannot generate rows for {table} because the database refused one: {error}"
        )
        self.table = table


class Session:
    """One probe example's transaction on a psycopg2 connection, with its transcript."""

    def __init__(self, connection: psycopg2.extensions.connection, setting: str) -> None:
        self.connection = connection
        self.setting = setting
        self.transcript = Transcript()
        self.identity = "setup"
        self._savepoints = 0
        self._deferred: list[tuple[str, str]] = []  # (table, rendered INSERT)

    def begin(self) -> None:
        self.connection.rollback()
        self.transcript = Transcript()
        self.identity = "setup"
        self._deferred = []

    def defer(self, table: str, statement: str | sql.Composable, params: Params) -> None:
        """A setup INSERT that goes out with the next statement."""
        text = self._text(statement, params)
        self.transcript.steps.append(Step(text))
        self._deferred.append((table, text))

    def _flush(self) -> None:
        if not self._deferred:
            return
        deferred, self._deferred = self._deferred, []
        with self.connection.cursor() as cursor:
            try:
                cursor.execute(";\n".join(text for _table, text in deferred))
            except psycopg2.Error as error:  # the example ends: its transaction is rolled back
                raise SetupFailed(deferred[0][0], _first_line(error)) from None

    def end(self) -> None:
        self._deferred = []
        self.connection.rollback()

    # -- who we are ------------------------------------------------------------------------

    def as_setup(self) -> None:
        self._flush()
        if self.identity != "setup":
            self.execute("RESET ROLE")
            self.identity = "setup"

    def as_role(self, role: str, tenant: Any = None, *, context: str = "set") -> None:
        """Become ``role``; with ``context`` "set" the tenant setting is ``tenant``,
        "empty" sets it to '', "unset" leaves it alone."""
        self._flush()
        become = f"SET LOCAL ROLE {quote_ident(role)}"
        self.transcript.steps.append(Step(become))
        if context == "unset":
            self._run(become, None)
        else:
            value = str(tenant) if context == "set" else ""
            self.transcript.steps.append(
                Step(self._text("SELECT set_config(%s, %s, true)", (self.setting, value)))
            )
            self._run(
                become + "; SELECT set_config(%s, %s, true)", (self.setting, value)
            )  # one round trip
        self.identity = role

    # -- running statements ----------------------------------------------------------------

    def execute(self, statement: str | sql.Composable, params: Params = None) -> Outcome:
        """Run a statement that must succeed (setup, role switches)."""
        self._flush()
        text = self._text(statement, params)
        step = Step(text)
        self.transcript.steps.append(step)
        with self.connection.cursor() as cursor:
            cursor.execute(statement, params)
            step.outcome = _outcome(cursor)
        return step.outcome

    def attempt(self, statement: str | sql.Composable, params: Params = None) -> Outcome:
        """Run a statement that may be rejected; the example goes on either way. The
        savepoint goes out with the statement (one round trip) and is never released:
        the example's transaction is rolled back anyway."""
        self._flush()
        text = self._text(statement, params)
        step = Step(text, guarded=True)
        self.transcript.steps.append(step)
        self._savepoints += 1
        name = f"probe_{self._savepoints}"
        guarded: sql.Composable = sql.Composed(
            [
                sql.SQL(f"SAVEPOINT {name}; "),
                sql.SQL(statement) if isinstance(statement, str) else statement,
            ]
        )
        with self.connection.cursor() as cursor:
            try:
                cursor.execute(guarded, params)
                step.outcome = _outcome(cursor)
            except psycopg2.Error as error:
                cursor.execute(f"ROLLBACK TO SAVEPOINT {name}")
                step.outcome = Outcome(error_code=error.pgcode, error=_first_line(error))
        return step.outcome

    def _run(self, statement: str, params: Params) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(statement, params)

    def _text(self, statement: str | sql.Composable, params: Params) -> str:
        with self.connection.cursor() as cursor:
            return cursor.mogrify(statement, params).decode(errors="replace")


def _outcome(cursor: Any) -> Outcome:
    rows = [tuple(row) for row in cursor.fetchall()] if cursor.description is not None else []
    return Outcome(rows=rows, rowcount=max(cursor.rowcount, 0))


def _first_line(error: psycopg2.Error) -> str:
    diagnostics = getattr(error, "diag", None)
    message = getattr(diagnostics, "message_primary", None)
    return str(message or str(error).strip().splitlines()[0])
