"""What rlsguard's static checks find in the platform's schema as shipped (004), with the
config in pyproject.toml (the platform connects as postgres). The list is pinned: a
finding that disappears or appears fails this test."""

from __future__ import annotations

from rlsguard.findings import Severity
from rlsguard.session import Run

SHIPPED = "004_add_tenant_configs_table"
RLS_TABLES = ("audit_logs", "documents", "tenant_api_keys", "users")
ALL_TENANT_TABLES = (*RLS_TABLES, "tenant_configs", "tenants")


def pairs(check: str, *tables: str) -> set[tuple[str, str]]:
    return {(check, f"public.{table}") for table in tables}


EXPECTED = (
    pairs("RG101", "tenant_configs", "tenants")
    | pairs("RG102", *ALL_TENANT_TABLES)
    | {("RG201", "postgres")}
    | pairs("RG301", *RLS_TABLES)
    | pairs("RG302", *RLS_TABLES)
    | pairs("RG303", *RLS_TABLES)
    | pairs("RG306", *RLS_TABLES)
    | pairs("RG401", "documents", "tenant_api_keys", "tenants", "users")
    | pairs("RG402", "audit_logs", "documents")
    | pairs("RG404", "templates")
    | pairs("RG506", *ALL_TENANT_TABLES)
    | {("RG601", "postgres")}
    | pairs("RG602", *RLS_TABLES)
)


def test_the_shipped_schema_findings(rlsguard_run: Run) -> None:
    analysis = rlsguard_run.analysis(SHIPPED)
    found = {(finding.check, finding.object) for finding in analysis.findings}
    assert found == EXPECTED, "\n".join(sorted(str(finding) for finding in analysis.findings))
    assert analysis.failed


def test_the_shipped_schema_tenancy(rlsguard_run: Run) -> None:
    tenancy = rlsguard_run.analysis(SHIPPED).tenancy
    assert sorted(tenancy.tenant_tables) == [
        f"public.{table}" for table in sorted(ALL_TENANT_TABLES)
    ]
    assert [table.qualified for table in tenancy.global_relations] == ["public.templates"]


def test_the_weaknesses_the_hardening_issue_lists_are_all_seen(rlsguard_run: Run) -> None:
    """Each weakness the later hardening work names, as the finding that shows it."""
    findings = rlsguard_run.analysis(SHIPPED).findings
    text = {(finding.check, finding.object): finding.message for finding in findings}
    # the admin bypass policies are for a superuser: dead code
    assert "skips row level security: it never applies" in text[("RG602", "public.documents")]
    assert text[("RG601", "postgres")].startswith("postgres is a superuser")
    # no application role: the app is the owner and a superuser
    assert "postgres is a superuser" in text[("RG201", "postgres")]
    assert "does not FORCE row level security" in text[("RG102", "public.documents")]
    # tenant_configs has no RLS; tenants is readable in full
    assert ("RG101", "public.tenant_configs") in text
    assert ("RG101", "public.tenants") in text
    # global uniques and foreign keys without the tenant
    assert "ix_documents_content_hash" in text[("RG401", "public.documents")]
    assert "ix_users_email" in text[("RG401", "public.users")]
    assert "fk_documents_user_id_users" in text[("RG402", "public.documents")]
    # the empty-setting cast
    assert "without NULLIF" in text[("RG306", "public.users")]
    severities = {finding.check: finding.severity for finding in findings}
    assert severities["RG401"] is Severity.WARNING
    assert severities["RG101"] is Severity.ERROR
