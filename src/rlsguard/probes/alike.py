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
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from rlsguard.schema.catalog import Column, Grant, Relation
from rlsguard.schema.tenancy import Tenancy

_WORD = re.compile(r'"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*)')


class AlikeTables:
    """For each tenant table that is not the first of its group, the first one."""

    def __init__(self, tenancy: Tenancy, tables: Iterable[str]) -> None:
        groups: dict[tuple[Any, ...], list[str]] = {}
        if not tenancy.settings.probe_every_table:
            for table in tables:
                facts = row_security(tenancy, tenancy.catalog.relations[table])
                if facts is not None:
                    groups.setdefault(facts, []).append(table)
        self._model = {table: group[0] for group in groups.values() for table in group[1:]}

    def model_of(self, table: str) -> str | None:
        """The table whose proofs hold for ``table``; None when it is probed itself."""
        return self._model.get(table)


def row_security(tenancy: Tenancy, relation: Relation) -> tuple[Any, ...] | None:
    """What decides which rows of ``relation`` a role sees and writes, without the table's
    name; None when something else may decide it as well."""
    if not _decided_by_policies_alone(tenancy, relation):
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
    has_children = any(
        relation.qualified in other.parents for other in tenancy.catalog.relations.values()
    )
    return (
        relation.kind == "table"
        and not relation.parents
        and not has_children
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
