"""A ``[tool.rlsguard]`` proposed from a database's catalog and policies: the tenant
column, the settings and claims the policies compare it with, the principal and the
membership table they look the tenant up in, the application and admin roles, and the
admin's own context. Each choice comes with the reason, written as a TOML comment.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pglast import ast, enums, parse_sql
from pglast.parser import ParseError

from rlsguard.config import PRESETS, PRINCIPAL, TENANT
from rlsguard.schema.catalog import PUBLIC, Catalog, Function, Policy, Relation
from rlsguard.schema.helpers import returned_expression
from rlsguard.schema.nodes import column_name, function_name, operator_of, string_constant, walk
from rlsguard.schema.tenancy import primary_key

SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
MAX_DEPTH = 64  # nesting of casts, operators and helpers within helpers
# A source of a value in the context: ("setting", name), ("claim", setting, *path) or
# ("function", name) for a helper whose body rlsguard cannot read.
Source = tuple[str, ...]


@dataclass
class Proposal:
    table: dict[str, Any] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    def set(self, key: str, value: Any, reason: str) -> None:
        self.table[key] = value
        self.reasons[key] = reason

    def toml(self) -> str:
        lines = ["[tool.rlsguard]"]
        for key, value in self.table.items():
            for reason_line in wrapped(self.reasons.get(key, "")):
                lines.append(f"# {reason_line}")
            lines.append(f"{key} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"


@dataclass
class _Sightings:
    """What the policies compare with what."""

    compared: Counter[tuple[str, Source]] = field(default_factory=Counter)  # (column, source)
    members: Counter[tuple[str, str, str, str, Source]] = field(default_factory=Counter)
    admin_tests: Counter[tuple[Source, str]] = field(default_factory=Counter)
    open_tables: dict[str, set[str]] = field(default_factory=dict)  # role -> USING (true)
    policy_tables: set[str] = field(default_factory=set)
    bound: Counter[str] = field(default_factory=Counter)  # role -> other policies


def propose(catalog: Catalog, schemas: Iterable[str] | None = None) -> Proposal:
    chosen = list(schemas or _schemas_with_policies(catalog) or ["public"])
    tables = list(catalog.tables(chosen))
    policies = [policy for table in tables for policy in table.policies]
    sources = _SourceReader(catalog)
    seen = _Sightings()
    for policy in policies:
        _read_policy(policy, sources, seen)
    seen.members = Counter(
        {found: count for found, count in seen.members.items() if not _parent_row(found, tables)}
    )
    proposal = Proposal()
    if chosen != ["public"]:
        proposal.set("schemas", chosen, "the schemas whose tables have policies")
    column = _tenant_column(tables, seen)
    if column is not None:
        carrying = sum(1 for table in tables if table.column(column) is not None)
        proposal.set(
            "tenant_column",
            column,
            f"{carrying} table(s) carry {column}, and the policies compare it with the context",
        )
    _context(proposal, catalog, tables, seen)
    entered = set(proposal.table.get("context", {})) | {proposal.table.get("tenant_setting")}
    companions = sorted(sources.companions - entered)
    if companions:
        proposal.set(
            "trusted_settings",
            companions,
            "read beside the claims, as PostgREST before v10 set them: the application's own",
        )
    _roles(proposal, catalog, seen)
    _preset(proposal, catalog)
    return proposal


# -- reading the policies ---------------------------------------------------------------------


class _SourceReader:
    """Which setting, claim or helper a value comes from."""

    def __init__(self, catalog: Catalog) -> None:
        self.functions: dict[str, Function] = {}
        for function in catalog.functions.values():
            self.functions.setdefault(function.name, function)
            self.functions[f"{function.schema}.{function.name}"] = function
        self._bodies: dict[str, Source | None] = {}
        # settings read beside a claim in a COALESCE (PostgREST's per-claim settings)
        self.companions: set[str] = set()

    def source(self, node: object, depth: int = 0) -> Source | None:
        if depth > MAX_DEPTH:
            return None
        if isinstance(node, ast.TypeCast):
            return self.source(node.arg, depth + 1)
        if isinstance(node, ast.A_Expr) and node.kind == enums.A_Expr_Kind.AEXPR_NULLIF:
            return self.source(node.lexpr, depth + 1)
        if isinstance(node, ast.CoalesceExpr):
            found = [self.source(argument, depth + 1) for argument in node.args or ()]
            claims = [item for item in found if item is not None and item[0] == "claim"]
            if claims:
                self.companions.update(
                    item[1] for item in found if item is not None and item[0] == "setting"
                )
            return claims[0] if claims else next((item for item in found if item), None)
        if isinstance(node, ast.FuncCall):
            name = function_name(node)
            if name.split(".")[-1] == "current_setting" and node.args:
                setting = string_constant(node.args[0])
                return ("setting", setting) if setting else None
            if node.args:
                return None
            return self._body(name, depth)
        if isinstance(node, ast.A_Expr) and node.kind == enums.A_Expr_Kind.AEXPR_OP:
            operator = operator_of(node)
            step = string_constant(node.rexpr)
            if operator in ("->", "->>") and step is not None:
                document = self.source(node.lexpr, depth + 1)
                if document is not None and document[0] == "setting":
                    return ("claim", document[1], step)
                if document is not None and document[0] == "claim":
                    return (*document, step)
        return None

    def function(self, name: str) -> Function | None:
        """The function a call names, qualified or not."""
        return self.functions.get(name) or self.functions.get(name.rsplit(".", maxsplit=1)[-1])

    def _body(self, name: str, depth: int) -> Source | None:
        if name not in self._bodies:
            self._bodies[name] = None  # a helper calling itself reads nothing
            function = self.function(name)
            returned = returned_expression(function) if function is not None else None
            found = self.source(returned, depth + 1) if returned is not None else None
            if found is None and function is not None:
                found = ("function", f"{function.schema}.{function.name}")
            self._bodies[name] = found
        return self._bodies[name]


def _read_policy(policy: Policy, sources: _SourceReader, seen: _Sightings) -> None:
    roles = [role for role in policy.roles if role != PUBLIC]
    texts = [text for text in (policy.using, policy.check) if text]
    opens = any(text.strip().lower() == "true" for text in texts)
    seen.policy_tables.add(policy.table)
    for role in roles:
        if opens:
            seen.open_tables.setdefault(role, set()).add(policy.table)
        else:
            seen.bound[role] += 1
    for text in texts:
        try:
            statement: Any = parse_sql(f"SELECT 1 WHERE {text}")[0].stmt
        except ParseError:
            continue
        for node in _with_helper_bodies(statement.whereClause, sources):
            _read_node(node, sources, seen)


def _read_node(node: ast.Node, sources: _SourceReader, seen: _Sightings) -> None:
    if isinstance(node, ast.A_Expr) and node.kind == enums.A_Expr_Kind.AEXPR_OP:
        if operator_of(node) != "=":
            return
        for left, right in ((node.lexpr, node.rexpr), (node.rexpr, node.lexpr)):
            column, source = column_name(left), sources.source(right)
            if column is not None and source is not None:
                seen.compared[(column, source)] += 1
            constant = string_constant(right)
            if source is None and constant is not None:
                tested = sources.source(left)
                if tested is not None:
                    seen.admin_tests[(tested, constant)] += 1
    elif isinstance(node, ast.SubLink) and node.subLinkType == enums.SubLinkType.ANY_SUBLINK:
        column = column_name(node.testexpr)
        found = _membership_lookup(node.subselect, sources)
        if column is not None and found is not None:
            table, tenant, principal, source = found
            seen.members[(column, table, tenant, principal, source)] += 1


def _with_helper_bodies(tree: object, sources: _SourceReader) -> Iterator[ast.Node]:
    """Every node of ``tree`` and of the bodies of the helpers it calls (an
    ``is_service_role()`` whose body compares a claim is read like the comparison)."""
    pending, seen = [tree], set()
    while pending:
        for node in walk(pending.pop()):
            yield node
            if isinstance(node, ast.FuncCall) and not node.args:
                function = sources.function(function_name(node))
                if function is not None and function.signature not in seen:
                    seen.add(function.signature)
                    body = returned_expression(function)
                    if body is not None:
                        pending.append(body)


def _membership_lookup(
    select: object, sources: _SourceReader
) -> tuple[str, str, str, Source] | None:
    """``SELECT m.org_id FROM memberships m WHERE m.user_id = <principal>``."""
    if not isinstance(select, ast.SelectStmt) or not select.fromClause:
        return None
    if len(select.fromClause) != 1 or not isinstance(select.fromClause[0], ast.RangeVar):
        return None
    targets = select.targetList or ()
    if len(targets) != 1 or not isinstance(targets[0], ast.ResTarget):
        return None
    tenant = column_name(targets[0].val)
    found_from = select.fromClause[0]
    table = (
        f"{found_from.schemaname}.{found_from.relname}"
        if found_from.schemaname
        else str(found_from.relname)
    )
    for node in walk(select.whereClause):
        if isinstance(node, ast.A_Expr) and node.kind == enums.A_Expr_Kind.AEXPR_OP:
            for left, right in ((node.lexpr, node.rexpr), (node.rexpr, node.lexpr)):
                principal, source = column_name(left), sources.source(right)
                if tenant and principal and source is not None:
                    return table, tenant, principal, source
    return None


def _parent_row(found: tuple[str, str, str, str, Source], tables: list[Relation]) -> bool:
    """``task_id IN (SELECT t.id FROM tasks t WHERE t.org_id = ...)`` looks a parent row
    up by its key: no membership (which selects a tenant id, not its table's key)."""
    _column, table, selected, _principal, _source = found
    return any(
        table in (relation.qualified, relation.name) and primary_key(relation) == (selected,)
        for relation in tables
    )


# -- choosing ---------------------------------------------------------------------------------


def _tenant_column(tables: list[Relation], seen: _Sightings) -> str | None:
    """The column the policies test against the context that most tables carry (not as
    their whole key: ``id`` is everyone's); one tested through memberships first."""
    carrying = Counter(
        column.name
        for table in tables
        for column in table.columns
        if primary_key(table) != (column.name,)
    )
    through_members = {column for (column, *_rest) in seen.members}
    candidates = Counter(column for column, _source in seen.compared) + Counter(through_members)
    if not candidates:
        return None
    return max(
        candidates,
        key=lambda name: (name in through_members, carrying[name], candidates[name], name),
    )


def _context(
    proposal: Proposal, catalog: Catalog, tables: list[Relation], seen: _Sightings
) -> None:
    column = proposal.table.get("tenant_column")
    tenant_sources = Counter(
        {source: count for (name, source), count in seen.compared.items() if name == column}
    )
    principal_sources: Counter[Source] = Counter()
    if seen.members:
        (_tested, table, tenant, principal, source), _count = seen.members.most_common(1)[0]
        principal_sources[source] += 1
        proposal.set(
            "membership",
            {"table": table, "principal": principal, "tenant": tenant},
            f"the policies look the tenant up in {table} by the user",
        )
    for (name, source), count in seen.compared.items():
        if name != column and source not in tenant_sources:
            principal_sources[source] += count
    entry, functions = _entry(tenant_sources, principal_sources)
    _entry_keys(proposal, catalog, entry, functions)
    if "membership" not in proposal.table:
        found = _principal_table(tables, seen, principal_sources)
        if found is not None:
            proposal.set(
                "principal_table",
                found,
                f"rows are compared with the user ({PRINCIPAL}) through keys to this table",
            )
    admin = _admin_context(seen, entry)
    if admin:
        proposal.set(
            "admin_context",
            admin,
            "the policies let every row through when these hold: the admin's context",
        )


def _entry(
    tenant_sources: Counter[Source], principal_sources: Counter[Source]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings (with their templates) and the unreadable helpers of the context."""
    entry: dict[str, Any] = {}
    functions: dict[str, str] = {}
    for sources_of, placeholder, kind in (
        (tenant_sources, TENANT, "tenant"),
        (principal_sources, PRINCIPAL, "principal"),
    ):
        if not sources_of:
            continue
        source = sources_of.most_common(1)[0][0]
        if source[0] == "function":
            functions[source[1]] = kind
        elif source[0] == "setting":
            entry.setdefault(source[1], placeholder)
        else:
            document = entry.setdefault(source[1], {})
            if isinstance(document, dict):
                _put(document, source[2:], placeholder)
    return entry, functions


def _entry_keys(
    proposal: Proposal, catalog: Catalog, entry: dict[str, Any], functions: dict[str, str]
) -> None:
    if list(entry.values()) == [TENANT]:
        proposal.set(
            "tenant_setting",
            next(iter(entry)),
            "the setting the policies compare the tenant column with",
        )
    elif entry:
        proposal.set(
            "context",
            {name: _template(value) for name, value in entry.items()},
            "the settings the application sets to enter a tenant ({tenant}) as a user "
            "({principal}), as the policies read them",
        )
    if not functions:
        return
    proposal.set(
        "context_functions",
        functions,
        "helpers whose body rlsguard cannot read (it is not one SELECT); check what each returns",
    )
    setter = _setter(catalog)
    if setter is not None:
        proposal.set(
            "context_statement",
            f"SELECT {setter}({TENANT})",
            f"a guess: {setter} looks like the function the application enters a tenant "
            "with; check its arguments",
        )


def _principal_table(
    tables: list[Relation], seen: _Sightings, principal_sources: Counter[Source]
) -> str | None:
    compared = {name for (name, source) in seen.compared if source in principal_sources}
    referenced = Counter(
        key.references
        for table in tables
        for key in table.foreign_keys
        if key.references and any(name in compared for name in key.columns)
    )
    return referenced.most_common(1)[0][0] if referenced else None


def _admin_context(seen: _Sightings, entry: dict[str, Any]) -> dict[str, str]:
    admin: dict[str, Any] = {}
    for (source, constant), _count in seen.admin_tests.most_common():
        if source[0] == "setting" and source[1] not in entry:
            admin.setdefault(source[1], constant)
        elif source[0] == "claim":
            document = admin.setdefault(source[1], {})
            if isinstance(document, dict):
                _put(document, source[2:], constant)
    return {name: _template(value) for name, value in admin.items()}


def _roles(proposal: Proposal, catalog: Catalog, seen: _Sightings) -> None:
    known = {name for name in catalog.roles if not name.startswith("pg_")}
    bound = Counter({role: count for role, count in seen.bound.items() if role in known})
    if bound:
        app = bound.most_common(1)[0][0]
        proposal.set("app_role", app, f"the role {bound[app]} tenant-bound policies are for")
    bypassing = {
        role.name
        for role in catalog.roles.values()
        if role.bypassrls and not role.superuser and role.name in _granted(catalog)
    }
    wide = {
        role
        for role, tables in seen.open_tables.items()
        if 2 * len(tables) >= len(seen.policy_tables)
    }
    admins = sorted(
        role
        for role in {*wide, *bypassing}
        if role in known and role != proposal.table.get("app_role")
    )
    proposal.set(
        "admin_roles",
        admins,
        "roles with policies that let every row through on most tables, or BYPASSRLS and "
        "grants on tables"
        if admins
        else "no role has a policy that lets every row through",
    )


def _preset(proposal: Proposal, catalog: Catalog) -> None:
    """Supabase's roles and auth.uid(): the preset, and only the keys that differ from it."""
    if not {"authenticated", "service_role"} <= set(catalog.roles):
        return
    if not any(f.schema == "auth" and f.name == "uid" for f in catalog.functions.values()):
        return
    preset = PRESETS["supabase"]
    table = {"preset": "supabase"}
    reasons = {"preset": "roles authenticated and service_role, and auth.uid(): Supabase"}
    for key, value in proposal.table.items():
        if preset.get(key) != value:
            table[key] = value
            reasons[key] = proposal.reasons[key]
    proposal.table, proposal.reasons = table, reasons


def _granted(catalog: Catalog) -> set[str]:
    return {grant.grantee for table in catalog.tables() for grant in table.grants}


def _setter(catalog: Catalog) -> str | None:
    for function in catalog.functions.values():
        lowered = function.name.lower()
        if lowered.startswith("set_") and function.arguments.count(",") == 0 and function.arguments:
            return f"{function.schema}.{function.name}"
    return None


def _schemas_with_policies(catalog: Catalog) -> list[str]:
    return sorted(
        {
            relation.schema
            for relation in catalog.tables()
            if relation.policies and relation.schema not in SYSTEM_SCHEMAS
        }
    )


# -- small pieces --------------------------------------------------------------------------


def _put(document: dict[str, Any], path: tuple[str, ...], value: str) -> None:
    *parents, last = path
    for step in parents:
        document = document.setdefault(step, {})
    document[last] = value


def _template(value: Any) -> str:
    return json.dumps(value) if isinstance(value, dict) else str(value)


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{json.dumps(key)} = {_toml_value(item)}" for key, item in value.items())
        return "{ " + items + " }" if items else "{}"
    return json.dumps(value)


def wrapped(text: str, width: int = 86) -> Iterator[str]:
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            yield line
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        yield line
