"""How dlt writes this pipeline's parquet load files, and how PostgreSQL reads them: three measured adjustments.

A load file is written once, read once by the load step on the same machine, and deleted. Every CPU-second spent
encoding it is spent again decoding it, and on the two cores of a nightly runner that time is taken from parsing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dlt
import pyarrow as pa

log = logging.getLogger(__name__)

# dlt's default is snappy: it took ~0.17 s more to write a 1M-row appointments file, more again to read it, and
# saved only disk space for the seconds the file exists. data_writer.compression in .dlt/config.toml overrides this.
LOAD_FILE_COMPRESSION = "none"


def adjust_dlt_parquet() -> None:
    """Text-only dictionaries, no compression unless configured, streamed COPY; idempotent. Called by
    ``make_pipeline``."""
    _write_lean_parquet()
    _stream_parquet_into_postgres()
    if dlt.config.get("data_writer.compression") is None:
        dlt.config["data_writer.compression"] = LOAD_FILE_COMPRESSION


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """The columns worth a parquet dictionary: text (names, statuses, services repeat) and Arrow dictionaries."""
    return [
        f.name
        for f in schema
        if pa.types.is_string(f.type)
        or pa.types.is_large_string(f.type)
        or pa.types.is_binary(f.type)
        or pa.types.is_dictionary(f.type)
    ]


def _write_lean_parquet() -> None:
    """Make dlt's parquet writer dictionary-encode text columns only.

    Parquet's writer dictionary-encodes every column unless told otherwise, and dlt gives it no say. Ids and
    timestamps hardly repeat, so their dictionaries are hashed for nothing: dlt took ~1.05 s to write a 1M-row
    appointments file (beside the parser, on two cores) with them, ~0.77 s without.
    """
    from dlt.common.data_writers.writers import ParquetDataWriter

    if not hasattr(ParquetDataWriter, "_create_writer"):
        # files are still written, only more slowly; a test fails on such a dlt version
        log.warning("this dlt version writes parquet its own way: load files take longer to write")
        return
    ParquetDataWriter._create_writer = _create_lean_writer


def _create_lean_writer(writer: Any, schema: pa.Schema) -> Any:
    """``ParquetDataWriter._create_writer`` (dlt 1.31) with ``use_dictionary`` given."""
    import pyarrow.parquet as pq
    from packaging.version import Version

    fmt = writer.parquet_format
    kwargs: dict[str, Any] = {
        "flavor": fmt.flavor,
        "version": fmt.version,
        "compression": fmt.compression,
        "data_page_size": fmt.data_page_size,
        "coerce_timestamps": fmt.coerce_timestamps,
        "allow_truncated_timestamps": fmt.allow_truncated_timestamps,
        "use_compliant_nested_type": fmt.use_compliant_nested_type,
        "write_page_index": fmt.write_page_index,
        "use_dictionary": dictionary_columns(schema),
    }
    if Version(pa.__version__).major >= 21:
        kwargs["use_content_defined_chunking"] = fmt.use_content_defined_chunking
    return pq.ParquetWriter(writer._f, schema, **kwargs)


def _stream_parquet_into_postgres() -> None:
    """Make dlt's PostgreSQL parquet load stream each file into one COPY, a row group at a time.

    dlt hands ADBC a generator of batches, and ADBC turns anything that is not an Arrow stream into one
    ``pa.Table`` first: loading a 1M-row file took 570 MiB instead of 300. dlt's own switch for this (made for mssql,
    dlt-hub/dlt#3915) calls ADBC once per row group instead, one COPY each, which cost ~0.9 s more per 1M rows than
    one COPY. Handed a ``RecordBatchReader``, ADBC streams the whole file into one COPY in flat memory.
    """
    from dlt.destinations.impl.postgres.postgres import PostgresParquetCopyJob

    if not all(hasattr(PostgresParquetCopyJob, name) for name in ("_connect", "_set_catalog_and_schema")):
        # loads still work, they just hold each file in memory; a test fails on such a dlt version
        log.warning("this dlt version cannot stream parquet into PostgreSQL: large loads use more memory")
        return
    PostgresParquetCopyJob.run = _run_streaming_copy


def _run_streaming_copy(job: Any) -> None:
    """``AdbcParquetCopyJob.run`` with the file handed to ADBC as a stream of its row groups."""
    import pyarrow.parquet as pq
    from dlt.common.utils import without_none

    catalog_name, schema_name = job._set_catalog_and_schema()
    with pq.ParquetFile(job._file_path) as parquet, job._connect() as conn, conn.cursor() as cur:
        batches = _read_ahead_batches(parquet)
        started = time.monotonic()
        try:
            rows = cur.adbc_ingest(
                job.load_table_name,
                pa.RecordBatchReader.from_batches(parquet.schema_arrow, batches),
                mode="append",
                **without_none({"catalog_name": catalog_name, "db_schema_name": schema_name}),
            )
        finally:
            batches.close()  # a COPY that failed midway: the row group being read is done before the file closes
        conn.commit()
    log.debug("%s rows streamed into %s in %.2f s", rows, job.load_table_name, time.monotonic() - started)


def _read_ahead_batches(parquet: Any) -> Generator[pa.RecordBatch, None, None]:
    """The file's batches, each row group decoded on a thread while ADBC encodes the one before (a 1M-row load:
    ~1.88 s instead of ~2.0)."""
    groups = parquet.num_row_groups
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-read") as reader:
        upcoming = reader.submit(parquet.read_row_group, 0) if groups else None
        for i in range(groups):
            group = upcoming.result()
            if i + 1 < groups:
                upcoming = reader.submit(parquet.read_row_group, i + 1)
            yield from group.to_batches()
