"""``rlsguard check``'s console inside its pytest run: a line per phase (migrations,
static checks, probes) as the phase ends, and the records the summary is built from.
Registered by the command only; a plain ``pytest`` keeps pytest's own console."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import TextIO

import pytest

from rlsguard.findings import Outcome
from rlsguard.plugin.evidence import RECORD
from rlsguard.plugin.items import IsolationCollector, ProbeCollector
from rlsguard.report.evidence.records import ItemRecord
from rlsguard.report.summary import PHASE_OF_KIND, PHASES, phase_line


class CheckConsole:
    def __init__(self, out: TextIO, *, quiet: bool = False) -> None:
        self.out = out
        self.quiet = quiet  # the verdict and the causes alone: no header, no phases
        self.records: list[ItemRecord] = []
        self.unrecorded: list[tuple[str, str]] = []  # failing items no record explains
        self.counts: dict[str, Counter[Outcome]] = {phase: Counter() for phase in PHASES}
        self.phase_of: dict[str, str] = {}  # test id -> phase, known after collection
        self.remaining: Counter[str] = Counter()
        self.printed: set[str] = set()
        self.since = time.monotonic()
        self.took: defaultdict[str, float] = defaultdict(float)  # seconds per item, by test id
        self.alike: Counter[str] = Counter()  # passes proven on an alike table, by phase
        self.config: pytest.Config | None = None

    def pytest_configure(self, config: pytest.Config) -> None:
        self.config = config

    def write(self, line: str) -> None:
        if self.quiet:
            return
        # pytest's own console (on with pytest's flags) may have left a line open
        terminal = self.config and self.config.pluginmanager.get_plugin("terminalreporter")
        if terminal:
            terminal.ensure_newline()
        self.out.write(line + "\n")
        self.out.flush()

    def pytest_sessionstart(self) -> None:
        self.since = time.monotonic()

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        for item in session.items:
            phase = _phase_of(item)
            self.phase_of[item.nodeid] = phase
            self.remaining[phase] += 1

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        recorded = [
            value
            for key, value in report.user_properties
            if key == RECORD and isinstance(value, dict)
        ]
        for value in recorded:
            record = ItemRecord(**value)
            self.records.append(record)
            phase = PHASE_OF_KIND.get(record.kind, PHASES[0])
            self.phase_of.setdefault(report.nodeid, phase)
            self.counts[phase][record.status] += 1
            self.alike[phase] += record.proven_on is not None and record.status is Outcome.PASS
        if report.failed and not recorded:
            self.counts[self.phase_of.get(report.nodeid, PHASES[0])][Outcome.FAIL] += 1
        if report.failed and not any(_says_why(value) for value in recorded):
            self.unrecorded.append((report.nodeid, report.longreprtext))
        self.took[report.nodeid] += report.duration
        ended = self.phase_of.get(report.nodeid) if report.when == "teardown" else None
        if ended is not None and ended in self.remaining:
            self.remaining[ended] -= 1
            if self.remaining[ended] == 0:
                self._phase_done(ended)

    def pytest_sessionfinish(self) -> None:
        """Phases whose end was not seen: an interrupt cut them short, or pytest-xdist's
        workers ran them side by side (its controller collects nothing), and then each
        says the time its items took."""
        for phase in PHASES:
            if sum(self.counts[phase].values()):
                self._phase_done(phase, side_by_side=phase not in self.remaining)

    def _phase_done(self, phase: str, *, side_by_side: bool = False) -> None:
        if phase in self.printed:
            return
        self.printed.add(phase)
        now = time.monotonic()
        seconds = (
            sum(took for item, took in self.took.items() if self.phase_of.get(item) == phase)
            if side_by_side
            else now - self.since
        )
        self.write(
            phase_line(
                phase,
                self.counts[phase],
                seconds,
                side_by_side=side_by_side,
                alike=self.alike[phase],
            )
        )
        self.since = now


def _says_why(record: dict[str, object]) -> bool:
    """A record of a failure whose own message or findings say what failed (not one of an
    error inside the item, such as a connection refused)."""
    return bool(record.get("findings") or record.get("kind") == "migration")


def _phase_of(item: pytest.Item) -> str:
    if isinstance(item.parent, IsolationCollector):
        return "static checks"
    if isinstance(item.parent, ProbeCollector):
        return "probes"
    return "migrations"
