"""What rlsguard keeps on pytest's config for the whole session."""

from __future__ import annotations

import pytest

from rlsguard.report.evidence.gate import Baseline
from rlsguard.session import Run

RUN_KEY = pytest.StashKey[Run]()
BASELINE_KEY = pytest.StashKey[Baseline]()  # findings that do not fail the gate
