"""Tenant tables whose row security is the same, so that one proof serves them all.

Whom PostgreSQL shows a row of a plain table to, and lets write it, is decided by the
table's row security flags, its owner, the privileges on it and on its columns, its
policies and the columns they read, and the database's own functions a write runs (a CHECK
or a default that calls one may refuse it; a constraint's refusal proves nothing to a
probe, but a function can raise any error). Two tenant tables that agree on all of these,
with the policies' texts equal, behave alike under every property a
probe marks ``same_on_alike_tables``: such a property is proven on the first table of the
group and holds on the others (their evidence says on which table it was proven). Anything
else that can decide a row's fate makes a table be probed on its own: a trigger, a rule,
inheritance or partitions, a policy that names the table itself or reads its
``tableoid``, or being the tenants',
principals' or memberships' table (the probes make those rows differently).

A property marked ``alike_by_foreign_keys`` also depends on the table's foreign keys to
other tenant tables (a foreign key's check ignores row security): it is carried only
between tables whose such keys agree as well (their columns, the referenced columns and
table's row security, MATCH and deferral).

Spread over several workers, a big group is cut into parts of consecutive tables, each
proven on its own first table: a worker then proves what it reports, and the parts go to
different workers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from rlsguard.schema.catalog import Column, Constraint, Grant, Relation
from rlsguard.schema.targets import tenant_foreign_keys
from rlsguard.schema.tenancy import Tenancy

SMALLEST_PART = 8  # tables: a part's proof in full costs about what 8 tables' few examples do
_WORD = re.compile(r'"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*)')


class AlikeTables:
    """For each tenant table that is not the first of its group (or of its part of the
    group, spread over workers), the first one."""

    def __init__(self, tenancy: Tenancy, tables: Iterable[str], *, spread_over: int = 1) -> None:
        """``spread_over``: the workers the probes are spread over."""
        by_policies: dict[tuple[Any, ...], list[str]] = {}
        security = _RowSecurities(tenancy)
        if not tenancy.settings.probe_every_table:
            for table in tables:
                facts = security.of(table)
                if facts is not None:
                    by_policies.setdefault(facts, []).append(table)
        parts = [part for group in by_policies.values() for part in _parts(group, spread_over)]
        by_keys: dict[tuple[Any, ...], list[str]] = {}
        for number, part in enumerate(parts):
            for table in part:
                keys = _foreign_keys(tenancy, tenancy.catalog.relations[table], security)
                by_keys.setdefault((number, keys), []).append(table)
        self._model = _firsts(parts)
        self._model_by_keys = _firsts(by_keys.values())

    def model_of(self, table: str, *, foreign_keys: bool = False) -> str | None:
        """The table whose proofs hold for ``table`` (with ``foreign_keys``, for the
        properties its foreign keys to tenant tables decide as well); None when it is probed
        itself."""
        return (self._model_by_keys if foreign_keys else self._model).get(table)


def _parts(group: list[str], workers: int) -> list[list[str]]:
    """``group`` cut into up to two parts a worker, of SMALLEST_PART tables or more."""
    count = 1 if workers <= 1 else max(1, min(2 * workers, len(group) // SMALLEST_PART))
    size = math.ceil(len(group) / count)
    return [group[start : start + size] for start in range(0, len(group), size)]


def _firsts(groups: Iterable[list[str]]) -> dict[str, str]:
    return {table: group[0] for group in groups for table in group[1:]}


class _RowSecurities:
    """``row_security`` of each table, worked out once."""

    def __init__(self, tenancy: Tenancy) -> None:
        self.tenancy = tenancy
        relations = tenancy.catalog.relations.values()
        self._inherited = frozenset(parent for item in relations for parent in item.parents)
        self._known: dict[str, tuple[Any, ...] | None] = {}

    def of(self, table: str) -> tuple[Any, ...] | None:
        if table not in self._known:
            relation = self.tenancy.catalog.relations[table]
            self._known[table] = row_security(self.tenancy, relation, self._inherited)
        return self._known[table]


def row_security(
    tenancy: Tenancy, relation: Relation, inherited: frozenset[str]
) -> tuple[Any, ...] | None:
    """What decides which rows of ``relation`` a role sees and writes, without the table's
    name; None when something else may decide it as well (``inherited``: the tables that
    have children)."""
    if not _decided_by_policies_alone(tenancy, relation) or relation.qualified in inherited:
        return None
    texts = [text for policy in relation.policies for text in (policy.using, policy.check) if text]
    named = set().union(*(words(text) for text in texts))
    if relation.name in named or "tableoid" in named:
        return None  # the same text reads this table, or tells tables apart, on each
    tenant_column = tenancy.settings.tenant_column
    functions = {function.name for function in tenancy.catalog.functions.values()}

    def calls_own_code(text: str | None) -> bool:
        return text is not None and not words(text).isdisjoint(functions)

    policies = sorted(
        (policy.command, policy.permissive, tuple(sorted(policy.roles)), policy.using or "",
         policy.check or "")
        for policy in relation.policies
    )  # fmt: skip
    return (
        relation.owner,
        relation.rls_enabled,
        relation.rls_forced,
        relation.qualified in tenancy.append_only,
        tuple(policies),
        _grants(relation.grants),
        tuple(
            _column_facts(column)
            for column in relation.columns
            if column.name in named
            or column.name == tenant_column
            or calls_own_code(column.default)
            or any(calls_own_code(check) for check in column.domain_checks)
        ),
        tuple(
            sorted(
                (column.name, _grants(column.grants))
                for column in relation.columns
                if column.grants
            )
        ),
        tuple(
            sorted(
                item.definition
                for item in relation.constraints
                if item.kind == "c" and calls_own_code(item.definition)
            )
        ),
    )


def _foreign_keys(
    tenancy: Tenancy, relation: Relation, security: _RowSecurities
) -> tuple[Any, ...]:
    """What a row's foreign keys to tenant tables let it point at, without table names
    (a referenced table is told by its row security; one that has none of its own, by its
    name)."""
    keys = []
    for key in tenant_foreign_keys(tenancy, relation):
        assert key.references is not None
        parent = tenancy.catalog.relations[key.references]
        if parent.qualified == relation.qualified:
            referenced: object = "itself"
        else:
            referenced = security.of(parent.qualified) or parent.qualified
        keys.append(
            (
                _facts_of(relation, key.columns),
                _facts_of(parent, key.referenced_columns),
                referenced,
                _checked_when(key),
            )
        )
    return tuple(sorted(keys, key=repr))


def _facts_of(relation: Relation, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(
        _column_facts(column) if (column := relation.column(name)) else name for name in names
    )


def _checked_when(key: Constraint) -> tuple[str, ...]:
    """MATCH FULL or PARTIAL, and DEFERRABLE and INITIALLY DEFERRED, as the definition
    says them."""
    return tuple(
        sorted(words(key.definition) & {"match", "full", "partial", "deferrable", "deferred"})
    )


def words(text: str) -> set[str]:
    """The identifiers and keywords of an expression (a quoted name as it is spelt)."""
    return {
        quoted.replace('""', '"') if quoted else bare.lower()
        for quoted, bare in _WORD.findall(text)
    }


def _decided_by_policies_alone(tenancy: Tenancy, relation: Relation) -> bool:
    special = {
        item.qualified
        for item in (tenancy.tenant_root, tenancy.principal_table, tenancy.membership_table)
        if item is not None
    }
    return (
        relation.kind == "table"
        and not relation.parents
        and not relation.triggers
        and not relation.has_rules
        and not relation.insert_rewritten
        and relation.qualified not in special
        and relation.column(tenancy.settings.tenant_column) is not None
    )


def _grants(grants: tuple[Grant, ...]) -> tuple[tuple[str, str, bool], ...]:
    return tuple(sorted((grant.grantee, grant.privilege, grant.grantable) for grant in grants))


def _column_facts(column: Column) -> tuple[Any, ...]:
    return (
        column.name,
        column.type,
        column.not_null,
        column.default,
        column.identity,
        column.generated,
        column.domain_checks,
        column.collation,  # a nondeterministic one makes "=" match other texts
    )
