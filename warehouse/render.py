"""Render a model's SELECT (DuckDB dialect) for the target's dialect, failing loudly on what would not carry over.

sqlglot raises on some constructs it cannot translate (with ``unsupported_level=RAISE``), but translates others
silently into something wrong or invalid (DESIGN.md, known pitfalls). ``PORTABILITY_RULES`` rejects those for
PostgreSQL with a hint, and, when the server's function list is given, every function name in the rendered SQL
must exist there: an unknown one is reported now, naming the model, not at run time deep in a build.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

import sqlglot
from sqlglot import Dialect, exp
from sqlglot.errors import ErrorLevel, SqlglotError
from sqlglot.tokens import TokenType

from warehouse.models import SOURCE_DIALECT


class RenderError(Exception):
    """A model (or test) cannot be rendered for the target dialect."""


@dataclass(frozen=True)
class Rule:
    applies: Callable[[exp.Expression], bool]
    message: str


def _star_modifier(node: exp.Expression) -> bool:
    return isinstance(node, exp.Star) and any(node.args.get(k) for k in ("except_", "except", "replace", "rename"))


def _strptime_without_cast(node: exp.Expression) -> bool:
    return isinstance(node, exp.StrToTime) and not isinstance(node.parent, exp.Cast)


def _series_outside_from(node: exp.Expression) -> bool:
    return isinstance(node, exp.GenerateSeries) and not isinstance(node.parent, exp.Table)


def _interval_not_constant(node: exp.Expression) -> bool:
    return isinstance(node, exp.Interval) and node.this is not None and node.this.find(exp.Column) is not None


def _all_shorthand(node: exp.Expression) -> bool:
    if isinstance(node, exp.Group):
        return bool(node.args.get("all"))
    return isinstance(node, exp.Ordered) and isinstance(node.this, exp.Var) and node.this.name.upper() == "ALL"


PORTABILITY_RULES: dict[str, tuple[Rule, ...]] = {
    "postgres": (
        Rule(
            lambda n: isinstance(n, exp.TryCast),
            "try_cast() would become a plain cast() that fails on bad values; "
            "guard the cast: case when regexp_matches(x, '^[0-9]+$') then x::bigint end",
        ),
        Rule(_star_modifier, "select * exclude/replace is DuckDB-only; list the columns you want"),
        Rule(lambda n: isinstance(n, exp.AnyValue), "any_value() is not in PostgreSQL 15; use min() or max()"),
        Rule(
            _interval_not_constant,
            "interval (expr) unit loses its amount when translated; write expr * interval '1 unit'",
        ),
        Rule(
            lambda n: isinstance(n, exp.DateDiff),
            "date_diff()/datediff() is translated to elapsed-time arithmetic, not DuckDB's boundary count; "
            "for days write end_date::date - start_date::date",
        ),
        Rule(_all_shorthand, "group by all / order by all is DuckDB-only; list the columns"),
        Rule(lambda n: isinstance(n, exp.TableSample), "using sample / tablesample does not translate; remove it"),
        Rule(lambda n: isinstance(n, exp.Struct | exp.ToMap), "struct and map values are DuckDB-only"),
        Rule(lambda n: isinstance(n, exp.Lambda), "lambda functions (x -> ...) are DuckDB-only"),
        Rule(lambda n: isinstance(n, exp.Columns), "columns(...) is DuckDB-only; list the columns"),
        Rule(
            _strptime_without_cast,
            "strptime() becomes to_timestamp(), which returns a time with a zone in PostgreSQL; "
            "cast the result, strptime(x, fmt)::timestamp, or cast ISO text directly, x::timestamp",
        ),
        Rule(
            _series_outside_from,
            "generate_series()/range() outside FROM returns a list in DuckDB but rows in PostgreSQL; "
            "use it in FROM: from generate_series(a, b, interval '1 month') as s(month)",
        ),
    ),
}

# SQL syntax that looks like a function call but is not in pg_proc
_PG_SYNTAX_CALLS = frozenset(
    {
        "cast",
        "coalesce",
        "nullif",
        "greatest",
        "least",
        "trim",
        "extract",
        "position",
        "substring",
        "overlay",
        "exists",
        "row",
        "array",
        "values",
        "in",
        "any",
        "all",
        "some",
        "filter",
        "over",
        "group",
        "within",
        "grouping",
        "collation",
        "normalize",
        "treat",
        "xmlelement",
        "xmlforest",
        "xmlparse",
        "xmlpi",
        "xmlroot",
        "xmlserialize",
    }
)


def render_query(
    query: exp.Expression,
    dialect: str,
    *,
    what: str,
    known_functions: Collection[str] | None = None,
    validate: bool = True,
) -> str:
    """Render ``query`` (parsed in the DuckDB dialect) for ``dialect``; ``what`` names it in errors.

    ``validate=False`` skips the portability checks, for a query whose same shape was already rendered with them.
    """
    if not validate:
        try:
            return query.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)
        except SqlglotError as exc:
            raise RenderError(f"{what} cannot be rendered for {dialect}: {_first_line(exc)}") from None
    for rule in PORTABILITY_RULES.get(dialect, ()):
        for node in query.walk():
            if rule.applies(node):
                snippet = node.sql(SOURCE_DIALECT)
                snippet = snippet if len(snippet) <= 60 else snippet[:57] + "..."
                raise RenderError(f"{what} cannot be rendered for {dialect}: {rule.message} (at: {snippet})")
    try:
        sql = query.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE, pretty=True)
    except SqlglotError as exc:
        raise RenderError(f"{what} cannot be rendered for {dialect}: {_first_line(exc)}") from None
    for message in _rendered_problems(sql, dialect):
        raise RenderError(f"{what} cannot be rendered for {dialect}: {message}")
    if known_functions is not None:
        unknown = sorted(set(called_functions(sql, dialect)) - set(known_functions) - _PG_SYNTAX_CALLS)
        if unknown:
            raise RenderError(
                f"{what} cannot be rendered for {dialect}: the translated SQL calls {', '.join(unknown)}, "
                f"which the server does not have; rewrite it with functions both warehouses know"
            )
    return sql


def _is_double(node: exp.Expression) -> bool:
    node = node.unnest()
    if isinstance(node, exp.Div):
        return _is_double(node.left)
    return isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.DOUBLE)


def _rendered_problems(sql: str, dialect: str) -> list[str]:
    """Problems only visible in the translated SQL."""
    if dialect != "postgres" or "ROUND(" not in sql.upper():
        return []
    problems = []
    for node in sqlglot.parse_one(sql, read=dialect).find_all(exp.Round):
        if node.args.get("decimals") is not None and _is_double(node.this):
            problems.append(
                "round(x / y, n) fails on PostgreSQL, where the division is double precision (as in DuckDB) and "
                "round() takes only numeric with a scale; write (x / y)::decimal(18, n) instead "
                f"(at: {node.sql(dialect)[:60]})"
            )
    return problems


def called_functions(sql: str, dialect: str) -> list[str]:
    """Lower-case names of the plain function calls in ``sql`` (``name(`` not preceded by AS, not a CTE head)."""
    tokens = Dialect.get_or_raise(dialect).tokenize(sql)
    names = []
    for i, token in enumerate(tokens[:-1]):
        if token.token_type != TokenType.VAR or tokens[i + 1].token_type != TokenType.L_PAREN:
            continue
        if i > 0 and tokens[i - 1].token_type in (TokenType.ALIAS, TokenType.DOT):
            continue  # "as s(month)": a table alias with column names; "schema.fn(": qualified, not ours
        if _followed_by_as(tokens, i + 1):
            continue  # "name(a, b) as (": a CTE with column names
        names.append(token.text.lower())
    return names


def _followed_by_as(tokens: list, open_index: int) -> bool:
    depth = 0
    for j in range(open_index, len(tokens)):
        kind = tokens[j].token_type
        if kind == TokenType.L_PAREN:
            depth += 1
        elif kind == TokenType.R_PAREN:
            depth -= 1
            if depth == 0:
                after = tokens[j + 1 : j + 3]
                if len(after) < 2 or after[0].token_type != TokenType.ALIAS:
                    return False
                # "r(n) AS (" or "r(n) AS [NOT] MATERIALIZED (" is a CTE; "AS s(m)" is an alias
                return after[1].token_type != TokenType.VAR or after[1].text.upper() == "MATERIALIZED"
    return False


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
