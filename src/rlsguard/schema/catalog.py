"""One read of the live catalog into plain records.

Objects are named ``schema.name`` without quoting, as rlsguard's findings name them.

A fixed handful of queries, whatever the number of tables: relations, columns,
constraints, indexes, policies (with what their expressions depend on), roles and
memberships, functions, schemas, enum labels and view dependencies. Privileges come
with their objects, as explicit grants (an owner's implicit ones made explicit with
``acldefault``), so effective rights are worked out in Python, not per table.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import psycopg2.extensions

from rlsguard.schema import queries

if TYPE_CHECKING:
    from sqlalchemy import Connection

DriverConnection = psycopg2.extensions.connection

PUBLIC = "PUBLIC"
_RANDOM_UUID_DEFAULT = re.compile(r"\b(gen_random_uuid|uuid_generate_v4|uuidv4|uuidv7)\s*\(")
TABLE_KINDS = frozenset({"table", "partitioned table", "partition", "inheritance child"})
COMMANDS = {"r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE", "*": "ALL"}
KINDS = {
    "r": "table",
    "p": "partitioned table",
    "v": "view",
    "m": "materialized view",
    "f": "foreign table",
    "S": "sequence",
}


@dataclass(frozen=True)
class Grant:
    grantee: str  # a role name, or PUBLIC
    privilege: (
        str  # SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER, EXECUTE, USAGE, CREATE
    )
    grantable: bool = False


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # format_type(): "character varying(255)", "uuid", "integer[]"
    base_type: str  # pg_type.typname of the column's type (of a domain: the domain itself)
    type_category: str  # pg_type.typcategory: S string, N numeric, U user, A array, E enum...
    type_kind: str  # pg_type.typtype: b base, d domain, e enum, c composite, r range
    typmod: int
    not_null: bool
    default: str | None
    identity: str  # "" | "a" (ALWAYS) | "d" (BY DEFAULT)
    generated: str  # "" | "s" (STORED) | "v" (VIRTUAL, PostgreSQL 18+)
    element_type: str | None = None  # of an array
    domain_base: str | None = None  # format_type of a domain's base type
    enum_labels: tuple[str, ...] = ()
    grants: tuple[Grant, ...] = ()
    domain_checks: tuple[str, ...] = ()  # of a domain: its CHECKs, "CHECK (VALUE > 0)"
    collation: str = ""  # COLLATE of the column, when not its type's default

    @property
    def random_default(self) -> bool:
        """Filled by the server with a random UUID: a value nobody can guess."""
        return bool(self.default and _RANDOM_UUID_DEFAULT.search(self.default))


@dataclass(frozen=True)
class Constraint:
    name: str
    kind: str  # p primary key, u unique, f foreign key, c check, x exclusion
    columns: tuple[str, ...]
    definition: str
    references: str | None = None  # qualified table of a foreign key
    referenced_columns: tuple[str, ...] = ()
    on_delete: str = ""  # a no action, r restrict, c cascade, n set null, d set default
    deferrable: bool = False


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str | None, ...]  # None where the index has an expression
    unique: bool
    primary: bool
    predicate: str | None
    definition: str


@dataclass(frozen=True)
class Policy:
    name: str
    table: str  # qualified
    command: str  # SELECT INSERT UPDATE DELETE ALL
    permissive: bool
    roles: tuple[str, ...]  # role names; PUBLIC for "TO PUBLIC"
    using: str | None
    check: str | None
    reads_tables: tuple[str, ...] = ()  # other relations its expressions read
    calls_functions: tuple[str, ...] = ()  # functions its expressions call (signatures)

    def applies_to(self, command: str) -> bool:
        return self.command in (command, "ALL")


TRIGGER_EVENTS = ((4, "INSERT"), (8, "DELETE"), (16, "UPDATE"), (32, "TRUNCATE"))
UPDATABLE = ((8, "INSERT"), (4, "UPDATE"), (16, "DELETE"))  # pg_relation_is_updatable's bits


@dataclass(frozen=True)
class Trigger:
    name: str
    function: str  # signature, as Catalog.functions keys it
    timing: str  # BEFORE, AFTER, INSTEAD OF
    events: tuple[str, ...]  # INSERT, UPDATE, DELETE, TRUNCATE
    enabled: bool


def _trigger(name: str, function: str, tgtype: int, enabled: str) -> Trigger:
    timing = "INSTEAD OF" if tgtype & 64 else "BEFORE" if tgtype & 2 else "AFTER"
    events = tuple(event for bit, event in TRIGGER_EVENTS if tgtype & bit)
    return Trigger(name, function, timing, events, enabled != "D")


@dataclass(frozen=True)
class Relation:
    schema: str
    name: str
    kind: str  # see KINDS, or "partition" / "inheritance child"
    owner: str
    rls_enabled: bool
    rls_forced: bool
    options: tuple[str, ...] = ()  # reloptions, "security_invoker=true"
    columns: tuple[Column, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    indexes: tuple[Index, ...] = ()
    policies: tuple[Policy, ...] = ()
    grants: tuple[Grant, ...] = ()
    parents: tuple[str, ...] = ()  # partition parent or inheritance parents
    definition: str | None = None  # of a view or materialized view
    reads: tuple[str, ...] = ()  # relations a view or materialized view reads
    partition_bound: str | None = None  # "FOR VALUES FROM (...) TO (...)" of a partition
    partition_key: str | None = None  # "RANGE (happened)" of a partitioned table
    # a user trigger on INSERT or an INSERT rule: an INSERT without error may store nothing
    insert_rewritten: bool = False
    triggers: tuple[Trigger, ...] = ()
    has_rules: bool = False  # a rule rewrites some command on it (pg_class.relhasrules)
    writable: tuple[str, ...] = ()  # of a view: the commands it takes (INSERT, UPDATE, DELETE)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def column(self, name: str) -> Column | None:
        return self._columns_by_name.get(name)

    @functools.cached_property
    def _columns_by_name(self) -> dict[str, Column]:
        return {column.name: column for column in self.columns}

    def option(self, name: str) -> str | None:
        for option in self.options:
            key, _, value = option.partition("=")
            if key == name:
                return value
        return None

    @property
    def foreign_keys(self) -> tuple[Constraint, ...]:
        return tuple(item for item in self.constraints if item.kind == "f")


@dataclass(frozen=True)
class Role:
    name: str
    superuser: bool
    bypassrls: bool
    inherit: bool
    login: bool
    member_of: tuple[str, ...] = ()  # roles granted to this one
    may_set: tuple[str, ...] = ()  # of those, the ones it may SET ROLE to
    inherits: tuple[str, ...] = ()  # of those, the ones whose privileges it has without SET


@dataclass(frozen=True)
class Function:
    schema: str
    name: str
    arguments: str  # identity arguments
    kind: str  # f function, p procedure, a aggregate, w window
    security_definer: bool
    leakproof: bool
    volatility: str  # i immutable, s stable, v volatile
    owner: str
    config: tuple[str, ...]  # proconfig: "search_path=pg_catalog, public"
    language: str
    source: str
    grants: tuple[Grant, ...] = ()
    returns: str = ""  # pg_get_function_result: "uuid", "SETOF documents", "trigger"
    parameters: tuple[str, ...] = ()  # input arguments' names ("$2" for an unnamed one)

    @property
    def signature(self) -> str:
        return f"{self.schema}.{self.name}({self.arguments})"

    def setting(self, name: str) -> str | None:
        for item in self.config:
            key, _, value = item.partition("=")
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class Schema:
    name: str
    owner: str
    grants: tuple[Grant, ...] = ()


@dataclass(frozen=True)
class Default:
    """A setting every session of the database (``database``), of a role (``role``) or
    both gets at login: ``ALTER DATABASE/ROLE ... SET``. An empty name: all of them."""

    database: str
    role: str
    setting: str
    value: str


@dataclass(frozen=True)
class Catalog:
    database: str
    server_version_num: int
    relations: dict[str, Relation] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    functions: dict[str, Function] = field(default_factory=dict)
    schemas: dict[str, Schema] = field(default_factory=dict)
    defaults: tuple[Default, ...] = ()
    leakproof_builtins: frozenset[str] = frozenset()
    queries: int = 0
    throwaway_server: bool = False  # a server rlsguard started for a run (rlsguard.server)

    def relation(self, qualified: str) -> Relation | None:
        return self.relations.get(qualified)

    def tables(self, schemas: Iterable[str] | None = None) -> list[Relation]:
        """Tables of every kind (not views, sequences or foreign tables)."""
        wanted = set(schemas) if schemas is not None else None
        return [
            relation
            for relation in self.relations.values()
            if relation.kind in TABLE_KINDS and (wanted is None or relation.schema in wanted)
        ]


def _grants(encoded: Sequence[str] | None) -> tuple[Grant, ...]:
    grants = []
    for item in encoded or ():
        grantee, privilege, grantable = item.rsplit(":", 2)
        grants.append(Grant(grantee, privilege, grantable == "true"))
    return tuple(grants)


def driver_of(connection: Connection | DriverConnection) -> DriverConnection:
    """psycopg2's own connection: the one given, or the one under a SQLAlchemy Connection
    (in whatever transaction that one is)."""
    if isinstance(connection, DriverConnection):
        return connection
    return cast(DriverConnection, connection.connection.driver_connection)


class _Reader:
    def __init__(self, connection: Connection | DriverConnection) -> None:
        self.cursor = driver_of(connection).cursor()
        self.queries = 0

    def rows(self, sql: str) -> list[Sequence[Any]]:
        self.queries += 1
        self.cursor.execute(sql, {})  # parameters given, so that %% is read as %
        return [tuple(row) for row in self.cursor.fetchall()]


def _kind(relkind: str, is_partition: bool, parents: tuple[str, ...]) -> str:
    if is_partition:
        return "partition"
    if parents and relkind in ("r", "p"):
        return "inheritance child"
    return KINDS[relkind]


def read_catalog(connection: Connection | DriverConnection) -> Catalog:
    """Everything rlsguard needs to know about the database, in one pass."""
    reader = _Reader(connection)
    database, version_num, throwaway, leakproof_builtins = reader.rows(queries.DATABASE)[0]

    columns: dict[int, list[Column]] = defaultdict(list)
    for row in reader.rows(queries.COLUMNS):
        columns[row[0]].append(
            Column(
                name=row[1],
                type=row[2],
                base_type=row[3],
                type_category=row[4],
                type_kind=row[5],
                typmod=row[6],
                not_null=row[7],
                default=row[8],
                identity=row[9] or "",
                generated=row[10] or "",
                element_type=row[11],
                domain_base=row[12],
                enum_labels=tuple(row[13] or ()),
                grants=_grants(row[14]),
                domain_checks=tuple(row[15] or ()),
                collation=row[16],
            )
        )
    constraints: dict[int, list[Constraint]] = defaultdict(list)
    for row in reader.rows(queries.CONSTRAINTS):
        constraints[row[0]].append(
            Constraint(
                name=row[1],
                kind=row[2],
                columns=tuple(row[3]),
                definition=row[4],
                references=row[5],
                referenced_columns=tuple(row[6] or ()),
                on_delete=row[7] or "",
                deferrable=row[8],
            )
        )
    indexes: dict[int, list[Index]] = defaultdict(list)
    for row in reader.rows(queries.INDEXES):
        indexes[row[0]].append(Index(row[1], tuple(row[4]), row[2], row[3], row[5], row[6]))
    policy_rows: dict[int, list[Sequence[Any]]] = defaultdict(list)
    for row in reader.rows(queries.POLICIES):
        policy_rows[row[0]].append(row)
    view_reads: dict[int, list[str]] = defaultdict(list)
    triggers: dict[int, list[Trigger]] = defaultdict(list)
    for oid, *trigger in reader.rows(queries.TRIGGERS):
        triggers[oid].append(_trigger(*trigger))
    for oid, read in reader.rows(queries.VIEW_READS):
        view_reads[oid].append(read)

    relations: dict[str, Relation] = {}
    for row in reader.rows(queries.RELATIONS):
        oid, schema, name, kind = row[0], row[1], row[2], row[3]
        qualified = f"{schema}.{name}"
        policies = tuple(
            Policy(
                name=policy[1],
                table=qualified,
                command=COMMANDS[policy[2]],
                permissive=policy[3],
                roles=tuple(policy[4]),
                using=policy[5],
                check=policy[6],
                reads_tables=tuple(policy[7]),
                calls_functions=tuple(policy[8]),
            )
            for policy in policy_rows.get(oid, ())
        )
        parents = tuple(row[9])
        relations[qualified] = Relation(
            schema=schema,
            name=name,
            kind=_kind(kind, bool(row[8]), parents),
            owner=row[4],
            rls_enabled=row[5],
            rls_forced=row[6],
            options=tuple(row[7]),
            columns=tuple(columns.get(oid, ())),
            constraints=tuple(constraints.get(oid, ())),
            indexes=tuple(indexes.get(oid, ())),
            policies=policies,
            grants=_grants(row[11]),
            parents=parents,
            definition=row[10],
            reads=tuple(view_reads.get(oid, ())),
            partition_bound=row[12],
            partition_key=row[13],
            insert_rewritten=bool(row[14]),
            triggers=tuple(triggers.get(oid, ())),
            writable=tuple(command for bit, command in UPDATABLE if row[15] & bit),
            has_rules=bool(row[16]),
        )

    roles = {
        row[0]: Role(
            name=row[0],
            superuser=row[1],
            bypassrls=row[2],
            inherit=row[3],
            login=row[4],
            member_of=tuple(row[5]),
            may_set=tuple(row[6]),
            inherits=tuple(row[7]),
        )
        for row in reader.rows(
            queries.ROLES_SINCE_16 if version_num >= 160000 else queries.ROLES_BEFORE_16
        )
    }
    functions = {}
    for row in reader.rows(queries.FUNCTIONS):
        function = Function(
            schema=row[0],
            name=row[1],
            arguments=row[2],
            kind=row[3],
            security_definer=row[4],
            leakproof=row[5],
            volatility=row[6],
            owner=row[7],
            config=tuple(row[8]),
            language=row[9],
            source=row[10],
            grants=_grants(row[11]),
            returns=row[12] or "",
            parameters=tuple(row[13]),
        )
        functions[function.signature] = function
    schemas = {
        row[0]: Schema(row[0], row[1], _grants(row[2])) for row in reader.rows(queries.SCHEMAS)
    }
    defaults = tuple(
        Default(database_name, role, *item.split("=", 1))
        for database_name, role, config in reader.rows(queries.DEFAULTS)
        for item in config or ()
        if "=" in item
    )
    reader.cursor.close()
    return Catalog(
        database=database,
        server_version_num=version_num,
        throwaway_server=throwaway,
        relations=relations,
        roles=roles,
        functions=functions,
        schemas=schemas,
        defaults=defaults,
        leakproof_builtins=frozenset(leakproof_builtins),
        queries=reader.queries,
    )
