"""What rlsguard keeps on pytest's config for the whole session."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the keys' types only: the hooks import this without the machinery
    from rlsguard.report.evidence.baseline import Baseline
    from rlsguard.run import Run
    from rlsguard.server.process import InterruptSignals

INTERRUPTED = "interrupted (Ctrl-C or SIGTERM)"  # all a KeyboardInterrupt says of why

RUN_KEY: pytest.StashKey[Run] = pytest.StashKey()
BASELINE_KEY: pytest.StashKey[Baseline] = pytest.StashKey()  # findings that do not fail the gate
SIGNALS_KEY: pytest.StashKey[InterruptSignals] = pytest.StashKey()  # restored at the end
# ends lanes forked at the session's first item (plugin/lanes.py), before the run closes
EARLY_LANES_KEY: pytest.StashKey[Callable[[], None]] = pytest.StashKey()
