"""dlt's parquet load files as this pipeline writes them: dictionaries for text only, no compression, and every
value loaded as written, into DuckDB and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from adbc_driver_manager import dbapi
from dlt.common.destination.exceptions import DestinationTerminalException
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines.serviceminder.pipeline import LOADER_FILE_FORMAT
from tests.warehouses import TestWarehouse, make_test_warehouse

ROWS = 5000
SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("status", pa.string()),
        pa.field("subtotal", pa.decimal128(18, 2)),
        pa.field("scheduled_start", pa.timestamp("us")),
        pa.field("recurring", pa.bool_()),
    ]
)
HINTS = {
    "id": {"data_type": "bigint", "nullable": False},
    "status": {"data_type": "text"},
    "subtotal": {"data_type": "decimal", "precision": 18, "scale": 2},
    "scheduled_start": {"data_type": "timestamp", "timezone": False},
    "recurring": {"data_type": "bool"},
}


def appointments() -> pa.Table:
    return pa.table(
        {
            "id": list(range(1, ROWS + 1)),
            "status": [("Scheduled", "Completed", None)[i % 3] for i in range(ROWS)],
            "subtotal": [Decimal(i) / 100 for i in range(ROWS)],
            "scheduled_start": [datetime(2026, 11, 2, i % 24, i % 60) for i in range(ROWS)],
            "recurring": [i % 2 == 0 for i in range(ROWS)],
        },
        schema=SCHEMA,
    )


def normalized_file(pipeline: dlt.Pipeline, rows_per_item: int = ROWS) -> Path:
    items = appointments().to_batches(max_chunksize=rows_per_item)
    pipeline.extract(dlt.resource(items, name="appointments", columns=HINTS), loader_file_format=LOADER_FILE_FORMAT)
    pipeline.normalize()
    (path,) = Path(pipeline.working_dir).rglob("appointments.*.parquet")
    return path


def chunk_facts(path: Path) -> dict[str, tuple[str, bool]]:
    """Per column of the first row group: its compression and whether it is dictionary-encoded."""
    group = pq.ParquetFile(path).metadata.row_group(0)
    columns = (group.column(i) for i in range(group.num_columns))
    return {c.path_in_schema: (c.compression, c.dictionary_page_offset is not None) for c in columns}


def test_load_files_are_uncompressed_and_only_text_has_a_dictionary(warehouse: TestWarehouse) -> None:
    pipeline = warehouse.pipeline("load_files")
    path = normalized_file(pipeline)
    assert chunk_facts(path) == {
        "id": ("UNCOMPRESSED", False),
        "status": ("UNCOMPRESSED", True),
        "subtotal": ("UNCOMPRESSED", False),
        "scheduled_start": ("UNCOMPRESSED", False),
        "recurring": ("UNCOMPRESSED", False),
    }
    assert pq.read_table(path).select(SCHEMA.names).equals(appointments())

    pipeline.load()
    loaded = warehouse.query("select id, status, subtotal, scheduled_start, recurring from raw.appointments")
    expected = appointments().to_pylist()
    assert sorted(loaded) == [tuple(row.values()) for row in expected]


def test_a_configured_compression_is_kept(duckdb_warehouse: TestWarehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_WRITER__COMPRESSION", "zstd")
    path = normalized_file(duckdb_warehouse.pipeline("load_files"))
    assert {compression for compression, _ in chunk_facts(path).values()} == {"ZSTD"}


@pytest.mark.postgres
def test_a_copy_that_fails_midway_leaves_no_reader_behind(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_WRITER__BUFFER_MAX_ITEMS", "500")  # a row group per item of 500 rows: ten in the file
    pulled: list[int] = []

    def failing_ingest(self: dbapi.Cursor, table_name: str, data: Any, *args: Any, **kwargs: Any) -> int:
        if table_name != "appointments":
            return real_ingest(self, table_name, data, *args, **kwargs)
        pulled.append(data.read_next_batch().num_rows)
        raise DestinationTerminalException("the server closed the connection")  # not retried: no waits

    real_ingest = dbapi.Cursor.adbc_ingest
    monkeypatch.setattr(dbapi.Cursor, "adbc_ingest", failing_ingest)
    pipeline = make_test_warehouse("postgres", tmp_path, postgres_url).pipeline("load_files")
    assert pq.ParquetFile(normalized_file(pipeline, rows_per_item=500)).num_row_groups == 10
    with pytest.raises(PipelineStepFailed, match="the server closed the connection"):
        pipeline.load()
    assert pulled == [500]
    assert [t.name for t in threading.enumerate() if t.name.startswith("parquet-read")] == []
