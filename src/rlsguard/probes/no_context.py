"""With no tenant context (the setting unset or empty) the application reads and
writes nothing."""

from __future__ import annotations

import functools
from typing import Any

from psycopg2 import sql

from rlsguard.findings import Severity
from rlsguard.probes.doors import argument_types, nobody_has, type_family
from rlsguard.probes.drawing import draw
from rlsguard.probes.lazy import st
from rlsguard.probes.moves import (
    attempt_insert,
    failure,
    keys_of,
    new_row,
    noop_column,
    populate,
    select_keys,
    where_key,
    witness_rows,
)
from rlsguard.probes.registry import ProbeContext, probe
from rlsguard.probes.rows import (
    Example,
    table_identifier,
)
from rlsguard.probes.transcript import Answer
from rlsguard.probes.values import CannotGenerate
from rlsguard.schema.expressions import judge
from rlsguard.schema.targets import (
    app_executable_context_functions,
    context_settings,
    tables_open_to_app_reads,
    tenant_tables,
)

CAST_ERRORS = {"22P02", "22007", "22008", "42704", "22023"}  # bad input, unset parameter


@probe(
    "RP106",
    "no-context",
    Severity.ERROR,
    "With the tenant setting unset or empty, the application reads and writes nothing",
    attacks=(9,),
    fixes_from=("RG305", "RG306", "RG510", "RG301"),
    objects=tenant_tables,
    premise="a tenant's row is in the table",
    same_on_alike_tables=True,
)
def no_context(context: ProbeContext, table: str, example: Example) -> None:
    """With the setting never set (a fresh connection, with the defaults the database
    gives a login as the application) or set to '' (a pooled connection after a reset),
    the application must read no row and write none. An error that is only a cast of the
    empty setting is a robustness warning, not a leak."""
    mode = draw(example.data, _modes(), label="tenant setting")
    if mode == "unset":
        context.switch("fresh", example)  # a connection that never saw the setting
    plan = example.planner.plan(table)
    # a fresh login is in the tenant a database or role default names: its rows are at stake
    named = context.session.entry.default_tenant if mode == "unset" else None
    owner = example.named_tenant(named) if named else example.new_tenant()
    rows = populate(example, table, [owner], least=1)
    # a row for a tenant with none yet, so no unique key of the table is in the way
    new_values = new_row(example, table, example.new_tenant())
    witness_rows(context, table, rows[owner])
    context.session.as_role(context.app, None, context="fresh" if mode == "unset" else mode)
    mode = _described(context, mode)
    read = select_keys(context, plan, example.rows.get(table, []))
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


@functools.cache
def _modes() -> st.SearchStrategy[str]:
    """Made once: Hypothesis validates a new ``sampled_from`` on its first draw."""
    return st.sampled_from(("unset", "empty"))


def _described(context: ProbeContext, mode: str) -> str:
    """ "unset", and what a login as the application gets instead, when the database gives
    the context settings defaults."""
    defaults = [params for _statement, params in context.session.entry.fresh()]
    if mode != "unset" or not defaults:
        return mode
    given = ", ".join(f"{name} = '{value}'" for name, value in defaults)
    return f"unset (a login as the application gets {given} by default)"


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


@probe(
    "RP126",
    "context-carried-over",
    Severity.ERROR,
    "A tenant set by one request does not carry over to the next on the same connection",
    attacks=(9,),
    fixes_from=("RG509",),
    objects=app_executable_context_functions,
    premise="a previous request called the function with another tenant's id, and that "
    "tenant's rows are in a table the application reads",
)
def context_carried_over(context: ProbeContext, signature: str, example: Example) -> None:
    """On a connection of its own: a request calls the function with tenant B's id and
    commits (read only); the next request sets no tenant and reads a tenant table: none
    of B's rows may show."""
    tenancy = context.tenancy
    function = tenancy.catalog.functions[signature]
    families = [type_family(kind) for kind in argument_types(function.arguments)]
    sample = tenancy.tenant_column_sample
    tenant_family = type_family(sample.type) if sample is not None else None
    if None in families or tenant_family not in families:
        raise CannotGenerate(
            f"cannot call {signature} with a tenant id: it takes no argument of the tenant "
            "column's type, or one of a type rlsguard does not fill in"
        )
    context.switch("fresh", example)
    other = example.fresh_tenant_id()  # made after the previous request, which sees no row
    arguments = [
        other if family == tenant_family else nobody_has(str(family), example)
        for family in families
    ]
    call = sql.SQL("SELECT {}({})").format(
        sql.SQL(".").join(map(sql.Identifier, (function.schema, function.name))),
        sql.SQL(", ").join(sql.Placeholder() * len(arguments)),
    )
    session = context.session
    try:
        if session.previous_request(context.app, call, arguments).failed:
            return
        example.make_tenant(other)
        _read_without_context(context, example, signature, other)
    finally:
        session.forget(sorted(context_settings(tenancy)))


def _read_without_context(
    context: ProbeContext, example: Example, signature: str, other: Any
) -> None:
    for table in tables_open_to_app_reads(context.tenancy):
        try:
            rows = populate(example, table, [other], least=1)[other]
        except CannotGenerate:
            continue
        plan = example.planner.plan(table)
        if not witness_rows(context, table, rows):
            continue
        context.session.as_role(context.app, None, context="unset")
        read = select_keys(context, plan, rows)
        shown = set(read.rows) & keys_of(rows, plan)
        if shown:
            raise failure(
                f"after a request called {signature} for tenant {other}, the next request on "
                f"the connection, setting no tenant, reads {len(shown)} of that tenant's rows "
                f"of {table}"
            )
        return
