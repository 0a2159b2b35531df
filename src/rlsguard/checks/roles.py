"""The application role is an ordinary role that RLS applies to, and stays one."""

from __future__ import annotations

from collections.abc import Iterator

from rlsguard.checks.registry import Problem, check
from rlsguard.checks.remedies import ident, qualified
from rlsguard.findings import Severity
from rlsguard.schema.catalog import PUBLIC
from rlsguard.schema.targets import app_role
from rlsguard.schema.tenancy import Tenancy


@check(
    "RG201",
    "app-not-superuser",
    Severity.ERROR,
    "The application role is not a superuser",
    attacks=(3,),
    objects=app_role,
)
def app_not_superuser(tenancy: Tenancy, role: str) -> Iterator[Problem]:
    """What leaks: everything. Superusers skip Row Level Security entirely, so every
    policy is dead code for an application that connects as one (``postgres``
    included).

    How it is used: any query; ``SELECT row_security_active('documents')`` returns false.

    Fix: connect the application as a dedicated login role.

        CREATE ROLE app_user LOGIN NOSUPERUSER NOBYPASSRLS;
    """
    if tenancy.catalog.roles[role].superuser:
        yield Problem(
            f"{role} is a superuser: row level security never applies to it",
            fix=f"ALTER ROLE {ident(role)} NOSUPERUSER;",
        )


@check(
    "RG202",
    "app-no-bypassrls",
    Severity.ERROR,
    "The application role does not have BYPASSRLS",
    attacks=(3,),
    objects=app_role,
)
def app_no_bypassrls(tenancy: Tenancy, role: str) -> Iterator[Problem]:
    """What leaks: everything. A role with the BYPASSRLS attribute is exempt from every
    policy.

    How it is used: any query as the application.

    Fix:

        ALTER ROLE app_user NOBYPASSRLS;
    """
    found = tenancy.catalog.roles[role]
    if found.bypassrls and not found.superuser:
        yield Problem(
            f"{role} has BYPASSRLS: row level security never applies to it",
            fix=f"ALTER ROLE {ident(role)} NOBYPASSRLS;",
        )


@check(
    "RG203",
    "app-cannot-escalate",
    Severity.ERROR,
    "The application role cannot become a superuser, BYPASSRLS, admin or table-owner role",
    attacks=(3, 8),
    objects=app_role,
)
def app_cannot_escalate(tenancy: Tenancy, role: str) -> Iterator[Problem]:
    """What leaks: everything the other role can see. A member of a role can ``SET ROLE``
    to it (whatever INHERIT says; from PostgreSQL 16, unless the grant says ``SET
    FALSE``), and from then on it is that role: a superuser or BYPASSRLS role skips RLS,
    an admin role gets the admin bypass policies, a table's owner skips that table's RLS
    unless it is forced. Inheriting a role's privileges (``INHERIT``, the default) is
    enough for the last two. A PostgreSQL 16 grant ``WITH INHERIT FALSE, SET FALSE``
    gives neither, and is not reported.

    How it is used: ``SET ROLE uber_admin; SELECT * FROM documents;``

    Fix: revoke the membership; give the application its own role.

        REVOKE uber_admin FROM app_user;
    """
    admins = {admin.name for admin in tenancy.admins}
    owners = {relation.owner for relation in tenancy.tenant_relations}
    becomes = tenancy.becomes(role)
    for reached in tenancy.reachable_roles(role):
        if reached.name == role:
            continue
        reasons = []
        if reached.superuser and reached.name in becomes:
            reasons.append("a superuser")
        if reached.bypassrls and reached.name in becomes:
            reasons.append("a BYPASSRLS role")
        if reached.name in admins:
            reasons.append("an admin role")
        if reached.name in owners:
            reasons.append("the owner of tenant tables")
        if reasons:
            granted = tenancy.catalog.roles[role].member_of
            through = [name for name in granted if reached.name in tenancy.closure(name)]
            how = (
                f"can SET ROLE {reached.name}"
                if reached.name in becomes
                else f"inherits the privileges of {reached.name}"
            )
            yield Problem(
                f"{role} {how}, which is {' and '.join(reasons)}",
                fix="\n".join(f"REVOKE {ident(name)} FROM {ident(role)};" for name in through),
            )


MAINTAIN_ROLE = "pg_maintain"


@check(
    "RG204",
    "app-cannot-maintain",
    Severity.WARNING,
    "The application role cannot lock or maintain tenant tables it does not own "
    "(MAINTAIN, PostgreSQL 17+)",
    attacks=(23,),
    objects=app_role,
)
def app_cannot_maintain(tenancy: Tenancy, role: str) -> Iterator[Problem]:
    """What it breaks: every other tenant's access, and the state of shared derived data.
    From PostgreSQL 17 the ``MAINTAIN`` privilege (and membership of ``pg_maintain``,
    which holds it on every table) lets a role run ``LOCK TABLE``, ``VACUUM``,
    ``ANALYZE``, ``CLUSTER``, ``REINDEX`` and ``REFRESH MATERIALIZED VIEW`` on tables it
    does not own; row level security does not apply to any of them. One tenant's session
    can hold an ``ACCESS EXCLUSIVE`` lock on a table every tenant uses.

    How it is used: ``BEGIN; LOCK TABLE documents IN ACCESS EXCLUSIVE MODE;`` and wait.

    Fix: revoke it; maintenance belongs to the owner or an operations role.

        REVOKE MAINTAIN ON documents FROM app_user;
        REVOKE pg_maintain FROM app_user;
    """
    if tenancy.catalog.server_version_num < 170000:
        return
    actors = tenancy.closure(role)
    if MAINTAIN_ROLE in actors:
        yield Problem(
            f"{role} is a member of {MAINTAIN_ROLE}: it may LOCK, VACUUM, CLUSTER, REINDEX and "
            "REFRESH every table of the database",
            cause=f"role {MAINTAIN_ROLE}",
            fix=f"REVOKE {MAINTAIN_ROLE} FROM {ident(role)};",
        )
        return
    held = {
        relation.qualified: grantees
        for relation in tenancy.tenant_relations
        if relation.owner not in actors
        and (
            grantees := sorted(
                grant.grantee if grant.grantee == PUBLIC else ident(grant.grantee)
                for grant in relation.grants
                if grant.privilege == "MAINTAIN" and grant.grantee in {*actors, PUBLIC}
            )
        )
    }
    if held:
        yield Problem(
            f"{role} holds MAINTAIN on {', '.join(held)}: it may lock them for every tenant",
            fix="\n".join(
                f"REVOKE MAINTAIN ON {qualified(table)} FROM {', '.join(grantees)};"
                for table, grantees in held.items()
            ),
        )
