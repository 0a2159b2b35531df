"""Add the templates table and seed the Fintech Template.

Revision ID: 003_add_templates_table
Revises: 002_enable_rls
Create Date: 2025-12-18

As shipped. ``templates`` is global (no tenant_id, no RLS). ``domain_type`` is one of
fintech / healthcare / legal / education / general. The three JSONB documents are
NOT NULL and default to ``{}``. The seeded "Fintech Template" carries a PCI DSS
Level 1 checklist (the twelve PCI DSS v4.0 requirements).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "003_add_templates_table"
down_revision: str | None = "002_enable_rls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FINTECH_TEMPLATE_ID = uuid.UUID("550e8400-e29b-41d4-a716-446655440001")

PCI_DSS_REQUIREMENTS = [
    "Install and maintain network security controls",
    "Apply secure configurations to all system components",
    "Protect stored account data",
    "Protect cardholder data with strong cryptography during transmission over open, public networks",
    "Protect all systems and networks from malicious software",
    "Develop and maintain secure systems and software",
    "Restrict access to system components and cardholder data by business need to know",
    "Identify users and authenticate access to system components",
    "Restrict physical access to cardholder data",
    "Log and monitor all access to system components and cardholder data",
    "Test security of systems and networks regularly",
    "Support information security with organizational policies and programs",
]

FINTECH_TEMPLATE = {
    "template_id": FINTECH_TEMPLATE_ID,
    "template_name": "Fintech Template",
    "domain_type": "fintech",
    "description": "Financial services: PCI DSS Level 1 controls, strict tenant isolation, full audit trail.",
    "compliance_checklist": {
        "standard": "PCI DSS",
        "version": "4.0",
        "level": "Level 1",
        "requirements": [
            {"id": str(number), "title": title, "required": True}
            for number, title in enumerate(PCI_DSS_REQUIREMENTS, start=1)
        ],
    },
    "default_configuration": {
        "embedding_model": "text-embedding-3-large",
        "llm_model": "gpt-4o",
        "rate_limit": {"requests_per_minute": 600, "burst": 60},
        "data_isolation": {
            "level": "strict",
            "row_level_security": True,
            "encryption_at_rest": True,
        },
        "audit_logging": {"enabled": True, "retention_days": 2555, "immutable": True},
    },
    "customization_options": {
        "models": {
            "embedding": ["text-embedding-3-large", "text-embedding-3-small"],
            "llm": ["gpt-4o", "gpt-4o-mini"],
        },
        "compliance": ["PCI DSS", "SOC 2", "GDPR"],
        "features": ["pii_redaction", "transaction_classification", "fraud_signals"],
    },
}


JSON_COLUMNS = ("compliance_checklist", "default_configuration", "customization_options")


def _seed_table() -> sa.TableClause:
    """The seed's view of the table: JSON documents go in as JSON text, which PostgreSQL
    casts to jsonb, so ``alembic upgrade --sql`` can render the seed as literals too."""
    return sa.table(
        "templates",
        sa.column("template_id", postgresql.UUID(as_uuid=True)),
        sa.column("template_name", sa.String),
        sa.column("domain_type", sa.String),
        sa.column("description", sa.Text),
        *(sa.column(name, sa.Text) for name in JSON_COLUMNS),
    )


def _as_json_text(row: dict[str, object]) -> dict[str, object]:
    return {key: json.dumps(value) if key in JSON_COLUMNS else value for key, value in row.items()}


def upgrade() -> None:
    op.create_table(
        "templates",
        sa.Column(
            "template_id",
            postgresql.UUID(as_uuid=True),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
        ),
        sa.Column("template_name", sa.String(255), nullable=False),
        sa.Column("domain_type", sa.String(50), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "compliance_checklist",
            postgresql.JSONB(),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "default_configuration",
            postgresql.JSONB(),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "customization_options",
            postgresql.JSONB(),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("template_id", name="pk_templates"),
        sa.CheckConstraint(
            "domain_type IN ('fintech', 'healthcare', 'legal', 'education', 'general')",
            name=op.f("ck_templates_domain_type"),
        ),
    )
    op.create_index("ix_templates_template_name", "templates", ["template_name"], unique=True)
    op.create_index("ix_templates_domain_type", "templates", ["domain_type"])
    op.bulk_insert(_seed_table(), [_as_json_text(FINTECH_TEMPLATE)])


def downgrade() -> None:
    op.drop_table("templates")
