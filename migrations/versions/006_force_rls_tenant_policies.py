"""Row Level Security on every tenant table, forced, with policies for the two roles.

Revision ID: 006_force_rls_tenant_policies
Revises: 005_application_roles
Create Date: 2026-11-25

What was wrong: RLS was off on ``tenants`` and ``tenant_configs``; no table FORCEd it;
the tenant policies were TO PUBLIC and cast the setting straight to uuid, so an
empty setting (a pooled connection after ``RESET``/``set_config(..., '')``) raised
``invalid input syntax for type uuid``; the "Uber Admin" policies were for ``postgres``,
a superuser, so they were dead code.

Now, on tenants, users, documents, audit_logs, tenant_api_keys and tenant_configs:

* RLS enabled and FORCEd (the owner is bound too, should the app ever own a table);
* ``tenant_isolation_<table>`` TO app_user: ``tenant_id = NULLIF(current_setting(
  'app.current_tenant_id', true), '')::uuid``, as USING and WITH CHECK. Unset (NULL) and
  empty ('' -> NULL) both match no row: closed, and no cast error. On ``tenants`` it is
  FOR SELECT only (a tenant reads its own row; only admins create tenants). On
  ``audit_logs`` it is FOR SELECT, with ``tenant_append_audit_logs`` FOR INSERT: no
  UPDATE or DELETE policy, so even a stray grant changes nothing;
* ``uber_admin_bypass_<table>`` TO uber_admin: USING (true) WITH CHECK (true); the
  grants of 005 decide what it may do (audit logs: read and add).

The downgrade restores 002's policies exactly and the 004 RLS flags.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "006_force_rls_tenant_policies"
down_revision: str | None = "005_application_roles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHIPPED_RLS = ("users", "documents", "audit_logs", "tenant_api_keys")  # 002's tables
NEWLY_RLS = ("tenants", "tenant_configs")
READ_WRITE = ("users", "documents", "tenant_api_keys", "tenant_configs")
ALL_TENANT_TABLES = ("tenants", *READ_WRITE, "audit_logs")
OWN_TENANT = "tenant_id = NULLIF(current_setting('app.current_tenant_id', true), '')::uuid"


def upgrade() -> None:
    for table in SHIPPED_RLS:
        op.execute(f"DROP POLICY uber_admin_bypass_{table} ON {table}")
        op.execute(f"DROP POLICY tenant_isolation_{table} ON {table}")
    for table in NEWLY_RLS:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    for table in ALL_TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation_tenants ON tenants FOR SELECT TO app_user "
        f"USING ({OWN_TENANT})"
    )
    for table in READ_WRITE:
        op.execute(
            f"CREATE POLICY tenant_isolation_{table} ON {table} TO app_user "
            f"USING ({OWN_TENANT}) WITH CHECK ({OWN_TENANT})"
        )
    op.execute(
        f"CREATE POLICY tenant_isolation_audit_logs ON audit_logs FOR SELECT TO app_user "
        f"USING ({OWN_TENANT})"
    )
    op.execute(
        f"CREATE POLICY tenant_append_audit_logs ON audit_logs FOR INSERT TO app_user "
        f"WITH CHECK ({OWN_TENANT})"
    )
    for table in ALL_TENANT_TABLES:
        op.execute(
            f"CREATE POLICY uber_admin_bypass_{table} ON {table} TO uber_admin "
            "USING (true) WITH CHECK (true)"
        )


def downgrade() -> None:
    op.execute("DROP POLICY tenant_append_audit_logs ON audit_logs")
    for table in ALL_TENANT_TABLES:
        op.execute(f"DROP POLICY uber_admin_bypass_{table} ON {table}")
        op.execute(f"DROP POLICY tenant_isolation_{table} ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    for table in NEWLY_RLS:
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for table in SHIPPED_RLS:  # as 002 created them
        op.execute(
            f"CREATE POLICY tenant_isolation_{table} ON {table} "
            "USING (tenant_id = current_setting('app.current_tenant_id', true)::uuid)"
        )
        op.execute(
            f"CREATE POLICY uber_admin_bypass_{table} ON {table} TO postgres "
            "USING (true) WITH CHECK (true)"
        )
