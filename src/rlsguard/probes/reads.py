"""Reads: as a tenant, the application sees exactly its own rows."""

from __future__ import annotations

from rlsguard.findings import Severity
from rlsguard.probes.drawing import draw, integers
from rlsguard.probes.moves import (
    failure,
    keys_of,
    populate,
    select_keys,
    several_tenants,
    witness_rows,
)
from rlsguard.probes.registry import ProbeContext, probe
from rlsguard.probes.rows import (
    Example,
)
from rlsguard.schema.targets import (
    tables_open_to_app_reads,
    tenant_tables,
)


@probe(
    "RP101",
    "cross-tenant-read",
    Severity.ERROR,
    "As a tenant, the application sees exactly that tenant's rows",
    attacks=(1, 2, 3, 6, 16, 21),
    fixes_from=("RG101", "RG102", "RG301"),
    objects=tenant_tables,
    shares_rows=True,
    same_on_alike_tables=True,
    premise="rows the probe made for another tenant are in the table",
)
def cross_tenant_read(context: ProbeContext, table: str, example: Example) -> None:
    """Rows of several tenants; as one of them, SELECT the table's keys: no row the
    example made for another tenant may show. (Rows that were there before are not
    judged: rlsguard cannot tell whose they are.)"""
    plan = example.planner.plan(table)
    tenants = several_tenants(example)
    populate(example, table, tenants)
    viewer = tenants[draw(example.data, integers(0, len(tenants) - 1), label="viewer")]
    others = [row for row in example.rows.get(table, ()) if row.tenant != viewer]
    witness_rows(context, table, others)
    context.session.as_role(context.app, viewer)
    outcome = select_keys(context, plan, list(example.rows.get(table, ())))
    if outcome.failed:
        raise failure(f"as tenant {viewer}, reading {table} failed: {outcome.error}")
    foreign = set(outcome.rows) & keys_of(others, plan)
    if foreign:
        raise failure(
            f"as tenant {viewer}, {context.app} sees {len(foreign)} row(s) of {table} that are "
            f"not its own (rows the probe made for other tenants; it read {len(outcome.rows)} "
            "rows)"
        )


@probe(
    "RP115",
    "own-rows-visible",
    Severity.WARNING,
    "As a tenant, the application sees all of that tenant's own rows",
    attacks=(22,),
    fixes_from=("RG601",),
    objects=tables_open_to_app_reads,
    shares_rows=True,
    same_on_alike_tables=True,
    premise="the viewing tenant's own rows are in the table",
)
def own_rows_visible(context: ProbeContext, table: str, example: Example) -> None:
    """Rows of several tenants; as one of them, every one of its own rows must show: a
    policy that hides a tenant's own data is a bug too (not a leak)."""
    plan = example.planner.plan(table)
    tenants = several_tenants(example)
    rows = populate(example, table, tenants, least=1)
    viewer = tenants[draw(example.data, integers(0, len(tenants) - 1), label="viewer")]
    if not witness_rows(context, table, rows[viewer]):
        return
    context.session.as_role(context.app, viewer)
    outcome = select_keys(context, plan, rows[viewer])
    missing = keys_of(rows[viewer], plan) - set(outcome.rows)
    if outcome.failed or missing:
        detail = (
            outcome.error
            if outcome.failed
            else f"{len(missing)} of its {len(rows[viewer])} rows are missing"
        )
        raise failure(
            f"as tenant {viewer}, {context.app} does not see its own rows of {table}: {detail}"
        )
