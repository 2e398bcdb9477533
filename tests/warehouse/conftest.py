"""Fixtures for the model runner: a target on each warehouse, and a way to write small model trees."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from textwrap import dedent

import pytest

from warehouse.target import Connection, Target, parse_target


@pytest.fixture
def duckdb_target(tmp_path: Path) -> Target:
    return parse_target(f"duckdb:///{tmp_path}/warehouse.duckdb")


@pytest.fixture
def postgres_target(postgres_url: str) -> Target:
    return parse_target(postgres_url)


@pytest.fixture(params=["duckdb", "postgres"])
def target(request: pytest.FixtureRequest) -> Target:
    """The same test on DuckDB and on a real PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_target")


@pytest.fixture
def conn(target: Target) -> Iterator[Connection]:
    connection = target.connect()
    yield connection
    connection.close()


ModelWriter = Callable[[dict[str, str]], Path]


@pytest.fixture
def write_models(tmp_path: Path) -> ModelWriter:
    """Write ``{"staging/x.sql": text}`` under a fresh models folder and return the folder."""
    root = tmp_path / "sql_models"

    def write(files: dict[str, str]) -> Path:
        for relative, text in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(dedent(text).lstrip("\n"), encoding="utf-8")
        root.mkdir(exist_ok=True)
        return root

    return write
