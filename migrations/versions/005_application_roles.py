"""Application and admin roles with least-privilege grants.

Revision ID: 005_application_roles
Revises: 004_add_tenant_configs_table
Create Date: 2026-11-25

The shipped schema has no role of its own: the platform connects as ``postgres``, a
superuser that Row Level Security never applies to. This revision creates

* ``app_user``: what the application connects as (NOLOGIN here: a deployment gives it a
  password and LOGIN, or grants it to its own login role). It reads and writes its
  tenant's rows, reads ``tenants`` and ``templates``, and may only read and add
  ``audit_logs`` (PCI DSS 10.5: the application cannot alter the audit trail). No
  TRUNCATE, REFERENCES or TRIGGER anywhere: TRUNCATE ignores RLS.
* ``uber_admin``: the platform operators' role, meant to see every tenant. It is neither
  superuser nor BYPASSRLS, so its access is written as policies (next revision) and
  RLS is really exercised for it. It may not change audit logs either.

Roles are cluster-wide: they are created only when missing (also when another
database's migration creates them at the same moment), and made NOSUPERUSER NOBYPASSRLS
if they existed with those flags. The downgrade revokes everything granted
here and leaves the roles in place (other databases of the cluster may use them).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from platform_roles import ensure_role

revision: str = "005_application_roles"
down_revision: str | None = "004_add_tenant_configs_table"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = ("app_user", "uber_admin")
READ_WRITE = "SELECT, INSERT, UPDATE, DELETE"
APP_GRANTS = {
    "tenants": "SELECT",
    "users": READ_WRITE,
    "documents": READ_WRITE,
    "tenant_api_keys": READ_WRITE,
    "tenant_configs": READ_WRITE,
    "audit_logs": "SELECT, INSERT",
    "templates": "SELECT",
}
ADMIN_GRANTS = dict.fromkeys(APP_GRANTS, READ_WRITE) | {"audit_logs": "SELECT, INSERT"}


def upgrade() -> None:
    for role in ROLES:
        op.execute(ensure_role(role))
        op.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
    for role, grants in (("app_user", APP_GRANTS), ("uber_admin", ADMIN_GRANTS)):
        for table, privileges in grants.items():
            op.execute(f"GRANT {privileges} ON {table} TO {role}")


def downgrade() -> None:
    for role in ROLES:
        for table in APP_GRANTS:
            op.execute(f"REVOKE ALL ON {table} FROM {role}")
        op.execute(f"REVOKE USAGE ON SCHEMA public FROM {role}")
