"""Functions as doors around RLS, judged by their bodies: SECURITY DEFINER functions the
application calls, triggers that run as definer when a tenant writes, and functions
marked LEAKPROOF that can raise."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

from rlsguard.checks.registry import Problem, check
from rlsguard.checks.remedies import tenant_value
from rlsguard.findings import Severity
from rlsguard.schema.bodies import read_body
from rlsguard.schema.catalog import Function, Trigger
from rlsguard.schema.reach import Access, accesses, why_it_may_raise
from rlsguard.schema.targets import (
    app_executable_definers,
    app_executable_leakproof,
    tables_with_definer_triggers,
)
from rlsguard.schema.tenancy import Tenancy


def _unbound(
    tenancy: Tenancy, function: Function, *, trigger_row: bool = False
) -> Iterator[tuple[Access, str]]:
    """Queries of the body not bound to the caller, on tables its owner is not confined
    to one tenant on: each with why the owner is not (once per table and command)."""
    seen = set()
    for access in accesses(tenancy, function, trigger_row=trigger_row):
        if access.bound or (access.table, access.command) in seen:
            continue
        relation = tenancy.catalog.relations[access.table]
        reason = tenancy.unconfined(function.owner, relation, access.command)
        if reason is not None:
            seen.add((access.table, access.command))
            yield access, reason


def _door(
    tenancy: Tenancy,
    function: Function,
    lead: str,
    fix: Callable[[Access], str],
    *,
    trigger_row: bool = False,
) -> Iterator[Problem]:
    """The problems of a function that runs as its owner: each query of its body not
    bound to the caller, and a body that cannot be judged."""
    for access, reason in _unbound(tenancy, function, trigger_row=trigger_row):
        yield Problem(
            f"{lead} ({reason}); it {access.describe()}",
            fix=fix(access),
            cause=f"function {function.signature}",
        )
    unjudged = _unjudged(tenancy, function, lead)
    if unjudged is not None:
        yield unjudged


def _unjudged(tenancy: Tenancy, function: Function, lead: str) -> Problem | None:
    """A warning that the body cannot be judged, when its owner reaches some tenant's rows
    freely."""
    why = _why_unjudged(tenancy, function)
    if why is None:
        return None
    return Problem(
        f"{lead}, whose rights reach every tenant's rows, and rlsguard cannot judge its "
        f"body: {why}",
        Severity.WARNING,
        fix=f"ALTER FUNCTION {function.signature} SECURITY INVOKER;",
    )


def _why_unjudged(tenancy: Tenancy, function: Function) -> str | None:
    body = read_body(function)
    why = body.unreadable or (
        f"it runs dynamic SQL (EXECUTE {body.dynamic[0]})" if body.dynamic else None
    )
    if why is None:
        return None
    free = any(
        tenancy.unconfined(function.owner, relation, command) is not None
        for relation in tenancy.tenant_relations
        for command in ("SELECT", "INSERT", "UPDATE", "DELETE")
    )
    return why if free else None


def _fix_body(tenancy: Tenancy, function: Function, access: Access) -> str:
    column = tenancy.settings.tenant_column
    value = tenant_value(tenancy, tenancy.catalog.relations[access.table], column)
    where = (
        f"INSERT INTO {access.table} ({column}, ...) VALUES ({value}, ...)"
        if access.command == "INSERT"
        else f"... WHERE {column} = {value}"
    )
    return (
        f"-- in {function.signature}, bind the query on {access.table} to the caller's tenant:\n"
        f"--   {where}\n"
        f"-- or let RLS judge it as the caller:\n"
        f"ALTER FUNCTION {function.signature} SECURITY INVOKER;"
    )


@check(
    "RG503",
    "definer-functions",
    Severity.ERROR,
    "SECURITY DEFINER functions the application calls bind every query to the caller",
    attacks=(13,),
    objects=app_executable_definers,
)
def definer_functions(tenancy: Tenancy, signature: str) -> Iterator[Problem]:
    """What leaks: whatever the function reads or writes. A SECURITY DEFINER function
    runs as its owner; when the owner skips RLS on a table (or a policy lets it reach
    every tenant), only the body's own WHERE keeps the caller to its tenant. Each query
    of the body on a tenant table must be bound to the caller's context (the tenant
    setting, the principal, a membership), not to a parameter the caller chooses.
    Dynamic SQL (EXECUTE) and bodies in other languages cannot be judged (a warning).

    How it is used: ``SELECT * FROM get_document('<another tenant's document id>')``.

    Fix: bind each query to the caller's tenant, or SECURITY INVOKER.

        -- in get_document(uuid): ... WHERE tenant_id = nullif(current_setting(...), '')::uuid
        ALTER FUNCTION get_document(uuid) SECURITY INVOKER;
    """
    function = tenancy.catalog.functions[signature]
    lead = f"{signature} is SECURITY DEFINER and runs as {function.owner}"
    yield from _door(tenancy, function, lead, lambda access: _fix_body(tenancy, function, access))


@check(
    "RG504",
    "definer-search-path",
    Severity.ERROR,
    "SECURITY DEFINER functions fix a search_path the application cannot write to",
    attacks=(13,),
    objects=app_executable_definers,
)
def definer_search_path(tenancy: Tenancy, signature: str) -> Iterator[Problem]:
    """What leaks: the owner's rights. Without a fixed search_path, unqualified names in
    the function resolve through the caller's search_path: the caller creates a function
    or table of the same name in a schema it can write and it runs with the owner's
    rights.

    How it is used: ``CREATE FUNCTION public.lower(text) ...`` before calling it.

    Fix:

        ALTER FUNCTION lookup_tenant(text) SET search_path = pg_catalog, public, pg_temp;
    """
    function = tenancy.catalog.functions[signature]
    fix = f"ALTER FUNCTION {signature} SET search_path = pg_catalog, {function.schema}, pg_temp;"
    path = function.setting("search_path")
    if path is None:
        yield Problem(f"{signature} is SECURITY DEFINER with no fixed search_path", fix=fix)
        return
    for schema_name in (part.strip().strip('"') for part in path.split(",")):
        if tenancy.can_create_in(tenancy.app.name, schema_name):
            yield Problem(
                f"{signature} searches schema {schema_name}, where {tenancy.app.name} "
                "can create objects",
                fix=fix,
            )


def definer_triggers(tenancy: Tenancy, table: str) -> list[tuple[Trigger, Function]]:
    relation = tenancy.catalog.relations[table]
    found = []
    for trigger in relation.triggers:
        function = tenancy.catalog.functions.get(trigger.function)
        if trigger.enabled and function is not None and function.security_definer:
            found.append((trigger, function))
    return found


@check(
    "RG507",
    "trigger-functions",
    Severity.ERROR,
    "Triggers that run as definer on tenant tables touch only the caller's tenant",
    attacks=(13,),
    objects=tables_with_definer_triggers,
)
def trigger_functions(tenancy: Tenancy, table: str) -> Iterator[Problem]:
    """What leaks: rows of other tenants, read or changed by a trigger a tenant fires. A
    trigger function declared SECURITY DEFINER runs as its owner on every write of the
    table; when the owner skips RLS, each query of the body must be bound to the
    caller's context or to the row the trigger fired for (NEW, OLD), which the caller's
    own policies let through.

    How it is used: ``INSERT INTO documents ...`` as one tenant, whose trigger
    ``UPDATE counters SET n = n + 1`` counts for every tenant.

    Fix: SECURITY INVOKER (the trigger then runs with the writer's rights and RLS), or
    bind each query to the row.

        ALTER FUNCTION count_documents() SECURITY INVOKER;
        -- or: UPDATE counters SET n = n + 1 WHERE tenant_id = NEW.tenant_id
    """
    for trigger, function in definer_triggers(tenancy, table):
        lead = (
            f"trigger {trigger.name} ({trigger.timing} {' OR '.join(trigger.events)}) runs "
            f"{function.signature} as SECURITY DEFINER, owned by {function.owner}"
        )
        fix = functools.partial(_fix_trigger, function, tenancy.settings.tenant_column)
        yield from _door(tenancy, function, lead, fix, trigger_row=True)


def _fix_trigger(function: Function, column: str, access: Access) -> str:
    return (
        f"ALTER FUNCTION {function.signature} SECURITY INVOKER;\n"
        f"-- or bind the query on {access.table} to the row: ... WHERE {column} = NEW.{column}"
    )


@check(
    "RG511",
    "leakproof-functions",
    Severity.ERROR,
    "Functions marked LEAKPROOF cannot raise with their arguments",
    attacks=(19,),
    objects=app_executable_leakproof,
)
def leakproof_functions(tenancy: Tenancy, signature: str) -> Iterator[Problem]:
    """What leaks: other tenants' values, in error messages. PostgreSQL runs a LEAKPROOF
    function of the caller's WHERE clause before the policies' own conditions (that is
    what the mark allows), so it sees rows the caller may not. A function that raises,
    casts or calls something that can fail on its argument then tells the caller that
    row's value.

    How it is used: ``SELECT * FROM documents WHERE check_title(title)`` with
    ``check_title`` raising ``'bad title: %'``.

    Fix: take the mark away (only a superuser can give it).

        ALTER FUNCTION check_title(text) NOT LEAKPROOF;
    """
    function = tenancy.catalog.functions[signature]
    why = why_it_may_raise(tenancy.catalog, function)
    if why is not None:
        yield Problem(
            f"{signature} is marked LEAKPROOF, so it runs before the policies on rows of "
            f"every tenant, and it can raise with its arguments: {why}",
            fix=f"ALTER FUNCTION {signature} NOT LEAKPROOF;",
        )
