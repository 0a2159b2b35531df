"""What a function's body says, read with PostgreSQL's own parsers (pglast): the SQL
statements of a SQL or PL/pgSQL body, the expressions around them (conditions,
assignments, RAISE arguments), what PL/pgSQL variables are assigned from, and what the
parsers cannot see through (``EXECUTE`` of a string built at run time)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pglast import ast, parse_plpgsql, parse_sql
from pglast.parser import ParseError

from rlsguard.schema.catalog import Function
from rlsguard.schema.nodes import deparse

READABLE_LANGUAGES = ("sql", "plpgsql")
_FULL_STATEMENT = 0  # PLpgSQL_expr.parseMode: a whole SQL statement
_ASSIGNMENT = 3  # "target := expression"
_DYNAMIC = {
    "PLpgSQL_stmt_dynexecute": "query",
    "PLpgSQL_stmt_dynfors": "query",
    "PLpgSQL_stmt_return_query": "dynquery",
    "PLpgSQL_stmt_open": "dynquery",
}
_RAISING = ("PLpgSQL_stmt_raise", "PLpgSQL_stmt_assert")


@dataclass(frozen=True)
class Body:
    statements: tuple[Any, ...] = ()  # parsed SQL statements (ast nodes)
    expressions: tuple[Any, ...] = ()  # parsed PL/pgSQL expressions outside statements
    assignments: tuple[tuple[str, Any], ...] = ()  # PL/pgSQL variable <- expression
    dynamic: tuple[str, ...] = ()  # the text of each EXECUTE'd expression
    raises: bool = False  # a RAISE or ASSERT
    unreadable: str | None = None  # why the body could not be read

    def nodes(self) -> Iterator[Any]:
        yield from self.statements
        yield from self.expressions
        yield from (value for _name, value in self.assignments)

    def excerpt(self, statement: Any) -> str:
        text = deparse(statement)
        return text if len(text) <= 160 else text[:157] + "..."


@lru_cache(maxsize=1024)
def read_body(function: Function) -> Body:
    if function.language not in READABLE_LANGUAGES:
        return Body(unreadable=f"its language is {function.language}, which rlsguard cannot read")
    try:
        if function.language == "sql":
            return Body(statements=tuple(item.stmt for item in parse_sql(function.source)))
        return _read_plpgsql(function)
    except ParseError as error:
        return Body(unreadable=f"its body could not be parsed ({error})")


def _read_plpgsql(function: Function) -> Body:
    try:
        tree = _plpgsql_tree(function, function.arguments, function.returns or "void")
    except ParseError:
        # pglast's PL/pgSQL reader resolves only pg_catalog and public types: with another
        # schema's type in the signature, read the body under a signature of plain types
        returns = function.returns if function.returns in ("trigger", "void") else "record"
        if function.returns.startswith(("SETOF ", "TABLE(")):
            returns = "SETOF record"
        arguments = ", ".join(
            "text" if name.startswith("$") else f"{name} text" for name in function.parameters
        )
        tree = _plpgsql_tree(function, arguments, returns)
    names = [_datum_name(datum) for datum in tree.get("datums", ())]
    reader = _PlpgsqlReader(names)
    for datum in tree.get("datums", ()):
        variable = datum.get("PLpgSQL_var")
        if variable and "default_val" in variable:
            reader.assign(variable["refname"], variable["default_val"]["PLpgSQL_expr"]["query"])
    reader.visit(tree.get("action"))
    return Body(
        statements=tuple(reader.statements),
        expressions=tuple(reader.expressions),
        assignments=tuple(reader.assignments),
        dynamic=tuple(reader.dynamic),
        raises=reader.raises,
    )


def _plpgsql_tree(function: Function, arguments: str, returns: str) -> dict[str, Any]:
    kind = "PROCEDURE" if function.kind == "p" else "FUNCTION"
    result = "" if function.kind == "p" else f" RETURNS {returns}"
    text = (
        f"CREATE {kind} rlsguard_body({arguments}){result} LANGUAGE plpgsql "
        f"AS $rlsguard_body${function.source}$rlsguard_body$"
    )
    tree: dict[str, Any] = parse_plpgsql(text)[0]["PLpgSQL_function"]
    return tree


def _datum_name(datum: dict[str, Any]) -> str:
    for value in datum.values():
        return str(value.get("refname", ""))
    return ""


def parsed_expression(text: str) -> Any:
    statement: Any = parse_sql(f"SELECT {text}")[0].stmt
    return statement.targetList[0].val


class _PlpgsqlReader:
    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.statements: list[Any] = []
        self.expressions: list[Any] = []
        self.assignments: list[tuple[str, Any]] = []
        self.dynamic: list[str] = []
        self.raises = False

    def assign(self, name: str, text: str) -> None:
        self.assignments.append((name, parsed_expression(text)))

    def visit(self, node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                self.visit(item)
            return
        if not isinstance(node, dict):
            return
        for name, value in node.items():
            if name in _RAISING:
                self.raises = True
            if name in _DYNAMIC and isinstance(value, dict) and _DYNAMIC[name] in value:
                self.dynamic.append(value[_DYNAMIC[name]]["PLpgSQL_expr"]["query"])
            if name == "PLpgSQL_stmt_execsql" and value.get("into"):
                self.selected_into(value)
            if name == "PLpgSQL_expr":
                self.expression(value)
            else:
                self.visit(value)

    def expression(self, value: dict[str, Any]) -> None:
        query, mode = value["query"], value.get("parseMode", 2)
        if mode == _FULL_STATEMENT:
            self.statements.extend(item.stmt for item in parse_sql(query))
        elif mode == _ASSIGNMENT:
            target, _, source = query.partition(":=")
            if not _:
                target, _, source = query.partition("=")
            self.assign(target.strip().split(".")[0].split("[")[0], source)
        else:
            self.expressions.append(parsed_expression(query))

    def selected_into(self, value: dict[str, Any]) -> None:
        """``SELECT <expression> INTO variable``: the variable holds that expression."""
        statement = parse_sql(value["sqlstmt"]["PLpgSQL_expr"]["query"])[0].stmt
        target: dict[str, Any] = value.get("target") or {}
        row: dict[str, Any] = next(iter(target.values()), {})
        fields: Any = row.get("fields", ())
        if not isinstance(statement, ast.SelectStmt) or not statement.targetList:
            return
        for field, selected in zip(fields, statement.targetList, strict=False):
            if isinstance(selected, ast.ResTarget) and not statement.fromClause:
                self.assignments.append((str(field["name"]), selected.val))
