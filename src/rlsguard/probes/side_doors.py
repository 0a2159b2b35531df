"""Doors a tenant opens by its own ordinary actions: writing through a view, firing a
table's triggers, and calling a LEAKPROOF function in its WHERE clause."""

from __future__ import annotations

from typing import Any

from psycopg2 import sql

from rlsguard.findings import Severity
from rlsguard.probes.doors import argument_types, nobody_has, type_family
from rlsguard.probes.moves import (
    REFUSED_BY_RIGHTS,
    attempt_insert,
    changed_tables,
    failure,
    new_row,
    noop_column,
    populate,
    present,
    tenant_digest,
    two_tenants,
    where_key,
)
from rlsguard.probes.registry import ProbeContext, probe
from rlsguard.probes.rows import Example, Row, insert_statement, table_identifier
from rlsguard.probes.transcript import SetupFailed
from rlsguard.probes.values import CannotGenerate
from rlsguard.schema.catalog import Relation
from rlsguard.schema.targets import (
    app_executable_leakproof,
    app_writable_views,
    tables_with_tenant_column,
    tenant_tables_with_triggers,
    tenant_tables_written_through,
)

CHECK_OPTION_VIOLATION = "44000"


@probe(
    "RP123",
    "view-write",
    Severity.ERROR,
    "Writing through a view, a tenant cannot put rows into another tenant",
    attacks=(12,),
    fixes_from=("RG508",),
    objects=app_writable_views,
    premise="the INSERT through the view goes through, or is refused by the view's CHECK "
    "OPTION (SQLSTATE 44000) or for lack of rights (42501), not by a constraint",
)
def view_write(context: ProbeContext, view: str, example: Example) -> None:
    """As tenant A, INSERT through the view a row of tenant B (B's tenant id, B's parent
    rows): it must be refused, and B must have no new row in the table behind the view."""
    tenancy = context.tenancy
    relation = tenancy.catalog.relations[view]
    column = tenancy.settings.tenant_column
    if relation.column(column) is None:
        raise CannotGenerate(
            f"cannot write another tenant's row through {view}: it does not show {column}"
        )
    base = tenant_tables_written_through(tenancy, relation)[0]
    actor, other = two_tenants(example)
    values = example.values_for(base, other, {column: other})
    shown = {name: value for name, value in values.items() if relation.column(name) is not None}
    before = tenant_digest(context, other)
    context.session.as_role(context.app, actor)
    outcome = context.session.attempt(
        *insert_statement(view, shown, example.planner.plan(base), returning=False)
    )
    refused = outcome.error_code in (REFUSED_BY_RIGHTS, CHECK_OPTION_VIOLATION)
    if outcome.failed and not refused:
        return  # a constraint stopped it before the view or the policies could
    changed = changed_tables(before, tenant_digest(context, other))
    if changed:
        raise failure(
            f"as tenant {actor}, an INSERT through {view} wrote a row of another tenant into "
            f"{', '.join(changed)}"
        )
    # an INSERT that went through stored its row, unless a trigger or rule swallowed it
    if refused or not tenancy.catalog.relations[base].insert_rewritten:
        context.witness()


@probe(
    "RP124",
    "trigger-side-effects",
    Severity.ERROR,
    "A tenant's own writes change no row of another tenant, whatever the triggers do",
    attacks=(13,),
    fixes_from=("RG507",),
    objects=tenant_tables_with_triggers,
    premise="another tenant has rows, and the tenant's own INSERT (then UPDATE, DELETE) of "
    "a row that looks like one of them goes through",
)
def trigger_side_effects(context: ProbeContext, table: str, example: Example) -> None:
    """Rows of tenant B in every tenant table; as tenant A, insert a row of its own that
    copies B's values where a trigger might look for its like (not keys, the tenant or
    parents), update it to itself and delete it: B's rows, row versions included, must
    be as they were."""
    tenancy = context.tenancy
    actor, other = two_tenants(example)
    root = tenancy.tenant_root
    least = 1 if root is not None and root.qualified == table else 2  # a tenant has one row
    theirs = populate(example, table, [other], least=least)[other]
    for elsewhere in tables_with_tenant_column(tenancy):
        # one row per tenant: a trigger may already have made it (a counter)
        if elsewhere != table and not example.planner.plan(elsewhere).one_per_tenant:
            try:
                populate(example, elsewhere, [other], least=1)
            except (CannotGenerate, SetupFailed):
                continue
    plan = example.planner.plan(table)
    values = new_row(example, table, actor, _lookalike(context, plan.relation, theirs[0]))
    before = tenant_digest(context, other)
    context.session.as_role(context.app, actor)
    if attempt_insert(context, table, values).failed:
        return
    own = Row(table, actor, values)
    if len(present(context, table, [own, *theirs])) <= len(theirs):
        return  # the rows vanished: a trigger or rule stored none of them
    context.witness()
    context.session.as_role(context.app, actor)
    if all(name in values for name in plan.key):
        condition, key = where_key(plan, own)
        noop = sql.Identifier(noop_column(plan.relation, tenancy))
        for statement in (
            sql.SQL("UPDATE {} SET {} = {} WHERE {}").format(
                table_identifier(table), noop, noop, condition
            ),
            sql.SQL("DELETE FROM {} WHERE {}").format(table_identifier(table), condition),
        ):
            context.session.attempt(statement, key)
    changed = changed_tables(before, tenant_digest(context, other))
    if changed:
        raise failure(
            f"as tenant {actor}, writing its own row of {table} changed rows of another tenant "
            f"in {', '.join(changed)}"
        )


def _lookalike(context: ProbeContext, relation: Relation, row: Row) -> dict[str, Any]:
    """B's values for the columns a trigger might match on: not the tenant column,
    foreign keys, columns unique across tenants, identity or generated ones."""
    tenancy = context.tenancy
    column = tenancy.settings.tenant_column
    excluded = {column}
    for constraint in relation.foreign_keys:
        excluded.update(constraint.columns)
    for index in relation.indexes:
        if index.unique and column not in index.columns:
            excluded.update(name for name in index.columns if name)
    return {
        column.name: row.values[column.name]
        for column in relation.columns
        if column.name not in excluded
        and not column.identity
        and not column.generated
        and row.values.get(column.name) is not None
    }


SEQUENTIAL_SCANS = (
    "SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off; "
    "SET LOCAL enable_indexonlyscan = off"
)
LEAST_SHOWN = 4  # a value shorter than this may be in a message by chance


@probe(
    "RP125",
    "leakproof-errors",
    Severity.ERROR,
    "A LEAKPROOF function in a tenant's WHERE clause tells it nothing of other rows",
    attacks=(19,),
    fixes_from=("RG511",),
    objects=app_executable_leakproof,
    premise="another tenant's rows hold values of the function's first argument type in a "
    "table RLS guards that the application reads",
)
def leakproof_errors(context: ProbeContext, signature: str, example: Example) -> None:
    """Rows of tenant B only; as tenant A, with index scans off (any session may), filter
    each RLS table by the function applied to each column of its first argument's type:
    no error or notice may carry a value of B's rows."""
    tenancy = context.tenancy
    function = tenancy.catalog.functions[signature]
    families = [type_family(kind) for kind in argument_types(function.arguments)]
    if not families or None in families:
        raise CannotGenerate(
            f"cannot provoke {signature}: rlsguard fills in arguments of type uuid, text and "
            "integer only"
        )
    actor, other = two_tenants(example)
    rest = [nobody_has(family, example) for family in families[1:] if family]
    for table, column in _guarded_columns(context, families[0]):
        try:
            rows = populate(example, table, [other], least=1)[other]
        except (CannotGenerate, SetupFailed):
            continue
        secrets = {
            str(row.values[column])
            for row in rows
            if len(str(row.values.get(column) or "")) >= LEAST_SHOWN
        }
        if not secrets:
            continue
        context.session.as_role(context.app, actor)
        # what an attacker does first: a scan that reads every row, so the function runs
        # on rows the policies would have skipped through an index
        context.session.execute(SEQUENTIAL_SCANS)
        filtered = sql.SQL("SELECT count(*) FROM {} WHERE {}({})").format(
            table_identifier(table),
            sql.SQL(".").join(map(sql.Identifier, (function.schema, function.name))),
            sql.SQL(", ").join([sql.Identifier(column), *(sql.Placeholder() for _ in rest)]),
        )
        outcome = context.session.attempt(filtered, rest)
        if len(present(context, table, rows)) < len(rows):
            continue  # the rows vanished: a trigger or rule stored none of them
        context.witness()
        said = [outcome.error or "", *outcome.notices]
        told = sorted(secret for secret in secrets if any(secret in text for text in said))
        if told:
            telling = next(text for text in said if told[0] in text)
            raise failure(
                f"as tenant {actor}, filtering {table} by {signature} on {column} made it "
                f"tell another tenant's value {told[0]!r}: {_shortened(telling)}"
            )


def _shortened(text: str, most: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= most else text[: most - 3] + "..."


def _guarded_columns(context: ProbeContext, family: str | None) -> list[tuple[str, str]]:
    """(table, column) of RLS tables the application reads, columns of ``family``."""
    tenancy = context.tenancy
    found = []
    for table in tables_with_tenant_column(tenancy):
        relation = tenancy.catalog.relations[table]
        if relation.rls_enabled and tenancy.has(context.app, "SELECT", relation):
            found += [(table, c.name) for c in relation.columns if type_family(c.type) == family]
    return found
