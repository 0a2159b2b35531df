"""Reading PostgreSQL's parse trees (pglast): walking them, and the values, names and
constants policy expressions and helper bodies are made of."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast, enums
from pglast.stream import RawStream


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


def string_constant(node: object) -> str | None:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.A_Const) and isinstance(node.val, ast.String):
        return str(node.val.sval)
    return None


def column_name(node: object) -> str | None:
    """The column a reference names (through casts), without its table."""
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if not isinstance(node, ast.ColumnRef) or not node.fields:
        return None
    last = node.fields[-1]
    return str(last.sval) if isinstance(last, ast.String) else None


def unwrapped(node: object) -> object:
    """A value without its casts and NULLIF."""
    while isinstance(node, ast.TypeCast) or (
        isinstance(node, ast.A_Expr) and node.kind == enums.A_Expr_Kind.AEXPR_NULLIF
    ):
        node = node.arg if isinstance(node, ast.TypeCast) else node.lexpr
    return node


def false_constant(node: object) -> bool:
    """FALSE or NULL: a fallback that lets nothing through."""
    node = unwrapped(node)
    if not isinstance(node, ast.A_Const):
        return False
    return bool(node.isnull) or (isinstance(node.val, ast.Boolean) and not node.val.boolval)


def empty_constant(node: object) -> bool:
    """NULL, or an empty JSON document or text: in place of claims, it holds none."""
    node = unwrapped(node)
    if not isinstance(node, ast.A_Const):
        return False
    text = string_constant(node)
    return bool(node.isnull) or (text is not None and text.strip() in ("", "{}", "[]"))


def function_name(node: ast.FuncCall) -> str:
    return ".".join(str(part.sval) for part in node.funcname or () if isinstance(part, ast.String))


def operator_of(node: ast.A_Expr) -> str:
    """The operator of an expression, without its schema: "=", "->>", "/"."""
    return str(node.name[-1].sval) if node.name else ""


def type_name(node: ast.TypeCast) -> str:
    type_name: Any = node.typeName
    parts = type_name.names if type_name is not None else ()
    names = [str(part.sval) for part in parts or () if isinstance(part, ast.String)]
    return names[-1] if names else ""
