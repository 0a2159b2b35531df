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

from rlsguard.config import TENANT, Settings
from rlsguard.schema.catalog import Catalog, Function
from rlsguard.schema.expressions import CONTEXT, Kind, TenantContext, interned, value_kind

ROUNDS = 5  # helpers of helpers of ...


def tenant_context(
    catalog: Catalog, settings: Settings, tenant_tables: Iterable[str]
) -> TenantContext:
    """The context policies are judged against: the entry's settings and their templates,
    the admin's, and what each helper function returns."""
    plain = dict(settings.entry).get(settings.tenant_setting) == TENANT
    textual = _reading(catalog.functions.values(), settings.tenant_setting)
    base = TenantContext(
        column=settings.tenant_column,
        setting=settings.tenant_setting,
        helpers=frozenset(textual if plain else ()),
        tenant_tables=frozenset(
            name for qualified in tenant_tables for name in (qualified, qualified.split(".", 1)[1])
        ),
        sources=settings.entry,
        admin_sources=settings.admin_context,
        trusted=frozenset(settings.trusted_settings),
        untrusted_claims=settings.untrusted_claims,
    )
    fallback: dict[str, Kind] = {} if plain else dict.fromkeys(textual, CONTEXT)
    declared = {name: (kind,) for name, kind in settings.context_functions}
    return interned(
        dataclasses.replace(
            base, helper_kinds=helper_kinds(base, catalog.functions.values(), fallback, declared)
        )
    )


def _reading(functions: Iterable[Function], setting: str) -> set[str]:
    """Functions whose body reads ``setting``, or calls one that does (by their text)."""
    functions = list(functions)
    helpers: set[str] = set()
    needles = [f"'{setting}'"]
    for _round in range(ROUNDS):
        found = {
            name
            for function in functions
            if any(needle in function.source for needle in needles)
            for name in (function.name, f"{function.schema}.{function.name}")
        }
        if found <= helpers:
            break
        helpers |= found
        needles = [f"'{setting}'", *(f"{name}(" for name in helpers)]
    return helpers


def helper_kinds(
    context: TenantContext,
    functions: Iterable[Function],
    fallback: dict[str, Kind],
    declared: Mapping[str, Kind],
) -> tuple[tuple[str, Kind], ...]:
    """Function names (bare and schema-qualified) and what each returns; ``fallback``
    holds kinds found otherwise (a body that reads the context but is not one SELECT),
    ``declared`` those the config gives (context_functions), which win."""
    bodies = [(function, returned_expression(function)) for function in functions]
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


def returned_expression(function: Function) -> Any:
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
