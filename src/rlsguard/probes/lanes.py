"""Lanes: processes that probe one database at the same time, each on connections of its
own. What keeps their judgements those of a run alone:

- the numbers a lane's rows carry (keys, unique values, numeric tenant ids) are serials
  interleaved with the other lanes' (``Lane.number``), so no lane inserts a key another
  lane holds uncommitted, and none waits on it;
- a table's probes, and those of the tables whose proofs carry over to it (probes/alike.py),
  are a group that one lane takes whole, so rows shared by properties and proofs made once
  stay in one runner; the lanes take the groups in turn, the heaviest first, each the next
  one when it is done with its last;
- the probes that lock a whole table (``locks_table``) run in no lane, after them;
- a statement another session's lock refused, or that was cancelled, is counted
  (``WatchedCursor``): every judgement of that table's group in that lane is then made
  again, alone;
- forked lanes that start while the run still migrates (its migration checks) keep a
  judgement only when the roles were as analysed when it began and no row of the role
  catalogs they rest on changed until it ended (``RoleWatch``); else the rest of its
  group is made again, alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import psycopg2.extensions

from rlsguard.probes.alike import AlikeTables
from rlsguard.probes.plans import Lane
from rlsguard.probes.registry import Probe
from rlsguard.schema.queries import ROLE_STATE

__all__ = ["CONTENTION", "Lane", "RoleWatch", "Split", "WatchedCursor", "split"]

# serialization failure, deadlock, lock not available, statement cancelled
CONTENTION = frozenset({"40001", "40P01", "55P03", "57014"})


class WatchedCursor(psycopg2.extensions.cursor):
    """Counts, for this process, the statements ended by another session's lock or by a
    timeout: in a lane, a judgement they touched may not be the one a run alone makes."""

    contended = 0

    def execute(self, query: Any, vars: Any = None) -> Any:
        try:
            return super().execute(query, vars)
        except psycopg2.Error as error:
            if error.pgcode in CONTENTION:
                WatchedCursor.contended += 1
            raise


# the version of every row the roles acted as rest on, in the catalogs roles live in
# (shared by the server's databases): the roles (by name too, should one be made again),
# the roles they belong to, their memberships, and the settings they, this database and
# the server give a session (every row ROLE_STATE reads); an update, or a drop and create,
# gives a row a new ctid and xmin
ROLE_ROWS = """
WITH RECURSIVE reach(oid) AS (
    SELECT oid FROM pg_catalog.pg_authid WHERE rolname = ANY(%(roles)s)
  UNION
    SELECT m.roleid FROM pg_catalog.pg_auth_members m JOIN reach ON m.member = reach.oid
), own(oid) AS (
    SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()
)
SELECT md5(coalesce(string_agg(item, ',' ORDER BY item), '')) FROM (
    SELECT 'role ' || ctid::text || xmin::text AS item FROM pg_catalog.pg_authid
    WHERE oid IN (SELECT oid FROM reach) OR rolname = ANY(%(roles)s)
  UNION ALL
    SELECT 'member ' || ctid::text || xmin::text FROM pg_catalog.pg_auth_members
    WHERE member IN (SELECT oid FROM reach) OR roleid IN (SELECT oid FROM reach)
  UNION ALL
    SELECT 'setting ' || ctid::text || xmin::text FROM pg_catalog.pg_db_role_setting
    WHERE (setrole IN (SELECT oid FROM reach) AND setdatabase IN (0, (SELECT oid FROM own)))
       OR (setrole = 0 AND setdatabase IN (0, (SELECT oid FROM own)))
) AS rows
"""


@dataclass(frozen=True)
class RoleWatch:
    """What a judgement made while the run may migrate rests on: the roles it acts as
    (``roles``), as the analysis met them (``state``, ROLE_STATE's answer then). A migration
    check changes roles for every database on the server, even when it puts them back."""

    roles: list[str]
    state: str

    def seen(self, connection: psycopg2.extensions.connection) -> tuple[str, str] | None:
        """The roles' state and the versions of the role catalogs' rows, read on a
        superuser's ``connection`` in one statement; None when unreadable."""
        found = self._read(connection, f"SELECT ({ROLE_STATE}), ({ROLE_ROWS})")
        return (str(found[0] or ""), str(found[1] or "")) if found else None

    def rows(self, connection: psycopg2.extensions.connection) -> str | None:
        """The versions of the rows alone: while they are unchanged, so is the state."""
        found = self._read(connection, ROLE_ROWS)
        return str(found[0] or "") if found else None

    def as_analysed(self, seen: tuple[str, str] | None) -> bool:
        return seen is not None and seen[0] == self.state

    def _read(
        self, connection: psycopg2.extensions.connection, query: str
    ) -> tuple[Any, ...] | None:
        try:
            with connection.cursor() as cursor:
                cursor.execute(query, {"roles": self.roles})
                found: tuple[Any, ...] | None = cursor.fetchone()
                return found
        except psycopg2.Error:
            return None
        finally:
            if not connection.closed:
                connection.rollback()


def _weight(probe: Probe, target: str, alike: AlikeTables) -> int:
    """What judging ``probe`` on ``target`` costs, roughly, in tens of examples: for
    sharing the work out evenly (a pass carried from an alike table takes a few examples)."""
    if probe.own_engine:
        return 30
    carried = probe.same_on_alike_tables and alike.model_of(
        target, foreign_keys=probe.alike_by_foreign_keys
    )
    return 1 if probe.deterministic or carried else 10


@dataclass
class Split:
    """The (probe, object) pairs by index: ``groups``, each judged whole by one lane, the
    heaviest first; ``after``, the pairs that lock a table, judged once the lanes are
    done; ``group``, each pair's group."""

    groups: list[list[int]] = field(default_factory=list)
    after: list[int] = field(default_factory=list)
    group: dict[int, str] = field(default_factory=dict)


def split(pairs: Sequence[tuple[Probe, str]], alike: AlikeTables) -> Split:
    """The pairs in groups: an object and the alike tables its proofs are made on."""
    plan = Split()
    groups: dict[str, list[int]] = {}
    for index, (probe, target) in enumerate(pairs):
        plan.group[index] = group = alike.model_of(target) or target
        (plan.after if probe.locks_table else groups.setdefault(group, [])).append(index)
    weights = {
        group: sum(_weight(*pairs[index], alike) for index in members)
        for group, members in groups.items()
    }
    plan.groups = [groups[group] for group in sorted(groups, key=lambda group: -weights[group])]
    return plan
