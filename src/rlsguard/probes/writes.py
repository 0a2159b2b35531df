"""Writes: as a tenant, the application inserts, updates, deletes and moves only its own
rows (judged by the rows touched, never by RETURNING)."""

from __future__ import annotations

from typing import Any

from psycopg2 import sql

from rlsguard.findings import Severity
from rlsguard.probes.moves import (
    GENERATED_ALWAYS,
    attempt_insert,
    blanket_assignment,
    expect_only_own,
    failure,
    judged,
    noop_column,
    other_tenant_value,
    populate,
    refused_by_rights,
    several_tenants,
    takeover,
    two_tenants,
    where_key,
    witness_rows,
)
from rlsguard.probes.plans import TablePlan
from rlsguard.probes.registry import ProbeContext, probe
from rlsguard.probes.rows import (
    Example,
    Row,
    table_identifier,
)
from rlsguard.probes.values import adapt
from rlsguard.schema.targets import (
    tables_with_tenant_column,
    tenant_tables,
)
from rlsguard.schema.tenancy import Tenancy


@probe(
    "RP102",
    "cross-tenant-insert",
    Severity.ERROR,
    "As a tenant, the application cannot insert rows for another tenant",
    attacks=(4,),
    fixes_from=("RG302",),
    objects=tenant_tables,
    shares_rows=True,
    same_on_alike_tables=True,
    premise="the INSERT of another tenant's row goes through or is refused for lack of rights "
    "(SQLSTATE 42501), not by a constraint",
)
def cross_tenant_insert(context: ProbeContext, table: str, example: Example) -> None:
    """As tenant A, INSERT a row that belongs to tenant B (B's tenant id, or a parent row
    of B's for a table without the tenant column): it must be rejected. (No RETURNING: it
    would bring the SELECT policies in and hide what the INSERT policies let through.)"""
    plan = example.planner.plan(table)
    actor, other = two_tenants(example)
    column = context.tenancy.settings.tenant_column
    overrides = {}
    if plan.relation.column(column) is not None:
        overrides[column] = other_tenant_value(example, table, other)
    values = example.values_for(table, other, overrides)
    context.session.as_role(context.app, actor)
    outcome = attempt_insert(context, table, values)
    if outcome.touched:
        raise failure(
            f"as tenant {actor}, {context.app} inserted a row of another tenant into {table}"
        )
    if refused_by_rights(outcome):
        context.witness()


@probe(
    "RP103",
    "cross-tenant-update",
    Severity.ERROR,
    "As a tenant, the application updates only its own rows",
    attacks=(6,),
    fixes_from=("RG301",),
    objects=tenant_tables,
    shares_rows=True,
    same_on_alike_tables=True,
    premise="another tenant's row is in the table, and the UPDATEs (of it by its key, and of "
    "every row without WHERE) touch nothing of it or are refused for lack of rights (none is "
    "stopped by a constraint)",
)
def cross_tenant_update(context: ProbeContext, table: str, example: Example) -> None:
    """As tenant A: UPDATE a row of tenant B by its key (must touch nothing), then UPDATE
    every row it can reach with no WHERE, so that only the UPDATE policies decide (it may
    only touch A's rows): once setting a plain column to a constant, once setting the
    columns that say whose a row is to A's own values, which a WITH CHECK bound to the
    tenant lets through when the USING is not."""
    plan, rows, actor, victim = aim_at_another_tenant(context, table, example)
    column = sql.Identifier(noop_column(plan.relation, context.tenancy))
    condition, values = where_key(plan, victim)
    touched = context.session.attempt(
        sql.SQL("UPDATE {} SET {} = {} WHERE {}").format(
            table_identifier(table), column, column, condition
        ),
        values,
    )
    if touched.touched:
        raise failure(
            f"as tenant {actor}, {context.app} updated a row of another tenant in {table}"
        )
    verdicts = [judged(touched)]
    # No WHERE and no column read: only the UPDATE policies decide (a WHERE would bring
    # the SELECT policies in too), which is what an attacker would try.
    blanket = blanket_assignment(example, plan)
    if blanket is not None:
        what = f"as tenant {actor}, an UPDATE of {table} setting {blanket[0]} to a constant"
        verdicts.append(_update_every_row(context, plan, dict([blanket]), rows[actor], what))
    taken = takeover(context.tenancy, plan, rows[actor][0])
    if taken:
        what = (
            f"as tenant {actor}, an UPDATE of {table} setting {', '.join(taken)} "
            "to the tenant's own values"
        )
        verdicts.append(_update_every_row(context, plan, taken, rows[actor], what))
    if all(verdicts):  # a blanket UPDATE stopped by a constraint judged nothing
        witness_rows(context, table, [victim])


def aim_at_another_tenant(
    context: ProbeContext, table: str, example: Example
) -> tuple[TablePlan, dict[Any, list[Row]], Any, Row]:
    """Rows of several tenants (at least one each), and the application acting as the
    first of them: the plan, the rows by tenant, the actor and a row of another tenant."""
    plan = example.planner.plan(table)
    tenants = several_tenants(example)
    rows = populate(example, table, tenants, least=1)
    context.session.as_role(context.app, tenants[0])
    return plan, rows, tenants[0], rows[tenants[1]][0]


def _update_every_row(
    context: ProbeContext, plan: TablePlan, assigned: dict[str, Any], own: list[Row], what: str
) -> bool:
    """UPDATE every row the actor may reach: only the actor's own may change. Was the
    UPDATE judged by the policies (not stopped by a constraint)?"""
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder()) for name in assigned
    )
    everything = context.session.attempt(
        sql.SQL("UPDATE {} SET {}").format(table_identifier(plan.table), assignments),
        [adapt(plan.relation.column(name), value) for name, value in assigned.items()],
    )
    expect_only_own(everything, own, what)
    return judged(everything)


@probe(
    "RP104",
    "cross-tenant-delete",
    Severity.ERROR,
    "As a tenant, the application deletes only its own rows",
    attacks=(6,),
    fixes_from=("RG301",),
    objects=tenant_tables,
    shares_rows=True,
    same_on_alike_tables=True,
    premise="another tenant's row is in the table, and the DELETEs (of it by its key, and of "
    "every row without WHERE) touch nothing of it or are refused for lack of rights (none is "
    "stopped by a constraint)",
)
def cross_tenant_delete(context: ProbeContext, table: str, example: Example) -> None:
    """As tenant A: DELETE a row of tenant B by its key (must delete nothing), then
    DELETE every row it can reach (only A's may go; B's must all still be there)."""
    plan = example.planner.plan(table)
    tenants = several_tenants(example)
    rows = populate(example, table, tenants, least=1)
    actor, victim = tenants[0], rows[tenants[1]][0]
    context.session.as_role(context.app, actor)
    condition, values = where_key(plan, victim)
    deleted = context.session.attempt(
        sql.SQL("DELETE FROM {} WHERE {}").format(table_identifier(table), condition), values
    )
    if deleted.touched:
        raise failure(
            f"as tenant {actor}, {context.app} deleted a row of another tenant from {table}"
        )
    everything = context.session.attempt(sql.SQL("DELETE FROM {}").format(table_identifier(table)))
    expect_only_own(everything, rows[actor], f"as tenant {actor}, a DELETE from {table}")
    if judged(deleted) and judged(everything):  # a constraint's refusal judged nothing
        witness_rows(context, table, [victim])


@probe(
    "RP105",
    "update-moves-row",
    Severity.ERROR,
    "As a tenant, the application cannot hand its rows to another tenant",
    attacks=(5,),
    fixes_from=("RG302",),
    objects=tables_with_tenant_column,
    shares_rows=True,
    same_on_alike_tables=True,
    premise="the tenant's own row is in the table, and the UPDATE moving it touches nothing or "
    "is refused for lack of rights, or for everyone (a GENERATED ALWAYS tenant column, "
    "SQLSTATE 428C9), not by a constraint",
)
def update_moves_row(context: ProbeContext, table: str, example: Example) -> None:
    """As tenant A, set the tenant column of its rows to tenant B (no WHERE, so only the
    UPDATE policies decide): it must be rejected or touch nothing."""
    actor, other = two_tenants(example)
    own = populate(example, table, [actor], least=1)[actor]
    column = context.tenancy.settings.tenant_column
    plan = example.planner.plan(table)
    moving = {column: other_tenant_value(example, table, other)}
    # a foreign key that carries the tenant column moves with it, to the other tenant's parent
    for link in plan.links:
        if column in link.columns and link.parent != table:
            parent = example.parent_for(link.parent, other)
            for name, referenced in zip(link.columns, link.referenced, strict=True):
                moving[name] = parent.values[referenced]
    context.session.as_role(context.app, actor)
    # No WHERE: a WHERE needs SELECT rights, and then PostgreSQL also checks the new row
    # against the SELECT policies; without one only the UPDATE policies decide.
    moved = context.session.attempt(
        sql.SQL("UPDATE {} SET {}").format(
            table_identifier(table),
            sql.SQL(", ").join(
                sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder())
                for name in moving
            ),
        ),
        [adapt(plan.relation.column(name), value) for name, value in moving.items()],
    )
    if moved.touched:
        raise failure(
            f"as tenant {actor}, {context.app} moved its row of {table} to another tenant"
        )
    if judged(moved) or moved.error_code == GENERATED_ALWAYS:
        witness_rows(context, table, own)


MERGE_SINCE = 150000  # server_version_num of the first release with MERGE


def tenant_tables_merged(tenancy: Tenancy) -> list[str]:
    """Tenant tables, on a server that has MERGE (PostgreSQL 15+): before, it is no
    write path at all."""
    if tenancy.catalog.server_version_num < MERGE_SINCE:
        return []
    return tenant_tables(tenancy)


@probe(
    "RP128",
    "cross-tenant-merge",
    Severity.ERROR,
    "As a tenant, the application cannot change another tenant's rows through MERGE",
    attacks=(6, 24),
    fixes_from=("RG301", "RG701"),
    objects=tenant_tables_merged,
    shares_rows=True,
    same_on_alike_tables=True,
    premise="another tenant's row is in the table, and MERGE's UPDATE and DELETE of it by its "
    "key touch nothing of it or are refused for lack of rights (none is stopped by a "
    "constraint)",
)
def cross_tenant_merge(context: ProbeContext, table: str, example: Example) -> None:
    """As tenant A, MERGE a source row that matches a row of tenant B by its key, once
    WHEN MATCHED THEN UPDATE (setting a column to itself) and once WHEN MATCHED THEN
    DELETE: neither may touch B's row. MERGE writes through the UPDATE and DELETE
    policies and matches only rows the SELECT policies show (since the fix of
    CVE-2023-39418: PostgreSQL 15.0 to 15.3 skipped the UPDATE and SELECT ones), so an
    open UPDATE policy alone does not open MERGE; one open for every command does.
    Servers before 15 have no MERGE: the probe has nothing to run on there."""
    plan, _rows, actor, victim = aim_at_another_tenant(context, table, example)
    column = sql.Identifier(noop_column(plan.relation, context.tenancy))
    condition, values = where_key(plan, victim)
    verdicts = []
    for action, done in (
        (sql.SQL("UPDATE SET {} = {}").format(column, column), "updated"),
        (sql.SQL("DELETE"), "deleted"),
    ):
        answer = context.session.attempt(
            sql.SQL("MERGE INTO {} USING (SELECT 1) AS source ON {} WHEN MATCHED THEN {}").format(
                table_identifier(table), condition, action
            ),
            values,
        )
        if answer.touched:
            raise failure(
                f"as tenant {actor}, {context.app} {done} a row of another tenant in {table} "
                "through MERGE"
            )
        verdicts.append(judged(answer))
    if all(verdicts):
        witness_rows(context, table, [victim])
