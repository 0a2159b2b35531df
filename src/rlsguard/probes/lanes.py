"""Lanes: processes that probe one database at the same time, each on connections of its
own. What keeps their judgements those of a run alone:

- the numbers a lane's rows carry (keys, unique values, numeric tenant ids) are serials
  interleaved with the other lanes' (``Lane.number``), so no lane inserts a key another
  lane holds uncommitted, and none waits on it;
- a table's probes, and those of the tables whose proofs carry over to it (probes/alike.py),
  run in one lane, so rows shared by properties and proofs made once stay in one runner;
- the probes that lock a whole table (``locks_table``) run in no lane, after them;
- a statement another session's lock refused, or that was cancelled, is counted
  (``WatchedCursor``): every judgement of that table's group in that lane is then made
  again, alone.
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

__all__ = ["CONTENTION", "Lane", "Split", "WatchedCursor", "split"]

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


# what a probe costs, roughly, in examples: for sharing the work out evenly
def _weight(probe: Probe) -> int:
    if probe.own_engine:
        return 30
    return 1 if probe.deterministic else 10


@dataclass
class Split:
    """Which lane judges each (probe, object) pair, by its index; ``after``: the pairs
    that lock a table, judged once the lanes are done; ``group``: each pair's group."""

    lanes: list[list[int]]
    after: list[int] = field(default_factory=list)
    group: dict[int, str] = field(default_factory=dict)


def split(pairs: Sequence[tuple[Probe, str]], alike: AlikeTables, count: int) -> Split:
    """The pairs shared out over ``count`` lanes, a group (an object and the alike tables
    its proofs are made on) whole in one lane, the heaviest groups first, each to the lane
    with the least work so far; the pairs that lock a table count as the first lane's."""
    plan = Split(lanes=[[] for _ in range(count)])
    groups: dict[str, list[int]] = {}
    load = [0] * count
    for index, (probe, target) in enumerate(pairs):
        plan.group[index] = group = alike.model_of(target) or target
        if probe.locks_table:
            plan.after.append(index)
            load[0] += _weight(probe)
        else:
            groups.setdefault(group, []).append(index)
    weighed = sorted(groups.values(), key=lambda group: -sum(_weight(pairs[i][0]) for i in group))
    for members in weighed:
        lightest = load.index(min(load))
        plan.lanes[lightest].extend(members)
        load[lightest] += sum(_weight(pairs[index][0]) for index in members)
    for lane in plan.lanes:
        lane.sort()
    return plan
