"""A sandbox brand loaded the way the nightly run loads it, then built with the model runner; and ways to read it.

``load_history`` runs a first load (downloads + feed), a few days of incremental runs and a final full refresh of
every kind. ``copy_raw`` copies the raw tables of one warehouse into another, value for value, so that models can
be built twice from exactly the same raw data.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from pipelines.sandbox import Sandbox, Truth
from pipelines.serviceminder.client import RetryPolicy, ServiceminderClient
from pipelines.serviceminder.download_source import run_downloads
from pipelines.serviceminder.downloads import DownloadSettings
from pipelines.serviceminder.feed import load_feed
from pipelines.serviceminder.kinds import ALL_KINDS
from pipelines.serviceminder.pipeline import settle_pending
from tests.fakes import FakeClock
from tests.warehouses import TestWarehouse
from warehouse.build import BuildResult, build_models
from warehouse.models import Project, load_project
from warehouse.target import Connection, Target, parse_target

MODELS_DIR = Path(__file__).resolve().parents[2] / "sql_models"
API_KEY = "marts-test-key-94c1e7"
SEED = 23
APPOINTMENTS = 300
TODAY = date(2026, 3, 10)
INCREMENTAL_RUNS = 2  # each after advancing DAYS_PER_RUN days
DAYS_PER_RUN = 2
SETTINGS = DownloadSettings(poll_interval=1.0, ready_timeout=600.0)
ALL_KIND_KEYS = frozenset(k.key for k in ALL_KINDS)


@dataclass
class LoadedBrand:
    """A warehouse holding a sandbox brand's history, built, and the sandbox's truth at the end of it."""

    warehouse: TestWarehouse
    target: Target
    truth: Truth
    organization_names: dict[int, str]
    events_loaded: int = 0  # distinct feed events committed over all runs
    build: BuildResult | None = None
    raw_ids: dict[str, set[int]] = field(default_factory=dict)  # kind key -> every id raw ever held


def target_of(warehouse: TestWarehouse) -> Target:
    if warehouse.name == "duckdb":
        return parse_target(f"duckdb:///{warehouse.location}")
    return parse_target(warehouse.location)


def project() -> Project:
    return load_project(MODELS_DIR)


def build(target: Target, select: list[str] | None = None) -> BuildResult:
    return build_models(target, project(), select)


def load_history(warehouse: TestWarehouse) -> LoadedBrand:
    """First load, ``INCREMENTAL_RUNS`` incremental runs a few days apart, then a full refresh; then build."""
    clock = FakeClock()
    with Sandbox(api_key=API_KEY, seed=SEED, appointments=APPOINTMENTS, today=TODAY, page_size=5_000) as sandbox:
        events = _run(warehouse, sandbox, clock)
        for _ in range(INCREMENTAL_RUNS):
            sandbox.advance_days(DAYS_PER_RUN)
            events += _run(warehouse, sandbox, clock)
        sandbox.advance_days(1)
        events += _run(warehouse, sandbox, clock, full_refresh=ALL_KIND_KEYS)
        assert len(sandbox.feed) == 0, "the feed should be drained by the last run"
        loaded = LoadedBrand(
            warehouse=warehouse,
            target=target_of(warehouse),
            truth=sandbox.truth(),
            organization_names=dict(sandbox.brand.organizations),
            events_loaded=events,
        )
    loaded.raw_ids = {kind.key: set(warehouse.records(kind)) for kind in ALL_KINDS}
    loaded.build = build(loaded.target)
    return loaded


def _run(
    warehouse: TestWarehouse, sandbox: Sandbox, clock: FakeClock, full_refresh: frozenset[str] = frozenset()
) -> int:
    pipeline, _ = settle_pending(warehouse.pipeline())
    retry = RetryPolicy(max_attempts=5)
    with ServiceminderClient(API_KEY, sandbox.base_url, sleep=clock.sleep, rng=random.Random(0), retry=retry) as client:
        run_downloads(
            pipeline,
            client,
            today=sandbox.today,
            full_refresh=full_refresh,
            clock=clock.now,
            sleep=clock.sleep,
            settings=SETTINGS,
        )
        feed = load_feed(pipeline, client)
    return feed.events_loaded - feed.redelivered


# -- reading and copying ---------------------------------------------------------------------------------------


def relation_rows(conn: Connection, relation: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Every row of ``relation`` (schema.table), columns in table order, rows sorted by their Python values."""
    names, rows = conn.query_with_names(f"select * from {relation}")
    return names, sorted(rows, key=sort_key)


def sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((value is None, _comparable(value)) for value in row)


def _comparable(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool | int | float | Decimal):
        return (0, value, "")
    return (1, 0, str(value))


def records(conn: Connection, relation: str, key: str) -> dict[Any, dict[str, Any]]:
    """``relation`` as ``{key value: {column: value}}``."""
    names, rows = conn.query_with_names(f"select * from {relation}")
    return {row[names.index(key)]: dict(zip(names, row, strict=True)) for row in rows}


_INSERT_BATCH = 500
# DuckDB information_schema type -> PostgreSQL type, for the raw tables the loaders write
_PG_TYPES = {
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "VARCHAR": "text",
    "JSON": "json",
    "DOUBLE": "double precision",
}


def copy_raw(source: Connection, target: Connection) -> list[str]:
    """Copy every raw table of a DuckDB warehouse into PostgreSQL, types and values unchanged; returns the tables."""
    assert source.dialect == "duckdb" and target.dialect == "postgres"
    listed = source.query("select table_name from information_schema.tables where table_schema = 'raw' order by 1")
    tables = [name for (name,) in listed if not name.startswith("_dlt")]
    with target.transaction():
        target.execute("create schema if not exists raw")
        for table in tables:
            columns = source.query(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'raw' and table_name = %s order by ordinal_position",
                (table,),
            )
            ddl = ", ".join(f'"{name}" {_pg_type(kind)}' for name, kind in columns)
            target.execute(f"create table raw.{table} ({ddl})")
            rows = source.query(f"select * from raw.{table}")
            one_row = "(" + ", ".join(["%s"] * len(columns)) + ")"
            for start in range(0, len(rows), _INSERT_BATCH):
                batch = rows[start : start + _INSERT_BATCH]
                values = ", ".join([one_row] * len(batch))
                target.execute(f"insert into raw.{table} values {values}", [v for row in batch for v in row])
    return tables


def _pg_type(duckdb_type: str) -> str:
    if duckdb_type.startswith("DECIMAL"):
        return duckdb_type.replace("DECIMAL", "numeric")
    try:
        return _PG_TYPES[duckdb_type]
    except KeyError:
        raise AssertionError(f"copy_raw does not know DuckDB type {duckdb_type}; add it to _PG_TYPES") from None


@contextmanager
def connected(target: Target) -> Iterator[Connection]:
    conn = target.connect()
    try:
        yield conn
    finally:
        conn.close()
