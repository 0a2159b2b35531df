"""What a populated database already holds, so that generated rows never collide with
it: the largest value of every numeric unique column, and of the numeric tenant ids.
Generated values start above them. (Generated UUIDs carry the version nibble 5 and the
run's salt, so they never equal a random UUID; generated text carries the salt too.)

Read through the probe login, which skips RLS: no policy function runs, and a column a
login may not read only loses its floor (the rows made may then collide, and say so).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from rlsguard.schema.catalog import Relation
from rlsguard.schema.tenancy import Tenancy

NUMERIC_CATEGORY = "N"
STORED_KINDS = ("table", "partitioned table")


@dataclass
class Existing:
    ceilings: dict[tuple[str, str], int] = field(default_factory=dict)  # (table, column)
    tenant_ceiling: int = 0

    def above(self, table: str, column: str) -> int:
        """Every value a generated row may use in ``table.column`` is above this."""
        return self.ceilings.get((table, column), 0)


def read_existing(connection: psycopg2.extensions.connection, tenancy: Tenancy) -> Existing:
    found = Existing()
    root = tenancy.tenant_root
    holders = [root] if root is not None else list(tenancy.tenant_relations)
    tenant_tables = {relation.qualified for relation in holders}
    for relation in tenancy.catalog.relations.values():
        if relation.kind not in STORED_KINDS:
            continue
        columns = _numeric_unique_columns(relation)
        holds_ids = relation.qualified in tenant_tables
        tenant_column = tenancy.tenant_key if relation is root else tenancy.settings.tenant_column
        if holds_ids and _is_numeric(relation, tenant_column):
            columns.add(tenant_column)
        ceilings = _largest(connection, relation, sorted(columns))
        for column, value in ceilings.items():
            found.ceilings[(relation.qualified, column)] = value
            if column == tenant_column and holds_ids:
                found.tenant_ceiling = max(found.tenant_ceiling, value)
    return found


def _numeric_unique_columns(relation: Relation) -> set[str]:
    unique = {name for index in relation.indexes if index.unique for name in index.columns if name}
    return {name for name in unique if _is_numeric(relation, name)}


def _is_numeric(relation: Relation, name: str) -> bool:
    column = relation.column(name)
    return column is not None and column.type_category == NUMERIC_CATEGORY


def _largest(
    connection: psycopg2.extensions.connection, relation: Relation, columns: list[str]
) -> dict[str, int]:
    if not columns:
        return {}
    schema, _, table = relation.qualified.partition(".")
    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(
            sql.SQL("ceil(max({}))::numeric").format(sql.Identifier(name)) for name in columns
        ),
        sql.Identifier(schema, table),
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(query)
            row = cursor.fetchone() or ()
    except psycopg2.Error:
        return {}
    finally:
        connection.rollback()
    return {
        name: int(value) for name, value in zip(columns, row, strict=False) if value is not None
    }
