"""Other doors into tenant data: views, functions, materialized views, privileges that
RLS does not cover."""

from __future__ import annotations

from collections.abc import Iterator

from rlsguard.checks.registry import Problem, check
from rlsguard.findings import Severity
from rlsguard.schema.catalog import Relation
from rlsguard.schema.targets import (
    app_executable_definers,
    app_readable_materialized_views,
    app_readable_views,
    reads_tenant_data,
    tenant_tables,
)
from rlsguard.schema.tenancy import Tenancy


def _filters_by_tenant(tenancy: Tenancy, view: Relation) -> bool:
    definition = view.definition or ""
    return f"'{tenancy.settings.tenant_setting}'" in definition or any(
        f"{helper}(" in definition for helper in tenancy.context.helpers
    )


def _first_cross_tenant_read(tenancy: Tenancy, role: str) -> tuple[str, str] | None:
    """A tenant table ``role`` reads across tenants: RLS does not apply to it, or a
    policy for it is not bound to the tenant."""
    for relation in tenancy.tenant_relations:
        reason = tenancy.rls_bypass(role, relation)
        if reason is None and relation.rls_enabled and tenancy.has(role, "SELECT", relation):
            isolation = tenancy.isolation(relation, "SELECT", role)
            if not isolation.isolated:
                reason = f"its policies let it read every tenant's rows ({isolation.why})"
        if reason is not None:
            return relation.qualified, reason
    return None


@check(
    "RG501",
    "view-security-invoker",
    Severity.ERROR,
    "Views over tenant tables run with the caller's rights (security_invoker)",
    attacks=(12,),
    objects=app_readable_views,
)
def view_security_invoker(tenancy: Tenancy, view: str) -> Iterator[Problem]:
    """What leaks: every tenant's rows of the tables behind the view. A view reads its
    tables with its owner's rights; when that owner skips RLS (a superuser, BYPASSRLS,
    or the tables' owner without FORCE), the view returns every tenant's rows to anyone
    allowed to select from it.

    How it is used: ``SELECT * FROM document_titles``.

    Fix (PostgreSQL 15+): let the view check RLS as the caller.

        ALTER VIEW document_titles SET (security_invoker = true);
    """
    relation = tenancy.catalog.relations[view]
    if relation.option("security_invoker") in ("true", "on", "1") or _filters_by_tenant(
        tenancy, relation
    ):
        return
    for table in reads_tenant_data(tenancy, relation):
        reason = tenancy.rls_bypass(relation.owner, tenancy.catalog.relations[table])
        if reason is not None:
            yield Problem(
                f"view {view} reads {table} with its owner's rights, and {reason}: "
                f"{tenancy.app.name} sees every tenant's rows through it"
            )


@check(
    "RG502",
    "view-security-barrier",
    Severity.WARNING,
    "Views that filter by tenant themselves are security barriers",
    attacks=(19,),
    objects=app_readable_views,
)
def view_security_barrier(tenancy: Tenancy, view: str) -> Iterator[Problem]:
    """What leaks: rows the view's WHERE clause should hide. The planner may run a
    cheap function from the caller's query before the view's own tenant filter; a
    function that raises or logs its argument (not LEAKPROOF) then sees other tenants'
    rows.

    How it is used: ``SELECT * FROM my_documents WHERE leak(title)``, with ``leak``
    raising a notice that carries its argument.

    Fix: mark the view a security barrier (or rely on RLS with security_invoker).

        ALTER VIEW my_documents SET (security_barrier = true);
    """
    relation = tenancy.catalog.relations[view]
    if relation.option("security_invoker") in ("true", "on", "1"):
        return
    if _filters_by_tenant(tenancy, relation) and relation.option("security_barrier") not in (
        "true",
        "on",
        "1",
    ):
        yield Problem(
            f"view {view} filters by tenant in its own WHERE clause but is not a security_barrier"
        )


@check(
    "RG503",
    "definer-functions",
    Severity.ERROR,
    "The application cannot call SECURITY DEFINER functions that read across tenants",
    attacks=(13,),
    objects=app_executable_definers,
)
def definer_functions(tenancy: Tenancy, signature: str) -> Iterator[Problem]:
    """What leaks: whatever the function reads or writes. A SECURITY DEFINER function
    runs as its owner; when the owner skips RLS, or a policy lets it read every tenant,
    the function sees every tenant, and any caller can pass it another tenant's ids.
    (EXECUTE is granted to PUBLIC by default.)

    How it is used: ``SELECT * FROM get_document('<another tenant's document id>')``.

    Fix: SECURITY INVOKER, or a narrow function that returns only what the caller may
    know, accepted explicitly in [tool.rlsguard] allow with the reason.

        ALTER FUNCTION get_document(uuid) SECURITY INVOKER;
        REVOKE EXECUTE ON FUNCTION get_document(uuid) FROM PUBLIC;
    """
    function = tenancy.catalog.functions[signature]
    bypass = _first_cross_tenant_read(tenancy, function.owner)
    if bypass is not None:
        table, reason = bypass
        yield Problem(
            f"{signature} is SECURITY DEFINER and runs as {function.owner}; {reason} "
            f"(on {table}), and {tenancy.app.name} can execute it"
        )


@check(
    "RG504",
    "definer-search-path",
    Severity.ERROR,
    "SECURITY DEFINER functions fix a search_path the application cannot write to",
    attacks=(13,),
    objects=app_executable_definers,
)
def definer_search_path(tenancy: Tenancy, signature: str) -> Iterator[Problem]:
    """What leaks: the owner's rights. Without a fixed search_path, unqualified names in
    the function resolve through the caller's search_path: the caller creates a function
    or table of the same name in a schema it can write and it runs with the owner's
    rights.

    How it is used: ``CREATE FUNCTION public.lower(text) ...`` before calling it.

    Fix:

        ALTER FUNCTION lookup_tenant(text) SET search_path = pg_catalog, public, pg_temp;
    """
    function = tenancy.catalog.functions[signature]
    path = function.setting("search_path")
    if path is None:
        yield Problem(f"{signature} is SECURITY DEFINER with no fixed search_path")
        return
    for schema_name in (part.strip().strip('"') for part in path.split(",")):
        if tenancy.can_create_in(tenancy.app.name, schema_name):
            yield Problem(
                f"{signature} searches schema {schema_name}, where {tenancy.app.name} "
                "can create objects"
            )


@check(
    "RG505",
    "materialized-views",
    Severity.ERROR,
    "The application cannot read materialized views of tenant data",
    attacks=(14,),
    objects=app_readable_materialized_views,
)
def materialized_views(tenancy: Tenancy, view: str) -> Iterator[Problem]:
    """What leaks: a copy of every tenant's rows. A materialized view stores its result
    with its owner's rights at refresh time and has no RLS of its own.

    How it is used: ``SELECT * FROM document_stats``.

    Fix: do not grant it to the application; expose it through a security_invoker
    view or function that filters by tenant.

        REVOKE SELECT ON document_stats FROM app_user;
    """
    relation = tenancy.catalog.relations[view]
    yield Problem(
        f"{tenancy.app.name} can read materialized view {view}, a copy of "
        f"{', '.join(reads_tenant_data(tenancy, relation))} with no row level security"
    )


@check(
    "RG506",
    "rls-exempt-privileges",
    Severity.ERROR,
    "The application has no TRUNCATE (or REFERENCES) on tenant tables",
    attacks=(17,),
    objects=tenant_tables,
)
def rls_exempt_privileges(tenancy: Tenancy, table: str) -> Iterator[Problem]:
    """What leaks: TRUNCATE is not subject to RLS: it empties the table for every
    tenant. REFERENCES is not either: with it, a table of the application's own can
    carry a foreign key into this one and probe which keys exist.

    How it is used: ``TRUNCATE documents``.

    Fix:

        REVOKE TRUNCATE, REFERENCES ON documents FROM app_user;
    """
    relation = tenancy.catalog.relations[table]
    app = tenancy.app.name
    if tenancy.has(app, "TRUNCATE", relation):
        yield Problem(f"{app} can TRUNCATE {table}, which empties it for every tenant")
    can_create = any(tenancy.can_create_in(app, schema) for schema in tenancy.catalog.schemas)
    if can_create and tenancy.has(app, "REFERENCES", relation):
        yield Problem(
            f"{app} has REFERENCES on {table} and can create tables: a foreign key of its own "
            "probes which keys exist",
            Severity.WARNING,
        )
