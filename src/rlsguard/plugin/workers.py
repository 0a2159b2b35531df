"""pytest-xdist's workers on one server and template: the controller starts the run's
server and builds the migrated template once, and every worker copies from them instead
of starting a server and migrating of its own. With ``--dist loadgroup`` the probes of a
table go to one worker, so the properties that share rows still do, and so do those of
the tables whose row security is the same (probes/alike.py), so that a proof is made
once (a big group is cut into parts, each proven on its own first table, so it spreads):
the scheduler reads the table from the item's name (xdist's own group suffix, which
``xdist_group`` marks make, no longer reaches it under pytest 9.2: pytest-xdist issue 1386).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rlsguard.errors import RlsguardError
from rlsguard.plugin.provided import SHARED, WORKERS
from rlsguard.probes import all_probes
from rlsguard.probes.alike import AlikeTables
from rlsguard.run import Run
from rlsguard.schema.targets import tenant_tables
from rlsguard.server.base import Server
from rlsguard.server.external import SharedServer
from rlsguard.server.urls import parse_dsn


class WorkersShare:
    """Registered in pytest-xdist's controller: hands each worker the server and template."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._shared: dict[str, Any] | None = None
        self._model_of_table: Callable[[str], str | None] | None = None

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getvalue("dist") != "loadgroup":
            return None
        return by_table(config, log, self.run.project.revision_ids(), self._model_of)

    def _model_of(self, table: str) -> str | None:
        """The table whose proofs hold for ``table`` (None also when the schema cannot be
        analysed here: each worker then says why)."""
        if self._model_of_table is None:
            try:
                tenancy = self.run.analysis().tenancy
            except RlsguardError:
                self._model_of_table = lambda _table: None
            else:
                tables = tenant_tables(tenancy)
                alike = AlikeTables(tenancy, tables, spread_over=self.run.workers)
                self._model_of_table = alike.model_of
        return self._model_of_table(table)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKERS] = self.run.workers
        shared = self._share()
        if shared:
            node.workerinput[SHARED] = shared

    def _share(self) -> dict[str, Any]:
        """Empty when the server or the template cannot be had: each worker then tries
        its own, and says why it cannot."""
        if self._shared is None:
            try:
                server = self.run.server
                self.run.template()
            except RlsguardError:
                self._shared = {}
            else:
                self._shared = {
                    "url": server.url.render_as_string(hide_password=False),
                    "where": server.where(),
                    "templates": self.run.built_templates(),
                }
        return self._shared


def is_controller(config: pytest.Config) -> bool:
    """pytest-xdist's controller of workers (``-n N``, or ``--tx`` specs with ``--dist``),
    not a worker and not a run in one process."""
    if not config.pluginmanager.hasplugin("xdist") or hasattr(config, "workerinput"):
        return False
    return getattr(config.option, "dist", "no") != "no"


def workers_of(config: pytest.Config) -> int:
    """How many workers pytest-xdist's controller starts (1 in a run in one process)."""
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None:
        return int(workerinput.get(WORKERS, 1))
    if not is_controller(config):
        return 1
    from xdist.workermanage import parse_tx_spec_config  # type: ignore[import-untyped]  # noqa: PLC0415

    try:
        return len(parse_tx_spec_config(config))
    except pytest.UsageError:
        return 1


def shared_with_this_worker(config: pytest.Config) -> dict[str, Any]:
    """What the controller shares with this worker (empty anywhere else)."""
    workerinput: dict[str, Any] = getattr(config, "workerinput", {})
    shared: dict[str, Any] = workerinput.get(SHARED, {})
    return shared


def shared_server(shared: dict[str, Any]) -> Server | None:
    """The controller's server, started here (connected to, its version read); None when
    nothing is shared or it cannot be reached: the worker then provides its own."""
    if not shared:
        return None
    try:
        return SharedServer(parse_dsn(shared["url"]), shared["where"]).start()
    except RlsguardError:
        return None


def by_table(
    config: pytest.Config,
    log: Any,
    revisions: list[str],
    model_of: Callable[[str], str | None] = lambda _table: None,
) -> Any:
    """pytest-xdist's group scheduling, where a probe item's group is its object (or the
    alike table its proofs are made on, ``model_of``) and a test parametrized by revisions
    is one group (the roundtrip walk is then done once)."""
    from xdist.scheduler import LoadGroupScheduling  # type: ignore[import-untyped]  # noqa: PLC0415

    suffixes = sorted((f"-{probe.name}]" for probe in all_probes()), key=len, reverse=True)
    by_revision = tuple(f"[{revision}]" for revision in revisions)

    class ByTable(LoadGroupScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            grouped: str = super()._split_scope(nodeid)
            if grouped != nodeid:
                return grouped
            if nodeid.endswith(by_revision):
                return nodeid.rpartition("[")[0]
            target = probe_target(nodeid, suffixes)
            if target is None:
                return nodeid
            return f"probes of {model_of(target) or target}"

    return ByTable(config, log)


def probe_target(nodeid: str, suffixes: list[str]) -> str | None:
    """The object a probe item (``...::rls[<object>-<probe name>]``) runs on."""
    _, marker, label = nodeid.rpartition("::rls[")
    if not marker:
        return None
    return next((label[: -len(end)] for end in suffixes if label.endswith(end)), None)
