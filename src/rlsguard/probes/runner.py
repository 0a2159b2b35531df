"""Running a probe under Hypothesis: one rolled-back transaction per example, on one
connection per worker (plus one that never sees the tenant setting), the shrunk
failing example kept as a SQL transcript, and the seed that reproduces it.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

import hypothesis
import psycopg2
import psycopg2.extensions
from hypothesis import HealthCheck, Phase, Verbosity, reject
from hypothesis import strategies as st
from hypothesis.errors import FailedHealthCheck, Flaky, Unsatisfiable
from hypothesis.internal.conjecture import engine
from sqlalchemy.engine import URL

from rlsguard.config import SHRINK_SECONDS
from rlsguard.errors import ServerGone
from rlsguard.findings import Finding, Outcome, Severity
from rlsguard.probes import all_probes
from rlsguard.probes.alike import AlikeTables
from rlsguard.probes.drawing import hypothesis_test, without_local_constants
from rlsguard.probes.entry import Entry
from rlsguard.probes.existing import read_existing
from rlsguard.probes.login import probe_connections, why_no_authority, why_unable
from rlsguard.probes.plans import Planner
from rlsguard.probes.registry import Probe, ProbeContext, ProbeFailure
from rlsguard.probes.rows import Example
from rlsguard.probes.together import Sharing, prove_together
from rlsguard.probes.transcript import Session, SetupFailed, StatementCancelled
from rlsguard.probes.values import CannotGenerate
from rlsguard.schema.targets import tenant_tables
from rlsguard.schema.tenancy import Tenancy
from rlsguard.server.driver import is_connection_lost
from rlsguard.server.process import raise_if_interrupted

# a pass proven on an alike table also holds in this many examples on the table itself
ALIKE_EXAMPLES = 5

# Shrinking a failure re-runs the example hundreds of times, each a transaction's worth
# of statements, so it gets a time budget per failing probe (Hypothesis's own default is
# five minutes). A partly shrunk example fails the same way; it is only less small. A
# seed reproduces the examples; the shrunk transcript is the same whenever shrinking
# finishes within the budget.


@contextlib.contextmanager
def shrinking_bounded(seconds: float) -> Iterator[None]:
    """Hypothesis's engine documents this constant as the one to monkeypatch."""
    previous = engine.MAX_SHRINKING_SECONDS
    engine.MAX_SHRINKING_SECONDS = seconds  # type: ignore[assignment]
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = previous


@dataclass(frozen=True)
class ProbeResult:
    probe: Probe
    target: str
    status: Outcome
    message: str | None
    transcript: str | None
    examples: int
    seconds: float
    seed: int | None
    witnessed: int = 0  # examples whose premise held: the ones a pass rests on
    rejected: int = 0  # examples ended by a setup row the database refused: they prove nothing
    shared_with: tuple[str, ...] = ()  # probes whose examples' rows this pass shared
    proven_on: str | None = None  # the alike table this pass was proven on (probes/alike.py)

    @property
    def alike_in(self) -> str | None:
        return self.probe.alike_in if self.proven_on else None

    @property
    def label(self) -> str:
        return self.probe.label(self.target)

    @property
    def severity(self) -> Severity:
        return (
            Severity.WARNING
            if self.status in (Outcome.WARNING, Outcome.CANNOT)
            else self.probe.severity
        )

    def finding(self) -> Finding | None:
        if self.status is Outcome.PASS:
            return None
        return Finding(
            check=self.probe.id,
            name=self.probe.name,
            severity=self.severity,
            object=self.target,
            message=self.message or "",
            evidence=self.transcript,
            seed=self.seed,
        )


def probe_settings(base: hypothesis.settings | None = None) -> hypothesis.settings:
    """The active Hypothesis profile, with what probing a database needs: no deadline
    (the server sets the pace), no example database (the seed reproduces a run), one
    failure reported (the shrunk one), and no explain phase: it re-runs the failing example
    hundreds of times to annotate Hypothesis's own report, which the transcript replaces."""
    chosen = base or hypothesis.settings()
    return hypothesis.settings(
        chosen,
        phases=[phase for phase in chosen.phases if phase is not Phase.explain],
        deadline=None,
        database=None,
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,  # the result carries the transcript; no Hypothesis chatter
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )


class ProbeRunner:
    def __init__(
        self,
        tenancy: Tenancy,
        connections: dict[str, psycopg2.extensions.connection],
        profile: hypothesis.settings | None = None,
        fixed_seed: int | None = None,
        *,
        shrink_seconds: float = SHRINK_SECONDS,
        salt: int | None = None,
        unavailable: str | None = None,
        left_out: dict[str, str] | None = None,
        spread_over: int = 1,
        alike: AlikeTables | None = None,
    ) -> None:
        """``connections`` are "main" and "fresh" (the probe login) and, optionally,
        "authority" (a superuser, for probes that run none of the database's code);
        ``unavailable`` says why no probe can run; ``left_out`` why a role cannot be acted
        as; ``spread_over``: the workers this run's probes are spread over (``alike``, the
        alike tables so spread, when the caller has them)."""
        self.tenancy = tenancy
        self.shrink_seconds = shrink_seconds
        self.planner = Planner(tenancy)
        entry = Entry.of(tenancy)
        self.sessions = {
            name: Session(connection, entry) for name, connection in connections.items()
        }
        self.settings = probe_settings(profile)
        self.fixed_seed = fixed_seed
        # generated keys carry the salt: runners sharing a database use different ones
        self.salt = (salt or fixed_seed or 0x5EED) & 0xFFFFFFFFFFFF
        self.unavailable = unavailable or why_unable(connections["main"], tenancy)
        if self.unavailable is None:
            self.planner.existing = read_existing(connections["main"], tenancy)
        self.no_authority = why_no_authority(connections)
        self.left_out = left_out or {}
        self._proven: dict[tuple[str, str], ProbeResult] = {}  # passes on shared rows
        self._found: dict[tuple[str, str], ProbeFailure] = {}  # failures on shared rows
        self._shared: set[str] = set()  # objects whose properties were proven together
        self.alike = alike or AlikeTables(tenancy, tenant_tables(tenancy), spread_over=spread_over)
        self._results: dict[tuple[str, str], ProbeResult] = {}  # every judgement, kept
        self._ahead: dict[tuple[str, str], ProbeResult] = {}  # judged before its own turn
        self._few: dict[tuple[str, str], ProbeResult | None] = {}  # passes in ALIKE_EXAMPLES
        self._objects: dict[str, frozenset[str]] = {}  # each probe's objects, read once

    def targets(self, probes: Iterable[Probe] | None = None) -> list[tuple[Probe, str]]:
        return self.targets_of(self.tenancy, probes)

    @staticmethod
    def targets_of(
        tenancy: Tenancy, probes: Iterable[Probe] | None = None
    ) -> list[tuple[Probe, str]]:
        """Every (probe, object) pair to run on ``tenancy``."""
        return [
            (item, target) for item in probes or all_probes() for target in item.objects(tenancy)
        ]

    def run_all(self, probes: Iterable[Probe] | None = None) -> list[ProbeResult]:
        targets = self.targets(probes)
        chosen = [item for item, _ in targets]
        return [self.run(item, target, company=chosen) for item, target in targets]

    def run(self, probe: Probe, target: str, company: Iterable[Probe] | None = None) -> ProbeResult:
        """``probe`` on ``target``; ``company``: the probes that will run on it too. Those
        that share rows are proven together on the first of them, and their passes kept."""
        raise_if_interrupted()
        unable = self.no_authority if probe.needs_authority else self.unavailable
        if unable is not None:
            return ProbeResult(probe, target, Outcome.CANNOT, unable, None, 0, 0.0, None)
        with without_local_constants():
            judged = self._ahead.pop((probe.id, target), None) or self._on_alike_table(
                probe, target, company
            )
            if judged is None:
                judged = self._judge(probe, target, company)
        self._results[(probe.id, target)] = judged
        return judged

    def _on_alike_table(
        self, probe: Probe, target: str, company: Iterable[Probe] | None
    ) -> ProbeResult | None:
        """A pass proven in full on the table ``target``'s row security is the same as
        (proven there now, when that table's turn has not come yet), that also holds in a
        few examples on ``target`` itself; None when either does not pass."""
        model = self._model_for(probe, target)
        if model is None:
            return None
        proof = self._results.get((probe.id, model))
        if proof is None:
            proof = self._ahead[(probe.id, model)] = self._judge(probe, model, company)
            self._results[(probe.id, model)] = proof
        if proof.status is not Outcome.PASS:
            return None
        own = self._exercised(probe, target, company)
        if own is None or own.status is Outcome.CANNOT:
            return None  # judged in full: more examples may make its rows
        return replace(own, proven_on=model) if own.status is Outcome.PASS else own

    def _exercised(
        self, probe: Probe, target: str, company: Iterable[Probe] | None
    ) -> ProbeResult | None:
        """``probe`` on ``target`` in ALIKE_EXAMPLES examples: its result, or None when
        it shared rows and did not pass (a failure then stands in its full judgement)."""
        key = (probe.id, target)
        if key not in self._few:
            sharing = self._sharing_company(probe, target, company, carried=True)
            if sharing:
                passes, failures = self._prove_together(target, sharing, ALIKE_EXAMPLES)
                self._few.update({(item.id, target): passes.get(item.id) for item in sharing})
                self._found.update({(name, target): found for name, found in failures.items()})
            else:
                self._few[key] = self._run_alone(probe, target, ALIKE_EXAMPLES)
        return self._few.get(key)

    def _sharing_company(
        self, probe: Probe, target: str, company: Iterable[Probe] | None, *, carried: bool = False
    ) -> list[Probe]:
        """The probes ``probe`` shares rows with on ``target`` (none: it runs alone):
        with ``carried``, those an alike table may prove; else those it does not prove."""
        if not probe.shares_rows:
            return []
        sharing = [
            item
            for item in dict.fromkeys(company or ())
            if item.shares_rows
            and target in self._objects_of(item)
            and (
                self._model_for(item, target) is not None
                if carried
                else not self._carried(item, target, company)
            )
        ]
        return sharing if probe in sharing and len(sharing) > 1 else []

    def _carried(self, probe: Probe, target: str, company: Iterable[Probe] | None) -> bool:
        """Is ``probe``'s pass on ``target`` proven on an alike table?"""
        result = self._on_alike_table(probe, target, company)
        return result is not None and result.proven_on is not None

    def _model_for(self, probe: Probe, target: str) -> str | None:
        """The table whose proof of ``probe`` may hold on ``target``."""
        if not probe.same_on_alike_tables:
            return None
        model = self.alike.model_of(target, foreign_keys=probe.alike_by_foreign_keys)
        return model if model in self._objects_of(probe) else None

    def _objects_of(self, probe: Probe) -> frozenset[str]:
        if probe.id not in self._objects:
            self._objects[probe.id] = frozenset(probe.objects(self.tenancy))
        return self._objects[probe.id]

    def _judge(self, probe: Probe, target: str, company: Iterable[Probe] | None) -> ProbeResult:
        key = (probe.id, target)
        fresh = key not in self._proven and target not in self._shared
        sharing = self._sharing_company(probe, target, company) if fresh else []
        if sharing:
            self._shared.add(target)
            passes, failures = self._prove_together(target, sharing)
            self._proven.update({(name, target): result for name, result in passes.items()})
            self._found.update({(name, target): found for name, found in failures.items()})
        proven = self._proven.pop(key, None)
        if proven is not None and key not in self._found:
            return proven  # a failure other examples showed is not undone by a pass
        alone = self._run_alone(probe, target)
        found = self._found.pop((probe.id, target), None)
        if found is None or alone.status is not Outcome.PASS:
            return alone
        # the shared rows showed a failure its own examples did not find again: it stands
        message = (
            f"{found.message} (on rows shared with other properties of {target}; alone, "
            f"{alone.examples} example(s) did not find it again)"
        )
        return replace(
            alone, status=_status_of(found, probe), message=message, transcript=found.transcript
        )

    def sharing(self, probe: Probe, examples: int | None = None) -> Sharing:
        """What examples shared by ``probe`` and others are made with (at most
        ``examples`` of them, when given)."""
        chosen = self._settings_for(probe, examples)
        return Sharing(self.planner, self.sessions, chosen, self._seed_for(chosen), self.salt)

    def _prove_together(
        self, target: str, probes: list[Probe], examples: int | None = None
    ) -> tuple[dict[str, ProbeResult], dict[str, ProbeFailure]]:
        """The passes and the failures, by probe id, of ``probes`` on shared rows."""
        sharing = self.sharing(probes[0], examples)
        run_seed = sharing.run_seed
        tallies = prove_together(target, probes, sharing)
        self._raise_if_lost()
        names = tuple(tally.probe.id for tally in tallies)
        passes: dict[str, ProbeResult] = {}
        failures: dict[str, ProbeFailure] = {}
        for tally in tallies:
            if tally.failure is not None:
                failures[tally.probe.id] = tally.failure
            if tally.passed:
                others = tuple(name for name in names if name != tally.probe.id)
                context = tally.context
                passes[tally.probe.id] = ProbeResult(
                    tally.probe, target, Outcome.PASS, None, None, context.examples,
                    tally.seconds, run_seed, context.witnessed, context.rejected, others,
                )  # fmt: skip
        return passes, failures

    def _raise_if_lost(self) -> None:
        lost = next((session.lost for session in self.sessions.values() if session.lost), None)
        if lost is not None:  # whatever Hypothesis made of it (a failure, Flaky), it is not one
            raise lost

    def _seed_for(self, chosen: hypothesis.settings) -> int | None:
        return None if chosen.derandomize else (self.fixed_seed or random.getrandbits(48))

    def _run_alone(self, probe: Probe, target: str, examples: int | None = None) -> ProbeResult:
        chosen = self._settings_for(probe, examples)
        run_seed = self._seed_for(chosen)
        context = ProbeContext(self.tenancy, self.planner, self.sessions, chosen, run_seed)
        refusals: list[str] = []

        test = hypothesis_test(
            self._example_body(probe, target, context, refusals), chosen, run_seed
        )
        began = time.perf_counter()

        def result(
            status: Outcome, message: str | None = None, transcript: str | None = None
        ) -> ProbeResult:
            return ProbeResult(
                probe,
                target,
                status,
                message,
                transcript,
                context.examples,
                time.perf_counter() - began,
                run_seed,
                context.witnessed,
                context.rejected,
            )

        def judged() -> ProbeResult:
            try:
                with shrinking_bounded(self.shrink_seconds):
                    if probe.own_engine:
                        probe.run(context, target, None)  # type: ignore[arg-type]
                    else:
                        test()
            except ProbeFailure as failure:
                return result(_status_of(failure, probe), failure.message, failure.transcript)
            except (CannotGenerate, StatementCancelled, SetupFailed) as error:
                return result(Outcome.CANNOT, str(error))
            except (Unsatisfiable, FailedHealthCheck):
                reason = refusals[-1] if refusals else "no example could be made"
                return result(Outcome.CANNOT, reason)
            except Flaky as error:
                return result(
                    Outcome.FAIL,
                    f"the property failed, but not every time on the same example: {error}",
                )
            except psycopg2.Error as error:
                if is_connection_lost(error):
                    raise ServerGone(str(error).strip().splitlines()[0]) from None
                return result(Outcome.CANNOT, f"the probe could not act: {self._explained(error)}")
            if context.witnessed == 0:  # nothing was proven: never a pass
                refused = (
                    f", {context.rejected} of them ended by a refused setup row; the last "
                    f"refusal: {refusals[-1]}"
                    if refusals
                    else ""
                )
                return result(
                    Outcome.CANNOT,
                    f"no example met the premise ({probe.premise}) in {context.examples} "
                    f"example(s){refused}",
                )
            return result(Outcome.PASS)

        judgement = judged()
        self._raise_if_lost()
        return judgement

    def _example_body(
        self, probe: Probe, target: str, context: ProbeContext, refusals: list[str]
    ) -> Callable[[st.DataObject], None]:
        """One Hypothesis example: a transaction on "main", rolled back on every session."""
        title = probe.label(target)

        def example_of(data: st.DataObject) -> None:
            raise_if_interrupted()
            context.examples += 1
            context.held = False
            context.current = "main"
            context.session.begin()
            example = Example(context.session, self.planner, data, salt=self.salt)
            interrupted = False
            try:
                probe.run(context, target, example)
            except KeyboardInterrupt:
                interrupted = True  # psycopg2 closes a connection whose wait was interrupted
                raise
            except SetupFailed as error:
                refusals.append(str(error))
                context.rejected += 1
                if context.held:  # a rejected example proves nothing
                    context.witnessed -= 1
                reject()
            except ProbeFailure as failure:
                context.witness()  # a failure is its own proof
                if not failure.transcript:
                    failure.transcript = context.session.transcript.render(
                        f"rlsguard {title}: {failure.message}", made=example.recognizer()
                    )
                raise
            finally:
                if not interrupted:  # else a closed connection would hide the interrupt
                    for session in self.sessions.values():
                        session.end()

        return example_of

    def _explained(self, error: psycopg2.Error) -> str:
        said = str(error).strip().splitlines()[0]
        reasons = [why for role, why in self.left_out.items() if f'"{role}"' in said]
        return "; ".join([said, *reasons])

    def _settings_for(self, probe: Probe, examples: int | None = None) -> hypothesis.settings:
        chosen = self.settings
        if examples is not None and examples < chosen.max_examples:
            chosen = hypothesis.settings(chosen, max_examples=examples)
        if probe.deterministic:
            chosen = hypothesis.settings(
                chosen, max_examples=1, phases=[p for p in chosen.phases if p is not Phase.shrink]
            )
        if self.fixed_seed is not None:  # an explicit seed wins over a derandomized profile
            chosen = hypothesis.settings(chosen, derandomize=False)
        return chosen


def _status_of(failure: ProbeFailure, probe: Probe) -> Outcome:
    warning = (failure.severity or probe.severity) is Severity.WARNING
    return Outcome.WARNING if warning else Outcome.FAIL


def probe_database(
    url: URL,
    tenancy: Tenancy,
    profile: hypothesis.settings | None = None,
    fixed_seed: int | None = None,
    shrink_seconds: float = SHRINK_SECONDS,
    *,
    probe_url: URL | None = None,
) -> list[ProbeResult]:
    """Every probe against the database at ``url`` (which rlsguard only ever rolls back),
    acting through ``probe_url`` (a login that is not a superuser), or ``url`` itself."""
    connections = probe_connections(url, probe_url)
    try:
        runner = ProbeRunner(
            tenancy, connections, profile, fixed_seed, shrink_seconds=shrink_seconds
        )
        return runner.run_all()
    finally:
        for connection in connections.values():
            with contextlib.suppress(psycopg2.Error):  # a connection the server ended
                connection.rollback()
            connection.close()
