"""The admin bypass works, and only for the admin roles."""

from __future__ import annotations

from collections.abc import Iterator

from rlsguard.checks.registry import Problem, check
from rlsguard.checks.remedies import ident, policy_name, qualified
from rlsguard.findings import Severity
from rlsguard.schema.catalog import Policy, Relation
from rlsguard.schema.targets import admin_roles, tables_with_policies
from rlsguard.schema.tenancy import Tenancy


@check(
    "RG601",
    "admin-bypass",
    Severity.ERROR,
    "Each admin role reads every tenant's rows and writes for any tenant, through policies",
    attacks=(22,),
    objects=admin_roles,
)
def admin_bypass(tenancy: Tenancy, role: str) -> Iterator[Problem]:
    """What breaks: operations, and the evidence. An admin role meant to see all tenants
    that has no bypass policy (or a tenant-bound one) sees nothing, or one tenant. An
    admin role that is a superuser or has BYPASSRLS skips RLS altogether: the bypass
    policies written for it are dead code and the admin path is never exercised with RLS
    in force (a warning).

    How it is used: not an attack; the platform's operators find out when they need it.

    Fix: a dedicated non-superuser role with explicit policies.

        CREATE ROLE uber_admin NOSUPERUSER NOBYPASSRLS;
        GRANT SELECT, INSERT, UPDATE, DELETE ON documents TO uber_admin;
        CREATE POLICY documents_admin ON documents TO uber_admin USING (true) WITH CHECK (true);
    """
    admin = tenancy.catalog.roles[role]
    if admin.superuser or admin.bypassrls:
        yield Problem(
            f"{role} is {'a superuser' if admin.superuser else 'a BYPASSRLS role'}: "
            "it skips row level "
            "security, so policies for it never apply and the admin path is never tested",
            Severity.WARNING,
            fix=_through_policies(tenancy, role),
        )
        return
    for relation in tenancy.tenant_relations:
        if (
            not relation.rls_enabled
            or tenancy.is_child(relation)
            or tenancy.rls_bypass(role, relation)
        ):
            continue
        table = qualified(relation.qualified)
        if not tenancy.has(role, "SELECT", relation):
            yield Problem(
                f"{role} has no SELECT on {relation.qualified}",
                fix=f"GRANT SELECT ON {table} TO {ident(role)};",
            )
            continue
        for command in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            if command != "SELECT" and not tenancy.has(role, command, relation):
                continue
            isolation = tenancy.isolation(relation, command, role, new_rows=command == "INSERT")
            if isolation.isolated:
                yield Problem(
                    f"{command} as {role} on {relation.qualified} is not open to every "
                    f"tenant: {isolation.why}",
                    fix=_open_to(tenancy, role, isolation.deciding, table, relation),
                )


def _through_policies(tenancy: Tenancy, role: str) -> str:
    """The admin made an ordinary role, with the grants and bypass policies it then needs."""
    statements = [f"ALTER ROLE {ident(role)} NOSUPERUSER NOBYPASSRLS;"]
    for relation in tenancy.tenant_relations:
        if not relation.rls_enabled or tenancy.is_child(relation):
            continue
        table = qualified(relation.qualified)
        statements.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {ident(role)};")
        statements.append(_bypass(role, relation, table))
    return "\n".join(statements)


def _bypass(role: str, relation: Relation, table: str) -> str:
    return (
        f"CREATE POLICY {ident(policy_name(relation, 'admin'))} ON {table} TO {ident(role)} "
        "USING (true) WITH CHECK (true);"
    )


def _open_to(
    tenancy: Tenancy, role: str, deciding: tuple[Policy, ...], table: str, relation: Relation
) -> str:
    """A bypass policy for the admin role; a restrictive policy that binds it to a tenant
    is given to the application alone first."""
    app = ident(tenancy.app.name)
    narrowed = [
        f"ALTER POLICY {ident(policy.name)} ON {table} TO {app};"
        for policy in deciding
        if not policy.permissive
    ]
    return "\n".join([*narrowed, _bypass(role, relation, table)])


@check(
    "RG602",
    "dead-policy",
    Severity.WARNING,
    "Policies apply to roles that RLS applies to",
    attacks=(22,),
    objects=tables_with_policies,
)
def dead_policy(tenancy: Tenancy, table: str) -> Iterator[Problem]:
    """What breaks: confidence. A policy only for superusers or BYPASSRLS roles never
    applies (those roles skip RLS): it reads like an admin bypass but tests nothing,
    and removing the role's privilege later silently changes who sees what.

    How it is used: not an attack; a reviewer trusts a policy that does nothing.

    Fix: grant the bypass to a non-superuser admin role (see RG601) and drop the dead
    policy.

        DROP POLICY uber_admin_bypass_documents ON documents;
    """
    roles = tenancy.catalog.roles
    for policy in tenancy.catalog.relations[table].policies:
        named = [roles[name] for name in policy.roles if name in roles]
        if (
            named
            and len(named) == len(policy.roles)
            and all(r.superuser or r.bypassrls for r in named)
        ):
            who = ", ".join(policy.roles)
            verb = "skips" if len(policy.roles) == 1 else "skip"
            yield Problem(
                f"policy {policy.name} on {table} is only for {who}, which {verb} row level "
                "security: it never applies",
                fix=f"DROP POLICY {ident(policy.name)} ON {qualified(table)};",
            )
