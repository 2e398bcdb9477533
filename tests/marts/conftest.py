"""One sandbox brand history per warehouse, loaded and built once for every test of this package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.marts.brand import LoadedBrand, load_history
from tests.warehouses import fresh_database, make_test_warehouse


@pytest.fixture(scope="package")
def duckdb_brand(tmp_path_factory: pytest.TempPathFactory) -> LoadedBrand:
    return load_history(make_test_warehouse("duckdb", tmp_path_factory.mktemp("duckdb_brand")))


@pytest.fixture(scope="package")
def postgres_brand(tmp_path_factory: pytest.TempPathFactory, postgres_admin_dsn: str) -> Iterator[LoadedBrand]:
    with fresh_database(postgres_admin_dsn, prefix="smw_marts") as url:
        yield load_history(make_test_warehouse("postgres", tmp_path_factory.mktemp("postgres_brand"), url))


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def loaded_brand(request: pytest.FixtureRequest) -> LoadedBrand:
    """The brand history on DuckDB and on PostgreSQL: the same test runs on both."""
    return request.getfixturevalue(f"{request.param}_brand")
