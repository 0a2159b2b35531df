"""The probe items judged in lanes (probes/forked.py): at the first probe item, this
process and the ones it forks judge every probe item of the session, and each item then
takes its judgement in its own turn; an item the lanes did not judge (one that locks a
table, or that contention touched) is judged then, alone, as without lanes.

When every item before the first probe item is one of rlsguard's own migration or static
checks, the forked lanes start at the session's first item instead, and probe while this
process runs those checks (on a second core they would leave idle); what a migration
check's role change may have touched is judged again, alone (probes/lanes.py)."""

from __future__ import annotations

import os
import sys
import threading
from collections import Counter
from typing import Any, Protocol

import pytest

from rlsguard.plugin.stash import EARLY_LANES_KEY, INTERRUPTED, RUN_KEY
from rlsguard.plugin.workers import is_controller, workers_of
from rlsguard.probes.forked import LOCKED, RAISED, ROLES_CHANGED, Lanes
from rlsguard.probes.lanes import RoleWatch
from rlsguard.probes.registry import Probe
from rlsguard.probes.runner import ProbeResult

LANES_KEY = pytest.StashKey["ProbeLanes"]()
EARLY_KEY = pytest.StashKey[bool]()


class ProbeItem(Protocol):
    """What the lanes need of a probe item (plugin/items.py)."""

    probe: Probe
    target: str

    @property
    def nodeid(self) -> str: ...

    @property
    def config(self) -> pytest.Config: ...

    @property
    def session(self) -> pytest.Session: ...


FACT = "Probing processes"


def processes_by_default() -> int:
    """Two on Linux with two cores (measured to beat one on 2 busy cores, docs/speed.md),
    else one. (macOS forks too, but its system libraries are not all safe in a fork:
    ``--probe-processes`` asks for it there.)"""
    if not sys.platform.startswith("linux"):
        return 1
    return min(len(os.sched_getaffinity(0)), 2)


class ProbeLanes:
    """The session's lanes: ``count`` processes, or 1 (each item judged in its turn)."""

    def __init__(self, config: pytest.Config, count: int) -> None:
        self.config = config
        self.count = count
        self._judged: dict[str, ProbeResult] | None = None
        self.interrupted: KeyboardInterrupt | None = None
        self._early: Lanes | None = None  # forked at the session's first item
        self._left: Counter[str] = Counter()  # judgements the lanes left to this process: why

    def start_early(self, item: pytest.Item, probe_type: type, static_type: type) -> bool:
        """At the session's first item, when only rlsguard's own checks come before the
        first probe item: the forked lanes start now. True when they did."""
        items = item.session.items
        probes: list[Any] = [each for each in items if isinstance(each, probe_type)]
        if self.count < 2 or not probes:
            return False
        between = items[items.index(item) : items.index(probes[0])]
        if not all(isinstance(each, static_type) or _own_check(each) for each in between):
            return False
        run = item.config.stash[RUN_KEY]
        recipe = run.probe_recipe()
        if recipe.unavailable is not None:
            return False
        pairs = [(each.probe, each.target) for each in probes]
        lanes = Lanes(recipe, pairs, self.count, RoleWatch(*run.analysed_roles()))
        if not lanes.worth_forking:
            return False
        self._early = lanes
        self.config.stash[EARLY_LANES_KEY] = lanes.close  # the session may end before them
        lanes.start()
        return True

    def close(self) -> None:
        if self._early is not None:
            self._early.close()

    def drain(self) -> None:
        """Between the items before the probes: what the early lanes sent so far."""
        if self._early is not None and self._judged is None:
            self._early.drain()

    def protocol(self, item: ProbeItem) -> bool | None:
        """pytest_runtest_protocol for a probe item: at the first, the lanes judge them
        all. Interrupted then, the items they judged report, in their turn, the others do
        not run, and the session stops after the last of them (as a run in one process
        keeps the items it judged). None: pytest runs the item; True: it does not."""
        if self._judged is None:
            self._judged = {}
            if self.count > 1:
                self._judge_all(item)
            else:
                self._tell([], shared=False)
        if self.interrupted is None:
            return None
        later = self._probe_items(item)
        if not any(other.nodeid in self._judged for other in later[1:]):
            item.session.shouldstop = INTERRUPTED
        return None if item.nodeid in self._judged else True

    def judged(self, item: ProbeItem) -> ProbeResult | None:
        """``item``'s judgement, when the lanes made it (the roles were as analysed then)."""
        return (self._judged or {}).pop(item.nodeid, None)

    def _judge_all(self, first: ProbeItem) -> None:
        run = first.config.stash[RUN_KEY]
        items = self._probe_items(first)
        by_index: dict[int, ProbeResult] = {}
        shared = False
        lanes = self._early
        try:
            recipe = run.probe_recipe()
            with run.roles_as_analysed() as changed:
                if lanes is None and changed is None and recipe.unavailable is None:
                    pairs = [(item.probe, item.target) for item in items]
                    lanes = Lanes(recipe, pairs, self.count)
                    if lanes.worth_forking:
                        lanes.start()
                    else:
                        lanes = None
                if lanes is not None and changed is None:
                    shared = True
                    lanes.finish(by_index)
                    self._left = Counter(lanes.left.values())
        except KeyboardInterrupt as interrupt:
            self.interrupted = interrupt
            shared = True
        except Exception:  # each item meets it again, and says it
            by_index.clear()
        finally:
            if lanes is not None:
                lanes.close()
        self._judged = {items[index].nodeid: result for index, result in by_index.items()}
        self._tell(items, shared)

    @staticmethod
    def _probe_items(first: ProbeItem) -> list[ProbeItem]:
        """The session's probe items from ``first`` on."""
        items: list[ProbeItem] = [
            item for item in first.session.items if isinstance(item, type(first))
        ]
        return items[items.index(first) :]

    def _tell(self, items: list[ProbeItem], shared: bool) -> None:
        """The evidence's line on how many processes probed."""
        evidence = self.config.pluginmanager.get_plugin("rlsguard-evidence")
        if evidence is None:
            return
        if not shared:
            set_aside = (
                "; the process forked at the session's first item was stopped, and what it "
                "judged set aside: the probes could not start as analysed"
            )
            evidence.facts[FACT] = f"1 (the run's process{set_aside if self._early else ''})"
            return
        locking = sum(1 for item in items if item.probe.locks_table)
        judged = self._judged or {}
        met = len(items) - len(judged) - locking
        early = self._early is not None
        when = " at the session's first item, while it ran the migration checks" if early else ""
        processes = (
            f"{self.count} (the run's process and {self.count - 1} forked from it{when}, on one "
            "database)"
        )
        if self.interrupted:
            evidence.facts[FACT] = (
                f"{processes}; interrupted while they probed: {len(judged)} of {len(items)} "
                "probe items judged, the others not run"
            )
            return
        left = self._left
        lost = met - sum(left.values())
        evidence.facts[FACT] = (
            f"{processes}; left to the run's process, judged alone afterwards: {locking} probe "
            f"items that lock a table, and, with the rest of their table's group, "
            f"{left[ROLES_CHANGED]} that met a change of roles, {left[LOCKED]} another "
            f"process's lock and {left[RAISED]} an error"
            + (f"; {lost} a lane did not send back" if lost else "")
        )


def _own_check(item: pytest.Item) -> bool:
    """One of rlsguard's migration checks (rlsguard/suite.py): they migrate databases of
    their own and read the probes' copy, nothing else."""
    function = getattr(item, "function", None)
    return getattr(function, "__module__", None) == "rlsguard.suite"


def before_first_item(item: pytest.Item, probe_type: type, static_type: type) -> None:
    """pytest_runtest_protocol for an item that is not a probe: at the session's first,
    the lanes may start early (ProbeLanes.start_early); else they are decided at the first
    probe item, as before (a thread that is still ending now may be gone by then)."""
    if EARLY_KEY in item.config.stash:
        probing = item.config.stash.get(LANES_KEY, None)
        if probing is not None:
            probing.drain()
        return
    item.config.stash[EARLY_KEY] = True
    if LANES_KEY in item.config.stash:
        return
    lanes = ProbeLanes(item.config, _count(item.config))
    try:
        started = lanes.start_early(item, probe_type, static_type)
    except Exception:  # the server, the probe login: the first probe item meets it, and says it
        lanes.close()
        return
    if started:
        item.config.stash[LANES_KEY] = lanes


def lanes_of(config: pytest.Config) -> ProbeLanes:
    if LANES_KEY not in config.stash:
        config.stash[LANES_KEY] = ProbeLanes(config, _count(config))
    return config.stash[LANES_KEY]


def _count(config: pytest.Config) -> int:
    if hasattr(config, "workerinput") or is_controller(config) or workers_of(config) > 1:
        return 1  # pytest-xdist spreads the probes already
    if config.getoption("maxfail", 0):
        return 1  # judging everything first would delay the stop
    if threading.active_count() > 1:
        return 1  # a fork copies no other thread, nor frees the locks they hold
    given: int | None = config.getoption("rlsguard_probe_processes", None)
    if given is not None:
        return given if hasattr(os, "fork") else 1
    return processes_by_default()
