"""A probe example's session: what it sends, and in how many round trips."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, cast

import psycopg2
import psycopg2.extensions
import pytest
from sqlalchemy.engine import URL

from rlsguard.probes.entry import Entry
from rlsguard.probes.transcript import Session, SetupFailed
from rlsguard.server.urls import psycopg2_params

pytestmark = pytest.mark.slow


class CountingCursor(psycopg2.extensions.cursor):
    sent: list[str] = []  # noqa: RUF012  (one test at a time uses it)

    def execute(self, query: Any, vars: Any = None) -> Any:
        CountingCursor.sent.append(str(query))
        return super().execute(query, vars)


@pytest.fixture
def session(rlsguard_empty_database: Callable[[], URL]) -> Iterator[Session]:
    connection = psycopg2.connect(
        **psycopg2_params(rlsguard_empty_database()), cursor_factory=CountingCursor
    )
    connection.autocommit = True
    connection.cursor().execute("CREATE TABLE t (id int PRIMARY KEY)")
    connection.autocommit = False
    probe_session = Session(connection, cast(Entry, None))
    probe_session.begin()
    CountingCursor.sent.clear()
    yield probe_session
    connection.close()


def test_a_refusal_with_nothing_pending_is_rolled_back_with_the_next_statement(
    session: Session,
) -> None:
    session.execute("INSERT INTO t VALUES (1)")
    refused = session.attempt("INSERT INTO t VALUES (1)")
    assert refused.error_code == "23505"
    after = session.attempt("SELECT count(*) FROM t")
    assert after.rows == [(1,)]  # the row before the refusal stays, the refused one never was
    assert len(CountingCursor.sent) == 3  # no round trip of its own for the rollback
    assert CountingCursor.sent[2].startswith("ROLLBACK TO SAVEPOINT probe_1;\nSAVEPOINT probe_2")


def test_a_refusal_of_what_was_pending_is_a_setup_failure_not_an_answer(
    session: Session,
) -> None:
    session.execute("INSERT INTO t VALUES (1)")
    session.defer("public.t", "INSERT INTO t VALUES (%s)", (1,))
    with pytest.raises(SetupFailed):
        session.attempt("SELECT count(*) FROM t")
