"""Unique keys and foreign keys scoped by tenant.

Revision ID: 007_tenant_scoped_keys
Revises: 006_force_rls_tenant_policies
Create Date: 2026-11-25

What was wrong: ``users.email`` and ``documents.content_hash`` were unique across all
tenants, so an insert that failed with a duplicate key told one tenant what another
holds (and two tenants could not store the same document or invite the same person);
``documents.user_id`` and ``audit_logs.user_id`` referenced ``users.user_id`` alone, and
foreign-key checks ignore RLS, so a tenant could attach rows to another tenant's user.

Now:

* ``uq_users_tenant_id_email`` and ``uq_documents_tenant_id_content_hash`` are the
  unique keys; ``ix_users_email`` and ``ix_documents_content_hash`` stay, not unique,
  for lookups;
* ``uq_users_tenant_id_user_id`` is the target of the composite foreign keys
  ``fk_documents_tenant_id_user_id_users`` (NO ACTION, as shipped) and
  ``fk_audit_logs_tenant_id_user_id_users`` (ON DELETE SET NULL (user_id): deleting a
  user keeps the log and its tenant; PostgreSQL 15+). An audit log whose tenant was
  deleted has tenant_id NULL, and MATCH SIMPLE leaves it alone.

``tenant_api_keys.key_hash`` stays unique across tenants on purpose: the hash of a
random secret identifies exactly one key, which is how the application finds the
tenant of a request (revision 008). A duplicate only tells a tenant about a key it
already holds; pyproject.toml accepts that finding with this reason. ``tenants.domain``
stays unique: only uber_admin creates tenants.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "007_tenant_scoped_keys"
down_revision: str | None = "006_force_rls_tenant_policies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("uq_users_tenant_id_user_id", "users", ["tenant_id", "user_id"], unique=True)
    op.drop_index("ix_users_email", table_name="users")
    op.create_index("uq_users_tenant_id_email", "users", ["tenant_id", "email"], unique=True)
    op.create_index("ix_users_email", "users", ["email"])

    op.drop_index("ix_documents_content_hash", table_name="documents")
    op.create_index(
        "uq_documents_tenant_id_content_hash",
        "documents",
        ["tenant_id", "content_hash"],
        unique=True,
    )
    op.create_index("ix_documents_content_hash", "documents", ["content_hash"])

    op.drop_constraint("fk_documents_user_id_users", "documents", type_="foreignkey")
    op.execute(
        "ALTER TABLE documents ADD CONSTRAINT fk_documents_tenant_id_user_id_users "
        "FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id)"
    )
    op.drop_constraint("fk_audit_logs_user_id_users", "audit_logs", type_="foreignkey")
    op.execute(
        "ALTER TABLE audit_logs ADD CONSTRAINT fk_audit_logs_tenant_id_user_id_users "
        "FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id) "
        "ON DELETE SET NULL (user_id)"
    )


def downgrade() -> None:
    op.drop_constraint("fk_audit_logs_tenant_id_user_id_users", "audit_logs", type_="foreignkey")
    op.create_foreign_key(
        "fk_audit_logs_user_id_users",
        "audit_logs",
        "users",
        ["user_id"],
        ["user_id"],
        ondelete="SET NULL",
    )
    op.drop_constraint("fk_documents_tenant_id_user_id_users", "documents", type_="foreignkey")
    op.create_foreign_key(
        "fk_documents_user_id_users", "documents", "users", ["user_id"], ["user_id"]
    )

    op.drop_index("ix_documents_content_hash", table_name="documents")
    op.drop_index("uq_documents_tenant_id_content_hash", table_name="documents")
    op.create_index("ix_documents_content_hash", "documents", ["content_hash"], unique=True)

    op.drop_index("ix_users_email", table_name="users")
    op.drop_index("uq_users_tenant_id_email", table_name="users")
    op.create_index("ix_users_email", "users", ["email"], unique=True)
    op.drop_index("uq_users_tenant_id_user_id", table_name="users")
