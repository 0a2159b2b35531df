"""With no tenant context (the setting unset or empty) the application reads and
writes nothing."""

from __future__ import annotations

from hypothesis import strategies as st
from psycopg2 import sql

from rlsguard.findings import Severity
from rlsguard.probes.moves import (
    attempt_insert,
    failure,
    keys_of,
    new_row,
    noop_column,
    populate,
    select_keys,
    several_tenants,
    where_key,
    witness_rows,
)
from rlsguard.probes.registry import ProbeContext, probe
from rlsguard.probes.rows import (
    Example,
    table_identifier,
)
from rlsguard.probes.transcript import Answer
from rlsguard.schema.expressions import judge
from rlsguard.schema.targets import (
    tenant_tables,
)

CAST_ERRORS = {"22P02", "22007", "22008", "42704", "22023"}  # bad input, unset parameter


@probe(
    "RP106",
    "no-context",
    Severity.ERROR,
    "With the tenant setting unset or empty, the application reads and writes nothing",
    attacks=(9,),
    fixes_from=("RG305", "RG306"),
    objects=tenant_tables,
    premise="a tenant's row is in the table",
)
def no_context(context: ProbeContext, table: str, example: Example) -> None:
    """With the setting never set (a fresh connection) or set to '' (a pooled connection
    after a reset), the application must read no row and write none. An error that is
    only a cast of the empty setting is a robustness warning, not a leak."""
    mode = example.data.draw(st.sampled_from(("unset", "empty")), label="tenant setting")
    if mode == "unset":
        context.switch("fresh", example)  # a connection that never saw the setting
    plan = example.planner.plan(table)
    owner = several_tenants(example, least=1)[0]
    rows = populate(example, table, [owner], least=1)
    # a row for a tenant with none yet, so no unique key of the table is in the way
    new_values = new_row(example, table, example.new_tenant())
    witness_rows(context, table, rows[owner])
    context.session.as_role(context.app, None, context=mode)
    read = select_keys(context, plan)
    _robust(context, table, read, mode, "reading")
    # rows that were there before are not judged
    made = set(read.rows) & keys_of(example.rows.get(table, []), plan)
    if made:
        raise failure(
            f"with the tenant setting {mode}, {context.app} reads {len(made)} row(s) of "
            f"{table} the probe made"
        )
    condition, values = where_key(plan, rows[owner][0])
    for statement, params, verb in (
        (sql.SQL("UPDATE {} SET {} = {} WHERE {}"), values, "updates"),
        (sql.SQL("DELETE FROM {} WHERE {}"), values, "deletes"),
    ):
        column = sql.Identifier(noop_column(plan.relation, context.tenancy))
        composed = (
            statement.format(table_identifier(table), column, column, condition)
            if verb == "updates"
            else statement.format(table_identifier(table), condition)
        )
        outcome = context.session.attempt(composed, params)
        _robust(context, table, outcome, mode, verb)
        if outcome.touched:
            raise failure(f"with the tenant setting {mode}, {context.app} {verb} rows of {table}")
    inserted = attempt_insert(context, table, new_values)
    _robust(context, table, inserted, mode, "inserting")
    if inserted.touched:
        raise failure(f"with the tenant setting {mode}, {context.app} inserts rows into {table}")


def _robust(context: ProbeContext, table: str, outcome: Answer, mode: str, doing: str) -> None:
    if outcome.failed and outcome.error_code in CAST_ERRORS:
        raise failure(
            f"with the tenant setting {mode}, {doing} {table} fails with an error instead of "
            "matching "
            f"nothing ({outcome.error}); the policies that cast the setting: "
            f"{', '.join(_casting_policies(context, table)) or 'none found'}",
            Severity.WARNING,
        )


def _casting_policies(context: ProbeContext, table: str) -> list[str]:
    relation = context.tenancy.catalog.relations[table]
    return sorted(
        policy.name
        for policy in relation.policies
        if any(
            judge(text, context.tenancy.context).fragile_cast
            for text in (policy.using, policy.check)
            if text
        )
        or policy.calls_functions
    )
