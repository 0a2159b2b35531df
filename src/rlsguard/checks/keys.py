"""Fixes for keys that ignore the tenant: unique keys and foreign keys with the tenant
column added, and keys numbered from a sequence turned into random UUIDs."""

from __future__ import annotations

import re

from rlsguard.checks.remedies import ident, qualified
from rlsguard.schema.catalog import Column, Constraint, Index, Relation
from rlsguard.schema.tenancy import Tenancy

_COLUMN_LIST = re.compile(r"^(CREATE UNIQUE INDEX \S+ ON \S+ USING \w+ \()")


def _referenced(tenancy: Tenancy, relation: Relation, columns: tuple[str, ...]) -> bool:
    """Does a foreign key point at any of ``columns`` of ``relation``?"""
    return any(
        key.references == relation.qualified and set(key.referenced_columns) & set(columns)
        for other in tenancy.catalog.relations.values()
        for key in other.foreign_keys
    )


def unique_with_tenant(tenancy: Tenancy, relation: Relation, index: Index) -> str | None:
    """The unique index (or the constraint behind it) with the tenant column first;
    none while a foreign key still points at the old key (RG402's fix comes first)."""
    column = ident(tenancy.settings.tenant_column)
    table = qualified(relation.qualified)
    named = tuple(name for name in index.columns if name)
    alone = relation.column(named[0]) if len(named) == 1 and len(index.columns) == 1 else None
    if alone is not None and alone.type == "uuid" and not alone.default:
        # a key of random UUIDs the server fills in cannot be guessed: nothing to widen
        return (
            f"ALTER TABLE {table} ALTER COLUMN {ident(alone.name)} SET DEFAULT gen_random_uuid();"
        )
    if _referenced(tenancy, relation, named) or index.primary:
        return None  # every reference to the key changes with it: RG402's fix comes first
    constraint = next((c for c in relation.constraints if c.name == index.name), None)
    if constraint is not None:
        kind = "PRIMARY KEY" if constraint.kind == "p" else "UNIQUE"
        listed = ", ".join(ident(name) for name in (tenancy.settings.tenant_column, *named))
        return (
            f"ALTER TABLE {table} DROP CONSTRAINT {ident(index.name)},\n"
            f"    ADD CONSTRAINT {ident(index.name)} {kind} ({listed});"
        )
    widened = _COLUMN_LIST.sub(lambda found: f"{found.group(1)}{column}, ", index.definition)
    if widened == index.definition:
        return None
    schema = ident(relation.schema)
    return f"DROP INDEX {schema}.{ident(index.name)};\n{widened};"


def foreign_key_with_tenant(tenancy: Tenancy, relation: Relation, key: Constraint) -> str:
    """The foreign key with the tenant column on both sides, and the unique key on the
    parent it needs when the parent has none."""
    column = tenancy.settings.tenant_column
    parent = tenancy.catalog.relations[key.references or ""]
    ours = ", ".join(ident(name) for name in (column, *key.columns))
    theirs_columns = (column, *key.referenced_columns)
    theirs = ", ".join(ident(name) for name in theirs_columns)
    statements = []
    if not any(
        index.unique and not index.predicate and set(index.columns) == set(theirs_columns)
        for index in parent.indexes
    ):
        name = ident(f"{parent.name}_{'_'.join(theirs_columns)}_key")
        statements.append(
            f"ALTER TABLE {qualified(parent.qualified)} ADD CONSTRAINT {name} UNIQUE ({theirs});"
        )
    statements.append(
        f"ALTER TABLE {qualified(relation.qualified)} DROP CONSTRAINT {ident(key.name)},\n"
        f"    ADD CONSTRAINT {ident(key.name)} FOREIGN KEY ({ours}) "
        f"REFERENCES {qualified(parent.qualified)} ({theirs});"
    )
    return "\n".join(statements)


def random_key(tenancy: Tenancy, relation: Relation, column: Column) -> str | None:
    """The column filled with random UUIDs instead of a shared sequence; none while
    a foreign key references it."""
    if _referenced(tenancy, relation, (column.name,)):
        return None
    table, name = qualified(relation.qualified), ident(column.name)
    first = (
        f"ALTER TABLE {table} ALTER COLUMN {name} DROP IDENTITY;"
        if column.identity
        else f"ALTER TABLE {table} ALTER COLUMN {name} DROP DEFAULT;"
    )
    return (
        f"{first}\nALTER TABLE {table} ALTER COLUMN {name} TYPE uuid USING gen_random_uuid(),\n"
        f"    ALTER COLUMN {name} SET DEFAULT gen_random_uuid();"
    )
