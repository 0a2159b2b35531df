"""The static checks: each one a small function, registered with a stable id, a short
name, a severity, the rows of ATTACKS.md it covers, and a doc (what leaks, how it is
used, how to fix it, with SQL).

A check names the objects it inspects (``objects``) and, for each, yields the problems
it finds (``inspect``). An object with no problem passes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rlsguard.findings import Severity
from rlsguard.registration import add_once, doc_of
from rlsguard.schema.tenancy import Tenancy


@dataclass(frozen=True)
class Problem:
    message: str
    severity: Severity | None = None  # None: the check's own severity


Objects = Callable[[Tenancy], Iterable[str]]
Inspect = Callable[[Tenancy, str], Iterable[Problem]]


@dataclass(frozen=True)
class Check:
    id: str
    name: str
    severity: Severity
    title: str
    attacks: tuple[int, ...]
    objects: Objects
    inspect: Inspect
    doc: str

    @property
    def label(self) -> str:
        return f"{self.id} {self.name}"


REGISTRY: dict[str, Check] = {}


def check(
    id: str, name: str, severity: Severity, title: str, *, attacks: Iterable[int], objects: Objects
) -> Callable[[Inspect], Inspect]:
    def register(function: Inspect) -> Inspect:
        entry = Check(
            id, name, severity, title, tuple(attacks), objects, function, doc_of(function)
        )
        add_once(REGISTRY, "check", id, entry)
        return function

    return register
