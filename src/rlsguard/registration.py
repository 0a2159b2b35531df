"""What static checks and probes have in common: a rule with a stable id, a short name, a
severity, a title, the attacks it covers, the objects it runs on and a doc taken from
its function's docstring; one registry per kind that refuses an id twice."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypedDict, TypeVar

from rlsguard.findings import Severity
from rlsguard.schema.tenancy import Tenancy

Objects = Callable[[Tenancy], Iterable[str]]

# The probes' ids, so that a static scan can tell an allowance naming a probe from a typo
# without loading the probes (tests/test_rule_docs.py keeps it equal to their registry).
PROBE_IDS = frozenset(f"RP{number}" for number in (*range(101, 116), *range(120, 129)))


@dataclass(frozen=True)
class Rule:
    id: str  # stable: RG101 for a static check, RP101 for a probe
    name: str  # short, e.g. rls-enabled
    severity: Severity
    title: str  # what holds when the rule passes
    attacks: tuple[int, ...]  # the rows of docs/attacks.md it catches
    objects: Objects  # the objects (tables, roles, functions) it runs on
    doc: str  # what leaks, how it is used, and how to fix it

    def label(self, target: str) -> str:
        """The name of the test item that runs this rule on ``target``."""
        raise NotImplementedError


class Heading(TypedDict):
    """The fields every rule has, as its decorator declares them."""

    id: str
    name: str
    severity: Severity
    title: str
    attacks: tuple[int, ...]
    objects: Objects
    doc: str


def heading(
    function: Callable[..., Any],
    id: str,
    name: str,
    severity: Severity,
    title: str,
    *,
    attacks: Iterable[int],
    objects: Objects,
) -> Heading:
    """A rule's common fields, its doc taken from the decorated function."""
    return Heading(
        id=id,
        name=name,
        severity=severity,
        title=title,
        attacks=tuple(attacks),
        objects=objects,
        doc=inspect.cleandoc(function.__doc__ or ""),
    )


R = TypeVar("R", bound=Rule)


class Registry(Generic[R]):
    """The rules of one kind, by id."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._rules: dict[str, R] = {}

    def add(self, rule: R) -> None:
        if rule.id in self._rules:
            raise ValueError(f"{self.kind} id {rule.id} registered twice")
        self._rules[rule.id] = rule

    def __getitem__(self, id: str) -> R:
        return self._rules[id]

    def sorted(self) -> list[R]:
        return [self._rules[key] for key in sorted(self._rules)]
