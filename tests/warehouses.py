"""Real DuckDB and PostgreSQL warehouses for pipeline tests: a dlt destination plus a way to read what landed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dlt
import duckdb
import psycopg2

from pipelines.serviceminder.kinds import Kind
from pipelines.serviceminder.pipeline import duckdb_destination, make_pipeline


@dataclass
class TestWarehouse:
    name: str  # "duckdb" or "postgres"
    location: str  # DuckDB file path or PostgreSQL URL
    pipelines_dir: Path

    __test__ = False  # not a test class, despite the name

    def destination(self) -> Any:
        if self.name == "duckdb":
            return duckdb_destination(self.location)
        return dlt.destinations.postgres(self.location)

    def pipeline(self, name: str = "serviceminder") -> dlt.Pipeline:
        return make_pipeline(self.destination(), pipelines_dir=self.pipelines_dir, pipeline_name=name)

    def query(self, sql: str, *args: Any) -> list[tuple]:
        if self.name == "duckdb":
            with duckdb.connect(self.location, read_only=True) as conn:
                return conn.execute(sql.replace("%s", "?"), list(args)).fetchall()
        with psycopg2.connect(self.location) as conn, conn.cursor() as cur:
            cur.execute(sql, args)
            rows = cur.fetchall() if cur.description else []
        conn.close()
        return rows

    def table_exists(self, schema: str, table: str) -> bool:
        if self.name == "duckdb" and not Path(self.location).exists():
            return False
        return bool(
            self.query(
                "select 1 from information_schema.tables where table_schema = %s and table_name = %s", schema, table
            )
        )

    def records(self, kind: Kind) -> dict[int, dict[str, Any]]:
        """The raw table of ``kind`` as ``{id: {column: value}}``, kinds.py columns only."""
        if not self.table_exists("raw", kind.table):
            return {}
        names = kind.column_names
        rows = self.query(f"select {', '.join(names)} from raw.{kind.table}")
        return {row[0]: dict(zip(names, row, strict=True)) for row in rows}

    def deletions(self, detected_by: str | None = None) -> set[tuple[str, int]]:
        if not self.table_exists("raw", "deletions"):
            return set()
        where = " where detected_by = %s" if detected_by else ""
        args = (detected_by,) if detected_by else ()
        return {(t, i) for t, i in self.query(f"select entity_type, entity_id from raw.deletions{where}", *args)}

    def live_records(self, kind: Kind) -> dict[int, dict[str, Any]]:
        """Raw minus every recorded deletion newer than the record's last load (what staging will keep)."""
        records = self.records(kind)
        if not records or not self.table_exists("raw", "deletions"):
            return records
        deleted = {
            row[0]
            for row in self.query(
                f"select t.id from raw.{kind.table} t join raw.deletions d"
                " on d.entity_type = %s and d.entity_id = t.id and d.detected_at >= t._loaded_at",
                kind.entity_type,
            )
        }
        return {i: r for i, r in records.items() if i not in deleted}

    def all_text(self) -> str:
        """Every text-like value of every table in the warehouse, for secret scans."""
        tables = self.query(
            "select table_schema, table_name from information_schema.tables"
            " where table_schema not in ('information_schema', 'pg_catalog')"
        )
        chunks: list[str] = []
        for schema, table in tables:
            for row in self.query(f'select * from "{schema}"."{table}"'):
                chunks.extend(str(value) for value in row)
        return "\n".join(chunks)


def make_test_warehouse(kind: str, tmp_path: Path, postgres_url: str | None = None) -> TestWarehouse:
    if kind == "duckdb":
        return TestWarehouse("duckdb", str(tmp_path / "warehouse.duckdb"), tmp_path / "pipelines")
    assert postgres_url is not None
    return TestWarehouse("postgres", postgres_url, tmp_path / "pipelines")


@contextmanager
def fresh_database(admin_dsn: str, prefix: str = "smw_test") -> Iterator[str]:
    """A new empty PostgreSQL database, dropped afterwards; its URL has a password because dlt requires one."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
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
