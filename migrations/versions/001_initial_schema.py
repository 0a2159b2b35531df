"""Initial schema: tenants, users, documents, audit_logs, tenant_api_keys.

Revision ID: 001_initial_schema
Revises:
Create Date: 2025-12-15

As shipped. Where the platform's verification report is silent, this revision
decides:

* every primary key is a UUID with ``DEFAULT gen_random_uuid()`` (core since PG 13);
* every timestamp is ``timestamptz NOT NULL DEFAULT now()`` (``expires_at`` is nullable);
* ``tenants.subscription_tier`` is one of basic / professional / enterprise (default basic);
  ``users.role`` is one of admin / user / viewer (default user);
* ON DELETE: deleting a tenant deletes its users, documents and API keys (CASCADE);
  audit logs outlive what they describe, so their tenant_id and user_id become NULL
  (SET NULL); a user who still owns documents cannot be deleted on their own
  (NO ACTION, checked at the end of the statement so a tenant's CASCADE still works);
* uniqueness (tenants.domain, users.email, documents.content_hash,
  tenant_api_keys.key_hash) is a unique index named ``ix_<table>_<column>``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "001_initial_schema"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _uuid_pk(name: str) -> sa.Column[object]:
    return sa.Column(
        name,
        postgresql.UUID(as_uuid=True),
        server_default=sa.text("gen_random_uuid()"),
        nullable=False,
    )


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    ]


def _tenant_fk(table: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"],
        ["tenants.tenant_id"],
        name=f"fk_{table}_tenant_id_tenants",
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "tenants",
        _uuid_pk("tenant_id"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("subscription_tier", sa.String(50), server_default="basic", nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_tenants"),
        sa.CheckConstraint(
            "subscription_tier IN ('basic', 'professional', 'enterprise')",
            name=op.f("ck_tenants_subscription_tier"),
        ),
    )
    op.create_index("ix_tenants_domain", "tenants", ["domain"], unique=True)

    op.create_table(
        "users",
        _uuid_pk("user_id"),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("role", sa.String(50), server_default="user", nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("user_id", name="pk_users"),
        _tenant_fk("users", "CASCADE"),
        sa.CheckConstraint("role IN ('admin', 'user', 'viewer')", name=op.f("ck_users_role")),
    )
    op.create_index("ix_users_tenant_id", "users", ["tenant_id"])
    op.create_index("ix_users_email", "users", ["email"], unique=True)
    op.create_index("ix_users_role", "users", ["role"])

    op.create_table(
        "documents",
        _uuid_pk("document_id"),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("metadata", postgresql.JSONB(), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("document_id", name="pk_documents"),
        _tenant_fk("documents", "CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.user_id"], name="fk_documents_user_id_users"),
    )
    op.create_index("ix_documents_tenant_id", "documents", ["tenant_id"])
    op.create_index("ix_documents_user_id", "documents", ["user_id"])
    op.create_index("ix_documents_content_hash", "documents", ["content_hash"], unique=True)

    op.create_table(
        "audit_logs",
        _uuid_pk("log_id"),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("resource_type", sa.String(100), nullable=True),
        sa.Column("resource_id", sa.String(255), nullable=True),
        sa.Column("details", postgresql.JSONB(), nullable=True),
        sa.Column(
            "timestamp", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        *_timestamps(),
        sa.PrimaryKeyConstraint("log_id", name="pk_audit_logs"),
        _tenant_fk("audit_logs", "SET NULL"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.user_id"], name="fk_audit_logs_user_id_users", ondelete="SET NULL"
        ),
    )
    for column in ("tenant_id", "user_id", "action", "resource_type", "resource_id", "timestamp"):
        op.create_index(f"ix_audit_logs_{column}", "audit_logs", [column])

    op.create_table(
        "tenant_api_keys",
        _uuid_pk("key_id"),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("key_hash", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("permissions", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("key_id", name="pk_tenant_api_keys"),
        _tenant_fk("tenant_api_keys", "CASCADE"),
    )
    op.create_index("ix_tenant_api_keys_tenant_id", "tenant_api_keys", ["tenant_id"])
    op.create_index("ix_tenant_api_keys_key_hash", "tenant_api_keys", ["key_hash"], unique=True)
    op.create_index("ix_tenant_api_keys_expires_at", "tenant_api_keys", ["expires_at"])


def downgrade() -> None:
    # Dropping a table drops its indexes and constraints with it.
    for table in ("tenant_api_keys", "audit_logs", "documents", "users", "tenants"):
        op.drop_table(table)
