"""The probe items judged in lanes (probes/forked.py): at the first probe item, this
process and the ones it forks judge every probe item of the session, and each item then
takes its judgement in its own turn; an item the lanes did not judge (one that locks a
table, or that contention touched) is judged then, alone, as without lanes."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Protocol

import pytest

from rlsguard.plugin.stash import INTERRUPTED, RUN_KEY
from rlsguard.plugin.workers import is_controller, workers_of
from rlsguard.probes.forked import judge_in_lanes
from rlsguard.probes.registry import Probe
from rlsguard.probes.runner import ProbeResult

LANES_KEY = pytest.StashKey["ProbeLanes"]()


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

    def judge(self, item: ProbeItem, alone: Callable[[], ProbeResult]) -> ProbeResult:
        """``item``'s judgement: the lanes', or ``alone()``'s."""
        found = (self._judged or {}).pop(item.nodeid, None)
        return found if found is not None else alone()

    def _judge_all(self, first: ProbeItem) -> None:
        run = first.config.stash[RUN_KEY]
        items = self._probe_items(first)
        by_index: dict[int, ProbeResult] = {}
        shared = False
        try:
            recipe = run.probe_recipe()
            with run.roles_as_analysed() as changed:
                if changed is None and recipe.unavailable is None:
                    pairs = [(item.probe, item.target) for item in items]
                    shared = judge_in_lanes(recipe, pairs, self.count, by_index)
        except KeyboardInterrupt as interrupt:
            self.interrupted = interrupt
            shared = True
        except Exception:  # each item meets it again, and says it
            by_index.clear()
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
            evidence.facts[FACT] = "1 (the run's process)"
            return
        locking = sum(1 for item in items if item.probe.locks_table)
        judged = self._judged or {}
        met = len(items) - len(judged) - locking
        evidence.facts[FACT] = (
            f"{self.count} (the run's process and {self.count - 1} forked from it, on one "
            f"database); judged afterwards in the run's process alone: {locking} of probes "
            f"that lock a table, {met} that met another process's lock or raised"
            + (" or were not judged before the interrupt" if self.interrupted else "")
        )


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
