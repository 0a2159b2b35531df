"""Hypothesis, loaded on first use: registering the probes (for ``checks``,
``explain`` or a static scan, which run none) does not pay for importing Hypothesis."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any


class _OnFirstUse:
    """A module's attributes, the module imported when the first one is read."""

    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        value = getattr(importlib.import_module(self._module), name)
        setattr(self, name, value)  # read directly from now on
        return value


if TYPE_CHECKING:
    import hypothesis
    from hypothesis import stateful as state_machines
    from hypothesis import strategies as st
else:
    hypothesis = _OnFirstUse("hypothesis")
    st = _OnFirstUse("hypothesis.strategies")
    state_machines = _OnFirstUse("hypothesis.stateful")

__all__ = ["hypothesis", "st", "state_machines"]
