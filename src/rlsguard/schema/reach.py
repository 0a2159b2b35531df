"""What a function's body reaches of tenant data, judged like a policy: every query of it
that reads or writes a tenant table is bound to the caller's context (the tenant
setting, the principal, a membership, the row a trigger fired for), to a parameter the
caller chooses, or to nothing. Alongside: the settings a body sets for the whole
session, and why a body marked LEAKPROOF may still raise."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pglast import ast, enums
from pglast.parser import ParseError

from rlsguard.schema.bodies import Body, parsed_expression, read_body
from rlsguard.schema.catalog import Catalog, Function, Relation
from rlsguard.schema.expressions import IDENTITY, TENANT, Judge, Kind, TenantContext
from rlsguard.schema.nodes import deparse, function_name, operator_of, string_constant, walk
from rlsguard.schema.tenancy import Tenancy

CONTEXT_BOUND = "context"
PARAMETER = "parameter"
UNBOUND = "nothing"
VERBS = {"SELECT": "reads", "INSERT": "inserts into", "UPDATE": "updates", "DELETE": "deletes from"}
COMPARISONS = frozenset({"=", "<>", "!=", "<", ">", "<=", ">="})


@dataclass(frozen=True)
class Access:
    """One query of a body on one tenant table."""

    table: str
    command: str  # SELECT INSERT UPDATE DELETE
    binding: str  # CONTEXT_BOUND, PARAMETER or UNBOUND
    statement: str  # the query, deparsed (shortened)
    parameter: str | None = None

    @property
    def bound(self) -> bool:
        return self.binding == CONTEXT_BOUND

    def describe(self) -> str:
        verb = VERBS[self.command]
        if self.binding == PARAMETER:
            which = "for" if self.command == "INSERT" else "restricted by"
            return (
                f"{verb} {self.table} {which} {self.parameter}, which the caller chooses "
                f"(`{self.statement}`)"
            )
        return (
            f"{verb} {self.table} without restricting it to the caller's tenant "
            f"(`{self.statement}`)"
        )


class _BodyJudge(Judge):
    """The policy judge, knowing the body's own names: parameters, variables assigned
    from the context, and (in a trigger) the row it fired for."""

    def __init__(self, context: TenantContext, names: Mapping[str, Kind]) -> None:
        super().__init__(context)
        self.names = names

    def kind(self, node: object) -> Kind | None:
        name = reference(node)
        if name is not None and name in self.names:
            return self.names[name]
        if isinstance(node, ast.ParamRef):  # an unnamed argument
            return (PARAMETER, f"${node.number}")
        return super().kind(node)

    def parameter_compared(self, condition: object) -> str | None:
        """A parameter a scoping column is compared with (``tenant_id = p_tenant``)."""
        for item in walk(condition):
            if not isinstance(item, ast.A_Expr) or item.kind not in (
                enums.A_Expr_Kind.AEXPR_OP,
                enums.A_Expr_Kind.AEXPR_IN,
            ):
                continue
            for column, value in ((item.lexpr, item.rexpr), (item.rexpr, item.lexpr)):
                values = value if isinstance(value, tuple | list) else (value,)
                for candidate in values:
                    found = self.kind(candidate)
                    if self.is_scoping_column(column) and found and found[0] == PARAMETER:
                        return found[1]
        return None


def reference(node: object) -> str | None:
    """``p_tenant``, ``new.tenant_id`` or ``$1``: what a name in a body refers to."""
    if isinstance(node, ast.ParamRef):
        return f"${node.number}"
    if isinstance(node, ast.ColumnRef) and node.fields:
        parts = [str(part.sval) for part in node.fields if isinstance(part, ast.String)]
        if len(parts) == len(node.fields):
            return ".".join(parts).lower()
    return None


def accesses(tenancy: Tenancy, function: Function, *, trigger_row: bool = False) -> list[Access]:
    """Every query of the body on a tenant table, and what binds it. In a trigger
    (``trigger_row``), NEW and OLD are the row the caller's own policies let through."""
    body = read_body(function)
    found = []
    for statement in body.statements:
        ctes = {
            str(cte.ctename)
            for item in walk(statement)
            if isinstance(item, ast.WithClause)
            for cte in item.ctes or ()
        }
        for node in walk(statement):
            for table, command, judged in _queries(tenancy, function, node, ctes):
                names = _names(tenancy, function, body, judged, trigger_row)
                judge = _BodyJudge(tenancy.context_for(judged), names)
                binding, parameter = _binding(judge, command, node, judged)
                if binding is not None:
                    found.append(Access(table, command, binding, body.excerpt(node), parameter))
    return found


def _queries(
    tenancy: Tenancy, function: Function, node: Any, ctes: set[str]
) -> Iterator[tuple[str, str, Relation]]:
    tables: list[Any]
    if isinstance(node, ast.SelectStmt):
        tables, command = _from_tables(node.fromClause), "SELECT"
    elif isinstance(node, ast.UpdateStmt):
        tables, command = [node.relation], "UPDATE"
    elif isinstance(node, ast.DeleteStmt):
        tables, command = [node.relation], "DELETE"
    elif isinstance(node, ast.InsertStmt):
        tables, command = [node.relation], "INSERT"
    else:
        return
    for range_var in tables:
        if range_var.schemaname is None and range_var.relname in ctes:
            continue
        qualified = resolve(tenancy, function, range_var)
        if qualified is not None:
            yield qualified, command, tenancy.catalog.relations[qualified]


def _from_tables(items: Any) -> list[ast.RangeVar]:
    found: list[ast.RangeVar] = []
    for item in items or ():
        if isinstance(item, ast.RangeVar):
            found.append(item)
        elif isinstance(item, ast.JoinExpr):
            found += _from_tables((item.larg, item.rarg))
    return found


def resolve(tenancy: Tenancy, function: Function, range_var: ast.RangeVar) -> str | None:
    """The tenant table a name in the body means (by the function's search_path, then
    public), or None when it is not one."""
    name = str(range_var.relname)
    if range_var.schemaname:
        qualified = f"{range_var.schemaname}.{name}"
        return qualified if qualified in tenancy.tenant_tables else None
    path = function.setting("search_path") or "public"
    for schema in (part.strip().strip('"') for part in [*path.split(","), function.schema]):
        if f"{schema}.{name}" in tenancy.tenant_tables:
            return f"{schema}.{name}"
    return None


def _names(
    tenancy: Tenancy, function: Function, body: Body, relation: Relation, trigger_row: bool
) -> dict[str, Kind]:
    names: dict[str, Kind] = {}
    for position, parameter in enumerate(function.parameters, start=1):
        names[parameter.lower()] = (PARAMETER, parameter)
        names[f"${position}"] = (PARAMETER, parameter)
    if trigger_row:
        context = tenancy.context_for(relation)
        for column in (context.column, *context.tenant_columns):
            names[f"new.{column}"] = names[f"old.{column}"] = TENANT
    judge = _BodyJudge(tenancy.context_for(relation), names)
    assigned: dict[str, set[Kind | None]] = {}
    for variable, value in body.assignments:
        assigned.setdefault(variable.lower(), set()).add(judge.kind(value))
    for variable, kinds in assigned.items():
        only = next(iter(kinds)) if len(kinds) == 1 else None
        if only is not None:
            names[variable] = only
    return names


def _binding(
    judge: _BodyJudge, command: str, node: Any, relation: Relation
) -> tuple[str | None, str | None]:
    if command == "INSERT":
        return _inserted(judge, node, relation)
    conditions = [node.whereClause, *_join_conditions(getattr(node, "fromClause", None))]
    if any(condition is not None and judge.bound(condition)[0] for condition in conditions):
        if command == "UPDATE":
            return _moved(judge, node)
        return CONTEXT_BOUND, None
    parameter = judge.parameter_compared(conditions)
    return (PARAMETER, parameter) if parameter else (UNBOUND, None)


def _join_conditions(items: Any) -> list[Any]:
    found = []
    for item in items or ():
        if isinstance(item, ast.JoinExpr):
            found += [item.quals, *_join_conditions((item.larg, item.rarg))]
    return found


def _value_binding(judge: _BodyJudge, value: Any) -> tuple[str, str | None]:
    found = judge.kind(value)
    if found in IDENTITY:
        return CONTEXT_BOUND, None
    if found is not None and found[0] == PARAMETER:
        return PARAMETER, found[1]
    return UNBOUND, None


def _moved(judge: _BodyJudge, node: ast.UpdateStmt) -> tuple[str, str | None]:
    """An UPDATE bound to the tenant that sets the tenant column moves rows away."""
    for target in node.targetList or ():
        if isinstance(target, ast.ResTarget) and target.name == judge.context.column:
            return _value_binding(judge, target.val)
    return CONTEXT_BOUND, None


def _inserted(
    judge: _BodyJudge, node: ast.InsertStmt, relation: Relation
) -> tuple[str | None, str | None]:
    column = judge.context.column
    described = relation.column(column)
    if described is None:
        return None, None  # no tenant column to judge: the foreign keys' owners decide
    names = [str(target.name) for target in node.cols or ()] or [c.name for c in relation.columns]
    if column not in names:
        if described.default is None:
            return None, None  # NULL, refused by NOT NULL or visible to no tenant
        return _value_binding(judge, _parsed(described.default))
    position = names.index(column)
    select = node.selectStmt
    rows: list[list[Any]] = []
    if isinstance(select, ast.SelectStmt) and select.valuesLists:
        rows = [list(values) for values in select.valuesLists]
    elif isinstance(select, ast.SelectStmt) and select.targetList:
        rows = [[target.val for target in select.targetList]]
    for row in rows:
        if position < len(row):
            binding = _value_binding(judge, row[position])
            if binding[0] != CONTEXT_BOUND:
                return binding
    return CONTEXT_BOUND, None


def _parsed(expression: str) -> Any:
    try:
        return parsed_expression(expression)
    except ParseError:
        return None


# -- the context a body sets ------------------------------------------------------------------


def settings_set(function: Function) -> list[tuple[str, bool]]:
    """The settings the body sets (``set_config`` with a constant name, ``SET``), each
    with whether it lasts the rest of the session rather than the transaction."""
    found = []
    for node in read_body(function).nodes():
        for item in walk(node):
            called = function_name(item) if isinstance(item, ast.FuncCall) else ""
            if isinstance(item, ast.FuncCall) and called.split(".")[-1] == "set_config":
                arguments = list(item.args or ())
                name = string_constant(arguments[0]) if arguments else None
                if name is not None:
                    found.append((name, not (len(arguments) > 2 and _true(arguments[2]))))
            if isinstance(item, ast.VariableSetStmt) and item.name:
                found.append((str(item.name), not item.is_local))
    return sorted(set(found))


def session_wide_settings(function: Function) -> list[str]:
    """Settings the body sets for the rest of the session, not the transaction:
    ``set_config(name, value, false)`` or ``SET`` without ``LOCAL``."""
    return sorted({name for name, session_wide in settings_set(function) if session_wide})


def _true(node: object) -> bool:
    if isinstance(node, ast.A_Const) and isinstance(node.val, ast.Boolean):
        return bool(node.val.boolval)
    return string_constant(node) in ("true", "t", "on", "yes", "1")


# -- LEAKPROOF ----------------------------------------------------------------------------------


def why_it_may_raise(catalog: Catalog, function: Function) -> str | None:
    """Why a body marked LEAKPROOF can still raise an error (or a notice) that carries
    its arguments; None when it can only compare them."""
    body = read_body(function)
    if body.unreadable:
        return f"rlsguard cannot tell whether it raises: {body.unreadable}"
    if body.raises:
        return "it has a RAISE or ASSERT"
    if body.dynamic:
        return "it runs dynamic SQL (EXECUTE)"
    leakproof = catalog.leakproof_builtins | {
        name
        for item in catalog.functions.values()
        if item.leakproof
        for name in (item.name, f"{item.schema}.{item.name}")
    }
    for node in body.nodes():
        for item in walk(node):
            if isinstance(item, ast.TypeCast):
                return f"it casts a value (`{deparse(item)}`), which fails on bad input"
            if isinstance(item, ast.A_Expr) and item.kind == enums.A_Expr_Kind.AEXPR_OP:
                operator = operator_of(item)
                if operator not in COMPARISONS:
                    return f"its operator {operator} can fail (`{deparse(item)}`)"
            called = function_name(item) if isinstance(item, ast.FuncCall) else ""
            if called and called not in leakproof and called.split(".")[-1] not in leakproof:
                return f"it calls {called}(), which is not LEAKPROOF"
    return None
