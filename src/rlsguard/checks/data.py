"""Side channels and shared state: uniques, foreign keys, sequences, global tables."""

from __future__ import annotations

from collections.abc import Iterator

from rlsguard.checks.keys import foreign_key_with_tenant, random_key, unique_with_tenant
from rlsguard.checks.registry import Problem, check
from rlsguard.checks.remedies import take_away
from rlsguard.findings import Severity
from rlsguard.schema.catalog import Column, Relation
from rlsguard.schema.targets import (
    append_only_tables,
    global_tables,
    tables_with_tenant_column,
    tenant_blind_unique_indexes,
)
from rlsguard.schema.tenancy import Tenancy


@check(
    "RG401",
    "unique-tenant-scoped",
    Severity.WARNING,
    "Unique keys of tenant tables include the tenant column",
    attacks=(10,),
    objects=tables_with_tenant_column,
)
def unique_tenant_scoped(tenancy: Tenancy, table: str) -> Iterator[Problem]:
    """What leaks: existence. Uniqueness is checked across all rows, whatever RLS hides:
    inserting a value another tenant already holds fails with a duplicate-key error,
    which tells the tenant that the value exists elsewhere (an e-mail address, a
    document hash). It also stops two tenants from holding the same value at all.
    Keys made of server-generated random UUIDs are not reported: they cannot be guessed.

    How it is used: ``INSERT INTO users (email, ...) VALUES ('ceo@rival.example', ...)``
    and read the error.

    Fix: make the key unique per tenant.

        DROP INDEX ix_users_email;
        CREATE UNIQUE INDEX ix_users_tenant_email ON users (tenant_id, email);
    """
    relation = tenancy.catalog.relations[table]
    column = tenancy.settings.tenant_column
    if not tenancy.writes(tenancy.app.name, relation):
        return
    for index in tenant_blind_unique_indexes(tenancy, relation):
        shown = ", ".join(name or "(expression)" for name in index.columns)
        yield Problem(
            f"unique index {index.name} on {table} ({shown}) does not include {column}: a "
            "duplicate-key error tells one tenant what another holds",
            fix=unique_with_tenant(tenancy, relation, index),
        )


@check(
    "RG402",
    "fk-tenant-scoped",
    Severity.ERROR,
    "Foreign keys between tenant tables include the tenant column",
    attacks=(11,),
    objects=tables_with_tenant_column,
)
def fk_tenant_scoped(tenancy: Tenancy, table: str) -> Iterator[Problem]:
    """What leaks: integrity and existence. Foreign-key checks do not apply RLS, so a
    row of tenant A may reference tenant B's parent row (and an insert tells A whether
    B's key exists); ``ON DELETE CASCADE`` then deletes across tenants.

    How it is used: ``INSERT INTO documents (tenant_id, user_id, ...) VALUES
    ('<mine>', '<a user of another tenant>', ...)``.

    Fix: reference the parent by (tenant column, key), backed by a unique key on the parent.

        ALTER TABLE users ADD CONSTRAINT uq_users_tenant_user UNIQUE (tenant_id, user_id);
        ALTER TABLE documents ADD CONSTRAINT fk_documents_user
            FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, user_id);
    """
    relation = tenancy.catalog.relations[table]
    column = tenancy.settings.tenant_column
    if not tenancy.writes(tenancy.app.name, relation):
        return
    for foreign_key in relation.foreign_keys:
        if foreign_key.references not in tenancy.tenant_tables or column in foreign_key.columns:
            continue
        parent = tenancy.catalog.relations.get(foreign_key.references)
        if parent is None or parent.column(column) is None:  # a principal: in several tenants
            continue
        yield Problem(
            f"foreign key {foreign_key.name} ({', '.join(foreign_key.columns)}) -> "
            f"{foreign_key.references} does not include {column}: a row can point at "
            "another tenant's row",
            fix=foreign_key_with_tenant(tenancy, relation, foreign_key),
        )


def _sequence_fed(column: Column) -> bool:
    return bool(column.identity) or bool(column.default and "nextval(" in column.default)


@check(
    "RG403",
    "no-shared-sequence",
    Severity.WARNING,
    "Tenant tables do not number rows from a sequence all tenants share",
    attacks=(20,),
    objects=tables_with_tenant_column,
)
def no_shared_sequence(tenancy: Tenancy, table: str) -> Iterator[Problem]:
    """What leaks: volume. A serial or identity column hands out numbers from one
    sequence for all tenants: the gap between two of a tenant's ids is how many rows
    the other tenants created meanwhile (and the ids are guessable).

    How it is used: insert twice an hour apart and subtract the ids.

    Fix: random keys.

        ALTER TABLE invoices ALTER COLUMN invoice_id SET DEFAULT gen_random_uuid();
    """
    relation = tenancy.catalog.relations[table]
    if not tenancy.has(tenancy.app.name, "INSERT", relation):
        return
    for column in relation.columns:
        if _sequence_fed(column):
            yield Problem(
                f"{table}.{column.name} is numbered by a sequence shared by every tenant",
                fix=random_key(tenancy, relation, column),
            )


@check(
    "RG404",
    "global-read-only",
    Severity.WARNING,
    "The application cannot change tables shared by all tenants",
    attacks=(18,),
    objects=global_tables,
)
def global_read_only(tenancy: Tenancy, table: str) -> Iterator[Problem]:
    """What leaks: influence. A global table (no tenant column, no tenant parent: a
    lookup or template table) is read by every tenant; if the application can write it,
    one tenant's request changes what every other tenant sees.

    How it is used: ``UPDATE templates SET default_configuration = ...`` from one
    tenant's session.

    Fix: the application reads global tables; an admin role writes them.

        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON templates FROM app_user;
        GRANT SELECT ON templates TO app_user;
    """
    relation = tenancy.catalog.relations[table]
    writes = [
        command
        for command in _app_can(tenancy, table, ("INSERT", "UPDATE", "DELETE", "TRUNCATE"))
        if not _confined(tenancy, relation, command)
    ]
    if writes:
        yield Problem(
            f"{tenancy.app.name} can {'/'.join(writes)} {table}, which every tenant shares",
            fix=take_away(tenancy, relation, writes, "SELECT"),
        )


def _confined(tenancy: Tenancy, relation: Relation, command: str) -> bool:
    """Do the policies keep this write of the application to its tenant's own row (the
    tenants table keyed by the tenant) or to the admin context? TRUNCATE ignores them."""
    app = tenancy.app.name
    if command == "TRUNCATE" or not relation.rls_enabled or tenancy.rls_bypass(app, relation):
        return False
    sides = {"INSERT": (True,), "UPDATE": (False, True), "DELETE": (False,)}[command]
    return all(
        tenancy.isolation(relation, command, app, new_rows=new_rows).isolated for new_rows in sides
    )


def _app_can(tenancy: Tenancy, table: str, privileges: tuple[str, ...]) -> list[str]:
    relation = tenancy.catalog.relations[table]
    return [name for name in privileges if tenancy.has(tenancy.app.name, name, relation)]


@check(
    "RG405",
    "append-only",
    Severity.ERROR,
    "The application cannot change or remove rows of the tables configured append_only",
    attacks=(),
    objects=append_only_tables,
)
def append_only(tenancy: Tenancy, table: str) -> Iterator[Problem]:
    """What leaks: integrity, not rows. An audit trail (``append_only`` in
    ``[tool.rlsguard]``) that the application can UPDATE, DELETE or TRUNCATE is one a
    compromised application, or one tenant's session, can rewrite; PCI DSS 10.5 asks that
    audit logs cannot be altered. RLS does not help here: a policy scopes which rows,
    not whether rows may change, and TRUNCATE ignores it.

    How it is used: ``DELETE FROM audit_logs WHERE action = 'export'`` after the export.

    Fix: the application may only add and read rows; nobody but an admin (or nobody at
    all) changes them.

        REVOKE UPDATE, DELETE, TRUNCATE ON audit_logs FROM app_user;
        GRANT SELECT, INSERT ON audit_logs TO app_user;
    """
    changes = _app_can(tenancy, table, ("UPDATE", "DELETE", "TRUNCATE"))
    if changes:
        owner = tenancy.catalog.relations[table].owner
        why = (
            " (it is a superuser)"
            if tenancy.superuser_among(tenancy.app.name)
            else (
                f" (it owns it through {owner})"
                if owner in tenancy.closure(tenancy.app.name)
                else ""
            )
        )
        relation = tenancy.catalog.relations[table]
        yield Problem(
            f"{tenancy.app.name} can {'/'.join(changes)} {table}, which is append-only{why}",
            fix=take_away(tenancy, relation, changes, "SELECT, INSERT"),
        )
