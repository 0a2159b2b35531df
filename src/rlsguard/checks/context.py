"""Context hygiene: the tenant context lasts one transaction and starts empty. A function
that sets it for the whole session, or a database or role default for it, hands one
request's tenant to the next request on the same pooled connection."""

from __future__ import annotations

import re
from collections.abc import Iterator

from rlsguard.checks.registry import Problem, check
from rlsguard.checks.remedies import replace_function
from rlsguard.findings import Severity
from rlsguard.schema.catalog import Default, Function
from rlsguard.schema.reach import session_wide_settings
from rlsguard.schema.targets import app_executable_context_functions, app_role, context_settings
from rlsguard.schema.tenancy import Tenancy


@check(
    "RG509",
    "session-wide-context",
    Severity.ERROR,
    "Functions the application calls set the tenant context for the transaction only",
    attacks=(9,),
    objects=app_executable_context_functions,
)
def session_wide_context(tenancy: Tenancy, signature: str) -> Iterator[Problem]:
    """What leaks: the previous request's tenant. ``set_config(name, value, false)`` and
    ``SET`` without ``LOCAL`` keep the value after the transaction ends; on a pooled
    connection, the next request that sets no tenant (a background job, a bug, a
    public endpoint) runs as the last one.

    How it is used: a request calls ``set_tenant('<tenant A>')``; the pool hands the
    connection to an anonymous request, which reads A's rows.

    Fix: set it for the transaction (is_local = true, or SET LOCAL).

        -- in set_tenant(uuid):
        PERFORM set_config('app.current_tenant_id', tenant::text, true);
    """
    function = tenancy.catalog.functions[signature]
    app = tenancy.app.name
    for setting in sorted(context_settings(tenancy) & set(session_wide_settings(function))):
        yield Problem(
            f"{signature} sets {setting} for the rest of the session, not the transaction, "
            f"and {app} can call it: the next request on a pooled connection that sets no "
            "tenant runs with this one's",
            fix=_transaction_only(function, setting),
        )


def _transaction_only(function: Function, setting: str) -> str:
    """The function with ``set_config(setting, ..., false)`` and ``SET setting`` made to
    last the transaction only; a hint where its body says it some other way."""
    named = re.escape(setting)
    body = re.sub(
        rf"(set_config\s*\(\s*'{named}'\s*,.*?,\s*)false(\s*\))",
        r"\1true\2",
        function.source,
        flags=re.IGNORECASE | re.DOTALL,
    )
    body = re.sub(
        rf"\bSET\s+(?:SESSION\s+)?({named}\b)",
        r"SET LOCAL \1",
        body,
        flags=re.IGNORECASE,
    )
    if body == function.source:
        return (
            f"-- in {function.signature}: set_config('{setting}', <value>, true)  "
            f"-- or SET LOCAL {setting} = ..."
        )
    return replace_function(function, body)


def _applies_to(tenancy: Tenancy, default: Default) -> bool:
    """A role default applies at login as that role: the application's sessions get it
    when they log in as the application or as a role that can become it."""
    return default.role == "" or tenancy.app.name in tenancy.closure(default.role)


def _statement(tenancy: Tenancy, default: Default, verb: str) -> str:
    database = default.database or None
    if default.role and database:
        return f"ALTER ROLE {default.role} IN DATABASE {database} {verb}"
    if default.role:
        return f"ALTER ROLE {default.role} {verb}"
    return f"ALTER DATABASE {database or tenancy.catalog.database} {verb}"


@check(
    "RG510",
    "context-defaults",
    Severity.ERROR,
    "No database or role default gives sessions a tenant (or admin) context",
    attacks=(9,),
    objects=app_role,
)
def context_defaults(tenancy: Tenancy, role: str) -> Iterator[Problem]:
    """What leaks: a tenant's rows to every session that sets no context. ``ALTER
    DATABASE ... SET`` and ``ALTER ROLE ... SET`` give the setting a value at login, so
    "no tenant set" means that tenant (or, for the admin context, every tenant).

    How it is used: a migration ran ``ALTER DATABASE app SET app.current_tenant_id =
    '<a tenant>'`` to make a console session work; every job that forgets to set the
    tenant now reads that tenant's rows.

    Fix: remove the default (an empty one, to declare the setting, is fine).

        ALTER DATABASE app RESET app.current_tenant_id;
    """
    wanted = context_settings(tenancy)
    for default in tenancy.catalog.defaults:
        if default.setting in wanted and default.value.strip() and _applies_to(tenancy, default):
            where = _statement(tenancy, default, f"SET {default.setting} = '{default.value}'")
            yield Problem(
                f"{where} gives {role}'s sessions that context at login: a session that sets "
                "none runs with it",
                fix=_statement(tenancy, default, f"RESET {default.setting};"),
            )
