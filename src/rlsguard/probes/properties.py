"""The properties, each one Hypothesis example at a time: make up tenants and rows, act
as a tenant (or an admin, or nobody), and check what came back against what must.

An example raises ProbeFailure when the property does not hold; the runner attaches
the transcript of the (shrunk) example.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from hypothesis import strategies as st
from psycopg2 import sql

from rlsguard.checks.data import random_key
from rlsguard.findings import Severity
from rlsguard.probes.registry import ProbeContext, ProbeFailure, probe
from rlsguard.probes.rows import (
    Example,
    Row,
    TablePlan,
    adapt,
    insert_statement,
    partition_values,
    table_identifier,
    tenant_foreign_keys,
)
from rlsguard.probes.transcript import Answer, SetupFailed
from rlsguard.probes.values import CannotGenerate
from rlsguard.schema.catalog import Relation
from rlsguard.schema.expressions import judge
from rlsguard.schema.targets import (
    app_executable_definers,
    app_readable_materialized_views,
    app_readable_views,
)
from rlsguard.schema.tenancy import Tenancy

READ_ONLY_ERRORS = {"42501"}  # insufficient privilege: a refusal is what we want
CAST_ERRORS = {"22P02", "22007", "22008", "42704", "22023"}  # bad input, unset parameter


# -- which objects --------------------------------------------------------------------------


def _tenant_tables(tenancy: Tenancy) -> list[str]:
    return [table.qualified for table in tenancy.tenant_relations if not tenancy.is_child(table)]


def _tenant_tables_with_column(tenancy: Tenancy) -> list[str]:
    return [
        table.qualified
        for table in tenancy.tenant_relations
        if not tenancy.is_child(table) and tenancy.carries_tenant_column(table)
    ]


def _tables_with_guessable_unique_keys(tenancy: Tenancy) -> list[str]:
    app = tenancy.app.name
    return [
        name
        for name in _tenant_tables_with_column(tenancy)
        if _side_channel_keys(tenancy, name)
        and tenancy.has(app, "INSERT", tenancy.catalog.relations[name])
    ]


def _tables_with_tenant_parents(tenancy: Tenancy) -> list[str]:
    return [
        name
        for name in _tenant_tables(tenancy)
        if tenant_foreign_keys(tenancy, tenancy.catalog.relations[name])
    ]


def _admin_tables(tenancy: Tenancy) -> list[str]:
    return _tenant_tables(tenancy) if tenancy.admins else []


def _app(tenancy: Tenancy) -> list[str]:
    return [tenancy.app.name]


def _readable_views(tenancy: Tenancy) -> list[str]:
    return sorted(app_readable_views(tenancy) + app_readable_materialized_views(tenancy))


def _definer_functions(tenancy: Tenancy) -> list[str]:
    return app_executable_definers(tenancy)


def _children(tenancy: Tenancy) -> list[str]:
    app = tenancy.app.name
    return [
        table.qualified
        for table in tenancy.tenant_relations
        if tenancy.is_child(table) and tenancy.has(app, "SELECT", table)
    ]


# -- shared moves ---------------------------------------------------------------------------


def _side_channel_keys(tenancy: Tenancy, table: str) -> list[tuple[str, ...]]:
    relation = tenancy.catalog.relations[table]
    column = tenancy.settings.tenant_column
    keys = []
    for index in relation.indexes:
        columns = tuple(name for name in index.columns if name)
        complete = len(columns) == len(index.columns)
        if (
            index.unique
            and complete
            and column not in columns
            and not random_key(relation, columns)
        ):
            keys.append(columns)
    return keys


def _tenants(example: Example, least: int = 2) -> list[Any]:
    """``least`` or one more tenants, for properties about what several tenants see."""
    count = example.data.draw(st.integers(least, least + 1), label="tenants")
    return [example.new_tenant() for _ in range(count)]


def _two_tenants(example: Example) -> tuple[Any, Any]:
    """An actor and another tenant: all a property about one against the other needs."""
    return example.new_tenant(), example.new_tenant()


def _populate(
    example: Example, table: str, tenants: list[Any], least: int = 0
) -> dict[Any, list[Row]]:
    """Rows of ``table`` for each tenant (the tenant root's rows are the tenants)."""
    root = example.tenancy.tenant_root
    rows: dict[Any, list[Row]] = {}
    for tenant in tenants:
        if root is not None and table == root.qualified:
            rows[tenant] = example.rows_of(table, tenant)
            continue
        plan = example.planner.plan(table)
        most = 1 if plan.one_per_tenant else 2
        drawn = example.data.draw(plan.rows_strategy(min(least, most), most))
        rows[tenant] = [example.insert(table, tenant, drawn=row) for row in drawn]
    return rows


def _key_list(plan: TablePlan) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, plan.key))


def _where_key(plan: TablePlan, row: Row) -> tuple[sql.Composable, list[Any]]:
    condition = sql.SQL(" AND ").join(
        sql.SQL("{} IS NOT DISTINCT FROM {}").format(sql.Identifier(name), sql.Placeholder())
        for name in plan.key
    )
    return condition, [row.values[name] for name in plan.key]


def _select_keys(context: ProbeContext, plan: TablePlan) -> Answer:
    return context.session.attempt(
        sql.SQL("SELECT {} FROM {}").format(_key_list(plan), table_identifier(plan.table))
    )


def _keys(rows: list[Row], plan: TablePlan) -> set[tuple[Any, ...]]:
    return {row.key(plan.key) for row in rows}


def _blanket_assignment(example: Example, plan: TablePlan, actor: Any) -> tuple[str, Any] | None:
    """A column and a constant to SET on every row: a plain column outside every key and
    foreign key (so no constraint stops the write), else the tenant column (the actor)."""
    for name, strategy in plan.strategies.items():
        if name not in plan.unique:
            return name, example.data.draw(strategy, label=f"{plan.table}.{name} for every row")
    tenancy = example.tenancy
    column = tenancy.settings.tenant_column
    root = tenancy.tenant_root
    if plan.relation.column(column) is not None and not (
        root is not None and plan.table == root.qualified
    ):
        return column, actor
    return None


def _noop_column(relation: Relation, tenancy: Tenancy) -> str:
    column = tenancy.settings.tenant_column
    return column if relation.column(column) is not None else relation.columns[0].name


def _other_tenant_value(example: Example, table: str, other: Any) -> Any:
    """The tenant value a row "of another tenant" gets: that tenant's id, or for the tenant
    table itself an id nobody has."""
    root = example.tenancy.tenant_root
    return example.fresh_tenant_id() if root is not None and table == root.qualified else other


def _new_row(
    example: Example, table: str, tenant: Any, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Values for one more row of ``tenant`` (of the tenant table itself: a new tenant id,
    since the tenant already has its row)."""
    root = example.tenancy.tenant_root
    extra = dict(overrides or {})
    if root is not None and table == root.qualified:
        extra.setdefault(example.tenancy.settings.tenant_column, example.fresh_tenant_id())
    return example.values_for(table, tenant, extra)


def _fail(message: str, severity: Severity | None = None) -> ProbeFailure:
    return ProbeFailure(message, severity)


# -- reads ----------------------------------------------------------------------------------


@probe(
    "RP101",
    "cross-tenant-read",
    Severity.ERROR,
    "As a tenant, the application sees exactly that tenant's rows",
    attacks=(1, 2, 3, 6, 16, 21),
    fixes_from=("RG101", "RG102", "RG301"),
    objects=_tenant_tables,
)
def cross_tenant_read(context: ProbeContext, table: str, example: Example) -> None:
    """Rows of several tenants; as one of them, SELECT the table's keys: no row of
    another tenant (or of data that was already there) may show."""
    plan = example.planner.plan(table)
    tenants = _tenants(example)
    rows = _populate(example, table, tenants)
    viewer = tenants[example.data.draw(st.integers(0, len(tenants) - 1), label="viewer")]
    context.session.as_role(context.app, viewer)
    outcome = _select_keys(context, plan)
    if outcome.failed:
        raise _fail(f"as tenant {viewer}, reading {table} failed: {outcome.error}")
    foreign = set(outcome.rows) - _keys(rows[viewer], plan)
    if foreign:
        raise _fail(
            f"as tenant {viewer}, {context.app} sees {len(foreign)} row(s) of {table} that are "
            "not its own"
        )


def _readable_by_policy(tenancy: Tenancy) -> list[str]:
    """Tenant tables the app may SELECT from and that some policy opens to it (a table
    with RLS on and no policy for the app is deny-all on purpose)."""
    app = tenancy.app.name
    return [
        name
        for name in _tenant_tables(tenancy)
        if tenancy.has(app, "SELECT", relation := tenancy.catalog.relations[name])
        and not (relation.rls_enabled and tenancy.isolation(relation, "SELECT", app).denied)
    ]


@probe(
    "RP115",
    "own-rows-visible",
    Severity.WARNING,
    "As a tenant, the application sees all of that tenant's own rows",
    attacks=(22,),
    fixes_from=("RG601",),
    objects=_readable_by_policy,
)
def own_rows_visible(context: ProbeContext, table: str, example: Example) -> None:
    """Rows of several tenants; as one of them, every one of its own rows must show: a
    policy that hides a tenant's own data is a bug too (not a leak)."""
    plan = example.planner.plan(table)
    tenants = _tenants(example)
    rows = _populate(example, table, tenants, least=1)
    viewer = tenants[example.data.draw(st.integers(0, len(tenants) - 1), label="viewer")]
    context.session.as_role(context.app, viewer)
    outcome = _select_keys(context, plan)
    missing = _keys(rows[viewer], plan) - set(outcome.rows)
    if outcome.failed or missing:
        detail = (
            outcome.error
            if outcome.failed
            else f"{len(missing)} of its {len(rows[viewer])} rows are missing"
        )
        raise _fail(
            f"as tenant {viewer}, {context.app} does not see its own rows of {table}: {detail}"
        )


# -- writes ---------------------------------------------------------------------------------


@probe(
    "RP102",
    "cross-tenant-insert",
    Severity.ERROR,
    "As a tenant, the application cannot insert rows for another tenant",
    attacks=(4,),
    fixes_from=("RG302",),
    objects=_tenant_tables,
)
def cross_tenant_insert(context: ProbeContext, table: str, example: Example) -> None:
    """As tenant A, INSERT a row that belongs to tenant B (B's tenant id, or a parent row
    of B's for a table without the tenant column): it must be rejected. (No RETURNING: it
    would bring the SELECT policies in and hide what the INSERT policies let through.)"""
    plan = example.planner.plan(table)
    actor, other = _two_tenants(example)
    column = context.tenancy.settings.tenant_column
    overrides = {}
    if plan.relation.column(column) is not None:
        overrides[column] = _other_tenant_value(example, table, other)
    values = example.values_for(table, other, overrides)
    context.session.as_role(context.app, actor)
    outcome = context.session.attempt(*insert_statement(table, values, plan, returning=False))
    if not outcome.failed and outcome.rowcount:
        raise _fail(
            f"as tenant {actor}, {context.app} inserted a row of another tenant into {table}"
        )


@probe(
    "RP103",
    "cross-tenant-update",
    Severity.ERROR,
    "As a tenant, the application updates only its own rows",
    attacks=(6,),
    fixes_from=("RG301",),
    objects=_tenant_tables,
)
def cross_tenant_update(context: ProbeContext, table: str, example: Example) -> None:
    """As tenant A: UPDATE a row of tenant B by its key (must touch nothing), then UPDATE
    every row it can reach, setting a constant with no WHERE, so that only the UPDATE
    policies decide (it may only touch A's rows)."""
    plan = example.planner.plan(table)
    tenants = _tenants(example)
    rows = _populate(example, table, tenants, least=1)
    actor, victim = tenants[0], rows[tenants[1]][0]
    column = sql.Identifier(_noop_column(plan.relation, context.tenancy))
    context.session.as_role(context.app, actor)
    condition, values = _where_key(plan, victim)
    touched = context.session.attempt(
        sql.SQL("UPDATE {} SET {} = {} WHERE {}").format(
            table_identifier(table), column, column, condition
        ),
        values,
    )
    if not touched.failed and touched.rowcount:
        raise _fail(f"as tenant {actor}, {context.app} updated a row of another tenant in {table}")
    # No WHERE and no column read: only the UPDATE policies decide (a WHERE would bring
    # the SELECT policies in too), which is what an attacker would try.
    blanket = _blanket_assignment(example, plan, actor)
    if blanket is None:
        return
    target, value = blanket
    everything = context.session.attempt(
        sql.SQL("UPDATE {} SET {} = {}").format(
            table_identifier(table), sql.Identifier(target), sql.Placeholder()
        ),
        [adapt(plan.relation.column(target), value)],
    )
    _expect_only_own(everything, rows[actor], f"as tenant {actor}, an UPDATE of {table}")


@probe(
    "RP104",
    "cross-tenant-delete",
    Severity.ERROR,
    "As a tenant, the application deletes only its own rows",
    attacks=(6,),
    fixes_from=("RG301",),
    objects=_tenant_tables,
)
def cross_tenant_delete(context: ProbeContext, table: str, example: Example) -> None:
    """As tenant A: DELETE a row of tenant B by its key (must delete nothing), then
    DELETE every row it can reach (only A's may go; B's must all still be there)."""
    plan = example.planner.plan(table)
    tenants = _tenants(example)
    rows = _populate(example, table, tenants, least=1)
    actor, victim = tenants[0], rows[tenants[1]][0]
    context.session.as_role(context.app, actor)
    condition, values = _where_key(plan, victim)
    deleted = context.session.attempt(
        sql.SQL("DELETE FROM {} WHERE {}").format(table_identifier(table), condition), values
    )
    if not deleted.failed and deleted.rowcount:
        raise _fail(
            f"as tenant {actor}, {context.app} deleted a row of another tenant from {table}"
        )
    everything = context.session.attempt(sql.SQL("DELETE FROM {}").format(table_identifier(table)))
    _expect_only_own(everything, rows[actor], f"as tenant {actor}, a DELETE from {table}")


def _expect_only_own(blanket: Answer, own: list[Row], what: str) -> None:
    """A statement without WHERE may touch the actor's own rows, and no more."""
    extra = blanket.rowcount - len(own)
    if not blanket.failed and extra > 0:
        raise _fail(f"{what} without WHERE touched {extra} row(s) of other tenants")


@probe(
    "RP105",
    "update-moves-row",
    Severity.ERROR,
    "As a tenant, the application cannot hand its rows to another tenant",
    attacks=(5,),
    fixes_from=("RG302",),
    objects=_tenant_tables_with_column,
)
def update_moves_row(context: ProbeContext, table: str, example: Example) -> None:
    """As tenant A, set the tenant column of its rows to tenant B (no WHERE, so only the
    UPDATE policies decide): it must be rejected or touch nothing."""
    actor, other = _two_tenants(example)
    _populate(example, table, [actor], least=1)
    column = context.tenancy.settings.tenant_column
    context.session.as_role(context.app, actor)
    # No WHERE: a WHERE needs SELECT rights, and then PostgreSQL also checks the new row
    # against the SELECT policies; without one only the UPDATE policies decide.
    moved = context.session.attempt(
        sql.SQL("UPDATE {} SET {} = {}").format(
            table_identifier(table), sql.Identifier(column), sql.Placeholder()
        ),
        [_other_tenant_value(example, table, other)],
    )
    if not moved.failed and moved.rowcount:
        raise _fail(f"as tenant {actor}, {context.app} moved its row of {table} to another tenant")


# -- no tenant context --------------------------------------------------------------------------


@probe(
    "RP106",
    "no-context",
    Severity.ERROR,
    "With the tenant setting unset or empty, the application reads and writes nothing",
    attacks=(9,),
    fixes_from=("RG305", "RG306"),
    objects=_tenant_tables,
)
def no_context(context: ProbeContext, table: str, example: Example) -> None:
    """With the setting never set (a fresh connection) or set to '' (a pooled connection
    after a reset), the application must read no row and write none. An error that is
    only a cast of the empty setting is a robustness warning, not a leak."""
    mode = example.data.draw(st.sampled_from(("unset", "empty")), label="tenant setting")
    if mode == "unset":
        context.switch("fresh", example)  # a connection that never saw the setting
    plan = example.planner.plan(table)
    owner = _tenants(example, least=1)[0]
    rows = _populate(example, table, [owner], least=1)
    # a row for a tenant with none yet, so no unique key of the table is in the way
    new_values = _new_row(example, table, example.new_tenant())
    context.session.as_role(context.app, None, context=mode)
    read = _select_keys(context, plan)
    _robust(context, table, read, mode, "reading")
    if read.rows:
        raise _fail(
            f"with the tenant setting {mode}, {context.app} reads {len(read.rows)} row(s) of "
            f"{table}"
        )
    condition, values = _where_key(plan, rows[owner][0])
    for statement, params, verb in (
        (sql.SQL("UPDATE {} SET {} = {} WHERE {}"), values, "updates"),
        (sql.SQL("DELETE FROM {} WHERE {}"), values, "deletes"),
    ):
        column = sql.Identifier(_noop_column(plan.relation, context.tenancy))
        composed = (
            statement.format(table_identifier(table), column, column, condition)
            if verb == "updates"
            else statement.format(table_identifier(table), condition)
        )
        outcome = context.session.attempt(composed, params)
        _robust(context, table, outcome, mode, verb)
        if not outcome.failed and outcome.rowcount:
            raise _fail(f"with the tenant setting {mode}, {context.app} {verb} rows of {table}")
    inserted = context.session.attempt(*insert_statement(table, new_values, plan, returning=False))
    _robust(context, table, inserted, mode, "inserting")
    if not inserted.failed and inserted.rowcount:
        raise _fail(f"with the tenant setting {mode}, {context.app} inserts rows into {table}")


def _robust(context: ProbeContext, table: str, outcome: Answer, mode: str, doing: str) -> None:
    if outcome.failed and outcome.error_code in CAST_ERRORS:
        raise _fail(
            f"with the tenant setting {mode}, {doing} {table} fails with an error instead of "
            "matching "
            f"nothing ({outcome.error}); the policies that cast the setting: "
            f"{', '.join(_casting_policies(context, table)) or 'none found'}",
            Severity.WARNING,
        )


def _casting_policies(context: ProbeContext, table: str) -> list[str]:
    relation = context.tenancy.catalog.relations[table]
    return sorted(
        policy.name
        for policy in relation.policies
        if any(
            judge(text, context.tenancy.context).fragile_cast
            for text in (policy.using, policy.check)
            if text
        )
        or policy.calls_functions
    )


# -- side channels ------------------------------------------------------------------------------


@probe(
    "RP107",
    "unique-side-channel",
    Severity.WARNING,
    "Inserting a value another tenant holds behaves like inserting a fresh one",
    attacks=(10,),
    fixes_from=("RG401",),
    objects=_tables_with_guessable_unique_keys,
)
def unique_side_channel(context: ProbeContext, table: str, example: Example) -> None:
    """As tenant A, insert a row whose unique key copies a row of tenant B, and one with
    a fresh value: if only the copy fails (duplicate key), A has learnt what B holds."""
    plan = example.planner.plan(table)
    actor, other = _two_tenants(example)
    victim = _populate(example, table, [other], least=1)[other][0]
    keys = _side_channel_keys(context.tenancy, table)
    key = keys[example.data.draw(st.integers(0, len(keys) - 1), label="unique key")]
    copied = _new_row(example, table, actor, {name: victim.values[name] for name in key})
    fresh = _new_row(example, table, actor)
    context.session.as_role(context.app, actor)
    with_copy = context.session.attempt(*insert_statement(table, copied, plan, returning=False))
    with_fresh = context.session.attempt(*insert_statement(table, fresh, plan, returning=False))
    if with_copy.error_code == "23505" and not with_fresh.failed:
        shown = ", ".join(f"{name}={victim.values[name]!r}" for name in key)
        raise _fail(
            f"as tenant {actor}, inserting ({shown}), which another tenant holds, fails with a "
            f"duplicate key while a fresh value succeeds: the error tells the tenant it exists"
        )


@probe(
    "RP108",
    "fk-side-channel",
    Severity.ERROR,
    "A row cannot reference another tenant's parent row",
    attacks=(11,),
    fixes_from=("RG402",),
    objects=_tables_with_tenant_parents,
)
def fk_side_channel(context: ProbeContext, table: str, example: Example) -> None:
    """As tenant A, insert a row whose foreign key points at tenant B's parent row
    (foreign-key checks ignore RLS): it must be rejected."""
    plan = example.planner.plan(table)
    actor, other = _two_tenants(example)
    foreign_keys = tenant_foreign_keys(context.tenancy, plan.relation)
    foreign_key = foreign_keys[
        example.data.draw(st.integers(0, len(foreign_keys) - 1), label="foreign key")
    ]
    assert foreign_key.references is not None
    parent = example.insert(foreign_key.references, other)
    pointing = {
        own: parent.values[referenced]
        for own, referenced in zip(foreign_key.columns, foreign_key.referenced_columns, strict=True)
    }
    values = example.values_for(table, actor, pointing)
    context.session.as_role(context.app, actor)
    outcome = context.session.attempt(*insert_statement(table, values, plan, returning=False))
    if not outcome.failed and outcome.rowcount:
        raise _fail(
            f"as tenant {actor}, {context.app} inserted a row of {table} that references another "
            f"tenant's row of {foreign_key.references} ({foreign_key.name})"
        )


# -- the admin bypass ---------------------------------------------------------------------------


@probe(
    "RP109",
    "admin-bypass",
    Severity.ERROR,
    "Each admin role reads every tenant's rows and writes for any tenant",
    attacks=(22,),
    fixes_from=("RG601",),
    objects=_admin_tables,
)
def admin_bypass(context: ProbeContext, table: str, example: Example) -> None:
    """Rows of several tenants; each admin role reads all of them and, where it holds the
    privilege, inserts a row for another tenant and updates and deletes one."""
    tenancy = context.tenancy
    plan = example.planner.plan(table)
    tenants = _tenants(example)
    rows = _populate(example, table, tenants, least=1)
    everything = set().union(*(_keys(found, plan) for found in rows.values()))
    target = rows[tenants[-1]][0]
    for admin in context.admins:
        context.session.as_setup()
        context.session.as_role(admin, None, context="empty")
        read = _select_keys(context, plan)
        missing = everything - set(read.rows)
        if read.failed or missing:
            detail = (
                read.error
                if read.failed
                else f"{len(missing)} of {len(everything)} rows are missing"
            )
            raise _fail(f"admin role {admin} cannot read every tenant's rows of {table}: {detail}")
        relation = plan.relation
        if tenancy.has(admin, "UPDATE", relation):
            column = sql.Identifier(_noop_column(relation, tenancy))
            condition, values = _where_key(plan, target)
            updated = context.session.attempt(
                sql.SQL("UPDATE {} SET {} = {} WHERE {}").format(
                    table_identifier(table), column, column, condition
                ),
                values,
            )
            if updated.failed or updated.rowcount != 1:
                raise _fail(
                    f"admin role {admin} cannot update a tenant's row of {table}: "
                    f"{updated.describe()}"
                )
        root = tenancy.tenant_root.qualified if tenancy.tenant_root else None
        if tenancy.has(admin, "INSERT", relation) and table != root:
            context.session.as_setup()
            # a row for a tenant that already has rows (its parents exist), unless the
            # table allows one row per tenant
            owner = example.new_tenant() if plan.one_per_tenant else tenants[0]
            new_row = example.values_for(table, owner)
            context.session.as_role(admin, None, context="empty")
            inserted = context.session.attempt(
                *insert_statement(table, new_row, plan, returning=False)
            )
            if inserted.failed:
                raise _fail(
                    f"admin role {admin} cannot insert a row of {table} for a tenant: "
                    f"{inserted.error}"
                )
        if tenancy.has(admin, "DELETE", relation):
            condition, values = _where_key(plan, target)
            deleted = context.session.attempt(
                sql.SQL("DELETE FROM {} WHERE {}").format(table_identifier(table), condition),
                values,
            )
            if deleted.error_code not in (None, "23503") or (
                not deleted.failed and deleted.rowcount != 1
            ):
                raise _fail(
                    f"admin role {admin} cannot delete a tenant's row of {table}: "
                    f"{deleted.describe()}"
                )


# -- roles ----------------------------------------------------------------------------------------


@probe(
    "RP110",
    "role-reachability",
    Severity.ERROR,
    "The application cannot become a privileged role, and RLS is active for it",
    attacks=(3, 8),
    fixes_from=("RG201", "RG202", "RG203"),
    objects=_app,
    deterministic=True,
)
def role_reachability(context: ProbeContext, role: str, _example: Example) -> None:
    """As the application: ``SET ROLE`` into each admin, superuser and BYPASSRLS role must
    fail, and ``row_security_active()`` must be true on every RLS tenant table."""
    tenancy = context.tenancy
    targets = sorted(
        {admin.name for admin in tenancy.admins}
        | {item.name for item in tenancy.catalog.roles.values() if item.superuser or item.bypassrls}
    )
    # SET ROLE is checked against the session user, so become the application for the
    # whole session (as it would be when it logs in), not just the current role.
    context.session.execute(
        sql.SQL("SET LOCAL SESSION AUTHORIZATION {}").format(sql.Identifier(role))
    )
    context.session.identity = role
    for target in targets:
        if target == role:
            continue
        became = context.session.attempt(sql.SQL("SET ROLE {}").format(sql.Identifier(target)))
        if not became.failed:
            raise _fail(f"{role} can SET ROLE {target}")
    for relation in tenancy.tenant_relations:
        if not relation.rls_enabled or tenancy.is_child(relation):
            continue
        active = context.session.attempt(
            "SELECT row_security_active(%s::regclass)", (relation.qualified,)
        )
        if not active.failed and active.rows and active.rows[0][0] is False:
            raise _fail(f"row level security is not active for {role} on {relation.qualified}")


# -- other doors ---------------------------------------------------------------------------


@probe(
    "RP111",
    "view-leak",
    Severity.ERROR,
    "What a tenant sees through a view does not change when another tenant adds rows",
    attacks=(12, 14, 19),
    fixes_from=("RG501", "RG502", "RG505"),
    objects=_readable_views,
)
def view_leak(context: ProbeContext, view: str, example: Example) -> None:
    """Rows of tenant A in the tables behind the view; as A, read the view; add rows of
    tenant B; as A, read it again: the two reads must be equal (a materialized view is
    refreshed before each read)."""
    tenancy = context.tenancy
    relation = tenancy.catalog.relations[view]
    bases = [name for name in relation.reads if name in tenancy.tenant_tables]
    actor, other = _two_tenants(example)
    for base in bases:
        _populate(example, base, [actor], least=1)
    before = _read_view(context, relation, actor)
    for base in bases:
        _populate(example, base, [other], least=1)
    after = _read_view(context, relation, actor)
    if sorted(map(repr, before.rows)) != sorted(map(repr, after.rows)):
        raise _fail(
            f"as tenant {actor}, {view} shows {len(after.rows)} row(s) after another tenant added "
            "rows "
            f"(it showed {len(before.rows)} before): the view shows other tenants' data"
        )


def _read_view(context: ProbeContext, relation: Relation, tenant: Any) -> Answer:
    context.session.as_setup()
    if relation.kind == "materialized view":
        context.session.execute(
            sql.SQL("REFRESH MATERIALIZED VIEW {}").format(table_identifier(relation.qualified))
        )
    context.session.as_role(context.app, tenant)
    outcome = context.session.attempt(
        sql.SQL("SELECT * FROM {}").format(table_identifier(relation.qualified))
    )
    context.session.as_setup()
    return outcome


_TYPE_FAMILIES = {
    "uuid": "uuid",
    "text": "text",
    "character varying": "text",
    "varchar": "text",
    "character": "text",
    "smallint": "integer",
    "integer": "integer",
    "bigint": "integer",
}


def _family(type_name: str) -> str | None:
    """Types a value can be passed as without a cast: varchar(255) data fits a text argument."""
    return _TYPE_FAMILIES.get(type_name.split("(", 1)[0].strip())


@probe(
    "RP112",
    "definer-function-leak",
    Severity.ERROR,
    "SECURITY DEFINER functions tell a tenant nothing about another tenant's rows",
    attacks=(13,),
    fixes_from=("RG503", "RG504"),
    objects=_definer_functions,
)
def definer_function_leak(context: ProbeContext, signature: str, example: Example) -> None:
    """Rows of tenant B in every tenant table; as tenant A, call the function with values
    taken from B's rows, and with values nobody has: the answers must be the same."""
    tenancy = context.tenancy
    function = tenancy.catalog.functions[signature]
    types = _argument_types(function.arguments)
    families = [_family(kind) for kind in types]
    if None in families:
        raise CannotGenerate(
            f"cannot call {signature} with another tenant's values because rlsguard does not "
            f"fill in arguments of type {types[families.index(None)]}"
        )
    actor, other = _two_tenants(example)
    values_of_other: dict[str, list[Any]] = {family: [] for family in families if family}
    for table in _tenant_tables(tenancy):
        try:
            rows = _populate(example, table, [other], least=1)[other]
        except (CannotGenerate, SetupFailed):
            continue
        for row in rows:
            for column in example.planner.plan(table).relation.columns:
                value = row.values.get(column.name)
                family = _family(column.type)
                if family in values_of_other and value is not None:
                    values_of_other[family].append(value)
    missing = [family for family, found in values_of_other.items() if not found]
    if missing:
        raise CannotGenerate(
            f"cannot call {signature} with another tenant's values because no column of the "
            f"tenant tables holds a {missing[0]} value"
        )
    unknown = [_nobody_has(family, example) for family in families if family]
    call = sql.SQL("SELECT * FROM {}({})").format(
        sql.SQL(".").join(map(sql.Identifier, (function.schema, function.name))),
        sql.SQL(", ").join(sql.Placeholder() * len(types)),
    )
    context.session.as_role(context.app, actor)
    with_nobody = context.session.attempt(call, unknown)
    # Every value of B's rows (up to MAX_CALLS combinations), not one drawn: the one that
    # leaks (a key, an email) is a needle among B's values.
    pools = [list(dict.fromkeys(values_of_other[family])) for family in families if family]
    for chosen in itertools.islice(itertools.product(*pools), MAX_CALLS):
        with_other = context.session.attempt(call, list(chosen))
        if (
            repr(with_other.rows) != repr(with_nobody.rows)
            or with_other.error_code != with_nobody.error_code
        ):
            raise _fail(
                f"as tenant {actor}, {signature} answers differently for another tenant's "
                f"values {list(chosen)!r} ({with_other.describe()}) than for values nobody has "
                f"({with_nobody.describe()})"
            )


MAX_CALLS = 40  # calls of a definer function per example


def _argument_types(arguments: str) -> list[str]:
    types = []
    for argument in filter(None, (part.strip() for part in arguments.split(","))):
        words = argument.split()
        if words[0].upper() in ("IN", "INOUT", "VARIADIC"):
            words = words[1:]
        types.append(" ".join(words[1:]) if len(words) > 1 else words[0])
    return types


def _nobody_has(kind: str, example: Example) -> Any:
    serial = 900_000_000 + example.next_serial()
    if kind == "uuid":
        return uuid.UUID(int=serial)
    if kind in ("integer", "bigint"):
        return serial
    return f"nobody-{serial}"


@probe(
    "RP113",
    "partition-leak",
    Severity.ERROR,
    "Read directly, a partition or child table shows a tenant only its own rows",
    attacks=(15,),
    fixes_from=("RG103",),
    objects=_children,
)
def partition_leak(context: ProbeContext, table: str, example: Example) -> None:
    """Rows of two tenants put straight into the partition (or inheritance child); as
    one tenant, read the child table by name: only that tenant's rows may show."""
    tenancy = context.tenancy
    relation = tenancy.catalog.relations[table]
    column = tenancy.settings.tenant_column
    overrides = partition_values(tenancy, relation)
    actor, other = _two_tenants(example)
    for tenant in (actor, other):
        example.insert(table, tenant, overrides)
    context.session.as_role(context.app, actor)
    outcome = context.session.attempt(
        sql.SQL("SELECT {} FROM {}").format(sql.Identifier(column), table_identifier(table))
    )
    strangers = [row for row in outcome.rows if row[0] != actor]
    if strangers:
        raise _fail(
            f"as tenant {actor}, reading {table} directly shows {len(strangers)} row(s) of other "
            "tenants"
        )


@probe(
    "RP114",
    "truncate",
    Severity.ERROR,
    "The application cannot TRUNCATE tenant tables",
    attacks=(17,),
    fixes_from=("RG506",),
    objects=_tenant_tables,
    deterministic=True,
)
def truncate(context: ProbeContext, table: str, example: Example) -> None:
    """As a tenant, TRUNCATE the table (TRUNCATE ignores RLS): it must be refused for
    lack of privilege, with and without CASCADE. TRUNCATE takes the whole table or
    nothing, whatever the rows hold, so one example with another tenant's row proves it."""
    actor, other = _two_tenants(example)
    _populate(example, table, [other], least=1)
    context.session.as_role(context.app, actor)
    for cascade in ("", " CASCADE"):
        outcome = context.session.attempt(
            sql.SQL("TRUNCATE {}" + cascade).format(table_identifier(table))
        )
        if not outcome.failed:
            raise _fail(
                f"as tenant {actor}, {context.app} emptied {table} for every tenant with "
                f"TRUNCATE{cascade}"
            )
        if outcome.error_code in READ_ONLY_ERRORS:
            return
