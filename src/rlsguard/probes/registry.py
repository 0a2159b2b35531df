"""The probes: properties rlsguard proves by acting as tenants and admins on generated
rows. Each has a stable id, a name, a severity and the objects it runs on, like the
static checks; ``run`` is one Hypothesis example of the property."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rlsguard.findings import Severity
from rlsguard.probes.lazy import hypothesis
from rlsguard.probes.plans import Planner
from rlsguard.probes.rows import Example
from rlsguard.probes.transcript import Session
from rlsguard.registration import Objects, Registry, Rule, heading
from rlsguard.schema.tenancy import Tenancy


class ProbeFailure(Exception):
    """The property does not hold; ``transcript`` shows the example that broke it."""

    def __init__(self, message: str, severity: Severity | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.severity = severity
        self.transcript = ""


@dataclass
class ProbeContext:
    tenancy: Tenancy
    planner: Planner
    sessions: dict[str, Session]
    profile: hypothesis.settings
    seed: int | None = None  # None: derandomized (or Hypothesis's own choice)
    current: str = "main"
    examples: int = 0  # Hypothesis examples run (state machine runs, for a stateful probe)
    witnessed: int = 0  # examples in which the probe's premise held
    rejected: int = 0  # examples ended by a setup row the database refused
    held: bool = False  # the premise held in the current example

    def witness(self) -> None:
        """The premise holds in this example: what the probe judges next proves something."""
        if not self.held:
            self.held = True
            self.witnessed += 1

    @property
    def session(self) -> Session:
        return self.sessions[self.current]

    def switch(self, name: str, example: Example) -> None:
        """Carry on the example on another connection (before it has made any row)."""
        self.current = name
        self.session.begin()
        example.attach(self.session)

    @property
    def app(self) -> str:
        return self.tenancy.app.name

    @property
    def admins(self) -> list[str]:
        """The admin roles, and the application in the admin context when there is one."""
        entry = self.session.entry
        by_context = [entry.admin_label] if entry.admin else []
        return [admin.name for admin in self.tenancy.admins] + by_context


AUTHORITY = "authority"  # the connection name of a superuser, for probes that need one

ProbeBody = Callable[[ProbeContext, str, Example], None]


@dataclass(frozen=True)
class Probe(Rule):
    run: ProbeBody
    premise: str = ""  # what must hold in an example for its judgement to prove anything
    fixes_from: tuple[str, ...] = ()  # static checks whose "Fix" repairs what this finds
    deterministic: bool = False  # one example proves it: the outcome does not depend on data
    own_engine: bool = False  # it runs Hypothesis itself (a state machine)
    # it logs in as the application on a superuser connection; only for probes that run
    # none of the database's own code (no table, trigger or function of it)
    needs_authority: bool = False
    # its example starts with several tenants and their rows of the table, made on "main"
    # and nothing else: it may act on rows made once for several properties of the table
    shares_rows: bool = False
    # row security alone decides it: proven on one table, it holds on an alike one
    same_on_alike_tables: bool = False
    # and its foreign keys to tenant tables: carried only where those are alike too
    alike_by_foreign_keys: bool = False
    # it locks the whole table: judged while no other lane probes (probes/lanes.py)
    locks_table: bool = False

    def label(self, target: str) -> str:
        return f"rls[{target}-{self.name}]"

    @property
    def alike_in(self) -> str:
        """What the table a pass is carried from shares with the table it holds on."""
        if self.alike_by_foreign_keys:
            return "row security and foreign keys to tenant tables are the same"
        return "row security is the same"


PROBES = Registry[Probe]("probe")


def probe(
    id: str,
    name: str,
    severity: Severity,
    title: str,
    *,
    attacks: Iterable[int],
    objects: Objects,
    premise: str,
    fixes_from: Iterable[str] = (),
    deterministic: bool = False,
    own_engine: bool = False,
    needs_authority: bool = False,
    shares_rows: bool = False,
    same_on_alike_tables: bool = False,
    alike_by_foreign_keys: bool = False,
    locks_table: bool = False,
) -> Callable[[ProbeBody], ProbeBody]:
    def register(function: ProbeBody) -> ProbeBody:
        head = heading(function, id, name, severity, title, attacks=attacks, objects=objects)
        PROBES.add(
            Probe(
                **head,
                run=function,
                premise=premise,
                fixes_from=tuple(fixes_from),
                deterministic=deterministic,
                own_engine=own_engine,
                needs_authority=needs_authority,
                shares_rows=shares_rows,
                same_on_alike_tables=same_on_alike_tables or alike_by_foreign_keys,
                alike_by_foreign_keys=alike_by_foreign_keys,
                locks_table=locks_table,
            )
        )
        return function

    return register
