"""Several properties of one table proven on the same examples.

Each example makes one set of tenants and their rows of the table (what each of these
properties would make first on its own), then runs every property on it in a savepoint
that is rolled back before the next one. A property judges exactly what it judges alone;
the rows are only made once instead of once per property. Only a clean pass is taken
from here: a property that failed, could not act or never met its premise is run alone,
which shrinks its example and says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import hypothesis
import psycopg2
from hypothesis import reject
from hypothesis import strategies as st
from hypothesis.errors import FailedHealthCheck, HypothesisException, Unsatisfiable

from rlsguard.errors import ServerGone
from rlsguard.probes.drawing import hypothesis_test
from rlsguard.probes.moves import make_world
from rlsguard.probes.plans import Planner
from rlsguard.probes.registry import Probe, ProbeContext, ProbeFailure
from rlsguard.probes.rows import Example
from rlsguard.probes.transcript import Session, SetupFailed, StatementCancelled
from rlsguard.probes.values import CannotGenerate
from rlsguard.server.driver import is_connection_lost
from rlsguard.server.process import raise_if_interrupted

SAVEPOINT = "rlsguard_shared_rows"


@dataclass
class Tally:
    """What the shared examples showed of one property."""

    probe: Probe
    context: ProbeContext
    seconds: float = 0.0
    failure: ProbeFailure | None = None
    unable: str | None = None  # it could not act: run alone, it says why

    @property
    def open(self) -> bool:
        return self.failure is None and self.unable is None

    @property
    def passed(self) -> bool:
        return self.open and self.context.witnessed > 0


@dataclass(frozen=True)
class Sharing:
    """What the examples of a shared run are made with."""

    planner: Planner
    sessions: dict[str, Session]
    settings: hypothesis.settings
    run_seed: int | None
    salt: int


def prove_together(target: str, probes: list[Probe], sharing: Sharing) -> list[Tally]:
    """Every probe of ``probes`` on ``target``, on examples whose rows they share."""
    tallies = [
        Tally(
            item,
            ProbeContext(
                sharing.planner.tenancy,
                sharing.planner,
                sharing.sessions,
                sharing.settings,
                sharing.run_seed,
            ),
        )
        for item in probes
    ]
    test = hypothesis_test(
        _example_body(target, tallies, sharing), sharing.settings, sharing.run_seed
    )
    try:
        test()
    except (Unsatisfiable, FailedHealthCheck, Decided):
        pass  # no example could be made (each property, run alone, says why), or no need
    except (HypothesisException, StatementCancelled, psycopg2.Error) as error:
        # the run stopped half way (Decided may come back as flaky, since its replay
        # stops drawing earlier): no pass is taken from it, each property runs alone
        for tally in tallies:
            tally.unable = tally.unable or f"the shared examples stopped: {error}"
    return tallies


class Decided(Exception):
    """Every property has failed or cannot act: further examples teach nothing."""


def _example_body(
    target: str, tallies: list[Tally], sharing: Sharing
) -> Callable[[st.DataObject], None]:
    session = sharing.sessions["main"]

    def example_of(data: st.DataObject) -> None:
        raise_if_interrupted()
        if not any(tally.open for tally in tallies):
            raise Decided
        # every property runs in every example, decided or not: what an example draws must
        # depend on its data alone (Hypothesis replays examples)
        began = time.perf_counter()
        session.begin()
        example = Example(session, sharing.planner, data, salt=sharing.salt)
        interrupted = False
        try:
            try:
                example.world = make_world(example, target)
                steps = session.mark(SAVEPOINT)
            except (SetupFailed, CannotGenerate):
                reject()
            share = (time.perf_counter() - began) / len(tallies)
            saved = example.saved()
            for tally in tallies:
                started = time.perf_counter()
                _one_property(tally, target, example, session)
                session.back_to(SAVEPOINT, steps)
                example.restore(saved)
                tally.seconds += share + time.perf_counter() - started
        except KeyboardInterrupt:
            interrupted = True  # psycopg2 closes a connection whose wait was interrupted
            raise
        finally:
            if not interrupted:
                for each in sharing.sessions.values():
                    each.end()

    return example_of


def _one_property(tally: Tally, target: str, example: Example, session: Session) -> None:
    """One example of one property; after its first failure or inability it is only run
    for the sake of the draws, and its counts stay as they were."""
    context = tally.context
    counting = tally.open
    context.examples += counting
    context.held = False
    witnessed = context.witnessed
    try:
        tally.probe.run(context, target, example)
    except SetupFailed:
        context.rejected += counting
        context.witnessed = witnessed  # a rejected example proves nothing
    except ProbeFailure as failure:
        if counting:
            context.witness()
            failure.transcript = failure.transcript or session.transcript.render(
                f"rlsguard {tally.probe.label(target)}: {failure.message}",
                made=example.recognizer(),
            )
            tally.failure = failure
    except (CannotGenerate, StatementCancelled) as error:
        tally.unable = tally.unable or str(error)
    except psycopg2.Error as error:
        if is_connection_lost(error):
            raise ServerGone(str(error).strip().splitlines()[0]) from None
        tally.unable = tally.unable or str(error)
    if not counting:
        context.witnessed = witnessed
