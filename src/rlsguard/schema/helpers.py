"""What the database's helper functions return, in terms of the tenant context:
``auth.uid()`` the principal, ``auth.jwt()`` the claims document, ``current_tenant()``
the tenant. A SQL function whose body is one ``SELECT <expression>`` is read like a
policy expression; helpers calling helpers are found over a few rounds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from pglast import ast, parse_sql
from pglast.parser import ParseError

from rlsguard.schema.catalog import Function
from rlsguard.schema.expressions import Kind, TenantContext, value_kind

ROUNDS = 5  # helpers of helpers of ...


def helper_kinds(
    context: TenantContext,
    functions: Iterable[Function],
    fallback: dict[str, Kind],
    declared: Mapping[str, Kind],
) -> tuple[tuple[str, Kind], ...]:
    """Function names (bare and schema-qualified) and what each returns; ``fallback``
    holds kinds found otherwise (a body that reads the context but is not one SELECT),
    ``declared`` those the config gives (context_functions), which win."""
    bodies = [(function, _returned(function)) for function in functions]
    kinds = dict(fallback)
    for _round in range(ROUNDS):
        current = dataclasses.replace(context, helper_kinds=tuple(sorted(kinds.items())))
        found = dict(fallback)
        for function, returned in bodies:
            kind = value_kind(returned, current) if returned is not None else None
            if kind is not None:
                found[function.name] = kind
                found[f"{function.schema}.{function.name}"] = kind
        found.update(declared)
        if found == kinds:
            break
        kinds = found
    return tuple(sorted(kinds.items()))


def _returned(function: Function) -> Any:
    """The expression a SQL function's body selects, when the body is just that."""
    if function.language != "sql" or function.kind != "f":
        return None
    try:
        statements = parse_sql(function.source)
    except ParseError:
        return None
    if len(statements) != 1:
        return None
    select = statements[0].stmt
    if not isinstance(select, ast.SelectStmt) or select.fromClause or select.whereClause:
        return None
    targets = select.targetList or ()
    if len(targets) != 1 or not isinstance(targets[0], ast.ResTarget):
        return None
    return targets[0].val
