"""What the check and probe registries share: one entry per id, docs from docstrings."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

Entry = TypeVar("Entry")


def add_once(registry: dict[str, Entry], kind: str, id: str, entry: Entry) -> None:
    if id in registry:
        raise ValueError(f"{kind} id {id} registered twice")
    registry[id] = entry


def doc_of(function: Callable[..., Any]) -> str:
    return inspect.cleandoc(function.__doc__ or "")
