"""Add the tenant_configs table.

Revision ID: 004_add_tenant_configs_table
Revises: 003_add_templates_table
Create Date: 2025-12-20

As shipped: one configuration per tenant (unique index on tenant_id), optionally
derived from a template. Deleting the tenant deletes its configuration (CASCADE);
deleting a template keeps the configurations and forgets the template (SET NULL).
The table carries tenant_id but, as shipped, has no Row Level Security.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "004_add_tenant_configs_table"
down_revision: str | None = "003_add_templates_table"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONFIG_DOCUMENTS = (
    "model_configuration",
    "compliance_settings",
    "rate_limit_config",
    "data_isolation_config",
    "audit_logging_config",
    "custom_configuration",
)


def upgrade() -> None:
    op.create_table(
        "tenant_configs",
        sa.Column(
            "config_id",
            postgresql.UUID(as_uuid=True),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
        ),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("template_id", postgresql.UUID(as_uuid=True), nullable=True),
        *(sa.Column(name, postgresql.JSONB(), nullable=True) for name in CONFIG_DOCUMENTS),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("config_id", name="pk_tenant_configs"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.tenant_id"],
            name="fk_tenant_configs_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["templates.template_id"],
            name="fk_tenant_configs_template_id_templates",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_tenant_configs_tenant_id", "tenant_configs", ["tenant_id"], unique=True)
    op.create_index("ix_tenant_configs_template_id", "tenant_configs", ["template_id"])


def downgrade() -> None:
    op.drop_table("tenant_configs")
