"""Each control judged from the run's items: satisfied, partly tested, not satisfied or
not tested, with the items behind the judgement."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from rlsguard.findings import Outcome
from rlsguard.report.controls.mapping import Control, Framework
from rlsguard.report.evidence.matrix import rule_anchor
from rlsguard.report.evidence.records import ItemRecord

FAILING = (Outcome.FAIL, Outcome.UNCHANGED)


class ControlStatus(StrEnum):
    SATISFIED = "satisfied"  # every evidence item that ran held, or was accepted
    # as satisfied, but some items could not run, or the run was incomplete
    PARTLY_TESTED = "partly tested"
    NOT_SATISFIED = "not satisfied"  # an evidence item failed
    NOT_TESTED = "not tested"  # no evidence item ran


@dataclass(frozen=True)
class Assessment:
    framework: Framework
    control: Control
    items: tuple[ItemRecord, ...]
    complete: bool = True  # every item of the run ran (not a selection, not stopped)

    @property
    def counts(self) -> Counter[Outcome]:
        return Counter(record.status for record in self.items)

    @property
    def status(self) -> ControlStatus:
        counts = self.counts
        if any(counts[outcome] for outcome in FAILING):
            return ControlStatus.NOT_SATISFIED
        acted = sum(n for outcome, n in counts.items() if outcome.acted)
        if not acted:
            return ControlStatus.NOT_TESTED
        if counts[Outcome.CANNOT] or not self.complete:
            return ControlStatus.PARTLY_TESTED
        return ControlStatus.SATISFIED

    def summary(self) -> str:
        counts = self.counts
        return ", ".join(f"{n} {outcome.value}" for outcome, n in sorted(counts.items())) or (
            "no evidence item ran"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "framework": self.framework.name,
            "control": self.control.id,
            "title": self.control.title,
            "status": self.status.value,
            "rationale": self.control.rationale,
            "evidence": list(self.control.evidence),
            "items": [record.nodeid for record in self.items],
            "counts": {outcome.value: n for outcome, n in self.counts.items()},
        }


def evidence_key(record: ItemRecord) -> str | None:
    """The id a mapping names this item by: its rule id, or its migration test's name."""
    if record.kind == "migration":
        return (record.name or "").split("[")[0].removeprefix("test_")
    return record.check


def assess(
    frameworks: Sequence[Framework], records: Sequence[ItemRecord], *, complete: bool = True
) -> list[Assessment]:
    """``complete``: every item of the run ran; else no control is more than partly tested."""
    return [
        Assessment(
            framework,
            control,
            tuple(record for record in records if evidence_key(record) in control.evidence),
            complete,
        )
        for framework in frameworks
        for control in framework.controls
    ]


def controls_html(assessments: Sequence[Assessment], left_out: Sequence[str] = ()) -> str:
    """Per framework a table: control, status, what the run showed, the items that did not
    hold (linked to their rule in the matrix), and why the items are evidence."""
    sections = []
    for framework in dict.fromkeys(a.framework for a in assessments):
        rows = "".join(
            _row(assessment) for assessment in assessments if assessment.framework == framework
        )
        sections.append(
            f"<h3>{html.escape(framework.name)}</h3>"
            + (
                f'<p class="rlsguard-source">{html.escape(framework.source)}</p>'
                if framework.source and framework.source != framework.name
                else ""
            )
            + '<table class="rlsguard-controls"><thead><tr><th>control</th><th>status</th>'
            "<th>evidence items</th><th>why they are evidence</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    return (
        '<section id="rlsguard-controls"><h2>Controls</h2>'
        "<p>A control is <b>satisfied</b> when every evidence item that ran held (or its "
        "finding was accepted by a reviewer), <b>partly tested</b> when some of them could "
        "not run or the run was incomplete, <b>not satisfied</b> when one failed, "
        "<b>not tested</b> when none ran (a warning is counted, and does not make a "
        "control not satisfied). "
        "The mapping is rlsguard's reading of the control, not the auditor's opinion.</p>"
        + "".join(sections)
        + (
            "<p>Not shown (<code>frameworks</code> in [tool.rlsguard]): "
            f"{html.escape(', '.join(left_out))}.</p>"
            if left_out
            else ""
        )
        + "</section>"
    )


def _row(assessment: Assessment) -> str:
    status = assessment.status
    failing = Counter(
        evidence_key(record) or "" for record in assessment.items if record.status in FAILING
    )
    links = ", ".join(
        (
            f'<a href="#{rule_anchor(key)}">{html.escape(key)}</a>'
            if key[:2] in ("RG", "RP")
            else html.escape(key)
        )
        + (f" on {n} objects" if n > 1 else "")
        for key, n in sorted(failing.items())
    )
    evidence = html.escape(", ".join(assessment.control.evidence))
    control = assessment.control
    return (
        f'<tr><th scope="row">{html.escape(control.id)}<br>'
        f'<span class="rlsguard-title">{html.escape(control.title)}</span></th>'
        f'<td class="rlsguard-control-{status.value.replace(" ", "-")}">'
        f"{html.escape(status.value)}</td>"
        f"<td>{html.escape(assessment.summary())}"
        + (f"<br>failed: {links}" if links else "")
        + f'<br><span class="rlsguard-ids">{evidence}</span></td>'
        f"<td>{html.escape(control.rationale)}</td></tr>"
    )
