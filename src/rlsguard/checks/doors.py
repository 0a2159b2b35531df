"""Other doors into tenant data: views, functions, materialized views, privileges that
RLS does not cover."""

from __future__ import annotations

from collections.abc import Iterator

from rlsguard.checks.registry import Problem, check
from rlsguard.checks.remedies import ident, take_away
from rlsguard.findings import Severity
from rlsguard.schema.catalog import Relation
from rlsguard.schema.targets import (
    app_readable_materialized_views,
    app_readable_views,
    app_writable_views,
    reads_tenant_data,
    tenant_tables,
    view_chain,
)
from rlsguard.schema.tenancy import Tenancy


def _filters_by_tenant(tenancy: Tenancy, view: Relation) -> bool:
    definition = view.definition or ""
    return f"'{tenancy.settings.tenant_setting}'" in definition or any(
        f"{helper}(" in definition for helper in tenancy.context.helpers
    )


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

    PostgreSQL 14 has no ``security_invoker``: give the view an owner the tables'
    policies bind (the application role itself), so that it reads as that role.

        ALTER VIEW document_titles OWNER TO app_user;
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
                f"{tenancy.app.name} sees every tenant's rows through it",
                fix=invoker_fix(tenancy, view),
            )


SECURITY_INVOKER_SINCE = 150000  # server_version_num of the first release with it


def invoker_fix(tenancy: Tenancy, view: str) -> str:
    """Make ``view`` read its tables as a role RLS binds: as the caller (15+), or, before
    ``security_invoker`` existed, as the application role by owning it."""
    if tenancy.catalog.server_version_num >= SECURITY_INVOKER_SINCE:
        return f"ALTER VIEW {view} SET (security_invoker = true);"
    return (
        f"ALTER VIEW {view} OWNER TO {ident(tenancy.app.name)};  -- PostgreSQL "
        f"{tenancy.catalog.server_version_num // 10000} has no security_invoker"
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
            f"view {view} filters by tenant in its own WHERE clause but is not a security_barrier",
            fix=f"ALTER VIEW {view} SET (security_barrier = true);",
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
        f"{', '.join(reads_tenant_data(tenancy, relation))} with no row level security",
        fix=f"REVOKE SELECT ON {view} FROM {tenancy.app.name};",
    )


def _truthy(value: str | None) -> bool:
    return value in ("true", "on", "1")


@check(
    "RG508",
    "updatable-views",
    Severity.ERROR,
    "Views the application writes through keep the rows to the tenant (CHECK OPTION)",
    attacks=(12,),
    objects=app_writable_views,
)
def updatable_views(tenancy: Tenancy, view: str) -> Iterator[Problem]:
    """What leaks: writes into other tenants. A view writes its tables with its owner's
    rights; when the owner skips RLS there, the view's own WHERE is all that keeps the
    caller to its tenant, and without ``WITH CASCADED CHECK OPTION`` an INSERT or UPDATE
    through the view writes rows the WHERE would hide (LOCAL checks only this view's
    WHERE, not that of the views below it).

    How it is used: ``INSERT INTO my_documents (tenant_id, ...) VALUES ('<another
    tenant>', ...)``.

    Fix: check the rows written through it, or let RLS judge them as the caller.

        ALTER VIEW my_documents SET (check_option = cascaded);
        ALTER VIEW my_documents SET (security_invoker = true);
    """
    relation = tenancy.catalog.relations[view]
    chain = view_chain(tenancy, relation)
    bottom = chain[-1]  # its owner's rights write the table
    if _truthy(bottom.option("security_invoker")) or any(
        trigger.timing == "INSTEAD OF" for trigger in relation.triggers
    ):
        return  # the caller's policies judge the writes, or the trigger does (RG507)
    filtering = [item for item in chain if _filters_by_tenant(tenancy, item)]
    checked = _checked(chain)
    for table in reads_tenant_data(tenancy, bottom):
        reason = tenancy.unconfined(bottom.owner, tenancy.catalog.relations[table], "INSERT")
        if reason is None:
            continue
        lead = f"view {view} writes {table} with its owner's rights ({reason})"
        if not filtering:
            yield Problem(
                f"{lead} and does not filter by tenant: {tenancy.app.name} writes any "
                "tenant's rows through it",
                fix=invoker_fix(tenancy, view),
            )
        elif not any(item.qualified in checked for item in filtering):
            below = (
                "" if filtering[0] is relation else f" (the filter is {filtering[0].qualified}'s)"
            )
            yield Problem(
                f"{lead} and no CHECK OPTION covers its tenant filter{below}: an INSERT or "
                "UPDATE through it writes rows of other tenants",
                fix=f"ALTER VIEW {view} SET (check_option = cascaded);",
            )
        return


def _checked(chain: list[Relation]) -> set[str]:
    """The views whose own conditions a write through the first is checked against: a
    LOCAL check option checks its view's, CASCADED its view's and every one below."""
    checked: set[str] = set()
    for position, view in enumerate(chain):
        option = view.option("check_option")
        if option == "local":
            checked.add(view.qualified)
        elif option == "cascaded":
            checked.update(item.qualified for item in chain[position:])
    return checked


@check(
    "RG506",
    "rls-exempt-privileges",
    Severity.ERROR,
    "The application has no TRUNCATE, TRIGGER (or REFERENCES) on tenant tables",
    attacks=(17,),
    objects=tenant_tables,
)
def rls_exempt_privileges(tenancy: Tenancy, table: str) -> Iterator[Problem]:
    """What leaks: TRUNCATE is not subject to RLS: it empties the table for every
    tenant. TRIGGER is not either (``GRANT ALL`` includes it): a trigger the application
    attaches fires on every tenant's writes and sees their rows. REFERENCES: with it, a
    table of the application's own can carry a foreign key into this one and probe which
    keys exist.

    How it is used: ``TRUNCATE documents``; ``CREATE TRIGGER copy AFTER INSERT ON
    documents FOR EACH ROW EXECUTE FUNCTION pg_temp.copy_out()``.

    Fix:

        REVOKE TRUNCATE, TRIGGER, REFERENCES ON documents FROM app_user;
    """
    relation = tenancy.catalog.relations[table]
    app = tenancy.app.name
    keep = "SELECT, INSERT, UPDATE, DELETE"
    if tenancy.has(app, "TRUNCATE", relation):
        yield Problem(
            f"{app} can TRUNCATE {table}, which empties it for every tenant",
            fix=take_away(tenancy, relation, ["TRUNCATE"], keep),
        )
    if tenancy.has(app, "TRIGGER", relation):
        yield Problem(
            f"{app} can create triggers on {table}: a trigger of its own fires on every "
            "tenant's writes and sees their rows",
            fix=take_away(tenancy, relation, ["TRIGGER"], keep),
        )
    can_create = any(tenancy.can_create_in(app, schema) for schema in tenancy.catalog.schemas)
    if can_create and tenancy.has(app, "REFERENCES", relation):
        yield Problem(
            f"{app} has REFERENCES on {table} and can create tables: a foreign key of its own "
            "probes which keys exist",
            Severity.WARNING,
            fix=take_away(tenancy, relation, ["REFERENCES"], keep),
        )
