"""Shared fixtures: a fresh, real PostgreSQL database per test, and a fake clock."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg2
import pytest

from tests.fakes import FakeClock

PG_ADMIN_DSN = os.environ.get("SMW_TEST_PG_DSN", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")


def _postgres_reachable() -> str | None:
    try:
        psycopg2.connect(PG_ADMIN_DSN, connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        return str(exc).strip()
    return None


@pytest.fixture(scope="session")
def postgres_admin_dsn() -> str:
    problem = _postgres_reachable()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required under CI but is not reachable at {PG_ADMIN_DSN}: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_DSN} (set CI=true to make this a failure): {problem}")
    return PG_ADMIN_DSN


@pytest.fixture
def postgres_url(postgres_admin_dsn: str) -> Iterator[str]:
    """A brand-new empty database, dropped after the test."""
    from tests.warehouses import fresh_database

    with fresh_database(postgres_admin_dsn) as url:
        yield url


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request: pytest.FixtureRequest, tmp_path):
    """The same test on a real DuckDB file and on a fresh real PostgreSQL database."""
    from tests.warehouses import make_test_warehouse

    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return make_test_warehouse(request.param, tmp_path, url)


@pytest.fixture
def duckdb_warehouse(tmp_path):
    from tests.warehouses import make_test_warehouse

    return make_test_warehouse("duckdb", tmp_path)
