"""The doors around RLS: views, SECURITY DEFINER functions, partitions read directly,
and TRUNCATE."""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

from psycopg2 import sql

from rlsguard.findings import Severity
from rlsguard.probes.moves import (
    changed_tables,
    failure,
    populate,
    present,
    tenant_digest,
    two_tenants,
    witness_rows,
)
from rlsguard.probes.partitions import partition_values
from rlsguard.probes.registry import ProbeContext, probe
from rlsguard.probes.rows import Example, table_identifier
from rlsguard.probes.transcript import Answer, SetupFailed
from rlsguard.probes.values import CannotGenerate
from rlsguard.schema.catalog import Relation
from rlsguard.schema.targets import (
    app_executable_definers,
    app_readable_children,
    app_readable_views_of_either_kind,
    tenant_tables,
)
from rlsguard.server.driver import LOCK_NOT_AVAILABLE


@probe(
    "RP111",
    "view-leak",
    Severity.ERROR,
    "What a tenant sees through a view does not change when another tenant adds rows",
    attacks=(12, 14, 19),
    fixes_from=("RG501", "RG502", "RG505"),
    objects=app_readable_views_of_either_kind,
    premise="the view reads a tenant table, rows of both tenants are in it, and the other "
    "tenant's rows leave the tenant's own rows as they were (a trigger that changes them is "
    "RP124's to find)",
)
def view_leak(context: ProbeContext, view: str, example: Example) -> None:
    """Rows of tenant A in the tables behind the view; as A, read the view; add rows of
    tenant B; as A, read it again: the two reads must be equal (a materialized view is
    refreshed before each read)."""
    tenancy = context.tenancy
    relation = tenancy.catalog.relations[view]
    bases = [name for name in relation.reads if name in tenancy.tenant_tables]
    actor, other = two_tenants(example)
    for base in bases:
        populate(example, base, [actor], least=1)
    before = _read_view(context, relation, actor)
    own = tenant_digest(context, actor)
    added = [populate(example, base, [other], least=1)[other] for base in bases]
    if changed_tables(own, tenant_digest(context, actor)):
        return  # the other tenant's rows changed this tenant's own: not the view's doing
    for base, rows in zip(bases, added, strict=True):
        witness_rows(context, base, rows)
    after = _read_view(context, relation, actor)
    if sorted(map(repr, before.rows)) != sorted(map(repr, after.rows)):
        raise failure(
            f"as tenant {actor}, {view} shows {len(after.rows)} row(s) after another tenant added "
            "rows "
            f"(it showed {len(before.rows)} before): the view shows other tenants' data"
        )


def _read_view(context: ProbeContext, relation: Relation, tenant: Any) -> Answer:
    context.session.as_setup()
    context.session.as_role(context.app, tenant)
    if relation.kind == "materialized view":
        readable = context.session.attempt(
            sql.SQL("SELECT * FROM {} LIMIT 0").format(table_identifier(relation.qualified))
        )
        context.session.as_setup()
        return readable if readable.failed else _what_a_refresh_stores(context, relation)
    outcome = context.session.attempt(
        sql.SQL("SELECT * FROM {}").format(table_identifier(relation.qualified))
    )
    context.session.as_setup()
    return outcome


def _what_a_refresh_stores(context: ProbeContext, relation: Relation) -> Answer:
    """The application may read the materialized view, so it sees all it stores: what its
    query returns for its owner. REFRESH takes the owner, so the query runs as the owner
    (a member's ``SET ROLE``) or, for a superuser owner, as the probe login, which sees
    every row as a superuser would without lending the query superuser rights."""
    owner = context.tenancy.catalog.roles.get(relation.owner)
    query = (relation.definition or "").strip().rstrip(";")
    if owner is None or not query:
        raise CannotGenerate(f"cannot read what {relation.qualified} stores: no owner or query")
    context.session.transcript.note(f"what REFRESH MATERIALIZED VIEW {relation.qualified} stores")
    if not owner.superuser:
        context.session.as_role(owner.name, context="unset")
    outcome = context.session.attempt(query)
    context.session.as_setup()
    if outcome.failed:
        raise CannotGenerate(f"cannot read what {relation.qualified} stores: {outcome.error}")
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


def type_family(type_name: str) -> str | None:
    """Types a value can be passed as without a cast: varchar(255) data fits a text argument."""
    return _TYPE_FAMILIES.get(type_name.split("(", 1)[0].strip())


@probe(
    "RP112",
    "definer-function-leak",
    Severity.ERROR,
    "SECURITY DEFINER functions tell a tenant nothing about another tenant's rows, and "
    "change none of them",
    attacks=(13,),
    fixes_from=("RG503", "RG504"),
    objects=app_executable_definers,
    premise="another tenant's rows hold values of the argument types, and the function "
    "answers a call with values nobody has",
)
def definer_function_leak(context: ProbeContext, signature: str, example: Example) -> None:
    """Rows of tenant B in every tenant table; as tenant A, call the function with values
    taken from B's rows, and with values nobody has: the answers must be the same, and
    B's rows must be as they were (a function that writes)."""
    tenancy = context.tenancy
    function = tenancy.catalog.functions[signature]
    types = argument_types(function.arguments)
    families = [type_family(kind) for kind in types]
    if None in families:
        raise CannotGenerate(
            f"cannot call {signature} with another tenant's values because rlsguard does not "
            f"fill in arguments of type {types[families.index(None)]}"
        )
    actor, other = two_tenants(example)
    values_of_other: dict[str, list[Any]] = {family: [] for family in families if family}
    for table in tenant_tables(tenancy):
        try:
            rows = populate(example, table, [other], least=1)[other]
        except (CannotGenerate, SetupFailed):
            continue
        for row in rows:
            for column in example.planner.plan(table).relation.columns:
                value = row.values.get(column.name)
                family = type_family(column.type)
                if family in values_of_other and value is not None:
                    values_of_other[family].append(value)
    missing = [family for family, found in values_of_other.items() if not found]
    if missing:
        raise CannotGenerate(
            f"cannot call {signature} with another tenant's values because no column of the "
            f"tenant tables holds a {missing[0]} value"
        )
    made = [row for rows in example.rows.values() for row in rows if row.tenant == other]
    there = any(present(context, row.table, [row]) for row in made)
    unknown = [nobody_has(family, example) for family in families if family]
    before = tenant_digest(context, other)
    call = sql.SQL("SELECT * FROM {}({})").format(
        sql.SQL(".").join(map(sql.Identifier, (function.schema, function.name))),
        sql.SQL(", ").join(sql.Placeholder() * len(types)),
    )
    # Every value of B's rows (up to MAX_CALLS combinations), not one drawn: the one that
    # leaks (a key, an email) is a needle among B's values.
    pools = [list(dict.fromkeys(values_of_other[family])) for family in families if family]
    combinations = list(itertools.islice(itertools.product(*pools), MAX_CALLS))
    context.session.as_role(context.app, actor)
    calls = (call, unknown, combinations)
    if _same_answers(context, *calls, who=f"as tenant {actor}", signature=signature) and there:
        context.witness()
    # and as a request that set no tenant: a body that falls back to every tenant then
    context.session.as_role(context.app, None, context="empty")
    unset = (call, unknown, combinations[:MAX_CALLS_UNSET])
    _same_answers(context, *unset, who="with no tenant set", signature=signature)
    changed = changed_tables(before, tenant_digest(context, other))
    if changed:
        raise failure(
            f"as tenant {actor}, calling {signature} with another tenant's values changed that "
            f"tenant's rows of {', '.join(changed)}"
        )


MAX_CALLS = 40  # calls of a definer function per example, as a tenant
MAX_CALLS_UNSET = 10  # and with no tenant set


def _same_answers(
    context: ProbeContext,
    call: sql.Composable,
    unknown: list[Any],
    combinations: list[tuple[Any, ...]],
    *,
    who: str,
    signature: str,
) -> bool:
    """Calls with values nobody has and with each combination of another tenant's values
    answer alike (else a failure); False when the call with values nobody has failed."""
    with_nobody = context.session.attempt(call, unknown)
    for chosen in combinations:
        with_other = context.session.attempt(call, list(chosen))
        if (
            repr(with_other.rows) != repr(with_nobody.rows)
            or with_other.error_code != with_nobody.error_code
        ):
            raise failure(
                f"{who}, {signature} answers differently for another tenant's values "
                f"{list(chosen)!r} ({with_other.describe()}) than for values nobody has "
                f"({with_nobody.describe()})"
            )
    return not with_nobody.failed


def argument_types(arguments: str) -> list[str]:
    types = []
    for argument in filter(None, (part.strip() for part in arguments.split(","))):
        words = argument.split()
        if words[0].upper() in ("IN", "INOUT", "VARIADIC"):
            words = words[1:]
        types.append(" ".join(words[1:]) if len(words) > 1 else words[0])
    return types


def nobody_has(kind: str, example: Example) -> Any:
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
    objects=app_readable_children,
    premise="rows of two tenants are in the partition or child table",
)
def partition_leak(context: ProbeContext, table: str, example: Example) -> None:
    """Rows of two tenants put straight into the partition (or inheritance child); as
    one tenant, read the child table by name: only that tenant's rows may show."""
    tenancy = context.tenancy
    relation = tenancy.catalog.relations[table]
    column = tenancy.settings.tenant_column
    overrides = partition_values(tenancy, relation)
    actor, other = two_tenants(example)
    made = [example.insert(table, tenant, overrides) for tenant in (actor, other)]
    witness_rows(context, table, made)
    context.session.as_role(context.app, actor)
    outcome = context.session.attempt(
        sql.SQL("SELECT {} FROM {}").format(sql.Identifier(column), table_identifier(table))
    )
    strangers = [row for row in outcome.rows if row[0] != actor]
    if strangers:
        raise failure(
            f"as tenant {actor}, reading {table} directly shows {len(strangers)} row(s) of other "
            "tenants"
        )


READ_ONLY_ERRORS = {"42501"}  # insufficient privilege: a refusal is what we want
LOCK_WAIT = "100ms"
LOCK_TRIES = 6
LOCK_PAUSE = 0.25  # seconds between tries


def _lock_briefly(context: ProbeContext, actor: Any) -> None:
    """Act as ``actor`` for a statement that locks the whole table. While it waits for its
    lock, every other session's reads of the table queue behind it: it waits a moment
    only, and a lock it cannot have is "cannot"."""
    context.session.as_role(context.app, actor)
    context.session.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'")


def _attempt_locking(
    context: ProbeContext, statement: sql.Composable, doing: str, table: str
) -> Answer:
    """Try a statement that locks the whole table, a few times: a lock held for a moment
    is waited out in short waits that never hold other sessions' readers up for long.
    (Autovacuum gives way only to a waiter of deadlock_timeout, longer than these.)"""
    for attempt in range(LOCK_TRIES):
        if attempt:
            time.sleep(LOCK_PAUSE)
        outcome = context.session.attempt(statement)
        if outcome.error_code != LOCK_NOT_AVAILABLE:
            return outcome
    holders = _lock_holders(context, table)
    raise CannotGenerate(
        f"cannot {doing} {table}: another session holds a lock on it ({holders}), and "
        f"rlsguard waits only {LOCK_WAIT} at a time ({LOCK_TRIES} times) so as not to stall "
        "that session's readers"
    )


LOCK_HOLDERS = """
SELECT string_agg(DISTINCT coalesce(activity.backend_type, 'a session') || ' ' || held.pid, ', ')
FROM pg_catalog.pg_locks AS held
JOIN pg_catalog.pg_class AS class ON class.oid = held.relation
JOIN pg_catalog.pg_namespace AS namespace ON namespace.oid = class.relnamespace
LEFT JOIN pg_catalog.pg_stat_activity AS activity ON activity.pid = held.pid
WHERE held.granted AND held.pid <> pg_catalog.pg_backend_pid()
  AND namespace.nspname = %s AND class.relname = %s
"""


def _lock_holders(context: ProbeContext, table: str) -> str:
    """Who holds a lock on ``table`` now, e.g. "client backend 4711, autovacuum worker 12"
    (another role's sessions show no backend type to the application: "a session 4711")."""
    answer = context.session.attempt(LOCK_HOLDERS, tuple(table.split(".", 1)))
    held_by = answer.rows[0][0] if not answer.failed and answer.rows else None
    return f"held by {held_by}" if held_by else "gone by now"


@probe(
    "RP114",
    "truncate",
    Severity.ERROR,
    "The application cannot TRUNCATE tenant tables",
    attacks=(17,),
    fixes_from=("RG506",),
    objects=tenant_tables,
    deterministic=True,
    locks_table=True,
    premise="the TRUNCATE is refused for lack of rights (SQLSTATE 42501)",
)
def truncate(context: ProbeContext, table: str, example: Example) -> None:
    """As a tenant, TRUNCATE the table (TRUNCATE ignores RLS): it must be refused for
    lack of privilege, with and without CASCADE. TRUNCATE takes the whole table or
    nothing, whatever the rows hold, so one example with another tenant's row proves it."""
    actor, other = two_tenants(example)
    populate(example, table, [other], least=1)
    _lock_briefly(context, actor)
    for cascade in ("", " CASCADE"):
        statement = sql.SQL("TRUNCATE {}" + cascade).format(table_identifier(table))
        outcome = _attempt_locking(context, statement, "TRUNCATE", table)
        if not outcome.failed:
            raise failure(
                f"as tenant {actor}, {context.app} emptied {table} for every tenant with "
                f"TRUNCATE{cascade}"
            )
        if outcome.error_code in READ_ONLY_ERRORS:
            context.witness()
            return


ANY_TRIGGER_FUNCTION = "pg_catalog.suppress_redundant_updates_trigger()"  # EXECUTE to PUBLIC


@probe(
    "RP127",
    "attach-trigger",
    Severity.ERROR,
    "The application cannot attach triggers to tenant tables",
    attacks=(17,),
    fixes_from=("RG506",),
    objects=tenant_tables,
    deterministic=True,
    locks_table=True,
    premise="the CREATE TRIGGER is refused for lack of rights (SQLSTATE 42501)",
)
def attach_trigger(context: ProbeContext, table: str, example: Example) -> None:
    """As a tenant, CREATE TRIGGER on the table (with a trigger function every role may
    run): it must be refused for lack of privilege. A trigger the application attaches
    fires on every tenant's writes, with their rows in hand; the probe's own is rolled
    back with the example."""
    actor, _other = two_tenants(example)
    _lock_briefly(context, actor)
    statement = sql.SQL(
        "CREATE TRIGGER rlsguard_probe_trigger BEFORE UPDATE ON {} FOR EACH ROW "
        "EXECUTE FUNCTION " + ANY_TRIGGER_FUNCTION
    ).format(table_identifier(table))
    outcome = _attempt_locking(context, statement, "CREATE TRIGGER on", table)
    if not outcome.failed:
        raise failure(
            f"as tenant {actor}, {context.app} attached a trigger to {table}: a trigger of its "
            "own sees every tenant's rows as they are written"
        )
    if outcome.error_code in READ_ONLY_ERRORS:
        context.witness()
