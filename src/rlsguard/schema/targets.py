"""The objects checks inspect, chosen from the tenancy model."""

from __future__ import annotations

from rlsguard.schema.catalog import Relation
from rlsguard.schema.tenancy import Tenancy


def tenant_tables(tenancy: Tenancy) -> list[str]:
    """Tenant tables a query names directly (partitions and children have their own check)."""
    return [table.qualified for table in tenancy.tenant_relations if not tenancy.is_child(table)]


def rls_tenant_tables(tenancy: Tenancy) -> list[str]:
    return [
        table.qualified
        for table in tenancy.tenant_relations
        if not tenancy.is_child(table) and table.rls_enabled
    ]


def tables_with_tenant_column(tenancy: Tenancy) -> list[str]:
    return [
        table.qualified
        for table in tenancy.tenant_relations
        if not tenancy.is_child(table) and tenancy.carries_tenant_column(table)
    ]


def child_tables(tenancy: Tenancy) -> list[str]:
    return [table.qualified for table in tenancy.tenant_relations if tenancy.is_child(table)]


def global_tables(tenancy: Tenancy) -> list[str]:
    return [table.qualified for table in tenancy.global_relations]


def tables_with_policies(tenancy: Tenancy) -> list[str]:
    return sorted(
        relation.qualified
        for relation in tenancy.catalog.relations.values()
        if relation.policies and relation.schema in tenancy.settings.schemas
    )


def app_role(tenancy: Tenancy) -> list[str]:
    return [tenancy.app.name]


def admin_roles(tenancy: Tenancy) -> list[str]:
    return [admin.name for admin in tenancy.admins]


def reads_tenant_data(tenancy: Tenancy, relation: Relation) -> list[str]:
    return [name for name in relation.reads if name in tenancy.tenant_tables]


def _app_readable(tenancy: Tenancy, kind: str) -> list[str]:
    return sorted(
        relation.qualified
        for relation in tenancy.catalog.relations.values()
        if relation.kind == kind
        and reads_tenant_data(tenancy, relation)
        and tenancy.has(tenancy.app.name, "SELECT", relation)
    )


def app_readable_views(tenancy: Tenancy) -> list[str]:
    return _app_readable(tenancy, "view")


def app_readable_materialized_views(tenancy: Tenancy) -> list[str]:
    return _app_readable(tenancy, "materialized view")


def app_executable_definers(tenancy: Tenancy) -> list[str]:
    return sorted(
        function.signature
        for function in tenancy.catalog.functions.values()
        if function.security_definer and tenancy.can_execute(tenancy.app.name, function)
    )
