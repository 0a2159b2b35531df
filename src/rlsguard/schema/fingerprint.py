"""A fingerprint of a database's schema, read from the catalog.

Every object outside the system schemas becomes one ``key -> description`` entry:
schemas, tables and the other relation kinds with their owner and RLS enabled/forced
flags, columns, constraints, indexes, policies (command, permissive/restrictive,
roles, USING and WITH CHECK), grants on tables, columns, sequences, functions and
schemas, default privileges, sequences, view definitions, functions, triggers, rules,
types and extensions. Objects that belong to an extension are folded into the
extension's own entry. Names only, never OIDs, so the same schema built twice gives
the same fingerprint and the same SHA-256; the migration version table is left out.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from rlsguard.schema.catalog import COMMANDS, KINDS
from rlsguard.schema.sql_fragments import grantee, in_user_schema, not_from_extension

IN_USER_SCHEMA = in_user_schema()
RELATION_KINDS = {**KINDS, "c": "composite type"}

Row = Sequence[Any]
PREPARED = "rlsguard_fingerprint"  # its statements' names begin so; their key in connection.info
NO_SUCH_STATEMENT = "26000"  # invalid_sql_statement_name
_TAGS = itertools.count()


@dataclass(frozen=True)
class Section:
    sql: str
    entry: Callable[[Row], tuple[str, str]]


SECTIONS: tuple[Section, ...] = (
    Section(
        f"""SELECT n.nspname, pg_get_userbyid(n.nspowner)
            FROM pg_namespace n WHERE {IN_USER_SCHEMA}""",
        lambda r: (f"schema {r[0]}", f"owner={r[1]}"),
    ),
    Section(
        f"""SELECT n.nspname, c.relname, c.relkind, pg_get_userbyid(c.relowner),
                   c.relrowsecurity, c.relforcerowsecurity, c.relpersistence,
                   coalesce(array_to_string(c.reloptions, ','), ''),
                   coalesce(pg_get_expr(c.relpartbound, c.oid), '')
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'c')
              AND {IN_USER_SCHEMA} AND c.relname <> ALL(%(excluded)s)
              AND {not_from_extension("pg_class", "c.oid")}""",
        lambda r: (
            f"{RELATION_KINDS[r[2]]} {r[0]}.{r[1]}",
            f"owner={r[3]} rls={'on' if r[4] else 'off'} force={'on' if r[5] else 'off'} "
            f"persistence={r[6]} options=[{r[7]}] partition_of=[{r[8]}]",
        ),
    ),
    Section(
        f"""SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                   a.attnotnull, coalesce(pg_get_expr(d.adbin, d.adrelid), ''),
                   a.attidentity, a.attgenerated, coalesce(co.collname, '')
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            LEFT JOIN pg_type ty ON ty.oid = a.atttypid
            LEFT JOIN pg_collation co
                   ON co.oid = a.attcollation AND a.attcollation <> ty.typcollation
            WHERE a.attnum > 0 AND NOT a.attisdropped
              AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
              AND {IN_USER_SCHEMA} AND c.relname <> ALL(%(excluded)s)
              AND {not_from_extension("pg_class", "c.oid")}""",
        lambda r: (
            f"column {r[0]}.{r[1]}.{r[2]}",
            f"{r[3]}{' not null' if r[4] else ''}{f' default {r[5]}' if r[5] else ''}"
            f"{f' identity={r[6]}' if r[6] else ''}{f' generated={r[7]}' if r[7] else ''}"
            f"{f' collate {r[8]}' if r[8] else ''}",
        ),
    ),
    Section(
        f"""SELECT n.nspname, coalesce(c.relname, t.typname), con.conname, con.contype,
                   pg_get_constraintdef(con.oid, true), con.condeferrable, con.condeferred
            FROM pg_constraint con
            JOIN pg_namespace n ON n.oid = con.connamespace
            LEFT JOIN pg_class c ON c.oid = con.conrelid
            LEFT JOIN pg_type t ON t.oid = con.contypid
            WHERE {IN_USER_SCHEMA}
              AND coalesce(c.relname, '') <> ALL(%(excluded)s)""",
        lambda r: (
            f"constraint {r[0]}.{r[1]}.{r[2]}",
            f"{r[3]} {r[4]}{' deferrable' if r[5] else ''}{' initially deferred' if r[6] else ''}",
        ),
    ),
    Section(
        f"""SELECT n.nspname, ci.relname, pg_get_indexdef(i.indexrelid)
            FROM pg_index i
            JOIN pg_class ci ON ci.oid = i.indexrelid
            JOIN pg_class t ON t.oid = i.indrelid
            JOIN pg_namespace n ON n.oid = ci.relnamespace
            WHERE {IN_USER_SCHEMA} AND t.relname <> ALL(%(excluded)s)
              AND {not_from_extension("pg_class", "t.oid")}""",
        lambda r: (f"index {r[0]}.{r[1]}", r[2]),
    ),
    Section(
        f"""SELECT n.nspname, c.relname, p.polname, p.polcmd, p.polpermissive,
                   ARRAY(SELECT {grantee("role_oid")}
                         FROM unnest(p.polroles) AS role_oid ORDER BY 1),
                   coalesce(pg_get_expr(p.polqual, p.polrelid), ''),
                   coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '')
            FROM pg_policy p
            JOIN pg_class c ON c.oid = p.polrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE {IN_USER_SCHEMA}""",
        lambda r: (
            f"policy {r[0]}.{r[1]}.{r[2]}",
            f"for {COMMANDS[r[3]]} {'permissive' if r[4] else 'restrictive'} "
            f"to {','.join(r[5])} using ({r[6]}) with check ({r[7]})",
        ),
    ),
    Section(
        f"""SELECT n.nspname, c.relname, {grantee("acl.grantee")}, acl.privilege_type,
                   acl.is_grantable, pg_get_userbyid(acl.grantor)
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            CROSS JOIN LATERAL aclexplode(coalesce(c.relacl, acldefault(
                CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) acl
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
              AND {IN_USER_SCHEMA} AND c.relname <> ALL(%(excluded)s)
              AND {not_from_extension("pg_class", "c.oid")}""",
        lambda r: (f"grant {r[3]} on {r[0]}.{r[1]} to {r[2]}", _grant_value(r[4], r[5])),
    ),
    Section(
        f"""SELECT n.nspname, c.relname, a.attname, {grantee("acl.grantee")},
                   acl.privilege_type, acl.is_grantable, pg_get_userbyid(acl.grantor)
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            CROSS JOIN LATERAL aclexplode(a.attacl) acl
            WHERE a.attacl IS NOT NULL AND {IN_USER_SCHEMA}""",
        lambda r: (f"grant {r[4]} on {r[0]}.{r[1]}({r[2]}) to {r[3]}", _grant_value(r[5], r[6])),
    ),
    Section(
        f"""SELECT n.nspname, {grantee("acl.grantee")}, acl.privilege_type, acl.is_grantable,
                   pg_get_userbyid(acl.grantor)
            FROM pg_namespace n
            CROSS JOIN LATERAL aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) acl
            WHERE {IN_USER_SCHEMA}""",
        lambda r: (f"grant {r[2]} on schema {r[0]} to {r[1]}", _grant_value(r[3], r[4])),
    ),
    Section(
        f"""SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), p.prokind,
                   pg_get_userbyid(p.proowner),
                   CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) ELSE '' END
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE {IN_USER_SCHEMA} AND {not_from_extension("pg_proc", "p.oid")}""",
        lambda r: (f"function {r[0]}.{r[1]}({r[2]})", f"kind={r[3]} owner={r[4]}\n{r[5]}"),
    ),
    Section(
        f"""SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid),
                   {grantee("acl.grantee")}, acl.privilege_type, acl.is_grantable,
                   pg_get_userbyid(acl.grantor)
            FROM pg_proc p
            JOIN pg_namespace n ON n.oid = p.pronamespace
            CROSS JOIN LATERAL aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) acl
            WHERE {IN_USER_SCHEMA} AND {not_from_extension("pg_proc", "p.oid")}""",
        lambda r: (
            f"grant {r[4]} on function {r[0]}.{r[1]}({r[2]}) to {r[3]}",
            _grant_value(r[5], r[6]),
        ),
    ),
    Section(
        f"""SELECT n.nspname, c.relname, pg_get_viewdef(c.oid, true)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('v', 'm') AND {IN_USER_SCHEMA}
              AND {not_from_extension("pg_class", "c.oid")}""",
        lambda r: (f"view definition {r[0]}.{r[1]}", " ".join(str(r[2]).split())),
    ),
    Section(
        f"""SELECT n.nspname, c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
                   s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
                   coalesce((SELECT quote_ident(tn.nspname) || '.' || quote_ident(t.relname) || '.'
                                    || quote_ident(a.attname)
                             FROM pg_depend d
                             JOIN pg_class t ON t.oid = d.refobjid
                             JOIN pg_namespace tn ON tn.oid = t.relnamespace
                             JOIN pg_attribute a
                                  ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                             WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                               AND d.deptype IN ('a', 'i') LIMIT 1), '')
            FROM pg_sequence s
            JOIN pg_class c ON c.oid = s.seqrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE {IN_USER_SCHEMA} AND {not_from_extension("pg_class", "c.oid")}""",
        lambda r: (
            f"sequence definition {r[0]}.{r[1]}",
            f"{r[2]} start={r[3]} increment={r[4]} min={r[5]} max={r[6]} cache={r[7]} "
            f"cycle={r[8]} owned_by=[{r[9]}]",
        ),
    ),
    Section(
        f"""SELECT n.nspname, c.relname, t.tgname, pg_get_triggerdef(t.oid, true), t.tgenabled
            FROM pg_trigger t
            JOIN pg_class c ON c.oid = t.tgrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE NOT t.tgisinternal AND {IN_USER_SCHEMA}""",
        lambda r: (f"trigger {r[0]}.{r[1]}.{r[2]}", f"{r[3]} enabled={r[4]}"),
    ),
    Section(
        f"""SELECT schemaname, tablename, rulename, definition FROM pg_rules n
            WHERE {in_user_schema("n.schemaname")}""",
        lambda r: (f"rule {r[0]}.{r[1]}.{r[2]}", " ".join(str(r[3]).split())),
    ),
    Section(
        f"""SELECT n.nspname, t.typname, t.typtype, pg_get_userbyid(t.typowner),
                   coalesce(format_type(nullif(t.typbasetype, 0), t.typtypmod), ''),
                   t.typnotnull, coalesce(t.typdefault, ''),
                   coalesce((SELECT string_agg(quote_literal(e.enumlabel), ','
                                               ORDER BY e.enumsortorder)
                             FROM pg_enum e WHERE e.enumtypid = t.oid), '')
            FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE t.typtype IN ('e', 'd', 'r', 'm')
              AND {IN_USER_SCHEMA} AND {not_from_extension("pg_type", "t.oid")}""",
        lambda r: (
            f"type {r[0]}.{r[1]}",
            f"kind={r[2]} owner={r[3]} base=[{r[4]}] not_null={r[5]} default=[{r[6]}] "
            f"labels=[{r[7]}]",
        ),
    ),
    Section(
        """SELECT e.extname, e.extversion, n.nspname
           FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace""",
        lambda r: (f"extension {r[0]}", f"version={r[1]} schema={r[2]}"),
    ),
    Section(
        """SELECT pg_get_userbyid(d.defaclrole), coalesce(n.nspname, '*'), d.defaclobjtype,
                  d.defaclacl::text
           FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace""",
        lambda r: (f"default privileges for {r[0]} in {r[1]} on {r[2]}", r[3]),
    ),
)


def _grant_value(grantable: bool, grantor: str) -> str:
    return f"grantable={'yes' if grantable else 'no'} grantor={grantor}"


@dataclass(frozen=True)
class Fingerprint:
    entries: Mapping[str, str]

    def sha256(self) -> str:
        canonical = json.dumps(sorted(self.entries.items()), separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def differences(self, other: Fingerprint, added: str = "left behind") -> list[str]:
        """What changed from ``self`` to ``other``, one readable line per object;
        ``added`` names what only ``other`` has."""
        lines = []
        for key in sorted(self.entries.keys() | other.entries.keys()):
            before, after = self.entries.get(key), other.entries.get(key)
            if before == after:
                continue
            if after is None:
                lines.append(f"missing: {key} ({_short(before)})")
            elif before is None:
                lines.append(f"{added}: {key} ({_short(after)})")
            else:
                lines.append(f"changed: {key}: {_short(before)} -> {_short(after)}")
        return lines


def _short(value: str | None, limit: int = 240) -> str:
    text = " ".join((value or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_fingerprint(
    connection: Connection, excluded_tables: Iterable[str] = ("alembic_version",)
) -> Fingerprint:
    """The schema's fingerprint. Its queries are prepared on a connection's first read, so
    one that reads many (the roundtrip walk: three a revision) plans them once. A read that
    finds them gone (a migration's ``DISCARD ALL``) runs them unprepared, and the next
    read prepares them again."""
    parameters = {"excluded": list(excluded_tables)}
    try:
        names = _prepared(connection, parameters)
        return _fingerprint(connection.exec_driver_sql(f"EXECUTE {name}") for name in names)
    except DBAPIError as error:
        if getattr(error.orig, "pgcode", None) != NO_SUCH_STATEMENT:
            raise
    connection.rollback()  # the read's own transaction: nothing else is in it
    connection.info.pop(PREPARED, None)
    return _fingerprint(connection.exec_driver_sql(part.sql, parameters) for part in SECTIONS)


def _fingerprint(results: Iterable[Iterable[Row]]) -> Fingerprint:
    entries: dict[str, str] = {}
    for section, result in zip(SECTIONS, results, strict=True):
        for row in result:
            key, value = section.entry(tuple(row))
            entries[key] = value
    return Fingerprint(entries)


def _prepared(connection: Connection, parameters: dict[str, list[str]]) -> list[str]:
    """The names of the sections' statements on this connection for these parameters,
    prepared on first use (a prepared statement belongs to the session: it outlives a
    rollback). Names are never used twice, so some left by an earlier set never clash."""
    known: dict[tuple[str, ...], list[str]] = connection.info.setdefault(PREPARED, {})
    excluded = tuple(parameters["excluded"])
    if excluded not in known:
        tag = f"{PREPARED}_{next(_TAGS)}"
        names = [f"{tag}_{index}" for index in range(len(SECTIONS))]
        dbapi = connection.connection.dbapi_connection
        assert dbapi is not None  # a Connection that is open
        # on the driver's cursor: the texts are final, with no parameter left to fill
        with contextlib.closing(dbapi.cursor()) as cursor:
            texts = [cursor.mogrify(section.sql, parameters).decode() for section in SECTIONS]
            cursor.execute(
                ";\n".join(
                    f"PREPARE {name} AS {text}" for name, text in zip(names, texts, strict=True)
                )
            )
        known[excluded] = names
    return known[excluded]
