"""Roles: the application cannot become a privileged role, and RLS applies to it."""

from __future__ import annotations

from psycopg2 import sql

from rlsguard.findings import Severity
from rlsguard.probes.moves import (
    failure,
)
from rlsguard.probes.registry import AUTHORITY, ProbeContext, probe
from rlsguard.probes.rows import (
    Example,
)
from rlsguard.schema.targets import (
    app_role,
)


@probe(
    "RP110",
    "role-reachability",
    Severity.ERROR,
    "The application cannot become a privileged role, and RLS is active for it",
    attacks=(3, 8),
    fixes_from=("RG201", "RG202", "RG203"),
    objects=app_role,
    deterministic=True,
    needs_authority=True,
    premise="the application logs in, and there is a privileged role or an RLS table to try",
)
def role_reachability(context: ProbeContext, role: str, example: Example) -> None:
    """As the application: ``SET ROLE`` into each admin, superuser and BYPASSRLS role must
    fail, and ``row_security_active()`` must be true on every RLS tenant table."""
    tenancy = context.tenancy
    targets = sorted(
        {admin.name for admin in tenancy.admins}
        | {item.name for item in tenancy.catalog.roles.values() if item.superuser or item.bypassrls}
    )
    # SET ROLE is checked against the session user, so become the application for the
    # whole session (as it would be when it logs in), not just the current role. That
    # takes a superuser; nothing of the database's own code runs here.
    context.switch(AUTHORITY, example)
    context.session.execute(
        sql.SQL("SET LOCAL SESSION AUTHORIZATION {}").format(sql.Identifier(role))
    )
    context.session.identity = role
    if targets or tenancy.tenant_relations:
        context.witness()
    for target in targets:
        if target == role:
            continue
        became = context.session.attempt(sql.SQL("SET ROLE {}").format(sql.Identifier(target)))
        if not became.failed:
            raise failure(f"{role} can SET ROLE {target}")
    for relation in tenancy.tenant_relations:
        if not relation.rls_enabled or tenancy.is_child(relation):
            continue
        active = context.session.attempt(
            "SELECT row_security_active(%s::regclass)", (relation.qualified,)
        )
        if not active.failed and active.rows and active.rows[0][0] is False:
            raise failure(f"row level security is not active for {role} on {relation.qualified}")
