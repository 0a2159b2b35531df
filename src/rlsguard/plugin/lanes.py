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

from rlsguard.plugin.stash import RUN_KEY
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

    def judge(self, item: ProbeItem, alone: Callable[[], ProbeResult]) -> ProbeResult:
        """``item``'s judgement: the lanes' (who judge every probe item of the session at
        the first of them), or ``alone()``'s."""
        if self._judged is None:
            self._judged = self._judge_all(item) if self.count > 1 else {}
        found = self._judged.pop(item.nodeid, None)
        return found if found is not None else alone()

    def _judge_all(self, first: ProbeItem) -> dict[str, ProbeResult]:
        recipe = first.config.stash[RUN_KEY].probe_recipe()
        if recipe.unavailable is not None:
            return {}
        items: list[ProbeItem] = [
            item for item in first.session.items if isinstance(item, type(first))
        ]
        items = items[items.index(first) :]
        judged = judge_in_lanes(recipe, [(item.probe, item.target) for item in items], self.count)
        if judged:
            self._tell(len(items) - len(judged))
        return {items[index].nodeid: result for index, result in judged.items()}

    def _tell(self, alone: int) -> None:
        evidence = self.config.pluginmanager.get_plugin("rlsguard-evidence")
        if evidence is not None:
            evidence.facts[FACT] = (
                f"{self.count} (this one and {self.count - 1} forked from it, on one database; "
                f"{alone} judgement(s) made alone afterwards: those that lock a table or that "
                "met another process's lock)"
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
