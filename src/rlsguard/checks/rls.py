"""Row Level Security switched on, and not skipped by ownership."""

from __future__ import annotations

from collections.abc import Iterator

from rlsguard.checks.registry import Problem, check
from rlsguard.checks.remedies import admin_policies, create_tenant_policy, disown, qualified
from rlsguard.findings import Severity
from rlsguard.schema.targets import child_tables, tenant_tables
from rlsguard.schema.tenancy import Tenancy

COMMANDS = ("SELECT", "INSERT", "UPDATE", "DELETE")


@check(
    "RG101",
    "rls-enabled",
    Severity.ERROR,
    "Row Level Security is enabled on every tenant table",
    attacks=(1, 16, 21),
    objects=tenant_tables,
)
def rls_enabled(tenancy: Tenancy, table: str) -> Iterator[Problem]:
    """What leaks: every row of every tenant. Without RLS, policies are ignored and any
    role with SELECT reads the whole table. A tenant table is one that carries the
    tenant column, or references a tenant table through a foreign key (its rows belong
    to a tenant's row): the classic mistake is a table added in a later migration
    without RLS.

    How it is used: any query as the application, e.g. ``SELECT * FROM documents``.

    Fix: enable (and force) RLS and add tenant policies in the same migration.

        ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
        ALTER TABLE documents FORCE ROW LEVEL SECURITY;
        CREATE POLICY documents_tenant ON documents TO app_user
            USING (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);
    """
    relation = tenancy.catalog.relations[table]
    if not relation.rls_enabled:
        name = qualified(table)
        fix = [
            f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;",
            f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY;",
        ]
        app = tenancy.app.name
        if not any(tenancy.applicable(relation, command, app) for command in COMMANDS):
            fix.append(create_tenant_policy(tenancy, relation, restrictive=False))
            fix += admin_policies(tenancy, relation)
        yield Problem(
            f"row level security is disabled on {table} ({tenancy.tenant_tables[table]})",
            fix="\n".join(fix),
        )


@check(
    "RG102",
    "app-not-owner",
    Severity.ERROR,
    "The application role does not own tenant tables",
    attacks=(2,),
    objects=tenant_tables,
)
def app_not_owner(tenancy: Tenancy, table: str) -> Iterator[Problem]:
    """What leaks: everything. A table's owner is not subject to its RLS unless the
    table has FORCE ROW LEVEL SECURITY, and an owner can always turn RLS off again
    (``ALTER TABLE ... NO FORCE ROW LEVEL SECURITY`` or ``DISABLE``).

    How it is used: an application connected as the owner (or a role that can SET ROLE
    to it) reads every tenant; with an SQL injection it can also switch RLS off.

    Fix: let a separate role own the schema (the migration role) and grant the
    application only what it needs; FORCE RLS as a second line.

        ALTER TABLE documents OWNER TO schema_owner;
        GRANT SELECT, INSERT, UPDATE, DELETE ON documents TO app_user;
        ALTER TABLE documents FORCE ROW LEVEL SECURITY;
    """
    relation = tenancy.catalog.relations[table]
    app = tenancy.app.name
    if relation.owner not in tenancy.closure(app):
        return
    via = "" if relation.owner == app else f" (through membership in {relation.owner})"
    fix = "\n".join(disown(tenancy, relation, "SELECT, INSERT, UPDATE, DELETE"))
    if relation.rls_forced:
        yield Problem(
            f"{app} owns {table}{via}: RLS is forced, but an owner can switch it off",
            Severity.WARNING,
            fix=fix,
        )
    else:
        yield Problem(
            f"{app} owns {table}{via}, which does not FORCE row level security: owners skip RLS",
            fix=fix,
        )


@check(
    "RG103",
    "partition-rls",
    Severity.ERROR,
    "Partitions and inheritance children the application can query directly have RLS",
    attacks=(15,),
    objects=child_tables,
)
def partition_rls(tenancy: Tenancy, table: str) -> Iterator[Problem]:
    """What leaks: the child's rows, all tenants. Policies of a partitioned or parent
    table apply to queries through the parent only; a query that names the partition
    or child table uses that table's own RLS settings.

    How it is used: ``SELECT * FROM documents_2024`` instead of ``FROM documents``.

    Fix: enable RLS and the same policies on every partition or child, or grant the
    application nothing on them (it only needs the parent).

        REVOKE ALL ON documents_2024 FROM app_user;
        ALTER TABLE documents_2024 ENABLE ROW LEVEL SECURITY;
    """
    relation = tenancy.catalog.relations[table]
    app = tenancy.app.name
    privileges = [
        p for p in ("SELECT", "INSERT", "UPDATE", "DELETE") if tenancy.has(app, p, relation)
    ]
    if privileges and not relation.rls_enabled:
        parents = ", ".join(relation.parents)
        yield Problem(
            f"{table} ({'a partition' if relation.kind == 'partition' else 'an inheritance child'} "
            f"of {parents}) "
            "has no row "
            f"level security, and {app} may {'/'.join(privileges)} it directly",
            # no policy of its own: read directly, it shows nothing; read through its
            # parent, the parent's policies apply as before
            fix=f"ALTER TABLE {qualified(table)} ENABLE ROW LEVEL SECURITY;",
        )
