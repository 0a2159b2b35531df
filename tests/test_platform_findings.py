"""What rlsguard finds in the platform's schema as shipped (004), with the config in
pyproject.toml (until 004 the platform connects as postgres). The lists of static
findings and of failing probes are pinned: a finding that disappears or appears fails
these tests."""

from __future__ import annotations

from rlsguard.findings import Severity
from rlsguard.run import Run

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
    | pairs("RG405", "audit_logs")
    | pairs("RG506", *ALL_TENANT_TABLES)
    | {("RG601", "postgres")}
    | pairs("RG602", *RLS_TABLES)
)


def test_the_shipped_schema_findings(rlsguard_run: Run) -> None:
    analysis = rlsguard_run.analysis(SHIPPED)
    found = {(finding.check, finding.object) for finding in analysis.findings}
    assert found == EXPECTED, "\n".join(sorted(str(finding) for finding in analysis.findings))
    assert analysis.failed


TABLES_WITH_ROWS_OF_TWO_TENANTS = ("audit_logs", "documents", "tenant_api_keys", "tenant_configs")
PROBES_EXPECTED = (
    pairs("RP101", *ALL_TENANT_TABLES)  # the app is a superuser: RLS never applies to it
    | pairs("RP102", *ALL_TENANT_TABLES)
    | pairs("RP103", *ALL_TENANT_TABLES)
    | pairs("RP104", *ALL_TENANT_TABLES)
    # tenants: its key forbids the move, a constraint and not a policy: "cannot", not "pass"
    | pairs("RP105", *TABLES_WITH_ROWS_OF_TWO_TENANTS, "users", "tenants")
    | pairs("RP106", *ALL_TENANT_TABLES)
    | pairs("RP107", "documents", "tenant_api_keys", "tenants", "users")  # global uniques
    | pairs("RP108", "audit_logs", "documents")  # foreign keys to users without the tenant
    | {("RP110", "postgres")}
    | pairs("RP114", *ALL_TENANT_TABLES)
    | pairs("RP127", *ALL_TENANT_TABLES)  # a superuser attaches triggers anywhere
    | pairs("RP128", *ALL_TENANT_TABLES)  # MERGE: as a superuser, past every policy
    | {("RP120", "tenant-tables")}
)


def test_the_shipped_schema_probe_findings(rlsguard_run: Run) -> None:
    """Every probe run against 004: what fails is exactly what the shipped schema leaks
    to an application connected as postgres. The admin probes (RP109) and "own rows
    visible" (RP115) hold: a superuser sees everything."""
    results = rlsguard_run.prober(SHIPPED).run_all()
    failing = {(result.probe.id, result.target) for result in results if result.status != "pass"}
    report = "\n".join(f"{r.label}: {r.status} {r.message}" for r in results if r.status != "pass")
    assert failing == PROBES_EXPECTED, report
    assert all(result.transcript for result in results if result.status in ("fail", "warning"))
    passing = {result.probe.id for result in results if result.status == "pass"}
    assert passing == {"RP109", "RP115"}


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
