"""The plugin's session, made where a pytest run uses rlsguard (``hooks.pytest_configure``
decides, or the first rlsguard fixture or item): the Run, the interrupt signals, the
workers' share, the gate's baseline and the evidence recorder. Importing it loads what
they need (SQLAlchemy, Alembic, Hypothesis, the report); the hooks do not."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlsguard import __version__
from rlsguard.config import Settings, load_settings
from rlsguard.errors import RlsguardError
from rlsguard.history.migrate import HEAD
from rlsguard.options import tenancy_overrides
from rlsguard.plugin.evidence import EvidenceCollector, add_environment
from rlsguard.plugin.provided import project_folder, provided_server
from rlsguard.plugin.stash import BASELINE_KEY, RUN_KEY, SIGNALS_KEY
from rlsguard.plugin.workers import (
    WorkersShare,
    is_controller,
    shared_server,
    shared_with_this_worker,
    workers_of,
)
from rlsguard.report.evidence.baseline import Baseline
from rlsguard.run import Run
from rlsguard.server import request_from
from rlsguard.server.process import DROPPED_INTERRUPT, InterruptSignals


def run_of(config: pytest.Config) -> Run:
    """The session's Run, made now if the run did not look like rlsguard's at first."""
    run = config.stash.get(RUN_KEY, None)
    return run if run is not None else activate(config)


def activate(config: pytest.Config) -> Run:
    """The session's Run, its interrupt signals, the workers' share, the baseline and the
    evidence recorder."""
    signals = InterruptSignals()
    signals.install()
    config.stash[SIGNALS_KEY] = signals
    provided = provided_server(config)
    try:
        settings = _settings(config)
    except RlsguardError as error:
        raise pytest.UsageError(str(error)) from None
    shared = shared_with_this_worker(config)
    given = provided.server if provided else shared_server(shared)
    config.stash[RUN_KEY] = run = Run(
        settings=settings,
        request=request_from(
            config.getoption("rlsguard_backend"),
            config.getoption("rlsguard_dsn"),
            config.getoption("rlsguard_pg_image"),
            config.getoption("rlsguard_pg_version"),
        ),
        given_server=given,
        revision=config.getoption("rlsguard_revision") or HEAD,
        seed=_hypothesis_seed(config),
        max_examples=config.getoption("rlsguard_max_examples"),
        shrink_seconds=config.getoption("rlsguard_shrink_seconds"),
        workers=workers_of(config),
    )
    if shared:
        run.adopt_templates(shared["templates"])
    elif is_controller(config):
        config.pluginmanager.register(WorkersShare(run), "rlsguard-workers")
    config.addinivalue_line(
        "filterwarnings", f"ignore:{DROPPED_INTERRUPT}:pytest.PytestUnraisableExceptionWarning"
    )
    add_environment(config, "rlsguard", __version__)
    baseline_path = config.getoption("rlsguard_baseline")
    baseline = Baseline.read(Path(baseline_path)) if baseline_path else None
    if baseline is not None and config.getoption("rlsguard_fail_on") == "new":
        config.stash[BASELINE_KEY] = baseline
    try:
        collector = EvidenceCollector(config, config.stash[RUN_KEY], baseline)
    except RlsguardError as error:
        raise pytest.UsageError(str(error)) from None
    config.pluginmanager.register(collector, "rlsguard-evidence")
    config.pluginmanager.register(collector.selection, "rlsguard-selection")
    return run


def _hypothesis_seed(config: pytest.Config) -> int | None:
    """``--hypothesis-seed`` (Hypothesis's own pytest option), for the probes too."""
    try:
        value = config.getoption("hypothesis_seed")
    except ValueError:
        return None
    return int(value) if value not in (None, "") else None


def _settings(config: pytest.Config) -> Settings:
    overrides = tenancy_overrides(lambda option: config.getoption(option.pytest_key))
    return load_settings(project_folder(config), overrides)
