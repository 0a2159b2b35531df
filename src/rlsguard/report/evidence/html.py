"""The HTML the evidence adds to pytest-html's report, beside the matrix: one block per
failing or notable item, the gate's comparison and the revision timeline. Every value
is escaped."""

from __future__ import annotations

import html
from typing import Any

from rlsguard.report.evidence.baseline import Baseline, Difference
from rlsguard.report.evidence.records import ItemRecord
from rlsguard.report.evidence.timeline import RevisionStep


def record_html(record: ItemRecord) -> str:
    parts = [f"<h4>{html.escape(record.check or '')} {html.escape(record.status)}</h4>"]
    if record.message:
        parts.append(f"<p>{html.escape(record.message)}</p>")
    if record.reason:
        parts.append(f"<p><b>Reason:</b> {html.escape(record.reason)}</p>")
    if record.evidence:
        parts.append(
            f"<h4>Evidence (psql transcript)</h4><pre>{html.escape(record.evidence)}</pre>"
        )
    if record.remediation:
        parts.append(f"<h4>Remediation</h4><pre>{html.escape(record.remediation)}</pre>")
    return "".join(parts)


def difference_html(difference: Difference, baseline: Baseline) -> str:
    def listed(items: list[dict[str, Any]]) -> str:
        if not items:
            return "<li>none</li>"
        return "".join(
            f"<li>{html.escape(str(i.get('check')))} {html.escape(str(i.get('name', '')))} "
            f"[{html.escape(str(i.get('severity')))}] {html.escape(str(i.get('object')))}"
            + (f" (accepted: {html.escape(str(i.get('reason')))})" if i.get("accepted") else "")
            + "</li>"
            for i in items
        )

    return (
        f'<div id="rlsguard-gate"><h2>Against base {html.escape(baseline.ref)} '
        f"({html.escape(baseline.revision)})</h2>"
        + "".join(
            f"<h3>{title} ({len(items)})</h3><ul>{listed(items)}</ul>"
            for title, items in (
                ("Findings this change adds", difference.added),
                ("Findings it fixes", difference.fixed),
                ("Unchanged", difference.unchanged),
            )
        )
        + "</div>"
    )


def timeline_html(steps: list[RevisionStep]) -> str:
    def keys(items: list[tuple[str, str, str]]) -> str:
        grouped: dict[tuple[str, str], list[str]] = {}
        for check, object, severity in items:
            grouped.setdefault((check, severity), []).append(object)
        return (
            "<br>".join(
                f"<b>{html.escape(check)}</b> ({html.escape(severity)}): "
                + html.escape(", ".join(objects))
                for (check, severity), objects in sorted(grouped.items())
            )
            or "-"
        )

    rows = []
    for step in steps:
        after = str(step.total) if step.error is None else html.escape(step.error)
        rows.append(
            f"<tr><td>{html.escape(step.revision)}</td><td>{keys(step.appeared)}</td>"
            f"<td>{keys(step.fixed)}</td><td>{after}</td></tr>"
        )
    return (
        '<div id="rlsguard-timeline"><h2>Static findings revision by revision</h2>'
        "<p>The static checks run on the schema after each migration, oldest first: the "
        "findings (check, object, severity) that revision brought in, those it removed, and "
        "how many the schema held after it (or why it could not be checked).</p>"
        "<table><thead><tr><th>revision</th><th>findings it brought in</th>"
        "<th>findings it removed</th><th>findings after it</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def environment_html(facts: dict[str, Any]) -> str:
    """The environment table, every key and value escaped (pytest-html would put the values
    into the page with innerHTML, so a hostile branch name would run as script)."""

    def shown(value: Any) -> str:
        if isinstance(value, dict):
            items = "".join(
                f"<li>{html.escape(str(key))}: {html.escape(str(item))}</li>"
                for key, item in value.items()
            )
            return f"<ul>{items}</ul>"
        return html.escape(str(value))

    rows = "".join(
        f'<tr><th scope="row" style="text-align:left;vertical-align:top;padding-right:1em">'
        f"{html.escape(str(key))}</th><td>{shown(value)}</td></tr>"
        for key, value in facts.items()
    )
    return f'<div id="rlsguard-environment"><h2>Environment</h2><table>{rows}</table></div>'
