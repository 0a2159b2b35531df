"""What rlsguard keeps on pytest's config for the whole session."""

from __future__ import annotations

import pytest

from rlsguard.report.evidence.baseline import Baseline
from rlsguard.run import Run
from rlsguard.server.process import InterruptSignals

RUN_KEY = pytest.StashKey[Run]()
BASELINE_KEY = pytest.StashKey[Baseline]()  # findings that do not fail the gate
SIGNALS_KEY = pytest.StashKey[InterruptSignals]()  # restored when the session ends
