"""One sandbox brand history per warehouse, loaded and built once for every test of this package."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

from tests.marts.brand import LoadedBrand, load_history
from tests.warehouses import make_test_warehouse


@pytest.fixture(scope="package")
def duckdb_brand(tmp_path_factory: pytest.TempPathFactory) -> LoadedBrand:
    return load_history(make_test_warehouse("duckdb", tmp_path_factory.mktemp("duckdb_brand")))


@pytest.fixture(scope="package")
def postgres_brand(tmp_path_factory: pytest.TempPathFactory, postgres_admin_dsn: str) -> Iterator[LoadedBrand]:
    with fresh_database(postgres_admin_dsn) as url:
        yield load_history(make_test_warehouse("postgres", tmp_path_factory.mktemp("postgres_brand"), url))


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def loaded_brand(request: pytest.FixtureRequest) -> LoadedBrand:
    """The brand history on DuckDB and on PostgreSQL: the same test runs on both."""
    return request.getfixturevalue(f"{request.param}_brand")


@contextmanager
def fresh_database(admin_dsn: str) -> Iterator[str]:
    """A new empty PostgreSQL database that lives as long as a package-scoped fixture; its URL has a password."""
    name = f"smw_marts_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(admin_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'create database "{name}"')
    parts = urlsplit(admin_dsn)
    netloc = f"{parts.username or 'postgres'}:{parts.password or 'postgres'}@{parts.hostname}:{parts.port or 5432}"
    try:
        yield urlunsplit((parts.scheme, netloc, f"/{name}", "", ""))
    finally:
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        admin.close()
