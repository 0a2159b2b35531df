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
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pglast import ast, enums, parse_sql
from pglast.parser import ParseError
from pglast.stream import RawStream

TEXT_TYPES = frozenset({"text", "varchar", "character varying", "bpchar", "name"})


@dataclass(frozen=True)
class TenantContext:
    column: str
    setting: str
    helpers: frozenset[str] = frozenset()  # function names (bare and schema-qualified)
    tenant_tables: frozenset[str] = frozenset()  # table names (bare and schema-qualified)


@dataclass(frozen=True)
class Verdict:
    bound: bool
    why: str
    fails_open: bool = False
    fragile_cast: bool = False
    other_settings: tuple[str, ...] = field(default=())


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
    judged = _Judge(context)
    bound, why = judged.bound(node)
    return Verdict(
        bound=bound,
        why=why,
        fails_open=not bound and judged.fails_open(node),
        fragile_cast=judged.fragile_cast(node),
        other_settings=tuple(sorted(judged.other_settings(node))),
    )


def deparse(node: Any) -> str:
    try:
        return str(RawStream()(node))
    except Exception:  # a reason text must never fail the analysis
        return type(node).__name__


def walk(node: object) -> Iterator[ast.Node]:
    if isinstance(node, ast.Node):
        yield node
        for name in getattr(node, "__slots__", ()):
            yield from walk(getattr(node, name, None))
    elif isinstance(node, tuple | list):
        for item in node:
            yield from walk(item)


def _string_constant(node: object) -> str | None:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.A_Const) and isinstance(node.val, ast.String):
        return str(node.val.sval)
    return None


def _function_name(node: ast.FuncCall) -> str:
    return ".".join(str(part.sval) for part in node.funcname or () if isinstance(part, ast.String))


def _type_name(node: ast.TypeCast) -> str:
    type_name: Any = node.typeName
    parts = type_name.names if type_name is not None else ()
    names = [str(part.sval) for part in parts or () if isinstance(part, ast.String)]
    return names[-1] if names else ""


class _Judge:
    def __init__(self, context: TenantContext) -> None:
        self.context = context

    # -- what the pieces are -----------------------------------------------------------

    def setting_of(self, node: object) -> str | None:
        """The setting a ``current_setting(...)`` call reads."""
        if (
            isinstance(node, ast.FuncCall)
            and _function_name(node).split(".")[-1] == "current_setting"
        ):
            return _string_constant(node.args[0]) if node.args else None
        return None

    def is_tenant_column(self, node: object) -> bool:
        while isinstance(node, ast.TypeCast):
            node = node.arg
        if not isinstance(node, ast.ColumnRef) or not node.fields:
            return False
        last = node.fields[-1]
        return isinstance(last, ast.String) and last.sval == self.context.column

    def is_helper_call(self, node: object) -> bool:
        return isinstance(node, ast.FuncCall) and self.names_helper(_function_name(node))

    def names_helper(self, name: str) -> bool:
        return (
            name in self.context.helpers or name.rsplit(".", maxsplit=1)[-1] in self.context.helpers
        )

    def mentions_context(self, node: object) -> bool:
        for item in walk(node):
            if self.setting_of(item) == self.context.setting or self.is_helper_call(item):
                return True
            if isinstance(item, ast.RangeVar) and (
                item.relname in self.context.tenant_tables
                or f"{item.schemaname}.{item.relname}" in self.context.tenant_tables
            ):
                return True
        return False

    def is_context_value(self, node: object) -> bool:
        """The current tenant, as a value: the setting, a helper, or a subquery using them."""
        if isinstance(node, ast.TypeCast):
            return self.is_context_value(node.arg)
        if isinstance(node, ast.A_Expr) and node.kind == enums.A_Expr_Kind.AEXPR_NULLIF:
            return self.is_context_value(node.lexpr)
        if self.setting_of(node) == self.context.setting:
            return True
        if isinstance(node, ast.FuncCall) and self.is_helper_call(node):
            return not any(self.is_tenant_column(argument) for argument in node.args or ())
        if isinstance(node, ast.SubLink) and node.subLinkType == enums.SubLinkType.EXPR_SUBLINK:
            return self.mentions_context(node.subselect)
        return False

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
            and self.is_helper_call(node)
            and any(self.is_tenant_column(argument) for argument in node.args or ())
        ):
            return True, f"{_function_name(node)}() checks {column} against the tenant"
        return False, f"`{deparse(node)}` does not compare {column} with the tenant"

    def comparison(self, node: ast.A_Expr) -> tuple[bool, str]:
        column = self.context.column
        operator = node.name[-1].sval if node.name else ""
        if node.kind == enums.A_Expr_Kind.AEXPR_OP and operator == "=":
            for left, right in ((node.lexpr, node.rexpr), (node.rexpr, node.lexpr)):
                if self.is_tenant_column(left):
                    if self.is_context_value(right):
                        return True, f"{column} equals the tenant"
                    if any(isinstance(item, ast.CoalesceExpr) for item in walk(right)):
                        return False, "COALESCE supplies a tenant when the setting is unset"
        if node.kind == enums.A_Expr_Kind.AEXPR_IN and self.is_tenant_column(node.lexpr):
            values = node.rexpr if isinstance(node.rexpr, tuple | list) else (node.rexpr,)
            if all(self.is_context_value(value) for value in values):
                return True, f"{column} is one of the tenant values"
        return False, f"`{deparse(node)}` does not compare {column} with the tenant"

    # -- the ways it goes wrong -------------------------------------------------------------

    def reads_tenant_setting(self, node: object) -> bool:
        return any(self.setting_of(item) == self.context.setting for item in walk(node))

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
            if isinstance(item, ast.CoalesceExpr) and self.reads_tenant_setting(item):
                return True
            if (
                isinstance(item, ast.A_Expr)
                and item.kind == enums.A_Expr_Kind.AEXPR_OP
                and any(_string_constant(side) == "" for side in (item.lexpr, item.rexpr))
                and any(self.reads_tenant_setting(side) for side in (item.lexpr, item.rexpr))
            ):
                return True
        return False

    def fragile_cast(self, node: object) -> bool:
        """``current_setting(...)::uuid`` with no NULLIF: an empty setting (what a pooled
        connection has after a reset) raises a cast error instead of matching nothing."""
        return any(
            isinstance(item, ast.TypeCast)
            and _type_name(item) not in TEXT_TYPES
            and self.setting_of(item.arg) == self.context.setting
            for item in walk(node)
        )

    def other_settings(self, node: object) -> set[str]:
        found = set()
        for item in walk(node):
            setting = self.setting_of(item)
            if setting is not None and setting != self.context.setting:
                found.add(setting)
        return found
