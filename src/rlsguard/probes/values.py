"""Hypothesis strategies for column values, from the catalog alone.

A column's type gives the strategy (uuid, text and varchar(n), integers within their
range, numeric(p, s), booleans, dates and timestamps, ranges of numbers and times,
json/jsonb, arrays, enums, inet, bytea, domains through their base type, arrays too);
CHECK constraints of the common shapes, the table's and its columns' domains', narrow it
(``col IN (...)`` / ``col = ANY (ARRAY[...])``, comparisons with constants,
``length(col) > n``, ``col <> ''``). A type or constraint rlsguard cannot satisfy raises
CannotGenerate with the reason, never something worse.

Values stay small and printable: they end up in transcripts people read.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import ipaddress
import re
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg2.extras
from pglast import ast, enums, parse_sql
from pglast.parser import ParseError

from rlsguard.probes.lazy import st
from rlsguard.schema.catalog import Column, Constraint
from rlsguard.server.driver import quote_ident

# Letters, digits, a quote, a space and a few non-ASCII letters: enough to catch
# quoting and encoding mistakes, cheap to draw, readable in a transcript.
TEXT_LETTERS = tuple("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789 '-_.éß中")
MAX_TEXT = 8
INTEGER_RANGES = {
    "int2": (-(2**15), 2**15 - 1),
    "int4": (-(2**31), 2**31 - 1),
    "int8": (-(2**63), 2**63 - 1),
}
SMALL = 10**6  # integers are drawn from +-SMALL unless a CHECK asks for more
_TYPMOD_LENGTH = re.compile(r"\((\d+)\)")
_NUMERIC_TYPMOD = re.compile(r"numeric\((\d+),\s*(\d+)\)")


class CannotGenerate(Exception):
    """rlsguard cannot produce valid rows for a table."""


@dataclass
class Restriction:
    """What the CHECK constraints allow for one column."""

    allowed: tuple[Any, ...] | None = None
    minimum: Any = None
    minimum_inclusive: bool = True
    maximum: Any = None
    maximum_inclusive: bool = True
    min_length: int = 0
    not_null: bool = False
    not_understood: list[str] = field(default_factory=list)


# -- CHECK constraints ----------------------------------------------------------------------


@functools.cache
def text_alphabet() -> st.SearchStrategy[str]:
    return st.sampled_from(TEXT_LETTERS)


def restrictions(constraints: tuple[Constraint, ...]) -> tuple[dict[str, Restriction], list[str]]:
    """Per column, what the table's CHECK constraints allow; and the checks not understood."""
    found: dict[str, Restriction] = {}
    unknown: list[str] = []
    for constraint in constraints:
        if constraint.kind != "c":
            continue
        text = constraint.definition.removeprefix("CHECK ").removesuffix(" NOT VALID")
        try:
            statement: Any = parse_sql(f"SELECT 1 WHERE {text}")[0].stmt
            node = statement.whereClause
        except ParseError:
            unknown.append(constraint.name)
            continue
        if not _apply(node, found):
            unknown.append(f"{constraint.name} {constraint.definition}")
    return found, unknown


def domain_checks(columns: tuple[Column, ...]) -> tuple[Constraint, ...]:
    """The CHECKs of columns' domains, as CHECKs of the table on those columns (VALUE
    replaced by the column's name outside string constants)."""
    found = []
    for column in columns:
        for number, definition in enumerate(column.domain_checks):
            parts = definition.split("'")
            parts[::2] = [_VALUE.sub(quote_ident(column.name), part) for part in parts[::2]]
            name = f"{column.base_type}_check_{number + 1} (domain of {column.name})"
            found.append(Constraint(name, "c", (column.name,), "'".join(parts)))
    return tuple(found)


_VALUE = re.compile(r"\bVALUE\b")


def _column_of(node: Any) -> str | None:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.ColumnRef) and node.fields and isinstance(node.fields[-1], ast.String):
        return str(node.fields[-1].sval)
    return None


def _constant(node: Any) -> Any:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.A_Const) and not node.isnull:
        value = node.val
        if isinstance(value, ast.String):
            return str(value.sval)
        if isinstance(value, ast.Integer):
            return int(value.ival or 0)
        if isinstance(value, ast.Float):
            return decimal.Decimal(str(value.fval))
        if isinstance(value, ast.Boolean):
            return bool(value.boolval)
    if (
        isinstance(node, ast.A_Expr)
        and node.name
        and node.name[-1].sval == "-"
        and node.lexpr is None
    ):
        inner = _constant(node.rexpr)
        return -inner if isinstance(inner, int | decimal.Decimal) else None
    return None


def _array_constants(node: Any) -> tuple[Any, ...] | None:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.A_ArrayExpr):
        values = tuple(_constant(element) for element in node.elements or ())
        return None if any(value is None for value in values) else values
    return None


_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "<>": "<>"}


def _apply(node: Any, found: dict[str, Restriction]) -> bool:
    """Record what ``node`` says about one column; False when it is not understood."""
    if isinstance(node, ast.BoolExpr) and node.boolop == enums.BoolExprType.AND_EXPR:
        return all(_apply(argument, found) for argument in node.args or ())
    if isinstance(node, ast.NullTest) and node.nulltesttype == enums.NullTestType.IS_NOT_NULL:
        column = _column_of(node.arg)
        if column is None:
            return False
        found.setdefault(column, Restriction()).not_null = True
        return True
    if not isinstance(node, ast.A_Expr) or not node.name:
        return False
    operator = str(node.name[-1].sval)
    if (
        node.kind in (enums.A_Expr_Kind.AEXPR_OP_ANY, enums.A_Expr_Kind.AEXPR_IN)
        and operator == "="
    ):
        column = _column_of(node.lexpr)
        values = (
            tuple(_constant(item) for item in node.rexpr)
            if isinstance(node.rexpr, tuple | list)
            else _array_constants(node.rexpr)
        )
        if column is None or not values or any(value is None for value in values):
            return False
        found.setdefault(column, Restriction()).allowed = values
        return True
    if node.kind != enums.A_Expr_Kind.AEXPR_OP:
        return False
    return _comparison(node.lexpr, operator, node.rexpr, found)


def _comparison(left: Any, operator: str, right: Any, found: dict[str, Restriction]) -> bool:
    if _column_of(left) is None and _column_of(right) is not None:
        left, right, operator = right, left, _FLIPPED.get(operator, "")
    length_of = _length_argument(left)
    constant = _constant(right)
    if length_of is not None and isinstance(constant, int):
        restriction = found.setdefault(length_of, Restriction())
        if operator in (">", ">="):
            restriction.min_length = max(restriction.min_length, constant + (operator == ">"))
            return True
        return operator in ("<", "<=")  # MAX_TEXT keeps values short anyway
    column = _column_of(left)
    if column is None or constant is None:
        return False
    restriction = found.setdefault(column, Restriction())
    if operator == "<>" and constant == "":
        restriction.min_length = max(restriction.min_length, 1)
    elif operator in (">", ">="):
        restriction.minimum, restriction.minimum_inclusive = constant, operator == ">="
    elif operator in ("<", "<="):
        restriction.maximum, restriction.maximum_inclusive = constant, operator == "<="
    elif operator == "=":
        restriction.allowed = (constant,)
    else:
        return False
    return True


def _length_argument(node: Any) -> str | None:
    if isinstance(node, ast.FuncCall) and node.funcname:
        name = str(node.funcname[-1].sval)
        if name in ("length", "char_length", "character_length", "octet_length") and node.args:
            return _column_of(node.args[0])
    return None


# -- types ------------------------------------------------------------------------------------


def column_strategy(column: Column, restriction: Restriction | None) -> st.SearchStrategy[Any]:
    """Valid values for ``column`` (never None: the caller decides about NULL)."""
    restriction = restriction or Restriction()
    if restriction.allowed is not None:
        return st.sampled_from(restriction.allowed)
    if column.enum_labels:
        return st.sampled_from(column.enum_labels)
    type_name = _effective_type(column)
    if column.type_category == "A" or type_name.endswith("[]"):
        element = _element_column(column, type_name)
        return st.lists(column_strategy(element, None), max_size=3)
    return _scalar(type_name, column, restriction)


def _effective_type(column: Column) -> str:
    if column.type_kind == "d" and column.domain_base:
        return column.domain_base
    return column.type


def _element_column(column: Column, type_name: str) -> Column:
    """The column an array's elements would be (of a domain over an array: its base's)."""
    element_type = type_name.removesuffix("[]")
    return replace(
        column,
        type=element_type,
        base_type=column.element_type or element_type,
        type_category="",
        type_kind="b",
        domain_base=None,
    )


def _scalar(type_name: str, column: Column, restriction: Restriction) -> st.SearchStrategy[Any]:
    base = column.base_type if column.type_kind != "d" else type_name
    lowered = type_name.lower()
    if lowered == "uuid":
        return st.uuids()
    if lowered in ("boolean", "bool"):
        return st.booleans()
    if lowered.startswith(
        ("character varying", "varchar", "character(", "char(", "bpchar")
    ) or lowered in (
        "text",
        "name",
        "citext",
        "character",
    ):
        return _text(type_name, restriction)
    for name, (low, high) in INTEGER_RANGES.items():
        if lowered in _INTEGER_NAMES[name] or base == name:
            return _integers(low, high, restriction)
    if lowered.startswith("numeric") or lowered == "decimal":
        return _numerics(lowered, restriction)
    if lowered in ("real", "double precision", "float4", "float8"):
        return st.floats(
            min_value=_float(restriction.minimum, -1e6),
            max_value=_float(restriction.maximum, 1e6),
            allow_nan=False,
            allow_infinity=False,
            width=32 if lowered in ("real", "float4") else 64,
        )
    special = _special(lowered)
    if special is not None:
        return special
    if column.type_category == "S":  # other string-like types
        return _text(type_name, restriction)
    raise CannotGenerate(
        f"column {column.name} has type {column.type}, which rlsguard cannot generate"
    )


def _special(lowered: str) -> st.SearchStrategy[Any] | None:
    temporal = _temporal(lowered)
    if temporal is not None:
        return temporal
    if lowered in RANGE_BOUNDS:
        return _range(RANGE_BOUNDS[lowered])
    if lowered in ("json", "jsonb"):
        return _json()
    if lowered in ("inet", "cidr"):
        return st.ip_addresses(v=4).map(lambda address: str(ipaddress.ip_network(address)))
    if lowered == "bytea":
        return st.binary(max_size=16)
    return None


def _temporal(lowered: str) -> st.SearchStrategy[Any] | None:
    if lowered == "date":
        return st.dates(dt.date(2000, 1, 1), dt.date(2040, 12, 31))
    if lowered.startswith("timestamp"):
        zone = st.just(dt.UTC) if "with time zone" in lowered else st.none()
        return st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2040, 12, 31), timezones=zone)
    if lowered.startswith("time"):
        return st.times()
    if lowered.startswith("interval"):
        return st.timedeltas(dt.timedelta(0), dt.timedelta(days=3650))
    return None


RANGE_BOUNDS = {  # a range type: the type of its bounds
    "int4range": "integer",
    "int8range": "bigint",
    "numrange": "integer",
    "daterange": "date",
    "tsrange": "timestamp without time zone",
    "tstzrange": "timestamp with time zone",
}


def _range(bound_type: str) -> st.SearchStrategy[str]:
    """A non-empty range in its text form, which the server casts to the column's type."""
    temporal = _temporal(bound_type)
    bounds = st.integers(-1_000_000, 1_000_000) if temporal is None else temporal
    return st.lists(bounds, min_size=2, max_size=2, unique=True).map(_range_text)


def _range_text(pair: list[Any]) -> str:
    low, high = sorted(pair)
    return f'["{low}","{high}")'


_INTEGER_NAMES = {
    "int2": ("smallint", "int2", "smallserial"),
    "int4": ("integer", "int", "int4", "serial"),
    "int8": ("bigint", "int8", "bigserial"),
}


def _text(type_name: str, restriction: Restriction) -> st.SearchStrategy[str]:
    found = _TYPMOD_LENGTH.search(type_name)
    limit = min(int(found.group(1)), MAX_TEXT) if found else MAX_TEXT
    minimum = min(restriction.min_length, limit)
    if restriction.minimum is not None or restriction.maximum is not None:
        raise CannotGenerate(
            f"a text column compared with constants ({type_name}) is not understood"
        )
    return st.text(text_alphabet(), min_size=minimum, max_size=limit)


def _integers(low: int, high: int, restriction: Restriction) -> st.SearchStrategy[int]:
    low, high = max(low, -SMALL), min(high, SMALL)
    if restriction.minimum is not None:
        low = max(low, int(restriction.minimum) + (0 if restriction.minimum_inclusive else 1))
    if restriction.maximum is not None:
        high = min(high, int(restriction.maximum) - (0 if restriction.maximum_inclusive else 1))
    if low > high:
        raise CannotGenerate(f"no integer fits between {low} and {high}")
    return st.integers(low, high)


def _numerics(type_name: str, restriction: Restriction) -> st.SearchStrategy[decimal.Decimal]:
    found = _NUMERIC_TYPMOD.search(type_name)
    precision, scale = (int(found.group(1)), int(found.group(2))) if found else (12, 2)
    bound = decimal.Decimal(10) ** min(precision - scale, 6) - 1
    low, high = -bound, bound
    if restriction.minimum is not None:
        low = max(low, decimal.Decimal(restriction.minimum))
    if restriction.maximum is not None:
        high = min(high, decimal.Decimal(restriction.maximum))
    strategy = st.decimals(low, high, places=scale, allow_nan=False, allow_infinity=False)
    if not restriction.minimum_inclusive:
        strategy = strategy.filter(lambda value: value != low)
    if not restriction.maximum_inclusive:
        strategy = strategy.filter(lambda value: value != high)
    return strategy


def _float(value: Any, default: float) -> float:
    return float(value) if value is not None else default


def _json() -> st.SearchStrategy[Any]:
    scalars = (
        st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(text_alphabet(), max_size=6)
    )
    return st.dictionaries(st.text(text_alphabet(), max_size=4), scalars, max_size=2) | st.lists(
        scalars, max_size=2
    )


# -- values that need no draw ----------------------------------------------------------------

NO_SETTLED_VALUE = object()
SETTLED_BY_TYPE: dict[str, Any] = {
    **dict.fromkeys(("text", "name", "citext", "character", "bpchar"), ""),
    **dict.fromkeys(("smallint", "integer", "bigint", "int2", "int4", "int8", "numeric"), 0),
    **dict.fromkeys(("real", "double precision", "float4", "float8"), 0.0),
    **dict.fromkeys(("boolean", "bool"), False),
    **dict.fromkeys(("json", "jsonb"), 0),  # a JSON document too
    "uuid": uuid.UUID(int=0),
    "date": dt.date(2000, 1, 1),
    "timestamp without time zone": dt.datetime(2000, 1, 1),
    "timestamp with time zone": dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
    "bytea": b"",
}


PLAIN_TEXT_LIMIT = 63  # the longest word offered to a text column (a name's length)


def _plain_type(column: Column) -> bool:
    """A base type, not a domain, enum or array: its own rules are all the column has."""
    return column.type_kind != "d" and not column.enum_labels and column.type_category != "A"


def plain_text(column: Column) -> bool:
    """Text with no length limit, domain, enum or array: any short word fits it."""
    lowered = column.type.lower()
    return _plain_type(column) and lowered in ("text", "citext", "character varying", "name")


def settled_value(column: Column) -> Any:
    """One valid value of a plain column of a common type (no domain, enum or array), for
    a column whose value nothing reads; NO_SETTLED_VALUE for the rest."""
    if not _plain_type(column):
        return NO_SETTLED_VALUE
    lowered = column.type.lower()
    if lowered.startswith(("character varying", "varchar", "character(", "char(")):
        return ""
    return SETTLED_BY_TYPE.get(lowered.partition("(")[0], NO_SETTLED_VALUE)


# -- keeping keys unique ---------------------------------------------------------------------


def make_unique(value: Any, column: Column, serial: int, above: int = 0) -> Any:
    """A value of the same type that no other row of the example has: ``serial`` is
    unique within the example; a number is also above ``above`` (what the table already
    holds). Allowed-value lists cannot be made unique (None)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        suffix = f"~{serial}"
        found = _TYPMOD_LENGTH.search(column.type)
        limit = int(found.group(1)) if found else MAX_TEXT + len(suffix)
        return value[: max(limit - len(suffix), 0)] + suffix
    if isinstance(value, int):
        return above + serial
    if isinstance(value, decimal.Decimal):
        return decimal.Decimal(above + serial)
    if isinstance(value, uuid.UUID):
        return uuid.UUID(int=(value.int & ~0xFFFFFFFF) | serial)
    return value


def marker_column(
    supplied: list[Column], strategies: dict[str, st.SearchStrategy[Any]]
) -> str | None:
    """A drawn column whose values can be made distinct (text, number, UUID), for a table
    without any unique key."""
    return next(
        (
            column.name
            for column in supplied
            if column.name in strategies
            and (column.type_category in ("S", "N") or column.type == "uuid")
        ),
        None,
    )


def adapt(column: Column | None, value: Any) -> Any:
    """``value`` as psycopg2 must be handed it for ``column`` (JSON documents wrapped)."""
    if value is None or column is None:
        return value
    if column.base_type in ("json", "jsonb") or column.type in ("json", "jsonb"):
        return psycopg2.extras.Json(value)
    return value
