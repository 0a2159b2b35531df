"""The static checks as pytest items: one per check and inspected object, named like
``RG101 rls-enabled[public.documents]``. An error fails the item with the finding and
the check's fix; a warning passes with a warning; findings accepted in
``[tool.rlsguard] allow`` mark the item xfail with the reason."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from rlsguard.analyzer import Inspection
from rlsguard.errors import MigrationError, RlsguardError


class IsolationChecks:
    """Placeholder in a test module; rlsguard's plugin expands it into the items."""

    def __repr__(self) -> str:
        return "<rlsguard static isolation checks>"


class IsolationWarning(UserWarning):
    """A warning-level finding: reported, does not fail the run."""


class IsolationFailure(Exception):
    def __init__(self, inspection: Inspection) -> None:
        super().__init__(inspection.label)
        self.inspection = inspection


def fix_section(doc: str) -> str:
    _, found, fix = doc.partition("Fix:")
    return fix.strip() if found else doc.strip()


class IsolationItem(pytest.Item):
    def __init__(self, *, inspection: Inspection, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inspection = inspection

    def runtest(self) -> None:
        findings = self.inspection.findings
        self.user_properties.append(("rlsguard_findings", [item.to_json() for item in findings]))
        if any(item.fails for item in findings):
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
            return "\n".join(
                [*lines, "", f"Fix ({inspection.check.id}):", fix_section(inspection.check.doc)]
            )
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, self.name


class Unanalyzable(pytest.Item):
    """Stands in for the static checks when the schema could not be built."""

    def __init__(self, *, error: RlsguardError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        pytest.fail(f"static checks not run: {self.error}", pytrace=False)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, self.name


class IsolationCollector(pytest.Collector):
    def collect(self) -> list[pytest.Item]:
        from rlsguard.plugin import RUN_KEY

        run = self.config.stash[RUN_KEY]
        try:
            analysis = run.analysis()
        except MigrationError as error:
            # The migrations are broken: a check failure, reported by the migration tests
            # too, not a reason to call the whole run off.
            return [Unanalyzable.from_parent(self, name="schema could not be built", error=error)]
        except RlsguardError as error:
            raise self.CollectError(f"{type(error).__name__}: {error}") from None
        return [
            IsolationItem.from_parent(self, name=inspection.label, inspection=inspection)
            for inspection in analysis.inspections
        ]
