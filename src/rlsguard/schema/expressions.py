"""Does a policy expression keep a row to the current tenant?

Expressions come from ``pg_get_expr`` and are parsed with PostgreSQL's own parser
(pglast). An expression is *tenant-bound* when every way it can be true requires the
tenant column to equal the tenant context: the tenant setting
(``current_setting('app.current_tenant_id', ...)``, through casts and ``NULLIF``), a
helper function whose body reads that setting, or a subquery that does. AND needs one
bound term, OR needs every branch bound, NOT is never trusted. Alongside, the verdict
notes the ways such expressions go wrong in practice: failing open when the setting is
unset or empty, casting an empty setting, and trusting other settings the application
can set to anything.

The context follows the tenancy model: the settings the application enters a tenant
with (``sources``, templates over ``{tenant}`` and ``{principal}``, a JSON claims
document among them), helpers whose SQL body returns one of those values, a principal
column compared with the principal (the tenants of a principal come from a membership
table, read in a subquery), and the admin's own context (``admin_sources``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from pglast import ast, enums, parse_sql
from pglast.parser import ParseError

from rlsguard.schema.nodes import (
    column_name,
    deparse,
    empty_constant,
    false_constant,
    function_name,
    operator_of,
    string_constant,
    type_name,
    unwrapped,
    walk,
)

TEXT_TYPES = frozenset({"text", "varchar", "character varying", "bpchar", "name"})


# What a value is: ("tenant",), ("principal",), ("claims", setting, *path) for a claims
# document or a part of it, ("claim", setting, *path) for a claim the entry does not set,
# ("untrusted", setting, *path) for a claim the user can edit, ("context",) for a helper that
# reads the context but returns something else (a membership test).
Kind = tuple[str, ...]
TENANT: Kind = ("tenant",)
PRINCIPAL: Kind = ("principal",)
CONTEXT: Kind = ("context",)
ADMIN: Kind = ("admin",)  # a helper whose body is a test only the admin context passes
IDENTITY = (TENANT, PRINCIPAL)
CLAIMS = ("claims", "claim", "untrusted")  # kinds that are a place in a claims document


@dataclass(frozen=True)
class TenantContext:
    column: str
    setting: str
    helpers: frozenset[str] = frozenset()  # function names (bare and schema-qualified)
    tenant_tables: frozenset[str] = frozenset()  # table names (bare and schema-qualified)
    sources: tuple[tuple[str, str], ...] = ()  # setting -> template; none: the setting
    admin_sources: tuple[tuple[str, str], ...] = ()
    helper_kinds: tuple[tuple[str, Kind], ...] = ()  # function name -> what it returns
    tenant_columns: frozenset[str] = frozenset()  # besides ``column`` (a root's own key)
    principal_columns: frozenset[str] = frozenset()
    trusted: frozenset[str] = frozenset()  # settings the application sets itself
    untrusted_claims: tuple[str, ...] = ()  # claim paths the user can edit

    @cached_property
    def templates(self) -> dict[str, Any]:
        found = dict(self.sources) or {self.setting: "{tenant}"}
        return {name: parse_template(text) for name, text in found.items()}

    @cached_property
    def admin_templates(self) -> dict[str, Any]:
        return {name: parse_template(text) for name, text in self.admin_sources}

    @cached_property
    def kinds_of_helpers(self) -> dict[str, Kind]:
        found = dict.fromkeys(self.helpers, TENANT)
        found.update(self.helper_kinds)
        return found

    def setting_kind(self, setting: str) -> Kind | None:
        template = self.templates.get(setting)
        if isinstance(template, dict):
            return ("claims", setting)
        return {"{tenant}": TENANT, "{principal}": PRINCIPAL}.get(template or "")

    def claim_kind(self, setting: str, path: tuple[str, ...]) -> Kind:
        dotted = ".".join(path)
        if any(
            dotted == claim or dotted.startswith(f"{claim}.") for claim in self.untrusted_claims
        ):
            return ("untrusted", setting, *path)
        value: Any = self.templates.get(setting)
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        if isinstance(value, dict):
            return ("claims", setting, *path)
        return {"{tenant}": TENANT, "{principal}": PRINCIPAL}.get(
            value if isinstance(value, str) else "", ("claim", setting, *path)
        )

    def admin_value(self, setting: str, path: tuple[str, ...]) -> str | None:
        """The value the admin context gives a setting (or a claim in it), if any."""
        value: Any = self.admin_templates.get(setting)
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        return value if isinstance(value, str) else None


def parse_template(text: str) -> Any:
    """A setting's template: a JSON object (a claims document) or a plain text."""
    if text.lstrip().startswith("{") and not text.startswith("{tenant}"):
        try:
            found = json.loads(text)
        except ValueError:
            return text
        if isinstance(found, dict):
            return found
    return text


@dataclass(frozen=True)
class Verdict:
    bound: bool
    why: str
    fails_open: bool = False
    fragile_cast: bool = False
    other_settings: tuple[str, ...] = field(default=())
    untrusted_claims: tuple[str, ...] = field(default=())


_INTERNED: dict[TenantContext, TenantContext] = {}


def interned(context: TenantContext) -> TenantContext:
    """The one instance of an equal context: the judge's cache then finds its entries by
    identity, not by comparing every field (the tenant tables among them) on each call."""
    return _INTERNED.setdefault(context, context)


def judge(expression: str | None, context: TenantContext) -> Verdict:
    """The verdict on one USING or WITH CHECK expression (None: there is none)."""
    if expression is None:
        return Verdict(False, "there is no expression")
    return _judge(expression, context)


@lru_cache(maxsize=4096)
def _judge(expression: str, context: TenantContext) -> Verdict:
    try:
        statement: Any = parse_sql(f"SELECT 1 WHERE {expression}")[0].stmt
    except ParseError as error:
        return Verdict(False, f"could not be parsed ({error})")
    node = statement.whereClause
    judged = Judge(context)
    bound, why = judged.bound(node)
    return Verdict(
        bound=bound,
        why=why,
        fails_open=not bound and judged.fails_open(node),
        fragile_cast=judged.fragile_cast(node),
        other_settings=tuple(sorted(judged.other_settings(node))),
        untrusted_claims=tuple(sorted(judged.untrusted_claims(node))),
    )


def value_kind(expression: Any, context: TenantContext) -> Kind | None:
    """What a parsed expression (a helper's body) returns, in terms of the context: a
    value, or ADMIN for a test only the admin context passes."""
    judged = Judge(context)
    found = judged.kind(expression)
    if found is None and judged.is_admin_test(expression):
        return ADMIN
    return found


class Judge:
    def __init__(self, context: TenantContext) -> None:
        self.context = context

    # -- what the pieces are -----------------------------------------------------------

    def setting_of(self, node: object) -> str | None:
        """The setting a ``current_setting(...)`` call reads."""
        if (
            isinstance(node, ast.FuncCall)
            and function_name(node).split(".")[-1] == "current_setting"
        ):
            return string_constant(node.args[0]) if node.args else None
        return None

    def column_name(self, node: object) -> str | None:
        return column_name(node)

    def is_tenant_column(self, node: object) -> bool:
        name = self.column_name(node)
        return name is not None and (
            name == self.context.column or name in self.context.tenant_columns
        )

    def is_principal_column(self, node: object) -> bool:
        return self.column_name(node) in self.context.principal_columns

    def is_scoping_column(self, node: object) -> bool:
        return self.is_tenant_column(node) or self.is_principal_column(node)

    def helper_kind(self, node: object) -> Kind | None:
        if not isinstance(node, ast.FuncCall):
            return None
        name = function_name(node)
        kinds = self.context.kinds_of_helpers
        return kinds.get(name) or kinds.get(name.rsplit(".", maxsplit=1)[-1])

    def kind(self, node: object) -> Kind | None:
        """What a value is in terms of the context (see ``Kind``); None: unrelated."""
        if isinstance(node, ast.TypeCast):
            return self.kind(node.arg)
        if isinstance(node, ast.A_Expr) and node.kind == enums.A_Expr_Kind.AEXPR_NULLIF:
            return self.kind(node.lexpr)
        if isinstance(node, ast.CoalesceExpr):
            return self.coalesced_kind(node)
        setting = self.setting_of(node)
        if setting is not None:
            return self.context.setting_kind(setting)
        if isinstance(node, ast.FuncCall):
            found = self.helper_kind(node)
            if found is not None and any(self.is_scoping_column(a) for a in node.args or ()):
                return None  # a test of a row's column, not a value
            return found
        if isinstance(node, ast.A_Expr) and node.kind == enums.A_Expr_Kind.AEXPR_OP:
            operator = operator_of(node)
            if operator in ("->", "->>"):
                document, step = self.kind(node.lexpr), string_constant(node.rexpr)
                if document is not None and document[0] in CLAIMS and step is not None:
                    return self.context.claim_kind(document[1], (*document[2:], step))
            return None
        if isinstance(node, ast.SubLink) and node.subLinkType == enums.SubLinkType.EXPR_SUBLINK:
            return TENANT if self.mentions_context(node.subselect) else None
        return None

    def coalesced_kind(self, node: ast.CoalesceExpr) -> Kind | None:
        """COALESCE of values of one kind (or of settings the application sets itself) is
        that kind; a constant or an untrusted value in it supplies one when unset."""
        kinds = [self.kind(argument) for argument in node.args or ()]
        known = {found for found in kinds if found is not None}
        if len(known) != 1:
            return None
        only = next(iter(known))
        # an empty document in place of unset claims holds no tenant: it supplies nothing
        empty_allowed = only[0] == "claims"
        others_trusted = all(
            found is not None
            or self.trusted_read(argument)
            or (empty_allowed and empty_constant(argument))
            for argument, found in zip(node.args or (), kinds, strict=True)
        )
        return only if others_trusted else None

    def trusted_read(self, node: object) -> bool:
        return self.setting_of(unwrapped(node)) in self.context.trusted

    def mentions_context(self, node: object) -> bool:
        for item in walk(node):
            if self.kind(item) in (*IDENTITY, CONTEXT) or self.helper_kind(item) in (
                *IDENTITY,
                CONTEXT,
            ):
                return True
            if isinstance(item, ast.RangeVar) and (
                item.relname in self.context.tenant_tables
                or f"{item.schemaname}.{item.relname}" in self.context.tenant_tables
            ):
                return True
        return False

    def is_admin_test(self, node: object) -> bool:
        """A test only the admin's context passes: a setting only it sets, or a setting
        (or claim) compared with the value the admin context gives it."""
        if not self.context.admin_sources:
            return False
        if self.helper_kind(node) == ADMIN:
            return True
        if isinstance(node, ast.CoalesceExpr) and node.args:
            first, *fallbacks = node.args
            return self.is_admin_test(first) and all(false_constant(item) for item in fallbacks)
        if isinstance(node, ast.A_Expr) and node.kind == enums.A_Expr_Kind.AEXPR_OP:
            operator = operator_of(node)
            for value, constant in ((node.lexpr, node.rexpr), (node.rexpr, node.lexpr)):
                expected = self.admin_value(value)
                if operator == "=" and expected is not None:
                    return expected == string_constant(constant)
        # a setting only the admin context sets, read as a boolean
        admin_only = set(self.context.admin_templates) - set(self.context.templates)
        return (
            isinstance(node, ast.TypeCast)
            and type_name(node) in ("bool", "boolean")
            and self.setting_of(unwrapped(node.arg)) in admin_only
        )

    def admin_value(self, node: object) -> str | None:
        while isinstance(node, ast.TypeCast):
            node = node.arg
        setting = self.setting_of(node)
        if setting is not None:
            return self.context.admin_value(setting, ())
        if isinstance(node, ast.A_Expr) and node.kind == enums.A_Expr_Kind.AEXPR_OP:
            found = self.kind(node)
            if found is not None and found[0] in ("claim", "claims"):
                return self.context.admin_value(found[1], found[2:])
        return None

    # -- the verdict -----------------------------------------------------------------------

    def bound(self, node: object) -> tuple[bool, str]:
        column = self.context.column
        if isinstance(node, ast.BoolExpr):
            arguments = tuple(node.args or ())
            results = [self.bound(argument) for argument in arguments]
            if node.boolop == enums.BoolExprType.AND_EXPR:
                if any(ok for ok, _ in results):
                    return True, "an AND term restricts to the tenant"
                return False, f"no AND term compares {column} with the tenant"
            if node.boolop == enums.BoolExprType.OR_EXPR:
                for argument, (ok, _) in zip(arguments, results, strict=True):
                    if not ok:
                        return (
                            False,
                            f"the OR branch `{deparse(argument)}` does not restrict to the tenant",
                        )
                return True, "every OR branch restricts to the tenant"
            return False, "a NOT expression is not trusted to restrict to the tenant"
        if self.is_admin_test(node):
            return True, "only the admin context (admin_context) passes it"
        if isinstance(node, ast.A_Const) and isinstance(node.val, ast.Boolean):
            return False, "it is always true" if node.val.boolval else "it is always false"
        if isinstance(node, ast.A_Expr):
            return self.comparison(node)
        if isinstance(node, ast.SubLink):
            if self.mentions_context(node):
                return True, "a subquery restricts to the tenant"
            return False, "the subquery does not involve the tenant"
        if (
            isinstance(node, ast.FuncCall)
            and self.helper_kind(node) in (*IDENTITY, CONTEXT)
            and any(self.is_scoping_column(argument) for argument in node.args or ())
        ):
            return True, f"{function_name(node)}() checks {column} against the tenant"
        return False, f"`{deparse(node)}` does not compare {column} with the tenant"

    def matches(self, column: object, value: object) -> bool:
        """Is ``column = value`` a restriction to the context (tenant or principal)?"""
        found = self.kind(value)
        return (self.is_tenant_column(column) and found == TENANT) or (
            self.is_principal_column(column) and found == PRINCIPAL
        )

    def comparison(self, node: ast.A_Expr) -> tuple[bool, str]:
        column = self.context.column
        operator = operator_of(node)
        if node.kind == enums.A_Expr_Kind.AEXPR_OP and operator == "=":
            for left, right in ((node.lexpr, node.rexpr), (node.rexpr, node.lexpr)):
                if self.matches(left, right):
                    return True, f"{self.column_name(left)} equals the context's value"
                if self.is_scoping_column(left):
                    untrusted = self.untrusted_claims(right)
                    if untrusted:
                        return False, (
                            f"it trusts claim {', '.join(sorted(untrusted))}, which the user "
                            "can edit"
                        )
                    if any(isinstance(item, ast.CoalesceExpr) for item in walk(right)):
                        return False, "COALESCE supplies a tenant when the setting is unset"
        if node.kind == enums.A_Expr_Kind.AEXPR_IN:
            values = node.rexpr if isinstance(node.rexpr, tuple | list) else (node.rexpr,)
            if all(self.matches(node.lexpr, value) for value in values):
                return True, f"{column} is one of the tenant values"
        return False, f"`{deparse(node)}` does not compare {column} with the tenant"

    # -- the ways it goes wrong -------------------------------------------------------------

    def reads_tenant_setting(self, node: object) -> bool:
        return any(self.setting_of(item) in self.context.templates for item in walk(node))

    def fails_open(self, node: object) -> bool:
        """An unset or empty setting makes part of the expression true: ``IS NULL`` on the
        setting, ``= ''`` against it, or ``COALESCE`` around it."""
        for item in walk(node):
            if (
                isinstance(item, ast.NullTest)
                and item.nulltesttype == enums.NullTestType.IS_NULL
                and self.reads_tenant_setting(item.arg)
            ):
                return True
            if (
                isinstance(item, ast.CoalesceExpr)
                and self.reads_tenant_setting(item)
                and self.coalesced_kind(item) is None
                and not all(false_constant(fallback) for fallback in (item.args or ())[1:])
            ):
                return True
            if (
                isinstance(item, ast.A_Expr)
                and item.kind == enums.A_Expr_Kind.AEXPR_OP
                and any(string_constant(side) == "" for side in (item.lexpr, item.rexpr))
                and any(self.reads_tenant_setting(side) for side in (item.lexpr, item.rexpr))
            ):
                return True
        return False

    def fragile_cast(self, node: object) -> bool:
        """``current_setting(...)::uuid`` with no NULLIF: an empty setting (what a pooled
        connection has after a reset) raises a cast error instead of matching nothing."""
        return any(
            isinstance(item, ast.TypeCast)
            and type_name(item) not in TEXT_TYPES
            and self.setting_of(item.arg) in self.context.templates
            for item in walk(node)
        )

    def other_settings(self, node: object) -> set[str]:
        """Settings read that are neither the context's, the admin's, nor trusted."""
        known = {
            *self.context.templates,
            *self.context.admin_templates,
            *self.context.trusted,
        }
        found = set()
        for item in walk(node):
            setting = self.setting_of(item)
            if setting is not None and setting not in known:
                found.add(setting)
        return found

    def untrusted_claims(self, node: object) -> set[str]:
        """The user-editable claims read, as dotted paths (the deepest of each chain)."""
        found = set()
        for item in walk(node):
            kind = self.kind(item) if isinstance(item, ast.A_Expr) else None
            if kind is not None and kind[0] == "untrusted":
                found.add(".".join(kind[2:]))
        return {path for path in found if not any(other.startswith(f"{path}.") for other in found)}
