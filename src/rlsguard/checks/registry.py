"""The static checks: each one a small function, registered with a stable id, a short
name, a severity, the rows of docs/attacks.md it covers, and a doc (what leaks, how it is
used, how to fix it, with SQL).

A check names the objects it inspects (``objects``) and, for each, yields the problems
it finds (``inspect``). An object with no problem passes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rlsguard.findings import Severity
from rlsguard.registration import Objects, Registry, Rule, heading
from rlsguard.schema.tenancy import Tenancy


@dataclass(frozen=True)
class Problem:
    message: str
    severity: Severity | None = None  # None: the check's own severity
    cause: str | None = None  # the object behind it ("policy notes_admin"), shared by checks
    fix: str | None = None  # the SQL that repairs it, written for the object at hand


Inspect = Callable[[Tenancy, str], Iterable[Problem]]


@dataclass(frozen=True)
class Check(Rule):
    inspect: Inspect

    def label(self, target: str) -> str:
        return f"{self.id} {self.name}[{target}]"


REGISTRY = Registry[Check]("check")


def check(
    id: str, name: str, severity: Severity, title: str, *, attacks: Iterable[int], objects: Objects
) -> Callable[[Inspect], Inspect]:
    def register(function: Inspect) -> Inspect:
        head = heading(function, id, name, severity, title, attacks=attacks, objects=objects)
        REGISTRY.add(Check(**head, inspect=function))
        return function

    return register
