"""The summary matrix: tenant tables (and other inspected objects) down, static checks
and probes across, one status per cell."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from rlsguard.findings import Outcome, not_proven
from rlsguard.report.evidence.records import ItemRecord

COLORS = {
    Outcome.PASS: "#d4edda",
    Outcome.FAIL: "#f8d7da",
    Outcome.WARNING: "#fff3cd",
    Outcome.ACCEPTED: "#d1ecf1",
    Outcome.UNCHANGED: "#f5c6cb",
    Outcome.CANNOT: "#e2e3e5",
    Outcome.NOT_APPLICABLE: "#ffffff",
}


@dataclass
class Matrix:
    columns: list[tuple[str, str]]  # (id, name), static checks first, then probes
    rows: list[str]  # tenant tables first, then other objects
    cells: dict[tuple[str, str], ItemRecord] = field(default_factory=dict)  # (row, id)

    @classmethod
    def build(cls, records: list[ItemRecord], tenant_tables: list[str]) -> Matrix:
        checked = [record for record in records if record.check and record.object]
        ids = {(record.check or "", record.name or "") for record in checked}
        columns = sorted(ids, key=lambda column: (not column[0].startswith("RG"), column[0]))
        others = sorted({record.object or "" for record in checked} - set(tenant_tables))
        matrix = cls(columns, [*tenant_tables, *others])
        for record in checked:
            matrix.cells[(record.object or "", record.check or "")] = record
        return matrix

    def status(self, row: str, column: str) -> Outcome:
        record = self.cells.get((row, column))
        return record.status if record else Outcome.NOT_APPLICABLE

    def reason(self, row: str, column: str) -> str | None:
        record = self.cells.get((row, column))
        return record.reason if record else None

    def not_proven_by_a_probe(self, tenant_tables: list[str]) -> list[str]:
        """Tenant tables no probe could act on (empty when no probe ran)."""
        probed = [
            (row, record.status) for (row, id), record in self.cells.items() if id.startswith("RP")
        ]
        return not_proven(tenant_tables, probed) if probed else []

    def to_json(self) -> dict[str, object]:
        return {
            "columns": [{"id": id, "name": name} for id, name in self.columns],
            "rows": [
                {
                    "object": row,
                    "cells": {
                        id: {
                            "status": self.status(row, id).value,
                            "reason": self.reason(row, id),
                        }
                        for id, _name in self.columns
                    },
                }
                for row in self.rows
            ],
        }

    def to_html(self, tenant_tables: list[str]) -> str:
        """A self-contained table (inline styles, no script), legend included."""
        head = "".join(
            f'<th title="{html.escape(name)}" style="{_TH}">{html.escape(id)}</th>'
            for id, name in self.columns
        )
        body = []
        for row in self.rows:
            kind = "tenant table" if row in tenant_tables else "object"
            cells = "".join(self._cell(row, id) for id, _name in self.columns)
            body.append(
                f'<tr><th scope="row" title="{kind}" style="{_TH};text-align:left">'
                f"{html.escape(row)}</th>{cells}</tr>"
            )
        accepted = "".join(
            f"<li>{html.escape(id)} {html.escape(row)}: {html.escape(record.reason or '')}</li>"
            for (row, id), record in sorted(self.cells.items())
            if record.status in (Outcome.ACCEPTED, Outcome.UNCHANGED)
        )
        legend = " ".join(
            f'<span style="background:{color};{_CELL}">{html.escape(name)}</span>'
            for name, color in COLORS.items()
        )
        unproven = self.not_proven_by_a_probe(tenant_tables)
        return (
            '<div id="rlsguard-matrix"><h2>Isolation matrix</h2>'
            f"<p>Tenant tables first, then other inspected objects; static checks (RG) and "
            f"probes (RP) across. Hover a cell for its finding. {legend}</p>"
            f'<table style="border-collapse:collapse;font-size:12px"><thead><tr>'
            f'<th style="{_TH}">object</th>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            "</table>"
            + (
                "<p><strong>Not proven by a probe</strong> (every probe could not act): "
                f"{html.escape(', '.join(unproven))}</p>"
                if unproven
                else ""
            )
            + (f"<h3>Accepted and unchanged findings</h3><ul>{accepted}</ul>" if accepted else "")
            + "</div>"
        )

    def _cell(self, row: str, column: str) -> str:
        status = self.status(row, column)
        record = self.cells.get((row, column))
        detail = ""
        if record is not None:
            detail = " ".join(filter(None, [record.message, record.reason]))
        return (
            f'<td class="rlsguard-cell rlsguard-{status.replace("/", "")}" '
            f'title="{html.escape(detail)}" '
            f'style="background:{COLORS[status]};{_CELL}">{html.escape(status)}</td>'
        )


_TH = "border:1px solid #999;padding:2px 4px;font-weight:600"
_CELL = "border:1px solid #999;padding:2px 4px;text-align:center"
