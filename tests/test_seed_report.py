"""The platform's own verification report (../shared/seed), as tests against the
database migrated to 004_add_tenant_configs_table, the last revision it covers."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.engine import URL

from rlsguard.run import Run
from tests.conftest import query

SHIPPED = "004_add_tenant_configs_table"

TABLES = {
    "alembic_version",
    "audit_logs",
    "documents",
    "templates",
    "tenant_api_keys",
    "tenant_configs",
    "tenants",
    "users",
}

RLS_TABLES = ("audit_logs", "documents", "tenant_api_keys", "users")

POLICIES = {
    (table, f"{kind}_{table}")
    for table in RLS_TABLES
    for kind in ("tenant_isolation", "uber_admin_bypass")
}

TENANT_PREDICATE = "(tenant_id = (current_setting('app.current_tenant_id'::text, true))::uuid)"

INDEXES = {
    "ix_tenants_domain": True,
    "ix_users_tenant_id": False,
    "ix_users_email": True,
    "ix_users_role": False,
    "ix_documents_tenant_id": False,
    "ix_documents_user_id": False,
    "ix_documents_content_hash": True,
    "ix_audit_logs_tenant_id": False,
    "ix_audit_logs_user_id": False,
    "ix_audit_logs_action": False,
    "ix_audit_logs_resource_type": False,
    "ix_audit_logs_resource_id": False,
    "ix_audit_logs_timestamp": False,
    "ix_tenant_api_keys_tenant_id": False,
    "ix_tenant_api_keys_key_hash": True,
    "ix_tenant_api_keys_expires_at": False,
    "ix_templates_template_name": True,
    "ix_templates_domain_type": False,
    "ix_tenant_configs_tenant_id": True,
    "ix_tenant_configs_template_id": False,
}

VARCHAR = "character varying"
TIMESTAMPS = {"created_at": "timestamp with time zone", "updated_at": "timestamp with time zone"}
COLUMNS: dict[str, dict[str, str]] = {
    "tenants": {
        "tenant_id": "uuid",
        "name": f"{VARCHAR}(255)",
        "domain": f"{VARCHAR}(255)",
        "subscription_tier": f"{VARCHAR}(50)",
        **TIMESTAMPS,
    },
    "users": {
        "user_id": "uuid",
        "tenant_id": "uuid",
        "email": f"{VARCHAR}(255)",
        "role": f"{VARCHAR}(50)",
        **TIMESTAMPS,
    },
    "documents": {
        "document_id": "uuid",
        "tenant_id": "uuid",
        "user_id": "uuid",
        "title": f"{VARCHAR}(500)",
        "content_hash": f"{VARCHAR}(64)",
        "metadata": "jsonb",
        **TIMESTAMPS,
    },
    "audit_logs": {
        "log_id": "uuid",
        "tenant_id": "uuid",
        "user_id": "uuid",
        "action": f"{VARCHAR}(100)",
        "resource_type": f"{VARCHAR}(100)",
        "resource_id": f"{VARCHAR}(255)",
        "details": "jsonb",
        "timestamp": "timestamp with time zone",
        **TIMESTAMPS,
    },
    "tenant_api_keys": {
        "key_id": "uuid",
        "tenant_id": "uuid",
        "key_hash": f"{VARCHAR}(255)",
        "name": f"{VARCHAR}(255)",
        "permissions": "text",
        "expires_at": "timestamp with time zone",
        **TIMESTAMPS,
    },
    "templates": {
        "template_id": "uuid",
        "template_name": f"{VARCHAR}(255)",
        "domain_type": f"{VARCHAR}(50)",
        "description": "text",
        "compliance_checklist": "jsonb",
        "default_configuration": "jsonb",
        "customization_options": "jsonb",
        **TIMESTAMPS,
    },
    "tenant_configs": {
        "config_id": "uuid",
        "tenant_id": "uuid",
        "template_id": "uuid",
        "model_configuration": "jsonb",
        "compliance_settings": "jsonb",
        "rate_limit_config": "jsonb",
        "data_isolation_config": "jsonb",
        "audit_logging_config": "jsonb",
        "custom_configuration": "jsonb",
        **TIMESTAMPS,
    },
}

# The report marks audit_logs.tenant_id/user_id, tenant_api_keys.expires_at and
# tenant_configs.template_id nullable; the rest of this set is 001-004's own choice.
NULLABLE = {
    ("audit_logs", "tenant_id"),
    ("audit_logs", "user_id"),
    ("audit_logs", "resource_type"),
    ("audit_logs", "resource_id"),
    ("audit_logs", "details"),
    ("documents", "metadata"),
    ("tenant_api_keys", "permissions"),
    ("tenant_api_keys", "expires_at"),
    ("templates", "description"),
    ("tenant_configs", "template_id"),
    *(
        ("tenant_configs", name)
        for name in (
            "model_configuration",
            "compliance_settings",
            "rate_limit_config",
            "data_isolation_config",
            "audit_logging_config",
            "custom_configuration",
        )
    ),
}

FOREIGN_KEYS = {
    ("users", "tenant_id", "tenants", "tenant_id"),
    ("documents", "tenant_id", "tenants", "tenant_id"),
    ("documents", "user_id", "users", "user_id"),
    ("audit_logs", "tenant_id", "tenants", "tenant_id"),
    ("audit_logs", "user_id", "users", "user_id"),
    ("tenant_api_keys", "tenant_id", "tenants", "tenant_id"),
    ("tenant_configs", "tenant_id", "tenants", "tenant_id"),
    ("tenant_configs", "template_id", "templates", "template_id"),
}

FINTECH_TEMPLATE_ID = uuid.UUID("550e8400-e29b-41d4-a716-446655440001")


@pytest.fixture(scope="module")
def shipped(rlsguard_run: Run) -> URL:
    """The platform's schema exactly as shipped (these tests only read it)."""
    return rlsguard_run.url(rlsguard_run.working_database(SHIPPED))


def test_migration_version(shipped: URL) -> None:
    assert query(shipped, "SELECT version_num FROM alembic_version") == [(SHIPPED,)]


def test_the_eight_tables(shipped: URL) -> None:
    rows = query(shipped, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    assert {row[0] for row in rows} == TABLES


def test_columns_and_types(shipped: URL) -> None:
    rows = query(
        shipped,
        """SELECT table_name, column_name,
                  CASE WHEN character_maximum_length IS NOT NULL
                       THEN data_type || '(' || character_maximum_length || ')' ELSE data_type END
           FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'alembic_version'""",
    )
    found: dict[str, dict[str, str]] = {}
    for table, column, data_type in rows:
        found.setdefault(str(table), {})[str(column)] = str(data_type)
    assert found == COLUMNS


def test_nullable_columns(shipped: URL) -> None:
    rows = query(
        shipped,
        """SELECT table_name, column_name FROM information_schema.columns
           WHERE table_schema = 'public' AND is_nullable = 'YES'""",
    )
    assert set(rows) == NULLABLE


def test_foreign_keys(shipped: URL) -> None:
    rows = query(
        shipped,
        """SELECT child.relname, a.attname, parent.relname, pa.attname
           FROM pg_constraint c
           JOIN pg_class child ON child.oid = c.conrelid
           JOIN pg_class parent ON parent.oid = c.confrelid
           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
           JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = c.confkey[1]
           WHERE c.contype = 'f'""",
    )
    assert set(rows) == FOREIGN_KEYS


def _any_of(column: str, *values: str) -> str:
    listed = ", ".join(f"'{value}'::character varying" for value in values)
    return f"CHECK ((({column})::text = ANY ((ARRAY[{listed}])::text[])))"


def test_check_constraints(shipped: URL) -> None:
    rows = query(
        shipped,
        """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
           WHERE contype = 'c' AND connamespace = 'public'::regnamespace AND conrelid <> 0""",
    )
    assert set(rows) == {
        (
            "tenants",
            "ck_tenants_subscription_tier",
            _any_of("subscription_tier", "basic", "professional", "enterprise"),
        ),
        ("users", "ck_users_role", _any_of("role", "admin", "user", "viewer")),
        (
            "templates",
            "ck_templates_domain_type",
            _any_of("domain_type", "fintech", "healthcare", "legal", "education", "general"),
        ),
    }


def test_the_twenty_indexes_by_name_and_uniqueness(shipped: URL) -> None:
    rows = query(
        shipped,
        """SELECT c.relname, i.indisunique FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relname LIKE 'ix\\_%'""",
    )
    assert dict(rows) == INDEXES  # type: ignore[arg-type]
    assert len(rows) == 20


def test_rls_enabled_on_the_four_tenant_tables(shipped: URL) -> None:
    rows = query(
        shipped,
        """SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
           WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'""",
    )
    enabled = {str(name) for name, rls, _force in rows if rls}
    forced = {str(name) for name, _rls, force in rows if force}
    assert enabled == set(RLS_TABLES)
    assert forced == set()


def test_the_eight_policies_by_name(shipped: URL) -> None:
    rows = query(
        shipped, "SELECT tablename, policyname FROM pg_policies WHERE schemaname = 'public'"
    )
    assert set(rows) == POLICIES
    assert len(rows) == 8


@pytest.mark.parametrize("table", RLS_TABLES)
def test_policies_enforce_what_the_report_says(shipped: URL, table: str) -> None:
    rows = query(
        shipped,
        """SELECT policyname, permissive, roles::text[], cmd, qual, with_check FROM pg_policies
           WHERE schemaname = 'public' AND tablename = :table ORDER BY policyname""",
        table=table,
    )
    assert rows == [
        (f"tenant_isolation_{table}", "PERMISSIVE", ["public"], "ALL", TENANT_PREDICATE, None),
        (f"uber_admin_bypass_{table}", "PERMISSIVE", ["postgres"], "ALL", "true", "true"),
    ]


def test_seeded_fintech_template(shipped: URL) -> None:
    rows = query(
        shipped,
        """SELECT template_id, template_name, domain_type, compliance_checklist,
                  default_configuration, customization_options FROM templates""",
    )
    assert len(rows) == 1
    template_id, name, domain, checklist, configuration, options = rows[0]
    assert (template_id, name, domain) == (FINTECH_TEMPLATE_ID, "Fintech Template", "fintech")
    assert isinstance(checklist, dict)
    assert isinstance(configuration, dict)
    assert isinstance(options, dict)
    assert (checklist["standard"], checklist["level"]) == ("PCI DSS", "Level 1")
    assert len(checklist["requirements"]) == 12
    assert set(configuration) == {
        "embedding_model",
        "llm_model",
        "rate_limit",
        "data_isolation",
        "audit_logging",
    }
    assert set(options) == {"models", "compliance", "features"}
