"""The application role is an ordinary role that RLS applies to, and stays one."""

from __future__ import annotations

from collections.abc import Iterator

from rlsguard.checks.registry import Problem, check
from rlsguard.checks.remedies import ident
from rlsguard.findings import Severity
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
    to it (whatever INHERIT says), and from then on it is that role: a superuser or
    BYPASSRLS role skips RLS, an admin role gets the admin bypass policies, a table's
    owner skips that table's RLS unless it is forced.

    How it is used: ``SET ROLE uber_admin; SELECT * FROM documents;``

    Fix: revoke the membership; give the application its own role.

        REVOKE uber_admin FROM app_user;
    """
    admins = {admin.name for admin in tenancy.admins}
    owners = {relation.owner for relation in tenancy.tenant_relations}
    for reached in tenancy.reachable_roles(role):
        if reached.name == role:
            continue
        reasons = []
        if reached.superuser:
            reasons.append("a superuser")
        if reached.bypassrls:
            reasons.append("a BYPASSRLS role")
        if reached.name in admins:
            reasons.append("an admin role")
        if reached.name in owners:
            reasons.append("the owner of tenant tables")
        if reasons:
            granted = tenancy.catalog.roles[role].member_of
            through = [name for name in granted if reached.name in tenancy.closure(name)]
            yield Problem(
                f"{role} can SET ROLE {reached.name}, which is {' and '.join(reasons)}",
                fix="\n".join(f"REVOKE {ident(name)} FROM {ident(role)};" for name in through),
            )
