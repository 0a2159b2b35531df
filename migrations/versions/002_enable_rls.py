"""Enable Row Level Security on the tenant-scoped tables.

Revision ID: 002_enable_rls
Revises: 001_initial_schema
Create Date: 2025-12-16

As shipped. For users, documents, audit_logs and tenant_api_keys:

* ``ENABLE ROW LEVEL SECURITY`` (not FORCE);
* ``tenant_isolation_<table>``: FOR ALL, TO PUBLIC (no TO clause), USING
  ``tenant_id = current_setting('app.current_tenant_id', true)::uuid`` and no WITH
  CHECK, so Postgres reuses USING as the check for INSERT and UPDATE;
* ``uber_admin_bypass_<table>``: FOR ALL TO postgres, USING (true) WITH CHECK (true).

The schema's weaknesses are left exactly as shipped; later revisions fix them.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "002_enable_rls"
down_revision: str | None = "001_initial_schema"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("users", "documents", "audit_logs", "tenant_api_keys")


def upgrade() -> None:
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation_{table} ON {table} "
            "USING (tenant_id = current_setting('app.current_tenant_id', true)::uuid)"
        )
        op.execute(
            f"CREATE POLICY uber_admin_bypass_{table} ON {table} TO postgres "
            "USING (true) WITH CHECK (true)"
        )


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        op.execute(f"DROP POLICY uber_admin_bypass_{table} ON {table}")
        op.execute(f"DROP POLICY tenant_isolation_{table} ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
