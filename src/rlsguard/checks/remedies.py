"""The SQL that repairs a finding, written for the objects at hand: the schema's own
table, policy, role and column names, and the tenant as the tenancy model gives it
(a setting, a helper function, a claim, or a membership of the principal)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from pglast.keywords import COL_NAME_KEYWORDS, RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS

from rlsguard.config import PRINCIPAL, TENANT
from rlsguard.schema.catalog import PUBLIC, Function, Policy, Relation
from rlsguard.schema.expressions import PRINCIPAL as PRINCIPAL_KIND
from rlsguard.schema.expressions import TENANT as TENANT_KIND
from rlsguard.schema.expressions import parse_template
from rlsguard.schema.tenancy import Tenancy

_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")
_KEYWORDS = RESERVED_KEYWORDS | TYPE_FUNC_NAME_KEYWORDS | COL_NAME_KEYWORDS


def ident(name: str) -> str:
    """``name`` as an SQL identifier: bare when it can be, quoted otherwise."""
    if _PLAIN.fullmatch(name) and name not in _KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def qualified(name: str) -> str:
    """A ``schema.name`` as SQL (each part quoted as needed)."""
    schema, bare = name.split(".", 1)
    return f"{ident(schema)}.{ident(bare)}"


def _setting(name: str) -> str:
    return f"nullif(current_setting('{name}', true), '')"


def _claim(setting: str, path: tuple[str, ...]) -> str:
    steps = "".join(f" -> '{step}'" for step in path[:-1])
    return f"({_setting(setting)}::jsonb{steps} ->> '{path[-1]}')"


def _path_to(document: Any, placeholder: str) -> tuple[str, ...] | None:
    if document == placeholder:
        return ()
    if isinstance(document, dict):
        for key, value in document.items():
            found = _path_to(value, placeholder)
            if found is not None:
                return (key, *found)
    return None


def _value_of(tenancy: Tenancy, placeholder: str, kind: object) -> tuple[str, bool] | None:
    """The SQL for the caller's tenant (or principal), and whether it is text to cast:
    a setting holding it, a helper function returning it, or a claim carrying it."""
    for setting, template in tenancy.settings.entry:
        if template == placeholder:
            return _setting(setting), True
    for name, found in sorted(tenancy.context.kinds_of_helpers.items()):
        function = next(
            (f for f in tenancy.catalog.functions.values() if f"{f.schema}.{f.name}" == name),
            None,
        )
        if found == kind and function is not None and not function.arguments:
            return f"{qualified(name)}()", False
    for setting, template in tenancy.settings.entry:
        path = _path_to(parse_template(template), placeholder)
        if path:
            return _claim(setting, path), True
    return None


def _cast(value: tuple[str, bool], relation: Relation, column: str) -> str:
    text, is_text = value
    found = relation.column(column)
    if not is_text or found is None or found.type == "text":
        return text
    return f"{text}::{found.type}"


def _compare(tenancy: Tenancy, relation: Relation, column: str) -> str:
    """``column`` holds the caller's tenant; through the principal's memberships when
    the model knows the principal only."""
    tenant = _value_of(tenancy, TENANT, TENANT_KIND)
    membership = tenancy.settings.membership
    principal = _value_of(tenancy, PRINCIPAL, PRINCIPAL_KIND)
    if tenant is None and membership is not None and principal is not None:
        members = tenancy.membership_table
        assert members is not None
        return (
            f"{ident(column)} IN (SELECT member.{ident(membership.tenant)} FROM "
            f"{qualified(members.qualified)} AS member WHERE member.{ident(membership.principal)}"
            f" = {_cast(principal, members, membership.principal)})"
        )
    return f"{ident(column)} = {tenant_value(tenancy, relation, column)}"


def tenant_value(tenancy: Tenancy, relation: Relation, column: str) -> str:
    """The caller's tenant as SQL, as ``column`` of ``relation`` holds it (the tenant
    setting where the model gives the tenant no other way)."""
    found = _value_of(tenancy, TENANT, TENANT_KIND)
    return _cast(found or (_setting(tenancy.settings.tenant_setting), True), relation, column)


def _admin_context(tenancy: Tenancy) -> list[str]:
    """The conditions that make the application an admin (``admin_context``), as SQL."""
    found = []
    for setting, template in tenancy.settings.admin_context:
        document = parse_template(template)
        if not isinstance(document, dict):
            found.append(f"current_setting('{setting}', true) = '{template}'")
            continue
        for path, value in _leaves(document):
            found.append(f"{_claim(setting, path)} = '{value}'")
    return found


def _leaves(document: dict[str, Any]) -> Iterator[tuple[tuple[str, ...], str]]:
    for key, value in document.items():
        if isinstance(value, dict):
            yield from (((key, *path), leaf) for path, leaf in _leaves(value))
        else:
            yield (key,), str(value)


def tenant_predicate(tenancy: Tenancy, relation: Relation) -> str:
    """An expression true for exactly the current tenant's rows of ``relation`` (and
    for every row in the model's admin context, if it has one)."""
    bound = _tenant_rows(tenancy, relation)
    admin = _admin_context(tenancy)
    return " OR ".join([bound, *admin]) if admin else bound


def _tenant_rows(tenancy: Tenancy, relation: Relation) -> str:
    column = tenancy.settings.tenant_column
    root = tenancy.tenant_root
    if (
        relation.column(column) is None
        and root is not None
        and root.qualified == relation.qualified
    ):
        return _compare(tenancy, relation, tenancy.tenant_key)
    principal = _value_of(tenancy, PRINCIPAL, PRINCIPAL_KIND)
    owners = sorted(tenancy.principal_columns(relation))
    if relation.column(column) is None and owners and principal is not None:
        return f"{ident(owners[0])} = {_cast(principal, relation, owners[0])}"
    if relation.column(column) is None:
        for key in relation.foreign_keys:
            if key.references in tenancy.tenant_tables and key.references != relation.qualified:
                pairs = zip(key.referenced_columns, key.columns, strict=True)
                on = " AND ".join(
                    f"parent.{ident(theirs)} = {ident(relation.name)}.{ident(ours)}"
                    for theirs, ours in pairs
                )
                return f"EXISTS (SELECT 1 FROM {qualified(key.references)} AS parent WHERE {on})"
    return _compare(tenancy, relation, column)


def policy_name(relation: Relation, suffix: str) -> str:
    taken = {policy.name for policy in relation.policies}
    name, number = f"{relation.name}_{suffix}", 1
    while name in taken:
        number += 1
        name = f"{relation.name}_{suffix}_{number}"
    return name


def create_tenant_policy(tenancy: Tenancy, relation: Relation, *, restrictive: bool) -> str:
    """A policy for the application that binds every command to the tenant."""
    predicate = tenant_predicate(tenancy, relation)
    kind = " AS RESTRICTIVE" if restrictive else ""
    name = policy_name(relation, "tenant_only" if restrictive else "tenant")
    return (
        f"CREATE POLICY {ident(name)} ON {qualified(relation.qualified)}{kind} "
        f"TO {ident(tenancy.app.name)}\n"
        f"    USING ({predicate})\n    WITH CHECK ({predicate});"
    )


def admin_policies(tenancy: Tenancy, relation: Relation) -> list[str]:
    """For each admin role (not one that skips RLS) that has no policy on ``relation``:
    a bypass policy, and the grants it lacks."""
    table = qualified(relation.qualified)
    made = []
    for admin in tenancy.admins:
        if admin.superuser or admin.bypassrls:
            continue
        if not tenancy.has(admin.name, "SELECT", relation):
            made.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {ident(admin.name)};")
        if not tenancy.applicable(relation, "SELECT", admin.name):
            made.append(
                f"CREATE POLICY {ident(policy_name(relation, 'admin'))} ON {table} TO "
                f"{ident(admin.name)} USING (true) WITH CHECK (true);"
            )
    return made


def rewrite_policy(tenancy: Tenancy, policy: Policy) -> str:
    """``policy`` with the tenant predicate as each clause its command takes."""
    relation = tenancy.catalog.relations[policy.table]
    predicate = tenant_predicate(tenancy, relation)
    clauses = []
    if policy.command != "INSERT":
        clauses.append(f"USING ({predicate})")
    if policy.command in ("INSERT", "UPDATE", "ALL"):
        clauses.append(f"WITH CHECK ({predicate})")
    return (
        f"ALTER POLICY {ident(policy.name)} ON {qualified(policy.table)}\n    "
        + "\n    ".join(clauses)
        + ";"
    )


def grant_holders(tenancy: Tenancy, role: str, privilege: str, relation: Relation) -> list[str]:
    """Who holds ``privilege`` on ``relation`` for ``role``: itself, PUBLIC, or roles it
    belongs to (each a REVOKE target)."""
    actors = tenancy.closure(role)
    grants = [*relation.grants, *(g for column in relation.columns for g in column.grants)]
    holders = {
        grant.grantee
        for grant in grants
        if grant.privilege == privilege and (grant.grantee == PUBLIC or grant.grantee in actors)
    }
    return sorted(holders)


def revoke(tenancy: Tenancy, role: str, privileges: Iterable[str], relation: Relation) -> str:
    """REVOKE ``privileges`` on ``relation`` from every grantee that gives them to ``role``
    (table-wide and per column)."""
    by_holder: dict[str, list[str]] = {}
    for privilege in privileges:
        for holder in grant_holders(tenancy, role, privilege, relation) or [role]:
            by_holder.setdefault(holder, []).append(privilege)
    return "\n".join(_revokes(relation, by_holder))


def _revokes(relation: Relation, by_holder: dict[str, list[str]]) -> Iterator[str]:
    table = qualified(relation.qualified)
    for holder, privileges in sorted(by_holder.items()):
        grantee = "PUBLIC" if holder == PUBLIC else ident(holder)
        yield f"REVOKE {', '.join(privileges)} ON {table} FROM {grantee};"
        columns = [
            column.name
            for column in relation.columns
            if any(g.grantee == holder and g.privilege in privileges for g in column.grants)
        ]
        if columns:
            listed = ", ".join(ident(name) for name in columns)
            each = ", ".join(f"{p} ({listed})" for p in privileges if p != "TRUNCATE")
            yield f"REVOKE {each} ON {table} FROM {grantee};"


NEW_OWNER = "tenant_data_owner"


def other_owner(tenancy: Tenancy) -> tuple[str, list[str]]:
    """A role to own tables the application must not own, and what makes it: the owner
    of other tenant tables, else a new role (the application may run the migrations
    itself, so the one running the fix may be the application)."""
    app = tenancy.closure(tenancy.app.name)
    owners = sorted({r.owner for r in tenancy.tenant_relations if r.owner not in app})
    if owners:
        return ident(owners[0]), []
    made = (
        f"DO $$ BEGIN CREATE ROLE {NEW_OWNER} NOLOGIN; "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$;"
    )
    return NEW_OWNER, [made]


def disown(tenancy: Tenancy, relation: Relation, keep: str) -> list[str]:
    """Statements that take ``relation`` from the application when it owns it (directly
    or through a role it belongs to), granting it back ``keep``."""
    if relation.owner not in tenancy.closure(tenancy.app.name):
        return []
    if relation.qualified in tenancy.append_only:
        keep = "SELECT, INSERT"
    table = qualified(relation.qualified)
    owner, making = other_owner(tenancy)
    return [
        *making,
        f"ALTER TABLE {table} OWNER TO {owner};",
        f"GRANT {keep} ON {table} TO {ident(tenancy.app.name)};",
    ]


def take_away(tenancy: Tenancy, relation: Relation, privileges: list[str], keep: str) -> str:
    """Revoke ``privileges`` from the application (taking the table from it first when it
    owns it, granting back ``keep``), and from a superuser its superuser rights first."""
    app = tenancy.app.name
    return "\n".join(
        [
            *no_superuser(tenancy),
            *disown(tenancy, relation, keep),
            revoke(tenancy, app, privileges, relation),
        ]
    )


def no_superuser(tenancy: Tenancy) -> list[str]:
    """What makes the application an ordinary role again when it is (or can become) a
    superuser: the attribute dropped, or the membership revoked."""
    app = tenancy.catalog.roles[tenancy.app.name]
    found = tenancy.superuser_among(app.name)
    if found is None:
        return []
    if found.name == app.name:
        return [f"ALTER ROLE {ident(app.name)} NOSUPERUSER;"]
    through = [name for name in app.member_of if found.name in tenancy.closure(name)]
    return [f"REVOKE {ident(name)} FROM {ident(app.name)};" for name in through]


_VOLATILITY = {"i": "IMMUTABLE", "s": "STABLE", "v": "VOLATILE"}


def replace_function(function: Function, source: str) -> str:
    """``CREATE OR REPLACE`` of ``function`` with a new body, keeping what it is: its
    arguments, result, language, volatility, SECURITY DEFINER and SET options."""
    options = [f"LANGUAGE {function.language}", _VOLATILITY.get(function.volatility, "")]
    if function.security_definer:
        options.append("SECURITY DEFINER")
    for item in function.config:
        name, _, value = item.partition("=")
        options.append(f"SET {name} = {_config_value(value)}")
    quote = "$fix$"
    return (
        f"CREATE OR REPLACE FUNCTION {ident(function.schema)}.{ident(function.name)}"
        f"({function.arguments}) RETURNS {function.returns}\n    "
        + " ".join(option for option in options if option)
        + f"\nAS {quote}{source}{quote};"
    )


def _config_value(value: str) -> str:
    parts = [part.strip() for part in value.split(",")]
    return ", ".join(f"'{part}'" if part and not _PLAIN.fullmatch(part) else part for part in parts)
