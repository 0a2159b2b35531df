"""A run of some of rlsguard's items (``-k``, ``-m``, ``--deselect``, ``--last-failed``,
node ids, ``-x``, or none of them: ``--collect-only``) says so: its evidence is marked
incomplete, so a run of a few checks never stands as the evidence of all of them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from rlsguard.plugin.items import IsolationItem, ProbeItem, Unanalyzable

LEFT_OUT = "rlsguard_left_out"  # in a worker's workeroutput: what its collection left out
SELECTING_OPTIONS = (
    ("keyword", "-k"),
    ("markexpr", "-m"),
    ("deselect", "--deselect"),
    ("lf", "--last-failed"),
    ("stepwise", "--stepwise"),
)


def is_evidence(item: pytest.Item) -> bool:
    """Does the item leave a record in the evidence: a check, a probe, a stand-in for
    either, or one of rlsguard's migration tests?"""
    return isinstance(item, (IsolationItem, ProbeItem, Unanalyzable)) or is_migration_test(item)


def is_migration_test(item: pytest.Item) -> bool:
    """One of ``rlsguard.suite``'s tests, wherever a test module imported it."""
    return getattr(getattr(item, "function", None), "__module__", "") == "rlsguard.suite"


class Selection:
    """Counts the items of the evidence that pytest left out; on an xdist controller, as
    its workers (which collect) tell it."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.left_out = 0  # items of the evidence deselected
        self.named: list[str] = []  # node ids on the command line that chose among them

    def pytest_deselected(self, items: Sequence[pytest.Item]) -> None:
        self.left_out += sum(1 for item in items if is_evidence(item))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """A node id chooses among a file's items unless the file (or its folder) is on
        the command line as a whole too."""
        here = session.config.invocation_params.dir
        files = {item.path for item in session.items if is_evidence(item)}
        whole = [(here / arg).resolve() for arg in session.config.args if "::" not in arg]
        for arg in session.config.args:
            path = (here / arg.split("::")[0]).resolve()
            covered = any(path == entire or entire in path.parents for entire in whole)
            if "::" in arg and path in files and not covered:
                self.named.append(arg)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any) -> None:
        """Every worker collects the same items: one's account is the run's."""
        said = getattr(node, "workeroutput", {}).get(LEFT_OUT)
        if said:
            self.left_out = max(self.left_out, int(said[0]))
            self.named = self.named or list(said[1])

    def pytest_sessionfinish(self) -> None:
        output = getattr(self.config, "workeroutput", None)
        if output is not None:  # sent to the controller after this hook
            output[LEFT_OUT] = [self.left_out, self.named]

    def reason(self, session: pytest.Session) -> str | None:
        """Why not every item of the evidence ran, or None when every one did."""
        parts = []
        if self.config.getoption("collectonly", False):
            parts.append("pytest only collected the items (--collect-only)")
        if self.left_out:
            parts.append(f"{self.left_out} of rlsguard's items were deselected ({self._how()})")
        if self.named:
            parts.append(f"only the items named by node id ran ({', '.join(self.named)})")
        stopped = session.shouldfail or session.shouldstop
        if stopped:
            parts.append(f"pytest stopped before every item ran ({stopped})")
        return "; ".join(parts) or None

    def _how(self) -> str:
        ways = []
        for option, flag in SELECTING_OPTIONS:
            value = self.config.getoption(option, None)
            if isinstance(value, str) and value:
                ways.append(f"{flag} {value!r}")
            elif isinstance(value, list) and value:
                ways += [f"{flag} {each}" for each in value]
            elif value:
                ways.append(flag)
        return ", ".join(ways) or "by a plugin"
