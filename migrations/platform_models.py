"""SQLAlchemy 2.0 models of the platform schema at head (revisions 001-008).

These are Alembic's ``target_metadata``: ``alembic check`` (and rlsguard's
models-match test) compares them with the database the migrations build, so a
column, index or foreign key that exists on one side only fails the build.
Row Level Security, policies, roles, grants and functions live only in the
migrations: SQLAlchemy does not model them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    MetaData,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

GEN_UUID = text("gen_random_uuid()")
EMPTY_JSON = text("'{}'::jsonb")

SUBSCRIPTION_TIERS = ("basic", "professional", "enterprise")
USER_ROLES = ("admin", "user", "viewer")
DOMAIN_TYPES = ("fintech", "healthcare", "legal", "education", "general")


def _in_list(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True)}  # noqa: RUF012  (SQLAlchemy's API)


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class Tenant(Timestamped, Base):
    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint(
            _in_list("subscription_tier", SUBSCRIPTION_TIERS), name="subscription_tier"
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=GEN_UUID)
    name: Mapped[str] = mapped_column(String(255))
    domain: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    subscription_tier: Mapped[str] = mapped_column(String(50), server_default="basic")


class User(Timestamped, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in_list("role", USER_ROLES), name="role"),
        Index("uq_users_tenant_id_user_id", "tenant_id", "user_id", unique=True),
        Index("uq_users_tenant_id_email", "tenant_id", "email", unique=True),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=GEN_UUID)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.tenant_id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(255), index=True)
    role: Mapped[str] = mapped_column(String(50), server_default="user", index=True)


class Document(Timestamped, Base):
    __tablename__ = "documents"
    __table_args__ = (
        Index("uq_documents_tenant_id_content_hash", "tenant_id", "content_hash", unique=True),
        ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["users.tenant_id", "users.user_id"],
            name="fk_documents_tenant_id_user_id_users",
        ),
    )

    document_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=GEN_UUID)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.tenant_id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(String(500))
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    # "metadata" is reserved on declarative classes, so the attribute is renamed.
    document_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB)


class AuditLog(Timestamped, Base):
    __tablename__ = "audit_logs"
    __table_args__ = (
        # deleting a user keeps the log and its tenant: only user_id is cleared
        ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["users.tenant_id", "users.user_id"],
            name="fk_audit_logs_tenant_id_user_id_users",
            ondelete="SET NULL (user_id)",
        ),
    )

    log_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=GEN_UUID)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tenants.tenant_id", ondelete="SET NULL"), index=True
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(String(100), index=True)
    resource_type: Mapped[str | None] = mapped_column(String(100), index=True)
    resource_id: Mapped[str | None] = mapped_column(String(255), index=True)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    timestamp: Mapped[datetime] = mapped_column(server_default=func.now(), index=True)


class TenantApiKey(Timestamped, Base):
    __tablename__ = "tenant_api_keys"

    key_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=GEN_UUID)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.tenant_id", ondelete="CASCADE"), index=True
    )
    key_hash: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(255))
    permissions: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(index=True)


class Template(Timestamped, Base):
    __tablename__ = "templates"
    __table_args__ = (CheckConstraint(_in_list("domain_type", DOMAIN_TYPES), name="domain_type"),)

    template_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=GEN_UUID)
    template_name: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    domain_type: Mapped[str] = mapped_column(String(50), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    compliance_checklist: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=EMPTY_JSON)
    default_configuration: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=EMPTY_JSON)
    customization_options: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=EMPTY_JSON)


class TenantConfig(Timestamped, Base):
    __tablename__ = "tenant_configs"

    config_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=GEN_UUID)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.tenant_id", ondelete="CASCADE"), unique=True, index=True
    )
    template_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("templates.template_id", ondelete="SET NULL"), index=True
    )
    model_configuration: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    compliance_settings: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    rate_limit_config: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    data_isolation_config: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    audit_logging_config: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    custom_configuration: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
