"""Rendering DuckDB-dialect SQL for PostgreSQL: what carries over (checked on both real warehouses) and what is
rejected at render time, before anything runs."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal

import pytest
import sqlglot

from warehouse.render import RenderError, called_functions, render_query
from warehouse.target import Connection, parse_target


def render(sql: str, known: set[str] | None = None) -> str:
    return render_query(sqlglot.parse_one(sql, read="duckdb"), "postgres", what="model marts.m", known_functions=known)


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("select try_cast(a as int) from t", "try_cast()"),
        ("select * exclude (a) from t", "select * exclude/replace"),
        ("select * replace (1 as a) from t", "select * exclude/replace"),
        ("select any_value(a) from t", "any_value()"),
        ("select ts + interval (n) day from t", "interval (expr) unit loses its amount"),
        ("select date_diff('day', a, b) from t", "date_diff()/datediff()"),
        ("select datediff('month', a, b) from t", "date_diff()/datediff()"),
        ("select a from t group by all", "group by all / order by all"),
        ("select a from t order by all", "group by all / order by all"),
        ("select * from t using sample 10", "using sample"),
        ("select {'a': 1} as s", "struct and map values"),
        ("select list_transform([1], x -> x + 1)", "lambda functions"),
        ("select columns('a.*') from t", "columns(...)"),
        ("select range(1, 5) as r", "generate_series()/range() outside FROM"),
        ("select unnest(generate_series(1, 5)) as r", "generate_series()/range() outside FROM"),
        ("select strptime(a, '%Y-%m-%d') from t", "strptime() becomes to_timestamp()"),
        ("select round(a / b, 2) from t", "round(x / y, n) fails on PostgreSQL"),
        ("pivot t on a using sum(b)", "PIVOT unsupported"),
    ],
)
def test_constructs_that_would_not_carry_over_fail_at_render_time(sql: str, fragment: str) -> None:
    with pytest.raises(RenderError) as caught:
        render(sql)
    assert str(caught.value).startswith("model marts.m cannot be rendered for postgres: ")
    assert fragment in str(caught.value)


def test_unknown_functions_are_named() -> None:
    known = {"date_trunc", "sum"}
    with pytest.raises(RenderError, match=r"calls arg_max, hash, which the server does not have"):
        render("select arg_max(a, b), hash(a), sum(x), coalesce(a, b), cast(a as int) from t", known)
    with pytest.raises(RenderError, match="calls date_from_parts"):  # sqlglot's own unknown translation
        render("select make_date(2024, 1, 1)", known)
    assert "DATE_TRUNC" in render("select date_trunc('month', a) from t", known)


def test_called_functions_skips_aliases_and_cte_heads() -> None:
    sql = (
        "WITH r(n) AS (SELECT 1), r2(n) AS MATERIALIZED (SELECT 2) "
        "SELECT f(x), g (y), COUNT(*) FILTER(WHERE a) FROM GENERATE_SERIES(1, 2) AS s(m), "
        "r JOIN (SELECT 1) AS q(z) ON TRUE"
    )
    assert called_functions(sql, "postgres") == ["f", "g", "count", "generate_series"]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select strftime(ts, '%Y-%m') from t", "TO_CHAR(ts, 'YYYY-MM')"),
        ("select ts + interval 1 day from t", "ts + INTERVAL '1 DAY'"),
        ("select n * interval '1 minute' from t", "n * INTERVAL '1 MINUTE'"),
        ("select a::decimal(18, 2) from t", "CAST(a AS DECIMAL(18, 2))"),
        ("select count(*) filter (where s = 'x') from t", "COUNT(*) FILTER(WHERE"),
        ("select row_number() over (partition by a order by b desc) from t", "ORDER BY b DESC NULLS LAST"),
        ("select a from t qualify row_number() over (order by b) = 1", "WHERE\n  _w = 1"),
        ("select ifnull(a, b) from t", "COALESCE(a, b)"),
    ],
)
def test_rendered_forms(sql: str, expected: str) -> None:
    assert expected in render(sql)


# -- the constructs the marts use, executed on both warehouses ---------------------------------------------------

EVENTS_DDL = (
    "create table raw.events (id bigint, ts timestamp, d date, amount decimal(18, 2), qty bigint, name text, "
    "status text)"
)
EVENTS = [
    (1, datetime(2024, 1, 31, 23, 59, 59), date(2024, 1, 31), Decimal("10.50"), 3, "  Ada ", "Completed"),
    (2, datetime(2024, 2, 29, 0, 0), date(2024, 2, 29), Decimal("2.50"), 2, "", "canceled"),
    (3, datetime(2024, 3, 10, 2, 30), date(2024, 3, 10), Decimal("-1.25"), 0, None, None),
    (4, datetime(2023, 12, 31, 12, 0), date(2023, 12, 31), Decimal("100.00"), 7, "Grace Hopper", "Completed"),
    (5, datetime(2024, 11, 3, 1, 30), date(2024, 11, 3), Decimal("0.05"), 1, "BOB", "Scheduled"),
    (6, datetime(2024, 11, 3, 1, 30), date(2024, 11, 3), Decimal("0.05"), 1, "bob", "Scheduled"),
]

CONSTRUCTS = {
    "date_trunc": "select id, date_trunc('month', ts)::date as m, date_trunc('day', ts) as day from raw.events",
    "strftime": "select id, strftime(ts, '%Y-%m') as ym, strftime(d, '%Y-%m-%d') as ymd, "
    "strftime(ts, '%H:%M:%S') as hms, strftime(d, '%B') as month_name from raw.events",
    "month spine": "select s.month::date as month from generate_series(date '2023-11-01', date '2024-03-01', "
    "interval '1 month') as s(month)",
    "month spine per group": "with bounds as (select status, min(date_trunc('month', d))::date as lo, "
    "max(date_trunc('month', d))::date as hi from raw.events where status is not null group by status) "
    "select b.status, s.month::date as month from bounds as b, generate_series(date '2023-01-01', "
    "date '2025-12-01', interval '1 month') as s(month) where s.month between b.lo and b.hi",
    "coalesce and case": "select id, coalesce(status, 'none') as s, case when amount < 0 then 'refund' "
    "when amount >= 10 then 'big' else 'small' end as size, case status when 'Completed' then 1 else 0 end as done "
    "from raw.events",
    "window functions": "select id, row_number() over (partition by status order by ts desc, id) as rn, "
    "lag(d) over (order by ts, id) as prev_d, sum(amount) over (order by ts, id rows between unbounded preceding "
    "and current row) as running, rank() over (order by amount desc) as rk, count(*) over () as n from raw.events",
    "casts": "select id, amount::bigint as whole, qty::text as qty_text, '42'::bigint as fortytwo, ts::date as day, "
    "d::timestamp as midnight, amount::decimal(18, 4) as wide, cast(qty as double) as dbl from raw.events",
    "interval arithmetic": "select id, ts + interval 1 day as next_day, ts - interval '90 minutes' as earlier, "
    "d + interval '1 month' as next_month, ts + qty * interval '1 minute' as ends, d + 1 as tomorrow, "
    "d - 7 as week_ago from raw.events",
    "date differences": "select id, d - lag(d) over (order by d, id) as days_between, "
    "ts::date - date '2024-01-01' as days_since from raw.events",
    "count filter": "select coalesce(status, '?') as s, count(*) as n, count(*) filter (where amount > 1) as big, "
    "sum(amount) filter (where qty > 1) as big_sum from raw.events group by status",
    "strings": "select id, trim(name) as t, nullif(trim(name), '') as n, lower(name) as l, upper(name) as u, "
    "length(name) as len, replace(name, 'a', 'o') as r, concat(name, '/', status) as c, name || '!' as bang, "
    "left(status, 3) as l3, split_part(coalesce(name, ''), ' ', 1) as first_word, lpad(qty::varchar, 3, '0') as p "
    "from raw.events",
    "string aggregation": "select status, string_agg(coalesce(name, '-'), ',' order by id) as names from raw.events "
    "group by status",
    "date parts": "select id, extract(year from d)::integer as y, extract(month from ts)::integer as m, "
    "date_part('dow', d)::integer as dow, year(d) as y2, extract(epoch from ts)::bigint as epoch_s from raw.events",
    "money division": "select id, (amount / nullif(qty, 0))::decimal(18, 2) as per_unit, "
    "round(amount, 1) as r1, avg(amount) over ()::decimal(18, 2) as avg_all from raw.events",
    "aggregates": "select count(*) as n, count(distinct status) as statuses, sum(amount) as total, min(d) as first_d, "
    "max(ts) as last_ts, bool_or(amount < 0) as any_refund, avg(amount)::decimal(18, 2) as avg_amount from raw.events",
    "last_day": "select id, last_day(d) as eom from raw.events",
    "qualify": "select id, status from raw.events qualify row_number() over (partition by status order by id) = 1",
    "ifnull and if": "select id, ifnull(name, '?') as n, if(qty > 1, 'many', 'few') as q from raw.events",
    "greatest and least": "select id, greatest(amount, 1) as g, least(qty, 2) as l, abs(amount) as a from raw.events",
    "distinct from": "select id from raw.events where status is distinct from 'Completed'",
    "subqueries": "select id from raw.events as e where exists (select 1 from raw.events as o where o.qty > e.qty) "
    "and id in (select id from raw.events where amount > 0)",
    "set operations": "select id from raw.events where qty > 1 union all select id from raw.events where amount < 0 "
    "except select id from raw.events where id = 1",
    "recursive cte": "with recursive r(n) as (select 1 union all select n + 1 from r where n < 5) select n from r",
    "strptime cast": "select strptime('2024-01-05 10:00:00', '%Y-%m-%d %H:%M:%S')::timestamp as t",
    "integer division": "select id, qty // 2 as half, qty % 2 as odd, qty / 2 as exact from raw.events",
}


@pytest.fixture
def warehouses(tmp_path, postgres_url: str) -> Iterator[tuple[Connection, Connection]]:
    duck = parse_target(f"duckdb:///{tmp_path}/w.duckdb").connect()
    pg = parse_target(postgres_url).connect()
    for conn in (duck, pg):
        conn.execute("create schema raw")
        conn.execute(EVENTS_DDL)
        for row in EVENTS:
            conn.execute("insert into raw.events values (%s, %s, %s, %s, %s, %s, %s)", row)
    yield duck, pg
    duck.close()
    pg.close()


def _normalize(rows: list[tuple]) -> list[tuple]:
    def value(v: object) -> object:
        if isinstance(v, float):
            return Decimal(repr(v)) if math.isfinite(v) else v
        return v

    return sorted((tuple(value(v) for v in row) for row in rows), key=repr)


def test_constructs_give_identical_results_on_duckdb_and_postgresql(warehouses) -> None:
    duck, pg = warehouses
    known = pg.function_names()
    mismatches = []
    for label, sql in CONSTRUCTS.items():
        query = sqlglot.parse_one(sql, read="duckdb")
        expected = duck.query(render_query(query, "duckdb", what=label))
        got = pg.query(render_query(query, "postgres", what=label, known_functions=known))
        assert expected, f"{label}: the construct returned no rows, so it proves nothing"
        if _normalize(expected) != _normalize(got):
            mismatches.append(f"{label}:\n  duckdb   {expected}\n  postgres {got}")
    assert not mismatches, "\n".join(mismatches)
