"""Moves the probes share: make tenants and their rows, address a row by its key, read
back what a tenant sees, and say that a property failed."""

from __future__ import annotations

import functools
from typing import Any

from psycopg2 import sql

from rlsguard.findings import Severity
from rlsguard.probes.drawing import draw, integers
from rlsguard.probes.plans import TablePlan
from rlsguard.probes.registry import ProbeContext, ProbeFailure
from rlsguard.probes.rows import (
    Example,
    Row,
    World,
    insert_statement,
    quoted,
    table_identifier,
)
from rlsguard.probes.transcript import Answer
from rlsguard.schema.catalog import Relation
from rlsguard.schema.targets import tables_with_tenant_column
from rlsguard.schema.tenancy import Tenancy


def several_tenants(example: Example, least: int = 2) -> list[Any]:
    """``least`` or one more tenants, for properties about what several tenants see."""
    world = example.world
    if world is not None and len(world.tenants) >= least:
        return list(world.tenants)
    count = draw(example.data, integers(least, least + 1), label="tenants")
    return [example.new_tenant() for _ in range(count)]


def two_tenants(example: Example) -> tuple[Any, Any]:
    """An actor and another tenant: all a property about one against the other needs."""
    if example.world is not None:
        actor, other = example.world.tenants[:2]
        return actor, other
    return example.new_tenant(), example.new_tenant()


def populate(
    example: Example, table: str, tenants: list[Any], least: int = 0
) -> dict[Any, list[Row]]:
    """Rows of ``table`` for each tenant (the tenant root's rows are the tenants; the
    principal's row and its membership are what make a principal act for a tenant)."""
    world = example.world
    if (
        world is not None
        and world.table == table
        and least <= WORLD_ROWS
        and all(tenant in world.rows for tenant in tenants)
    ):
        return {tenant: list(world.rows[tenant]) for tenant in tenants}
    tenancy = example.tenancy
    made_with_tenant = {
        relation.qualified
        for relation in (tenancy.tenant_root, tenancy.principal_table, tenancy.membership_table)
        if relation is not None
    }
    rows: dict[Any, list[Row]] = {}
    for tenant in tenants:
        if table in made_with_tenant:
            example.principal_of(tenant)
            rows[tenant] = example.rows_of(table, tenant)
            continue
        plan = example.planner.plan(table)
        most = 1 if plan.one_per_tenant else 2
        drawn = draw(example.data, plan.rows_strategy(min(least, most), most))
        rows[tenant] = [example.insert(table, tenant, drawn=plan.named(row)) for row in drawn]
    return rows


WORLD_ROWS = 1  # the least rows each tenant of a shared example's world has


def make_world(example: Example, table: str) -> World:
    """Several tenants and rows of ``table`` for each, as the properties that share them
    would make them themselves."""
    tenants = several_tenants(example)
    return World(table, tenants, populate(example, table, tenants, least=WORLD_ROWS))


# a refusal that proves isolation: no privilege, or a row level security policy
REFUSED_BY_RIGHTS = "42501"
FOREIGN_KEY_VIOLATION = "23503"
GENERATED_ALWAYS = "428C9"  # a GENERATED ALWAYS column can only be updated to DEFAULT


def refused_by_rights(answer: Answer) -> bool:
    return answer.error_code == REFUSED_BY_RIGHTS


def judged(answer: Answer) -> bool:
    """Did the policies or privileges decide this write (it went through, or was refused
    for lack of rights), rather than a constraint stopping it before they could?"""
    return not answer.failed or refused_by_rights(answer)


def witness_rows(context: ProbeContext, table: str, rows: list[Row]) -> bool:
    """Does the premise "these rows exist" hold (they were made and are there)? Said to
    the context when it does; a probe judges nothing in an example where it does not."""
    if rows and len(present(context, table, rows)) == len(rows):
        context.witness()
        return True
    return False


def present(context: ProbeContext, table: str, rows: list[Row]) -> list[Row]:
    """Which of ``rows`` are in the table, as the setup login sees it. An INSERT without
    error stores its row, unless a trigger or rule on INSERT stands in the way: only then
    are they read back (and the session acts as setup afterwards)."""
    if not rows or not _insert_may_vanish(context, table):
        return rows
    plan = context.planner.plan(table)
    condition, values = keys_in(plan, rows)
    context.session.as_setup()
    found = context.session.attempt(
        sql.SQL("SELECT {} FROM {} WHERE {}").format(
            key_list(plan), table_identifier(table), condition
        ),
        values,
    )
    there = set(found.rows)
    return [row for row in rows if row.key(plan.key) in there]


def _insert_may_vanish(context: ProbeContext, table: str) -> bool:
    relations = context.tenancy.catalog.relations
    return relations[table].insert_rewritten or any(
        _insert_may_vanish(context, name)
        for name, relation in relations.items()
        if table in relation.parents
    )


def key_list(plan: TablePlan) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, plan.key))


def keys_in(plan: TablePlan, rows: list[Row]) -> tuple[sql.Composable, list[Any]]:
    """``(key) IN (...)``: true of ``rows`` (at least one) by their keys."""
    tuples = sql.SQL(", ").join(
        sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(plan.key))) for _ in rows
    )
    condition = sql.SQL("({}) IN ({})").format(key_list(plan), tuples)
    return condition, [value for row in rows for value in row.key(plan.key)]


def where_key(plan: TablePlan, row: Row) -> tuple[sql.Composable, list[Any]]:
    condition = sql.SQL(" AND ").join(
        sql.SQL("{} IS NOT DISTINCT FROM {}").format(sql.Identifier(name), sql.Placeholder())
        for name in plan.key
    )
    return condition, [row.values[name] for name in plan.key]


def select_keys(context: ProbeContext, plan: TablePlan, rows: list[Row]) -> Answer:
    """The keys the current role sees of ``rows`` (the rows a probe judges), or of the
    whole table when it has no primary key: a populated table is not read whole for the
    few rows an example made."""
    if not rows or not plan.primary_keyed:
        return context.session.attempt(_select_keys_text(plan.table, plan.key, 0))
    values = [value for row in rows for value in row.key(plan.key)]
    return context.session.attempt(_select_keys_text(plan.table, plan.key, len(rows)), values)


@functools.lru_cache(maxsize=4096)
def _select_keys_text(table: str, key: tuple[str, ...], count: int) -> str:
    """``SELECT key FROM table``, of ``count`` keys given as %s when ``count`` is not 0:
    the same few shapes recur in every example."""
    columns, name = quoted(key), quoted(table.split(".", 1), ".")
    if not count:
        return f"SELECT {columns} FROM {name}"
    one = "(" + ", ".join(["%s"] * len(key)) + ")"
    return f"SELECT {columns} FROM {name} WHERE ({columns}) IN ({', '.join([one] * count)})"


def keys_of(rows: list[Row], plan: TablePlan) -> set[tuple[Any, ...]]:
    return {row.key(plan.key) for row in rows}


def blanket_assignment(example: Example, plan: TablePlan) -> tuple[str, Any] | None:
    """A column and a constant to SET on every row: a plain column outside every key and
    foreign key, so no constraint stops the write (one nothing reads, when there is one)."""
    for name, value in plan.settled.items():
        return name, value
    for name, strategy in plan.strategies.items():
        if name not in plan.unique:
            return name, draw(example.data, strategy, label=f"{plan.table}.{name} for every row")
    return None


def takeover(tenancy: Tenancy, plan: TablePlan, own: Row) -> dict[str, Any]:
    """The columns that say whose a row is (the tenant column, and every foreign key to a
    tenant's table), with the values of one of the actor's own rows, so every foreign key
    still holds. SET on every row, they give each row the actor may update to the actor:
    the attack on a policy whose WITH CHECK is bound to the tenant but whose USING is not.
    Nothing for the tenant table itself, whose key is the tenant."""
    root = tenancy.tenant_root
    if root is not None and plan.table == root.qualified:
        return {}
    column = tenancy.settings.tenant_column
    owned = {column} if plan.relation.column(column) is not None else set()
    scoped = set(tenancy.tenant_tables) | ({root.qualified} if root is not None else set())
    for link in plan.links:
        if link.parent in scoped:
            owned.update(link.columns)
    return {name: own.values[name] for name in sorted(owned) if name in own.values}


def noop_column(relation: Relation, tenancy: Tenancy) -> str:
    """A column to SET to itself, so an UPDATE changes nothing: the tenant column, unless
    the server refuses any value in it (GENERATED ALWAYS) or there is none."""
    updatable = [
        column for column in relation.columns if column.identity != "a" and not column.generated
    ]
    preferred = tenancy.settings.tenant_column
    chosen = next((c for c in updatable if c.name == preferred), None) or next(
        iter(updatable), relation.columns[0]
    )
    return chosen.name


def other_tenant_value(example: Example, table: str, other: Any) -> Any:
    """The tenant value a row "of another tenant" gets: that tenant's id, or for the tenant
    table itself an id nobody has."""
    root = example.tenancy.tenant_root
    return example.fresh_tenant_id() if root is not None and table == root.qualified else other


def new_row(
    example: Example, table: str, tenant: Any, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Values for one more row of ``tenant`` (of the tenant table itself: a new tenant id,
    since the tenant already has its row)."""
    root = example.tenancy.tenant_root
    extra = dict(overrides or {})
    if root is not None and table == root.qualified:
        extra.setdefault(example.tenancy.tenant_key, example.fresh_tenant_id())
    return example.values_for(table, tenant, extra)


def failure(message: str, severity: Severity | None = None) -> ProbeFailure:
    return ProbeFailure(message, severity)


def expect_only_own(blanket: Answer, own: list[Row], what: str) -> None:
    """A statement without WHERE may touch the actor's own rows, and no more."""
    extra = blanket.rowcount - len(own)
    if not blanket.failed and extra > 0:
        raise failure(f"{what} without WHERE touched {extra} row(s) of other tenants")


def attempt_insert(context: ProbeContext, table: str, values: dict[str, Any]) -> Answer:
    """INSERT one row as whoever the session acts as now. No RETURNING: it would bring the
    SELECT policies in and hide what the INSERT policies let through."""
    plan = context.planner.plan(table)
    return context.session.attempt(*insert_statement(table, values, plan, returning=False))


def tenant_digest(context: ProbeContext, tenant: Any) -> dict[str, str]:
    """A fingerprint of ``tenant``'s rows in every table that carries the tenant column,
    as the setup login sees them. Row versions are in it (``ctid``): an UPDATE that
    writes the same values still shows."""
    tables = tables_with_tenant_column(context.tenancy)
    column = context.tenancy.settings.tenant_column
    parts = [
        sql.SQL(
            "SELECT {name}, md5(coalesce(string_agg(t.ctid::text || ':' || t::text, ',' "
            "ORDER BY t.ctid), '')) FROM {table} AS t WHERE {column} = {tenant}"
        ).format(
            name=sql.Literal(table),
            table=table_identifier(table),
            column=sql.Identifier(column),
            tenant=sql.Literal(str(tenant)),
        )
        for table in tables
    ]
    if not parts:
        return {}
    context.session.as_setup()
    answer = context.session.execute(sql.SQL(" UNION ALL ").join(parts))
    return {str(name): str(digest) for name, digest in answer.rows}


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(table for table, digest in before.items() if after.get(table) != digest)
