"""Hand-made raw tables with the loaders' exact shape (kinds.py, raw.deletions, raw.feed_events), for small cases.

``create_raw`` makes every raw table empty; ``insert`` adds records given only the columns a case cares about.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pipelines.serviceminder.deletions import DELETIONS_COLUMN_HINTS
from pipelines.serviceminder.download_source import LOADED_AT
from pipelines.serviceminder.feed_events import FEED_EVENTS_COLUMN_HINTS
from pipelines.serviceminder.kinds import ALL_KINDS
from warehouse.target import Connection

KIND_TYPES = {
    "id": "bigint",
    "int": "bigint",
    "text": "text",
    "money": "decimal(18, 2)",
    "decimal": "decimal(18, 4)",
    "timestamp": "timestamp",
    "date": "date",
    "bool": "boolean",
}
HINT_TYPES = {"text": "text", "bigint": "bigint", "timestamp": "timestamp", "decimal": "decimal(18, 2)"}


def _hint_columns(hints: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    return {name: "json" if h["data_type"] == "json" else HINT_TYPES[h["data_type"]] for name, h in hints.items()}


def raw_columns() -> dict[str, dict[str, str]]:
    """Table -> column -> SQL type, as the loaders create them."""
    tables = {
        kind.table: {**{c.name: KIND_TYPES[c.type] for c in kind.columns}, LOADED_AT: "timestamp"} for kind in ALL_KINDS
    }
    tables["deletions"] = _hint_columns(DELETIONS_COLUMN_HINTS)
    tables["feed_events"] = _hint_columns(FEED_EVENTS_COLUMN_HINTS)
    return tables


def create_raw(conn: Connection) -> None:
    with conn.transaction():
        conn.execute("create schema if not exists raw")
        for table, columns in raw_columns().items():
            conn.execute(f"create table raw.{table} ({', '.join(f'{c} {t}' for c, t in columns.items())})")


def insert(conn: Connection, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """Insert rows into ``raw.<table>``; columns a row leaves out are NULL (kinds get ``_loaded_at`` too)."""
    columns = list(raw_columns()[table])
    for row in rows:
        unknown = set(row) - set(columns)
        assert not unknown, f"raw.{table} has no column(s) {unknown}"
        values = [row.get(c) for c in columns]
        conn.execute(f"insert into raw.{table} values ({', '.join(['%s'] * len(columns))})", values)


def record(record_id: int, organization_id: int, loaded_at: datetime, **values: Any) -> dict[str, Any]:
    """A raw record of any kind: its Id, organization and load time, plus the columns given."""
    return {"id": record_id, "organization_id": organization_id, LOADED_AT: loaded_at, **values}
