"""The admin bypass: each admin role reads every tenant's rows and writes for any tenant."""

from __future__ import annotations

from psycopg2 import sql

from rlsguard.findings import Severity
from rlsguard.probes.moves import (
    failure,
    keys_of,
    noop_column,
    populate,
    select_keys,
    several_tenants,
    where_key,
    witness_rows,
)
from rlsguard.probes.registry import ProbeContext, probe
from rlsguard.probes.rows import (
    Example,
    insert_statement,
    table_identifier,
)
from rlsguard.probes.transcript import SetupFailed
from rlsguard.schema.targets import (
    admin_tables,
)

INTEGRITY = "23"  # SQLSTATE class of constraint violations (a CHECK the drawn row broke)


@probe(
    "RP109",
    "admin-bypass",
    Severity.ERROR,
    "Each admin role reads every tenant's rows and writes for any tenant",
    attacks=(22,),
    fixes_from=("RG601",),
    objects=admin_tables,
    shares_rows=True,
    same_on_alike_tables=True,
    premise="rows of several tenants are in the table",
)
def admin_bypass(context: ProbeContext, table: str, example: Example) -> None:
    """Rows of several tenants; each admin role reads all of them and, where it holds the
    privilege, inserts a row for another tenant and updates and deletes one."""
    tenancy = context.tenancy
    plan = example.planner.plan(table)
    tenants = several_tenants(example)
    rows = populate(example, table, tenants, least=1)
    everything = set().union(*(keys_of(found, plan) for found in rows.values()))
    target = rows[tenants[-1]][0]
    if not witness_rows(context, table, [row for found in rows.values() for row in found]):
        return
    for admin in context.admins:
        context.session.as_setup()
        context.session.as_admin(admin)
        read = select_keys(context, plan, [row for found in rows.values() for row in found])
        missing = everything - set(read.rows)
        if read.failed or missing:
            detail = (
                read.error
                if read.failed
                else f"{len(missing)} of {len(everything)} rows are missing"
            )
            raise failure(
                f"admin role {admin} cannot read every tenant's rows of {table}: {detail}"
            )
        relation = plan.relation
        if tenancy.has(admin, "UPDATE", relation):
            column = sql.Identifier(noop_column(relation, tenancy))
            condition, values = where_key(plan, target)
            updated = context.session.attempt(
                sql.SQL("UPDATE {} SET {} = {} WHERE {}").format(
                    table_identifier(table), column, column, condition
                ),
                values,
            )
            if updated.failed or updated.rowcount != 1:
                raise failure(
                    f"admin role {admin} cannot update a tenant's row of {table}: "
                    f"{updated.describe()}"
                )
        root = tenancy.tenant_root.qualified if tenancy.tenant_root else None
        if tenancy.has(admin, "INSERT", relation) and table != root:
            context.session.as_setup()
            # a row for a tenant that already has rows (its parents exist), unless the
            # table allows one row per tenant
            owner = example.new_tenant() if plan.one_per_tenant else tenants[0]
            new_row = example.values_for(table, owner)
            context.session.as_admin(admin)
            inserted = context.session.attempt(
                *insert_statement(table, new_row, plan, returning=False)
            )
            if (inserted.error_code or "").startswith(INTEGRITY):  # rlsguard's row, not the bypass
                raise SetupFailed(table, inserted.error or "")
            if inserted.failed:
                raise failure(
                    f"admin role {admin} cannot insert a row of {table} for a tenant: "
                    f"{inserted.error}"
                )
        if tenancy.has(admin, "DELETE", relation):
            condition, values = where_key(plan, target)
            deleted = context.session.attempt(
                sql.SQL("DELETE FROM {} WHERE {}").format(table_identifier(table), condition),
                values,
            )
            if deleted.error_code not in (None, "23503") or (
                not deleted.failed and deleted.rowcount != 1
            ):
                raise failure(
                    f"admin role {admin} cannot delete a tenant's row of {table}: "
                    f"{deleted.describe()}"
                )
