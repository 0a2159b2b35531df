"""Rows for any table, made up by Hypothesis from the catalog: parents first (walking the
foreign keys, always within the row's tenant), unique keys kept unique, CHECK
constraints of the common shapes respected, defaults, identity and generated columns
left to the database.

The rows of an example are inserted by the setup role (the connection's own, which
must bypass RLS) inside the example's transaction, which is rolled back.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import psycopg2.extras
from psycopg2 import sql

from rlsguard.probes.drawing import draw
from rlsguard.probes.lazy import st
from rlsguard.probes.partitions import route
from rlsguard.probes.plans import LEFT_TO_DEFAULT, Planner, TablePlan
from rlsguard.probes.transcript import Session, SetupFailed, refusal_of
from rlsguard.probes.values import CannotGenerate, adapt, make_unique
from rlsguard.schema.catalog import Column
from rlsguard.schema.tenancy import Tenancy
from rlsguard.server.driver import quote_ident

psycopg2.extras.register_uuid()  # type: ignore[no-untyped-call]


@dataclass
class Row:
    table: str
    tenant: Any | None
    values: dict[str, Any]

    def key(self, columns: tuple[str, ...]) -> tuple[Any, ...]:
        return tuple(self.values[column] for column in columns)


@functools.cache
def table_identifier(qualified: str) -> sql.Composable:
    schema, name = qualified.split(".", 1)
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def _referencing_itself(plan: TablePlan, values: dict[str, Any], given: set[str]) -> dict[str, Any]:
    """A NOT NULL foreign key of a table to itself: the first row can only reference
    itself (a root), which one INSERT may do when the row's key is known beforehand."""
    for link in plan.links:
        if link.parent != plan.table or not link.required or given.issuperset(link.columns):
            continue
        unknown = [name for name in link.referenced if values.get(name) is None]
        if unknown:
            raise CannotGenerate(
                f"cannot generate rows for {plan.table} because its foreign key "
                f"({', '.join(link.columns)}) to itself is NOT NULL and the server fills "
                f"{', '.join(unknown)}, so no first row can reference itself"
            )
        for own, referenced in zip(link.columns, link.referenced, strict=True):
            values[own] = values[referenced]
    return values


@dataclass(frozen=True)
class World:
    """Tenants and their rows of ``table`` made once for several properties of it."""

    table: str
    tenants: list[Any]
    rows: dict[Any, list[Row]]


# what an example holds at a savepoint: its rows by table, its tenants, its members
Saved = tuple[dict[str, list[Row]], list[Any], dict[Any, Any]]


@dataclass
class Example:
    """The rows of one Hypothesis example."""

    session: Session
    planner: Planner
    data: st.DataObject
    rows: dict[str, list[Row]] = field(default_factory=dict)
    tenants: list[Any] = field(default_factory=list)
    serial: int = 0
    salt: int = 0x5EED
    world: World | None = None  # rows made before the property, shared with others
    # principals known only by the membership's column (no table of principals), by tenant
    members: dict[Any, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.attach(self.session)

    def attach(self, session: Session) -> None:
        """Carry on on ``session``, which finds the example's principals through it."""
        self.session = session
        session.principal_of = self.principal_of

    @property
    def tenancy(self) -> Tenancy:
        return self.planner.tenancy

    # -- principals ---------------------------------------------------------------------------

    def principal_of(self, tenant: Any) -> Any:
        """The key of the principal who acts for ``tenant`` (made, with its membership, on
        first use); None when the tenancy has no principals. Without a table of principals
        (the users live elsewhere: an identity provider) a principal is a new value of the
        membership's principal column, and its membership the row that makes it one."""
        table, key = self.tenancy.principal_table, self.tenancy.principal_key
        if table is not None:
            return None if key is None else self.parent_for(table.qualified, tenant).values[key]
        membership, member_table = self.tenancy.settings.membership, self.tenancy.membership_table
        if membership is None or member_table is None or tenant is None:
            return None
        if tenant not in self.members:
            principal = self.fresh_principal_id()
            self.insert(
                member_table.qualified,
                tenant,
                {membership.principal: principal, membership.tenant: tenant},
            )
            self.members[tenant] = principal
        return self.members[tenant]

    def fresh_principal_id(self) -> Any:
        """A principal no row of the database names: of the membership's principal column's
        type, above any number a real one could be."""
        membership, member_table = self.tenancy.settings.membership, self.tenancy.membership_table
        column = (
            None
            if membership is None or member_table is None
            else member_table.column(membership.principal)
        )
        if column is None or column.type == "uuid":
            return self.key_uuid()
        if column.type_category == "N":
            return 2_000_000_000 + self.next_serial()  # within an integer, past what is used
        return f"p{self.salt & 0xFFFF:x}-{self.next_serial()}"

    def _new_member(self, table: str, overrides: dict[str, Any]) -> dict[str, Any]:
        """A new membership is for a principal who is in no tenant yet: every principal
        made for a tenant is already a member of it."""
        membership, member_table = self.tenancy.settings.membership, self.tenancy.membership_table
        principals, key = self.tenancy.principal_table, self.tenancy.principal_key
        if (
            membership is None
            or member_table is None
            or table != member_table.qualified
            or membership.principal in overrides
        ):
            return overrides
        if principals is None:  # principals known only by the membership: a new value
            return {**overrides, membership.principal: self.fresh_principal_id()}
        if key is None:
            return overrides
        outsider = self.insert(principals.qualified, None)
        return {**overrides, membership.principal: outsider.values[key]}

    def _enrol(self, principal: Row) -> None:
        """A new principal of a tenant becomes a member of it."""
        membership = self.tenancy.settings.membership
        key = self.tenancy.principal_key
        if membership is None or key is None or principal.tenant is None:
            return
        table = self.tenancy.membership_table
        assert table is not None
        self.insert(
            table.qualified,
            principal.tenant,
            {membership.principal: principal.values[key], membership.tenant: principal.tenant},
        )

    def saved(self) -> Saved:
        rows = {table: list(made) for table, made in self.rows.items()}
        return rows, list(self.tenants), dict(self.members)

    def restore(self, saved: Saved) -> None:
        """Forget rows made since ``saved()`` (their savepoint was rolled back); serials
        go on, so keys made later are still new."""
        rows, tenants, members = saved
        self.rows = {table: list(made) for table, made in rows.items()}
        self.tenants = list(tenants)
        self.members = dict(members)

    def next_serial(self) -> int:
        """A number no other row of the example, nor of another lane's (probes/lanes.py), has."""
        self.serial += 1
        return self.planner.lane.number(self.serial)

    def key_uuid(self) -> uuid.UUID:
        """A UUID key no other row has: the run's salt and a serial. Keys are not drawn by
        Hypothesis: it has nothing to shrink in them, and a seed still reproduces them."""
        return uuid.UUID(int=(self.salt << 64) | (self.next_serial() << 16) | 0x4000)

    # -- tenants ------------------------------------------------------------------------------

    def new_tenant(self) -> Any:
        return self.make_tenant(self.fresh_tenant_id())

    def make_tenant(self, tenant: Any) -> Any:
        """The tenant ``tenant`` (its row in the tenant table, when there is one)."""
        root = self.tenancy.tenant_root
        if root is not None:
            self.insert(root.qualified, tenant, {self.tenancy.tenant_key: tenant})
        self.tenants.append(tenant)
        return tenant

    def named_tenant(self, text: str) -> Any:
        """The tenant whose id the database names (a default of the tenant setting), made
        like any other; CannotGenerate when the text is no id of the tenant column's type."""
        sample = self.tenancy.tenant_column_sample
        try:
            if sample is None or sample.type == "uuid":
                tenant: Any = uuid.UUID(text)
            elif sample.type_category == "N":
                tenant = int(text)
            else:
                tenant = text
        except ValueError:
            raise CannotGenerate(
                f"cannot make tenant {text!r}, which the database gives the tenant setting by "
                "default: it is not an id of the tenant column's type"
            ) from None
        return self.make_tenant(tenant)

    def fresh_tenant_id(self) -> Any:
        sample = self.tenancy.tenant_column_sample
        if sample is None or sample.type == "uuid":
            return self.key_uuid()
        if sample.type_category == "N":
            floor = self.planner.tenant_floor
            base = 1_000_000 if floor is None else floor
            return max(self.planner.existing.tenant_ceiling, base) + self.next_serial()
        return f"t{self.salt & 0xFFFF:x}-{self.next_serial()}"  # the salt keeps real ids out

    # -- rows ---------------------------------------------------------------------------------

    def values_for(
        self,
        table: str,
        tenant: Any | None,
        overrides: dict[str, Any] | None = None,
        stack: tuple[str, ...] = (),
        *,
        drawn: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Values for a new row of ``table`` owned by ``tenant`` (parents are inserted);
        ``drawn``: the row's drawn columns, when the caller drew them already."""
        plan = self.planner.plan(table)
        overrides = self._new_member(table, dict(overrides or {}))
        values = self._parent_values(plan, table, tenant, overrides, stack)
        column = self.tenancy.settings.tenant_column
        if plan.relation.column(column) is not None and tenant is not None:
            values[column] = tenant
        if plan.relation.kind == "partitioned table":
            routed = route(
                self.tenancy, plan.relation, {**values, **overrides}, self.planner.tenant_floor
            )
            values.update(routed)
        missing = [
            column
            for column in plan.supplied
            if column.name not in values and column.name not in overrides
        ]
        if drawn is None:
            drawn = (
                plan.named(draw(self.data, plan.row_strategy))
                if plan.strategies and missing
                else {}
            )
        for supplied in missing:
            value = drawn.get(supplied.name, plan.settled.get(supplied.name))
            if value is not LEFT_TO_DEFAULT:  # else the INSERT leaves it to its default
                values[supplied.name] = self._finished_value(plan, supplied, value)
        values.update(overrides)
        return _referencing_itself(plan, values, set(overrides))

    def _parent_values(
        self,
        plan: TablePlan,
        table: str,
        tenant: Any | None,
        overrides: dict[str, Any],
        stack: tuple[str, ...],
    ) -> dict[str, Any]:
        """Foreign-key columns of a new row, pointing at parents that exist (or NULL in a cycle)."""
        values: dict[str, Any] = {}
        column = self.tenancy.settings.tenant_column
        root = self.tenancy.tenant_root
        for link in plan.links:
            if all(name in overrides for name in link.columns):
                continue
            if root is not None and link.parent == root.qualified and link.columns == (column,):
                continue
            if link.parent == table and link.required:
                continue  # the row references itself: see _referencing_itself
            cycle = not link.required and self.planner.leads_back(link.parent, table)
            if link.parent == table or link.parent in stack or cycle:
                if link.required:
                    raise CannotGenerate(
                        f"cannot generate rows for {table} because its foreign key "
                        f"({', '.join(link.columns)}) to {link.parent} is NOT NULL and leads "
                        "back to it: rows of a cycle are made with a nullable link left NULL, "
                        "and deferred constraints or a row that references itself are not made"
                    )
                values.update(dict.fromkeys(link.columns))
                continue
            owner = tenant if self.tenancy.owned_by_tenants(link.parent) else None
            parent = self.parent_for(link.parent, owner, (*stack, table))
            for own, referenced in zip(link.columns, link.referenced, strict=True):
                values[own] = parent.values[referenced]
        return values

    def _finished_value(self, plan: TablePlan, supplied: Column, drawn: Any) -> Any:
        if supplied.name in plan.generated_keys:
            return self.key_uuid()
        if drawn is not None and supplied.name in plan.unique:
            above = self.planner.existing.above(plan.table, supplied.name)
            return make_unique(drawn, supplied, self.next_serial(), above)
        return drawn

    def insert(
        self,
        table: str,
        tenant: Any | None,
        overrides: dict[str, Any] | None = None,
        stack: tuple[str, ...] = (),
        *,
        drawn: dict[str, Any] | None = None,
    ) -> Row:
        """Insert a row as the setup role and remember it."""
        values = self.values_for(table, tenant, overrides, stack, drawn=drawn)
        plan = self.planner.plan(table)
        self.session.as_setup()
        if self.planner.knows_enough(plan, values):
            # Everything later steps need of this row is in ``values``: send it with the
            # next statement instead of waiting for it now (one round trip for many).
            self.session.defer(table, *insert_statement(table, values, plan, returning=False))
            row = Row(table, tenant, dict(values))
        else:
            try:
                outcome = self.session.execute(*insert_statement(table, values, plan))
            except psycopg2.Error as error:  # the example ends: its transaction is rolled back
                statement = self.session.transcript.steps[-1].statement
                raise SetupFailed(table, refusal_of(error), statement) from None
            if not outcome.rows:
                raise SetupFailed(table, "it stored no row (a trigger or rule on INSERT)")
            row = Row(table, tenant, dict(zip(plan.returning, outcome.rows[0], strict=True)))
        self.rows.setdefault(table, []).append(row)
        principals = self.tenancy.principal_table
        if principals is not None and table == principals.qualified:
            self._enrol(row)
        return row

    def parent_for(self, table: str, tenant: Any | None, stack: tuple[str, ...] = ()) -> Row:
        for row in self.rows.get(table, ()):
            if row.tenant == tenant:
                return row
        return self.insert(table, tenant, None, stack)

    def recognizer(self) -> Callable[[tuple[Any, ...]], bool]:
        """Tells whether a row read back is one this example made: it carries one of the
        example's tenant ids (fresh: no row already there has one), or all its values
        are of the example's rows. Transcripts show the values of these only."""
        tenants = {repr(tenant) for tenant in self.tenants}
        values = {
            repr(value)
            for rows in self.rows.values()
            for made in rows
            for value in made.values.values()
        }

        def made(row: tuple[Any, ...]) -> bool:
            shown = [repr(value) for value in row]
            return any(value in tenants for value in shown) or all(
                value in values for value in shown
            )

        return made

    def rows_of(self, table: str, tenant: Any | None) -> list[Row]:
        return [row for row in self.rows.get(table, ()) if row.tenant == tenant]


def insert_statement(
    table: str, values: dict[str, Any], plan: TablePlan, *, returning: bool = True
) -> tuple[str, list[Any]]:
    """INSERT of one row; without ``returning`` for probes: RETURNING makes PostgreSQL check
    the new row against the SELECT policies too, which would hide a write the INSERT
    policies let through."""
    columns = tuple(values)
    adapted = [adapt(plan.relation.column(name), values[name]) for name in columns]
    # a GENERATED ALWAYS identity given a value: the tenant table's key, set to the tenant id
    overriding = any(
        (column := plan.relation.column(name)) is not None and column.identity == "a"
        for name in columns
    )
    text = _insert_text(table, columns, plan.returning if returning else (), overriding)
    return text, adapted


@functools.lru_cache(maxsize=4096)
def _insert_text(
    table: str, columns: tuple[str, ...], returning: tuple[str, ...], overriding: bool = False
) -> str:
    """The INSERT's text with %s placeholders; the same few shapes recur in every example."""
    text = (
        f"INSERT INTO {quoted(table.split('.', 1), '.')} ({quoted(columns)}) "
        f"{'OVERRIDING SYSTEM VALUE ' if overriding else ''}"
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    return f"{text} RETURNING {quoted(returning)}" if returning else text


def quoted(items: Iterable[str], separator: str = ", ") -> str:
    """Identifiers quoted for a statement's text that goes through %s formatting."""
    return separator.join(quote_ident(item).replace("%", "%%") for item in items)
