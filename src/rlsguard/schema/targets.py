"""The objects rules run on, chosen from the tenancy model: each selector returns the
schema-qualified names (or role names, function signatures) a check inspects or a probe
acts on. Checks and probes share them, and the facts behind them (which unique keys
leave the tenant out, which foreign keys point at another tenant's rows)."""

from __future__ import annotations

from rlsguard.schema.catalog import Constraint, Index, Relation
from rlsguard.schema.expressions import judge
from rlsguard.schema.reach import settings_set
from rlsguard.schema.tenancy import Tenancy

STATEFUL_TARGET = "tenant-tables"  # the stateful probe acts on all tenant tables at once


# -- tenant tables ------------------------------------------------------------------------------


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


def membership_table(tenancy: Tenancy) -> list[str]:
    table = tenancy.membership_table
    return [table.qualified] if table is not None else []


def tables_reading_edited_claims(tenancy: Tenancy) -> list[str]:
    """Tenant tables whose policies read a claim the user can edit."""
    return [
        table.qualified
        for table in tenancy.tenant_relations
        if tenancy.settings.untrusted_claims and edited_claims_read(tenancy, table.qualified)
    ]


def edited_claims_read(tenancy: Tenancy, table: str) -> list[str]:
    """The user-editable claims (dotted paths) the application's policies on ``table``
    read."""
    relation = tenancy.catalog.relations[table]
    context = tenancy.context_for(relation)
    found: set[str] = set()
    for command in ("SELECT", "INSERT", "UPDATE", "DELETE"):
        for policy in tenancy.applicable(relation, command, tenancy.app.name):
            for text in (policy.using, policy.check):
                if text:
                    found.update(judge(text, context).untrusted_claims)
    return sorted(found)


def child_tables(tenancy: Tenancy) -> list[str]:
    return [table.qualified for table in tenancy.tenant_relations if tenancy.is_child(table)]


def app_readable_children(tenancy: Tenancy) -> list[str]:
    """Partitions and inheritance children the application may query by name."""
    app = tenancy.app.name
    return [
        table.qualified
        for table in tenancy.tenant_relations
        if tenancy.is_child(table) and tenancy.has(app, "SELECT", table)
    ]


def tables_open_to_app_reads(tenancy: Tenancy) -> list[str]:
    """Tenant tables the app may SELECT from and that some policy opens to it (a table
    with RLS on and no policy for the app is deny-all on purpose)."""
    app = tenancy.app.name
    return [
        name
        for name in tenant_tables(tenancy)
        if tenancy.has(app, "SELECT", relation := tenancy.catalog.relations[name])
        and not (relation.rls_enabled and tenancy.isolation(relation, "SELECT", app).denied)
    ]


def admin_tables(tenancy: Tenancy) -> list[str]:
    """The tenant tables, when there is an admin to read them all."""
    return tenant_tables(tenancy) if tenancy.admins or tenancy.settings.admin_context else []


def tenant_tables_together(tenancy: Tenancy) -> list[str]:
    return [STATEFUL_TARGET] if tenancy.tenant_relations else []


# -- unique keys and foreign keys -------------------------------------------------------------


def random_key(relation: Relation, columns: tuple[str, ...]) -> bool:
    """Every column of the key is filled with a random UUID by the server: unguessable."""
    return bool(columns) and all(
        (column := relation.column(name)) is not None and column.random_default for name in columns
    )


def tenant_blind_unique_indexes(tenancy: Tenancy, relation: Relation) -> list[Index]:
    """Unique indexes that leave the tenant column out, so a duplicate-key error speaks of
    other tenants' rows; keys the server fills with random UUIDs cannot be guessed and
    are left out."""
    column = tenancy.settings.tenant_column
    return [
        index
        for index in relation.indexes
        if index.unique
        and column not in index.columns
        and not (all(index.columns) and random_key(relation, _named(index)))
    ]


def guessable_unique_keys(tenancy: Tenancy, relation: Relation) -> list[tuple[str, ...]]:
    """The column lists of those indexes that name only columns (no expression)."""
    return [
        _named(index)
        for index in tenant_blind_unique_indexes(tenancy, relation)
        if all(index.columns)
    ]


def _named(index: Index) -> tuple[str, ...]:
    return tuple(name for name in index.columns if name)


def tables_with_guessable_unique_keys(tenancy: Tenancy) -> list[str]:
    """Tables the app inserts into whose unique keys may tell it about other tenants."""
    app = tenancy.app.name
    return [
        name
        for name in tables_with_tenant_column(tenancy)
        if guessable_unique_keys(tenancy, relation := tenancy.catalog.relations[name])
        and tenancy.has(app, "INSERT", relation)
    ]


def tenant_foreign_keys(tenancy: Tenancy, relation: Relation) -> list[Constraint]:
    """Foreign keys to tenant tables, except the tenant column's own reference to the
    tenant root."""
    root = tenancy.tenant_root
    column = tenancy.settings.tenant_column
    return [
        foreign_key
        for foreign_key in relation.foreign_keys
        if foreign_key.references in tenancy.tenant_tables
        and not (
            root is not None
            and foreign_key.references == root.qualified
            and foreign_key.columns == (column,)
        )
    ]


def tables_with_tenant_parents(tenancy: Tenancy) -> list[str]:
    return [
        name
        for name in tenant_tables(tenancy)
        if tenant_foreign_keys(tenancy, tenancy.catalog.relations[name])
    ]


# -- other tables -------------------------------------------------------------------------------


def global_tables(tenancy: Tenancy) -> list[str]:
    return [table.qualified for table in tenancy.global_relations]


def append_only_tables(tenancy: Tenancy) -> list[str]:
    return sorted(tenancy.append_only)


def tables_with_policies(tenancy: Tenancy) -> list[str]:
    return sorted(
        relation.qualified
        for relation in tenancy.catalog.relations.values()
        if relation.policies and relation.schema in tenancy.settings.schemas
    )


# -- roles ------------------------------------------------------------------------------------


def app_role(tenancy: Tenancy) -> list[str]:
    return [tenancy.app.name]


def admin_roles(tenancy: Tenancy) -> list[str]:
    return [admin.name for admin in tenancy.admins]


# -- doors around RLS ---------------------------------------------------------------------------


def reads_tenant_data(tenancy: Tenancy, relation: Relation) -> list[str]:
    return [name for name in relation.reads if name in tenancy.tenant_tables]


def view_chain(tenancy: Tenancy, view: Relation) -> list[Relation]:
    """The view and the views a write through it passes, down to the one that reads a
    tenant table (an automatically updatable view reads one relation)."""
    chain = [view]
    while not reads_tenant_data(tenancy, chain[-1]):
        below = [
            found
            for name in chain[-1].reads
            if (found := tenancy.catalog.relations.get(name)) is not None
            and found.kind == "view"
            and found not in chain
        ]
        if len(below) != 1:
            break
        chain.append(below[0])
    return chain


def tenant_tables_written_through(tenancy: Tenancy, view: Relation) -> list[str]:
    return reads_tenant_data(tenancy, view_chain(tenancy, view)[-1])


def _app_readable(tenancy: Tenancy, *kinds: str) -> list[str]:
    return sorted(
        relation.qualified
        for relation in tenancy.catalog.relations.values()
        if relation.kind in kinds
        and reads_tenant_data(tenancy, relation)
        and tenancy.has(tenancy.app.name, "SELECT", relation)
    )


def app_readable_views(tenancy: Tenancy) -> list[str]:
    return _app_readable(tenancy, "view")


def app_readable_materialized_views(tenancy: Tenancy) -> list[str]:
    return _app_readable(tenancy, "materialized view")


def app_readable_views_of_either_kind(tenancy: Tenancy) -> list[str]:
    return _app_readable(tenancy, "view", "materialized view")


TRIGGER_RESULTS = ("trigger", "event_trigger")  # called by the server, never by a query


def app_executable_definers(tenancy: Tenancy) -> list[str]:
    return sorted(
        function.signature
        for function in tenancy.catalog.functions.values()
        if function.security_definer
        and function.returns not in TRIGGER_RESULTS
        and tenancy.can_execute(tenancy.app.name, function)
    )


def tables_with_definer_triggers(tenancy: Tenancy) -> list[str]:
    """Tenant tables (and views over them) with an enabled trigger whose function runs as
    SECURITY DEFINER."""
    functions = tenancy.catalog.functions
    return sorted(
        relation.qualified
        for relation in tenancy.catalog.relations.values()
        if (relation.qualified in tenancy.tenant_tables or reads_tenant_data(tenancy, relation))
        and any(
            trigger.enabled
            and (function := functions.get(trigger.function)) is not None
            and function.security_definer
            for trigger in relation.triggers
        )
    )


def app_executable_leakproof(tenancy: Tenancy) -> list[str]:
    """Functions marked LEAKPROOF the application can call, when RLS guards a tenant table."""
    if not any(relation.rls_enabled for relation in tenancy.tenant_relations):
        return []
    return sorted(
        function.signature
        for function in tenancy.catalog.functions.values()
        if function.leakproof and tenancy.can_execute(tenancy.app.name, function)
    )


def context_settings(tenancy: Tenancy) -> set[str]:
    """The settings a tenant or an admin is entered with."""
    settings = tenancy.settings
    return {settings.tenant_setting, *dict(settings.entry), *dict(settings.admin_context)}


def app_executable_context_functions(tenancy: Tenancy) -> list[str]:
    """Functions the application can call that set the tenant context, for the
    transaction or the session."""
    wanted = context_settings(tenancy)
    return sorted(
        function.signature
        for function in tenancy.catalog.functions.values()
        if tenancy.can_execute(tenancy.app.name, function)
        and wanted & {name for name, _ in settings_set(function)}
    )


def app_writable_views(tenancy: Tenancy) -> list[str]:
    """Views over tenant tables the application may INSERT into or UPDATE, and that take
    such writes (automatically updatable, or by INSTEAD OF triggers)."""
    app = tenancy.app.name
    return sorted(
        relation.qualified
        for relation in tenancy.catalog.relations.values()
        if relation.kind == "view"
        and tenant_tables_written_through(tenancy, relation)
        and any(
            command in relation.writable and tenancy.has(app, command, relation)
            for command in ("INSERT", "UPDATE")
        )
    )


def tenant_tables_with_triggers(tenancy: Tenancy) -> list[str]:
    """Tenant tables a query names directly that have an enabled trigger of their own."""
    return [
        name
        for name in tenant_tables(tenancy)
        if any(trigger.enabled for trigger in tenancy.catalog.relations[name].triggers)
    ]
