"""How to make rows for each table, read once from the catalog: the columns rlsguard
supplies and the strategies that draw them, the foreign keys to fill from parents, the
unique keys to keep unique, the CHECK constraints of the common shapes to respect.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rlsguard.probes.existing import Existing
from rlsguard.probes.lazy import st
from rlsguard.probes.partitions import tenant_id_floor
from rlsguard.probes.values import (
    NO_SETTLED_VALUE,
    PLAIN_TEXT_LIMIT,
    CannotGenerate,
    Restriction,
    column_strategy,
    domain_checks,
    marker_column,
    plain_text,
    restrictions,
    settled_value,
)
from rlsguard.schema.catalog import Column, Relation
from rlsguard.schema.tenancy import Tenancy


@dataclass(frozen=True)
class Link:
    """A foreign key, seen from the row that needs a parent."""

    columns: tuple[str, ...]
    parent: str
    referenced: tuple[str, ...]
    required: bool


@dataclass(frozen=True)
class TablePlan:
    relation: Relation
    supplied: tuple[Column, ...]
    strategies: dict[str, st.SearchStrategy[Any]]
    nullable: frozenset[str]
    unique: frozenset[str]
    links: tuple[Link, ...]
    key: tuple[str, ...]
    unknown_checks: tuple[str, ...] = ()
    generated_keys: frozenset[str] = frozenset()  # UUID keys rlsguard makes itself
    # columns with a default that a policy names: a row leaves some of them to it
    may_default: frozenset[str] = frozenset()
    # columns nothing reads, and the one value each row gets (``settled_columns``)
    settled: dict[str, Any] = field(default_factory=dict, compare=False)
    # a unique key made of the tenant column and foreign keys (whose parents are reused
    # per tenant) allows one row per tenant
    one_per_tenant: bool = False
    _row_lists: dict[tuple[int, int], st.SearchStrategy[list[tuple[Any, ...]]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def table(self) -> str:
        return self.relation.qualified

    @property
    def returning(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.relation.columns)

    @property
    def primary_keyed(self) -> bool:
        """Rows are told apart by a primary key: unique and never NULL, so a row is found
        by its key alone (the key of a table without one is every column)."""
        return any(index.primary for index in self.relation.indexes)

    def rows_strategy(self, least: int, most: int) -> st.SearchStrategy[list[tuple[Any, ...]]]:
        """Between ``least`` and ``most`` rows in one draw (each ``named`` gives its columns)."""
        key = (least, most)
        if key not in self._row_lists:
            self._row_lists[key] = st.lists(self.row_strategy, min_size=least, max_size=most)
        return self._row_lists[key]

    @functools.cached_property
    def row_strategy(self) -> st.SearchStrategy[tuple[Any, ...]]:
        """Every drawn column of a row in one draw: an interactive draw costs more than
        the value it draws, so a row is one draw, not one per column. A plain tuple (see
        ``named``): ``fixed_dictionaries`` also shuffles its keys, a choice per column
        that only changes a dictionary's order, and a ``map`` to a dictionary costs
        another layer of drawing."""
        return st.tuples(
            *(self._drawn(name, strategy) for name, strategy in self.strategies.items())
        )

    def _drawn(self, name: str, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        if name in self.nullable:
            strategy = st.none() | strategy
        return st.just(LEFT_TO_DEFAULT) | strategy if name in self.may_default else strategy

    def named(self, drawn: tuple[Any, ...]) -> dict[str, Any]:
        """A drawn row's values by column."""
        return dict(zip(self.strategies, drawn, strict=True))


@dataclass(frozen=True)
class Lane:
    """One of ``count`` processes that make rows in one database at once (probes/lanes.py)."""

    index: int = 0
    count: int = 1

    def number(self, serial: int) -> int:
        """The ``serial``-th number of this lane: no other lane has it (alone, ``serial``)."""
        return serial * self.count + self.index


class Planner:
    """How to make rows for each table; plans and failures are kept for the run."""

    def __init__(self, tenancy: Tenancy, existing: Existing | None = None) -> None:
        self.tenancy = tenancy
        self.existing = existing or Existing()  # what generated values must stay above
        self._plans: dict[str, TablePlan | CannotGenerate] = {}
        self._referenced: dict[str, set[str]] = {}
        self._leads_back: dict[tuple[str, str], bool] = {}
        self._in_policies = names_in_policies(tenancy)
        # every policy's words, not only the table's own: a policy may read another table
        words = words_in_policies(tenancy)
        self._policy_words = st.sampled_from(words) if words else None
        self._read_elsewhere = (
            self._in_policies
            | names_in_views_and_partition_keys(tenancy)
            | identifiers(function.source for function in tenancy.catalog.functions.values())
        )
        # a policy calling a function of the schema's may read any column of a row
        self._functions_decide = any(
            policy.calls_functions
            for relation in tenancy.catalog.relations.values()
            for policy in relation.policies
        )
        self.tenant_floor = tenant_id_floor(tenancy)  # numeric tenant ids start here
        self.lane = Lane()  # whose numbers the rows made from these plans carry
        for relation in tenancy.catalog.relations.values():
            for foreign_key in relation.foreign_keys:
                if foreign_key.references:
                    self._referenced.setdefault(foreign_key.references, set()).update(
                        foreign_key.referenced_columns
                    )

    def leads_back(self, start: str, target: str) -> bool:
        """Does a chain of foreign keys from ``start`` reach ``target`` (a cycle, when
        ``target`` references ``start``)? Its nullable link is then left NULL."""
        if (start, target) not in self._leads_back:
            seen, todo, found = set(), [start], False
            while todo and not found:
                name = todo.pop()
                found = name == target
                relation = self.tenancy.catalog.relations.get(name)
                if name in seen or relation is None:
                    continue
                seen.add(name)
                todo.extend(key.references for key in relation.foreign_keys if key.references)
            self._leads_back[(start, target)] = found
        return self._leads_back[(start, target)]

    def knows_enough(self, plan: TablePlan, values: dict[str, Any]) -> bool:
        """Are the row's key, unique and referenced columns all among ``values``, so the
        database need not hand anything back?"""
        needed = set(plan.key) | plan.unique | self._referenced.get(plan.table, set())
        return needed <= values.keys()

    def plan(self, table: str) -> TablePlan:
        if table not in self._plans:
            try:
                self._plans[table] = self._make_plan(self.tenancy.catalog.relations[table])
            except CannotGenerate as error:
                self._plans[table] = CannotGenerate(
                    f"cannot generate rows for {table} because {error}"
                )
        found = self._plans[table]
        if isinstance(found, CannotGenerate):
            raise found
        return found

    def _make_plan(self, relation: Relation) -> TablePlan:
        limits, unknown = restrictions(relation.constraints + domain_checks(relation.columns))
        links = tuple(_links(relation))
        linked = {column for link in links for column in link.columns}
        tenant_column = self.tenancy.settings.tenant_column
        # Keys the server would fill with a random UUID are drawn here instead, so a
        # transcript replays with the same keys.
        keys = {
            name for index in relation.indexes if index.unique for name in index.columns if name
        }
        supplied, strategies, nullable, generated_keys = [], {}, set(), set()
        may_default: set[str] = set()
        for column in relation.columns:
            # A key the server numbers from a sequence is numbered here instead: rows
            # already there may sit above the sequence, and a sequence never rolls back.
            numbered = column.name in keys and _numbered_by_server(column)
            if (column.identity == "a" and not numbered) or column.generated:
                continue
            forced = column.name in linked or column.name == tenant_column
            own_key = column.name in keys and column.random_default
            if column.default is not None and not forced and not own_key and not numbered:
                if column.name in keys or column.name not in self._in_policies:
                    continue
                may_default.add(column.name)  # a policy reads it: its other values matter
            supplied.append(column)
            if forced:
                continue
            if own_key:
                generated_keys.add(column.name)
                continue
            restriction = limits.get(column.name, Restriction())
            strategies[column.name] = column_strategy(column, restriction)
            if (
                column.name in self._in_policies
                and self._policy_words is not None
                and plain_text(column)
                and column.name not in limits  # no CHECK to break
            ):
                # a policy comparing it with a word ('all') is met with that word too
                strategies[column.name] = self._policy_words | strategies[column.name]
            if not column.not_null and not restriction.not_null:
                nullable.add(column.name)
        unique = {
            name
            for index in relation.indexes
            if index.unique
            for name in index.columns
            if name is not None
        }
        primary = next((index.columns for index in relation.indexes if index.primary), None)
        if not unique:  # rows are addressed by every column: keep one column apart per row
            marker = marker_column([c for c in supplied if c.name not in may_default], strategies)
            if marker is not None:
                unique.add(marker)
                nullable.discard(marker)
        key = (
            tuple(name for name in primary if name)
            if primary
            else tuple(c.name for c in relation.columns)
        )
        constrained = unique | limits.keys() | names_constraints_read(relation)
        settled = self._settled_columns(relation, strategies, constrained, unknown)
        for name in settled:
            del strategies[name]
        settled = {name: None if name in nullable else value for name, value in settled.items()}
        nullable -= settled.keys()
        fixed_per_tenant = {tenant_column, *(name for link in links for name in link.columns)}
        return TablePlan(
            relation=relation,
            supplied=tuple(supplied),
            strategies=strategies,
            nullable=frozenset(nullable),
            unique=frozenset(unique),
            links=links,
            key=key,
            unknown_checks=tuple(unknown),
            generated_keys=frozenset(generated_keys),
            may_default=frozenset(may_default),
            settled=settled,
            one_per_tenant=any(
                index.unique and set(index.columns) <= fixed_per_tenant
                for index in relation.indexes
            ),
        )

    def _settled_columns(
        self,
        relation: Relation,
        strategies: dict[str, Any],
        constrained: set[str],
        unknown_checks: list[str],
    ) -> dict[str, Any]:
        """The drawn columns whose value nothing reads, with one value for every row: no
        policy, view, partition key or function of the schema's (a definer function's
        filter) names them, no key, unique index or CHECK holds them, and no trigger, rule
        or function a policy calls may read the row. Drawing them
        only cost time (a JSON document is dozens of choices); their value cannot change
        who reads or writes a row."""
        if (
            relation.triggers
            or relation.has_rules
            or unknown_checks
            or self._functions_decide
            or relation.name in self._in_policies  # a policy may read its whole rows
        ):
            return {}
        settled = {}
        for column in relation.columns:
            if column.name not in strategies or column.name in constrained:
                continue
            if column.name in self._read_elsewhere:
                continue
            value = settled_value(column)
            if value is not NO_SETTLED_VALUE:
                settled[column.name] = value
        return settled


class _LeftToDefault:
    """A drawn value that means: leave the column out of the INSERT, to its default."""

    def __repr__(self) -> str:
        return "DEFAULT"


LEFT_TO_DEFAULT = _LeftToDefault()
IDENTIFIER = re.compile(r'"((?:[^"]|"")+)"|\b([a-z_][a-z0-9_$]*)\b')


def identifiers(texts: Iterable[str | None]) -> frozenset[str]:
    """Every name the SQL ``texts`` write (quoted or not; words in literals too)."""
    return frozenset(
        quoted.replace('""', '"') if quoted else plain
        for text in texts
        for quoted, plain in IDENTIFIER.findall(text or "")
    )


def names_in_policies(tenancy: Tenancy) -> frozenset[str]:
    """Every name the server's policies write (columns among them): a column a policy
    reads is drawn even where it has a default, else the probes would only ever meet rows
    where it holds that default (a `public` flag that defaults to false)."""
    return identifiers(
        text
        for relation in tenancy.catalog.relations.values()
        for policy in relation.policies
        for text in (policy.using, policy.check)
    )


STRING_LITERAL = re.compile(r"'((?:[^']|'')*)'")


def words_in_policies(tenancy: Tenancy) -> tuple[str, ...]:
    """The string literals the policies write, short enough for any text column: a
    policy such as ``USING (visibility = 'all')`` opens on a word random text never is."""
    words = {
        literal.replace("''", "'")
        for relation in tenancy.catalog.relations.values()
        for policy in relation.policies
        for text in (policy.using, policy.check)
        for literal in STRING_LITERAL.findall(text or "")
    }
    return tuple(sorted(word for word in words if 0 < len(word) <= PLAIN_TEXT_LIMIT))


def names_in_views_and_partition_keys(tenancy: Tenancy) -> frozenset[str]:
    """Every name a view's query or a partition key writes: what a view shows, and where
    a row is stored, may depend on the columns they name."""
    return identifiers(
        text
        for relation in tenancy.catalog.relations.values()
        for text in (relation.definition, relation.partition_key)
    )


def names_constraints_read(relation: Relation) -> frozenset[str]:
    """The names a constraint of ``relation`` reads beyond its plain columns: CHECK and
    exclusion constraints, unique indexes' expressions and predicates, and the expressions
    of generated columns (a unique index may hold one)."""
    return identifiers(
        [
            *(item.definition for item in relation.constraints if item.kind in ("c", "x")),
            *(index.definition for index in relation.indexes if index.unique),
            *(column.default for column in relation.columns if column.generated),
        ]
    )


def _numbered_by_server(column: Column) -> bool:
    """An integer column filled from a sequence: an identity, or serial's nextval()."""
    return column.type_category == "N" and (
        bool(column.identity) or "nextval(" in (column.default or "")
    )


def _links(relation: Relation) -> list[Link]:
    links = []
    for foreign_key in relation.foreign_keys:
        assert foreign_key.references is not None
        required = all(
            (column := relation.column(name)) is not None and column.not_null
            for name in foreign_key.columns
        )
        links.append(
            Link(
                foreign_key.columns,
                foreign_key.references,
                foreign_key.referenced_columns,
                required,
            )
        )
    return links
