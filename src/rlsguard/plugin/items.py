"""rlsguard's isolation checks as pytest items.

Static checks: one item per check and inspected object, ``RG101 rls-enabled[public.documents]``.
Probes: one item per probe and object, ``rls[public.documents-cross-tenant-read]``; a
failure shows the shrunk example as a SQL transcript and the seed that reproduces it; a
probe that cannot make rows for a table is skipped with the reason. For both, an error
fails the item, a warning passes with a warning, and a finding accepted in
``[tool.rlsguard] allow`` is an XFAIL with the reason."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import pytest

from rlsguard.analyzer import (
    Analysis,
    Inspection,
    check_remediation,
    linked,
    probe_remediation,
    related_to,
)
from rlsguard.errors import IsolationWarning, MigrationError, RlsguardError, ServerGone
from rlsguard.findings import Finding, Outcome
from rlsguard.plugin.lanes import lanes_of
from rlsguard.plugin.stash import BASELINE_KEY, RUN_KEY
from rlsguard.probes import all_probes
from rlsguard.probes.registry import Probe
from rlsguard.probes.runner import ProbeResult
from rlsguard.report.evidence.records import UNCHANGED_PREFIX
from rlsguard.server.databases import refused, server_gone

if TYPE_CHECKING:
    from rlsguard.run import Run


class IsolationChecks:
    """Placeholder in a test module; rlsguard's plugin expands it into the items."""

    def __repr__(self) -> str:
        return "<rlsguard static isolation checks>"


class IsolationFailure(Exception):
    def __init__(self, inspection: Inspection) -> None:
        super().__init__(inspection.label)
        self.inspection = inspection


class IsolationItem(pytest.Item):
    def __init__(self, *, inspection: Inspection, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inspection = inspection

    def runtest(self) -> None:
        findings = self.inspection.findings
        self.user_properties.append(("rlsguard_findings", [item.to_json() for item in findings]))
        failing = [item for item in findings if item.fails]
        if failing:
            _pass_if_unchanged(self.config, failing)
            raise IsolationFailure(self.inspection)
        for item in findings:
            if not item.accepted:
                warnings.warn(IsolationWarning(str(item)), stacklevel=1)
        if findings and all(item.accepted for item in findings):
            pytest.xfail(
                "accepted: " + "; ".join(f"{item.message} ({item.reason})" for item in findings)
            )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, IsolationFailure):
            inspection = excinfo.value.inspection
            lines = [str(item) for item in inspection.findings if item.fails]
            failing = [item for item in inspection.findings if item.fails]
            return "\n".join([*lines, "", check_remediation(inspection.check, failing)])
        return _reason_if_accepted(excinfo) or super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, self.name


def _reason_if_accepted(excinfo: pytest.ExceptionInfo[BaseException]) -> str | None:
    """An accepted finding's xfail is told by its reason (pytest reports ``wasxfail``);
    pytest would format a traceback of rlsguard's own code, about 0.2 s an item."""
    if isinstance(excinfo.value, pytest.xfail.Exception):
        return excinfo.value.msg
    return None


def _pass_if_unchanged(config: pytest.Config, failing: list[Finding]) -> None:
    """At the migration-PR gate, findings the base already had do not fail the run."""
    baseline = config.stash.get(BASELINE_KEY, None)
    if baseline is not None and all(baseline.knows(f.check, f.object) for f in failing):
        shown = "; ".join(f.message for f in failing)
        pytest.xfail(f"{UNCHANGED_PREFIX} {baseline.ref}: {shown}")


class Unanalyzable(pytest.Item):
    """Stands in for the static checks, or the probes, when the schema could not be built."""

    def __init__(self, *, error: RlsguardError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    @property
    def kind(self) -> str:
        """The evidence's kind of the items it stands in for: "check" or "probe"."""
        return "probe" if isinstance(self.parent, ProbeCollector) else "check"

    def runtest(self) -> None:
        what = "probes" if self.kind == "probe" else "static checks"
        pytest.fail(f"{what} not run: {self.error}", pytrace=False)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, self.name


class AnalysisCollector(pytest.Collector):
    """Expands into items from the run's analysis; broken migrations become one failing
    item (a check failure, reported by the migration tests too, not a reason to call the
    whole run off), other rlsguard errors a collection error."""

    def collect(self) -> list[pytest.Item]:
        try:
            analysis = self.config.stash[RUN_KEY].analysis()
        except MigrationError as error:
            return [Unanalyzable.from_parent(self, name="schema could not be built", error=error)]
        except ServerGone as error:  # nothing can be judged: the session ends, incomplete
            raise self.session.Interrupted(f"rlsguard: {error}") from None
        except RlsguardError as error:
            raise self.CollectError(f"{type(error).__name__}: {error}") from None
        except Exception as error:
            gone = server_gone(error)
            if gone is not None:
                raise self.session.Interrupted(f"rlsguard: {gone}") from None
            said = refused(error)
            if said is None:
                raise
            raise self.CollectError(f"{type(said).__name__}: {said}") from None
        return self.items(analysis)

    def items(self, analysis: Analysis) -> list[pytest.Item]:
        raise NotImplementedError


class IsolationCollector(AnalysisCollector):
    def items(self, analysis: Analysis) -> list[pytest.Item]:
        return [
            IsolationItem.from_parent(self, name=inspection.label, inspection=inspection)
            for inspection in analysis.inspections
        ]


# -- the probes --------------------------------------------------------------------------------


class ProbeChecks:
    """Placeholder in a test module; the plugin expands it into one item per probe and object."""

    def __repr__(self) -> str:
        return "<rlsguard property-based isolation probes>"


class ProbeFailed(Exception):
    def __init__(self, result: ProbeResult, finding: Finding) -> None:
        super().__init__(result.label)
        self.result = result
        self.finding = finding


def reproduce_hint(result: ProbeResult) -> str:
    if result.seed is None:
        return "Hypothesis ran derandomized (the ci profile): the same examples every run."
    return (
        f"Hypothesis seed {result.seed}: reproduce with pytest --hypothesis-seed={result.seed} "
        f"(or rlsguard check --seed {result.seed})."
    )


class ProbeItem(pytest.Item):
    def __init__(
        self, *, probe: Probe, target: str, related: tuple[Finding, ...] = (), **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.probe = probe
        self.target = target
        self.related = related  # the static findings of what this probe finds here

    def runtest(self) -> None:
        run = self.config.stash[RUN_KEY]
        result = lanes_of(self.config).judged(self) or self._judge_alone(run)
        self.user_properties.append(
            (
                "rlsguard_probe",
                {
                    "status": result.status.value,
                    "examples": result.examples,
                    "witnessed": result.witnessed,
                    "rejected": result.rejected,
                    "seconds": result.seconds,
                    "seed": result.seed,
                    "rows_shared_with": list(result.shared_with),
                    "proven_on": result.proven_on,
                    "alike_in": result.alike_in,
                },
            )
        )
        found = result.finding()
        if found is None:
            return
        self.related = tuple(related_to(found, self.related))
        finding = linked(found, list(self.related)).accept(run.settings_at().allow)
        self.user_properties.append(("rlsguard_findings", [finding.to_json()]))
        if result.status is Outcome.CANNOT:
            pytest.skip(finding.message)
        if finding.fails:
            _pass_if_unchanged(self.config, [finding])
            raise ProbeFailed(result, finding)
        if finding.accepted:
            pytest.xfail(f"accepted: {finding.message} ({finding.reason})")
        warnings.warn(IsolationWarning(f"{finding}\n{result.transcript or ''}"), stacklevel=1)

    def _judge_alone(self, run: Run) -> ProbeResult:
        company = (  # the probes that may share rows with this one (probes/together.py)
            [
                item.probe
                for item in self.session.items
                if isinstance(item, ProbeItem) and item.target == self.target
            ]
            if self.probe.shares_rows
            else None
        )
        with run.roles_as_analysed() as changed:
            if changed is not None:
                pytest.skip(f"cannot: {changed}")
            return run.prober().run(self.probe, self.target, company=company)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ProbeFailed):
            result = excinfo.value.result
            return "\n".join(
                [
                    str(excinfo.value.finding),
                    f"({result.examples} examples)",
                    "",
                    result.transcript or "(no transcript)",
                    "",
                    reproduce_hint(result),
                    "",
                    f"What it proves ({self.probe.id}): {self.probe.doc}",
                    "",
                    probe_remediation(self.probe, self.related),
                ]
            )
        return _reason_if_accepted(excinfo) or super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, self.name


class ProbeCollector(AnalysisCollector):
    def items(self, analysis: Analysis) -> list[pytest.Item]:
        return [
            ProbeItem.from_parent(
                self,
                name=probe.label(target),
                probe=probe,
                target=target,
                related=tuple(analysis.related(probe, target)),
            )
            for probe in all_probes()
            for target in probe.objects(analysis.tenancy)
        ]
