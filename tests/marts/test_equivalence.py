"""Cross-warehouse equivalence: the same raw rows built on DuckDB and on PostgreSQL give identical models.

The DuckDB brand's raw tables are copied value for value into a fresh PostgreSQL database, so both builds start
from exactly the same data; then every model is compared sorted, value by value, type and digits included.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.marts.brand import LoadedBrand, build, connected, copy_raw, project, relation_rows
from warehouse.build import BuildResult
from warehouse.target import Connection, Target, parse_target

pytestmark = pytest.mark.postgres

# PostgreSQL information_schema data_type -> the DuckDB type it must match
PG_TO_DUCKDB = {
    "bigint": "BIGINT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp without time zone": "TIMESTAMP",
    "text": "VARCHAR",
    "character varying": "VARCHAR",
}
MONEY_COLUMNS = frozenset(
    [
        "lifetime_value",
        "subtotal",
        "discount",
        "tax",
        "total",
        "amount_paid",
        "balance_due",
        "unit_price",
        "extended_total",
        "amount",
        "gross_sales",
        "collected",
        "average_ticket",
        "lifetime_invoiced",
        "lifetime_paid",
    ]
)


@pytest.fixture(scope="module")
def postgres_copy(duckdb_brand: LoadedBrand, postgres_admin_dsn: str) -> Iterator[tuple[Target, BuildResult]]:
    from tests.warehouses import fresh_database

    with fresh_database(postgres_admin_dsn) as url:
        target = parse_target(url)
        with connected(duckdb_brand.target) as duck, connected(target) as pg:
            copy_raw(duck, pg)
        yield target, build(target)


def exact(row: tuple[Any, ...]) -> tuple[tuple[str, str], ...]:
    """A row as (type, text) pairs: Decimal('1.50') and Decimal('1.5') differ, and so do 1 and True."""
    return tuple((type(v).__name__, str(v)) for v in row)


def test_the_postgresql_copy_builds_cleanly(postgres_copy: tuple[Target, BuildResult]) -> None:
    _, result = postgres_copy
    assert result.ok, result.first_problem()


def test_every_model_has_identical_rows_on_both_warehouses(
    duckdb_brand: LoadedBrand, postgres_copy: tuple[Target, BuildResult]
) -> None:
    target, _ = postgres_copy
    models = project().order
    assert any(m.startswith("reports.") for m in models) and any(m.startswith("marts.") for m in models)
    with connected(duckdb_brand.target) as duck, connected(target) as pg:
        for relation in models:
            duck_names, duck_rows = relation_rows(duck, relation)
            pg_names, pg_rows = relation_rows(pg, relation)
            assert duck_names == pg_names, relation
            assert duck_rows, f"{relation} is empty: the comparison would prove nothing"
            assert len(duck_rows) == len(pg_rows), relation
            for duck_row, pg_row in zip(duck_rows, pg_rows, strict=True):
                assert exact(duck_row) == exact(pg_row), f"{relation}: {duck_row} != {pg_row}"


def column_types(conn: Connection, dialect: str) -> dict[tuple[str, str, str], str]:
    rows = conn.query(
        "select table_schema, table_name, column_name, data_type, numeric_precision, numeric_scale "
        "from information_schema.columns where table_schema in ('staging', 'marts', 'reports')"
    )
    out = {}
    for schema, table, column, data_type, precision, scale in rows:
        if dialect == "postgres":
            if data_type == "numeric":
                data_type = f"DECIMAL({precision},{scale})" if precision is not None else "NUMERIC (unbounded)"
            else:
                data_type = PG_TO_DUCKDB.get(data_type, data_type)
        out[(schema, table, column)] = data_type
    return out


def test_column_types_are_the_same_and_money_is_decimal_18_2(
    duckdb_brand: LoadedBrand, postgres_copy: tuple[Target, BuildResult]
) -> None:
    target, _ = postgres_copy
    with connected(duckdb_brand.target) as duck, connected(target) as pg:
        duck_types = column_types(duck, "duckdb")
        pg_types = column_types(pg, "postgres")
    assert duck_types == pg_types
    checked = 0
    for (schema, table, column), data_type in duck_types.items():
        if column in MONEY_COLUMNS:
            assert data_type == "DECIMAL(18,2)", f"{schema}.{table}.{column} is {data_type}"
            checked += 1
    assert checked > 30
    assert duck_types[("reports", "organization_monthly", "close_rate")] == "DECIMAL(9,4)"
    assert duck_types[("marts", "fct_invoice_lines", "quantity")] == "DECIMAL(18,4)"
