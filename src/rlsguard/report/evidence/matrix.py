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
        """One table per family of rules (self-contained: no script, no hover needed), with
        a row for each object a rule of the family ran on; what a cell found is a numbered
        note below its table."""
        notes: list[str] = []
        tables = [
            self._family_html(family, ids, tenant_tables, notes) for family, ids in self._families()
        ]
        legend = " ".join(
            f'<span class="rlsguard-cell" style="background:{color}">{html.escape(name)}</span>'
            for name, color in COLORS.items()
            if name is not Outcome.NOT_APPLICABLE
        )
        unproven = self.not_proven_by_a_probe(tenant_tables)
        return (
            '<section id="rlsguard-matrix"><h2>Isolation matrix</h2>'
            "<p>Static checks (RG) read the catalog; probes (RP) act as tenants on a scratch "
            "copy. Per family, a row for each object its rules ran on (tenant tables first); "
            f"a number in a cell points to its note under the table. {legend}; a blank "
            "cell: the rule does not apply to that object.</p>"
            + "".join(tables)
            + (
                "<p><strong>Not proven by a probe</strong> (every probe could not act): "
                f"{html.escape(', '.join(unproven))}</p>"
                if unproven
                else ""
            )
            + "</section>"
        )

    def _families(self) -> list[tuple[str, list[str]]]:
        ids = [id for id, _name in self.columns]
        grouped: dict[str, list[str]] = {}
        for id in ids:
            grouped.setdefault(family_of(id), []).append(id)
        order = [*FAMILY_TITLES.values(), OTHER_FAMILY]
        return sorted(grouped.items(), key=lambda item: order.index(item[0]))

    def _family_html(
        self, family: str, ids: list[str], tenant_tables: list[str], notes: list[str]
    ) -> str:
        names = dict(self.columns)
        rows = [
            row
            for row in self.rows
            if any(self.status(row, id) is not Outcome.NOT_APPLICABLE for id in ids)
        ]
        first_note = len(notes)
        head = "".join(
            f'<th id="{rule_anchor(id)}">{html.escape(id)}<br>'
            f'<span class="rlsguard-rule-name">{html.escape(names[id])}</span></th>'
            for id in ids
        )
        body = "".join(
            f'<tr><th scope="row" class="rlsguard-object">{html.escape(row)}'
            + ("" if row in tenant_tables else ' <span class="rlsguard-kind">(object)</span>')
            + "</th>"
            + "".join(self._cell(row, id, notes) for id in ids)
            + "</tr>"
            for row in rows
        )
        listed = "".join(
            f'<li value="{first_note + n + 1}">{note}</li>'
            for n, note in enumerate(notes[first_note:])
        )
        return (
            f'<h3>{html.escape(family)}</h3><table class="rlsguard-matrix">'
            f'<thead><tr><th class="rlsguard-object">object</th>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>"
            + (f'<ol class="rlsguard-notes">{listed}</ol>' if listed else "")
        )

    def _cell(self, row: str, column: str, notes: list[str]) -> str:
        status = self.status(row, column)
        record = self.cells.get((row, column))
        label = "" if status is Outcome.NOT_APPLICABLE else html.escape(status.value)
        if record is not None and (status is not Outcome.PASS or record.proven_on):
            detail = " ".join(filter(None, [record.message, record.reason, record.alike_note]))
            notes.append(
                f'<a href="#{cell_anchor(column, row)}">{html.escape(column)} '
                f"{html.escape(row)}</a> {html.escape(status.value)}: {html.escape(detail)}"
            )
            label += f" <sup>{len(notes)}</sup>"
        anchor = f' id="{cell_anchor(column, row)}"' if record is not None else ""
        return (
            f'<td{anchor} class="rlsguard-cell rlsguard-{status.replace("/", "")}" '
            f'style="background:{COLORS[status]}">{label}</td>'
        )


FAMILY_TITLES = {
    "RG1": "Checks: tables and ownership",
    "RG2": "Checks: roles",
    "RG3": "Checks: policies",
    "RG4": "Checks: keys and shared tables",
    "RG5": "Checks: doors around RLS (views, functions, triggers, privileges)",
    "RG6": "Checks: admin",
    "RG7": "Checks: the server",
    "read": "Probes: read",
    "write": "Probes: write",
    "context": "Probes: tenant context",
    "side": "Probes: side channels",
    "admin": "Probes: admin and roles",
    "stateful": "Probes: stateful",
}
PROBE_FAMILIES = {
    "read": ("RP101", "RP113", "RP115"),
    "write": ("RP102", "RP103", "RP104", "RP105", "RP114", "RP123", "RP127", "RP128"),
    "context": ("RP106", "RP121", "RP122", "RP126"),
    "side": ("RP107", "RP108", "RP111", "RP112", "RP124", "RP125"),
    "admin": ("RP109", "RP110"),
    "stateful": ("RP120",),
}
OTHER_FAMILY = "Other rules"


def family_of(rule_id: str) -> str:
    if rule_id.startswith("RG"):
        return FAMILY_TITLES.get(rule_id[:3], OTHER_FAMILY)
    family = next((name for name, ids in PROBE_FAMILIES.items() if rule_id in ids), None)
    return FAMILY_TITLES[family] if family else OTHER_FAMILY


def rule_anchor(rule_id: str) -> str:
    return f"rule-{_token(rule_id)}"


def cell_anchor(rule_id: str, object: str) -> str:
    """An id for the cell of ``rule_id`` on ``object`` (any object name gives a valid id)."""
    return f"cell-{_token(rule_id)}-{_token(object)}"


def _token(text: str) -> str:
    return "".join(
        c if c.isascii() and (c.isalnum() or c in "-_.") else f"_{ord(c):x}_" for c in text
    )
