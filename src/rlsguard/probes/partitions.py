"""Where a row of a partitioned table goes, and values that send it there.

A row needs a partition that accepts its key. Keys rlsguard draws freely are taken from a
partition's bound; a key the row already has, its tenant, is the hard case: a table
partitioned by tenant accepts rlsguard's tenants only through a DEFAULT partition, or,
for numeric tenant ids, through a range partition wide enough to hold the
tenants an example makes, whose bound then decides the ids rlsguard makes. A HASH
partition takes any value whose remainder it has: the server routes those rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rlsguard.probes.values import CannotGenerate
from rlsguard.schema.catalog import Relation
from rlsguard.schema.tenancy import Tenancy

_KEY = re.compile(r"(RANGE|LIST|HASH) \((\w+)\)")
_FIRST_VALUE = re.compile(r"(?:FROM|IN) \('?([^',)]+)'?")
_NUMERIC_RANGE = re.compile(r"FROM \((-?\d+)\) TO \((-?\d+)\)$")
# tenants one example makes, with room to spare: the width a range must have
TENANTS_PER_EXAMPLE = 1_000


@dataclass(frozen=True)
class PartitionKey:
    strategy: str  # RANGE, LIST or HASH
    column: str


def partition_key(relation: Relation) -> PartitionKey | None:
    """The single-column key of a partitioned table; None for an expression or several
    columns (rows are then left to the server to route, or refuse)."""
    found = _KEY.fullmatch(relation.partition_key or "")
    return PartitionKey(found.group(1), found.group(2)) if found else None


def partitions_of(tenancy: Tenancy, relation: Relation) -> list[Relation]:
    return [
        candidate
        for candidate in tenancy.catalog.relations.values()
        if candidate.kind == "partition" and relation.qualified in candidate.parents
    ]


def partition_values(tenancy: Tenancy, relation: Relation) -> dict[str, Any]:
    """A value of the partition key inside a partition's bound (single-column RANGE and
    LIST partitions). HASH partitions need none: every value has a remainder."""
    parent = tenancy.catalog.relations.get(relation.parents[0]) if relation.parents else None
    key = partition_key(parent) if parent is not None else None
    value = _FIRST_VALUE.search(relation.partition_bound or "")
    if key is None or key.strategy == "HASH" or value is None:
        return {}
    return {key.column: value.group(1)}


def route(
    tenancy: Tenancy, relation: Relation, values: dict[str, Any], tenant_floor: int | None
) -> dict[str, Any]:
    """Values that send a new row of the partitioned ``relation`` to one of its
    partitions. A key the row already has (its tenant) is kept: there must be a DEFAULT
    partition, or tenant ids chosen from ``tenant_floor`` (see ``tenant_id_floor``)."""
    key = partition_key(relation)
    if key is None or key.strategy == "HASH":
        return {}
    partitions = partitions_of(tenancy, relation)
    if key.column in values:
        if any(part.partition_bound == "DEFAULT" for part in partitions):
            return {}
        if key.column == tenancy.settings.tenant_column and tenant_floor is not None:
            return {}
        raise CannotGenerate(
            f"{relation.qualified} is partitioned by {key.column} without a DEFAULT "
            "partition or a numeric range wide enough for the tenants rlsguard makes, so "
            "their rows have nowhere to go"
        )
    for candidate in partitions:
        found = partition_values(tenancy, candidate)
        if found:
            return found
    return {}


def tenant_id_floor(tenancy: Tenancy) -> int | None:
    """Numeric tenant ids must start here (and stay within TENANTS_PER_EXAMPLE) for every
    table partitioned by tenant to take them: where the widest numeric ranges of all
    such tables without a DEFAULT partition overlap. None if no table asks for it, or if
    one has no wide enough range, or the ranges do not overlap widely enough."""
    column = tenancy.settings.tenant_column
    ranges: list[tuple[int, int]] = []
    for relation in tenancy.catalog.relations.values():
        key = partition_key(relation) if relation.kind == "partitioned table" else None
        if key is None or key.column != column or key.strategy == "HASH":
            continue
        partitions = partitions_of(tenancy, relation)
        if any(part.partition_bound == "DEFAULT" for part in partitions):
            continue
        bounds = [_numeric_range(part.partition_bound or "") for part in partitions]
        wide = [b for b in bounds if b is not None and b[1] - b[0] > TENANTS_PER_EXAMPLE]
        if not wide:
            return None
        ranges.append(max(wide, key=lambda bound: bound[1] - bound[0]))
    if not ranges:
        return None
    low, high = max(r[0] for r in ranges), min(r[1] for r in ranges)
    return low if high - low > TENANTS_PER_EXAMPLE else None


def _numeric_range(bound: str) -> tuple[int, int] | None:
    found = _NUMERIC_RANGE.search(bound)
    return (int(found.group(1)), int(found.group(2))) if found else None
