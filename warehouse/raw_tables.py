"""Make sure every raw table the models read exists, empty if no data for it has arrived yet.

dlt creates a table only when rows arrive. A new warehouse has no ``raw.deletions`` until something is deleted, no
``raw.feed_events`` until the feed has events, and no ``raw.proposals`` if the brand has none, and the staging models
read all of them. So before the first build, each missing table is created through dlt, as an empty Arrow table
with the same name, hints and source (dlt schema) as the loader that will fill it later. Arrow, never dlt's
``materialize_table_schema``: that creates dlt's ``_dlt_id``/``_dlt_load_id`` columns as NOT NULL, and the Arrow
rows loaded later don't carry them (DESIGN.md, known pitfalls). The empty tables go through dlt's insert_values
format (no rows, so no cost): its parquet path fails on PostgreSQL for a file with no rows; on PostgreSQL JSON columns
are then changed from ``jsonb`` to ``json``, as dlt's parquet path would have made them.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterator
from typing import Any

import dlt
import pyarrow as pa
from dlt.sources import DltResource

from pipelines.serviceminder.csv_arrow import arrow_schema
from pipelines.serviceminder.deletions import DELETIONS_SCHEMA, DELETIONS_TABLE, deletions_resource_hints
from pipelines.serviceminder.download_source import DELETIONS_RESOURCE, LOADED_AT, SOURCE_NAME, kind_table_hints
from pipelines.serviceminder.feed import FEED_SOURCE_NAME
from pipelines.serviceminder.feed_events import FEED_EVENTS_SCHEMA, FEED_EVENTS_TABLE, feed_events_resource_hints
from pipelines.serviceminder.kinds import ALL_KINDS, Kind

KIND_TABLES = {kind.table: kind for kind in ALL_KINDS}
# not parquet: PostgreSQL's ADBC parquet loader fails on a file with no rows ("Must pass schema, or at least one
# RecordBatch"); insert_values creates the table and inserts nothing, on both warehouses
EMPTY_TABLE_FILE_FORMAT = "insert_values"


def missing_tables(pipeline: dlt.Pipeline, wanted: Collection[str]) -> list[str]:
    """Which of ``wanted`` (``raw.x`` names or bare table names) are not in the warehouse."""
    names = sorted({w.split(".", 1)[-1] for w in wanted})
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            "select table_name from information_schema.tables where table_schema = %s", client.dataset_name
        )
    present = {r[0] for r in rows or ()}
    return [n for n in names if n not in present]


def ensure_tables(pipeline: dlt.Pipeline, wanted: Collection[str]) -> list[str]:
    """Create the tables of ``wanted`` that are missing and that a serviceminder loader owns; return those created.

    A missing table no loader owns is left alone: the build then names it.
    """
    missing = missing_tables(pipeline, wanted)
    downloads = [_kind_resource(KIND_TABLES[t]) for t in missing if t in KIND_TABLES]
    if DELETIONS_TABLE in missing:
        downloads.append(_empty(DELETIONS_RESOURCE, DELETIONS_SCHEMA, **deletions_resource_hints()))
    feed = []
    if FEED_EVENTS_TABLE in missing:
        feed.append(_empty(FEED_EVENTS_TABLE, FEED_EVENTS_SCHEMA, **feed_events_resource_hints()))
    for name, resources in ((SOURCE_NAME, downloads), (FEED_SOURCE_NAME, feed)):
        if resources:
            source = _source(name, resources)
            pipeline.extract(source, loader_file_format=EMPTY_TABLE_FILE_FORMAT)
            pipeline.normalize()
            pipeline.load()
    still_missing = set(missing_tables(pipeline, wanted))
    created = [t for t in missing if t not in still_missing]
    if created and pipeline.destination.destination_type.endswith("postgres"):
        _json_not_jsonb(pipeline, created)
    return created


def _json_not_jsonb(pipeline: dlt.Pipeline, tables: list[str]) -> None:
    """Make JSON columns ``json``, as dlt makes them for tables it creates from parquet.

    dlt types a JSON column ``jsonb`` for an insert_values load but ``json`` for a parquet one, because the ADBC
    copy that loads parquet cannot write ``jsonb`` ("unsupported jsonb version number"). The tables are empty, so
    changing the type costs nothing.
    """
    with pipeline.sql_client() as client:
        # merge loads go through dlt's staging dataset (raw_staging), which has its own copy of each table
        schemas = [client.dataset_name]
        with client.with_staging_dataset():
            schemas.append(client.dataset_name)
        rows = client.execute_sql(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_schema in (%s, %s) and data_type = 'jsonb'",
            *schemas,
        )
        for schema, table, column in rows or ():
            if table in tables:
                client.execute_sql(
                    f'alter table "{schema}"."{table}" alter column "{column}" type json using "{column}"::json'
                )


def _source(name: str, resources: list[DltResource]) -> Any:
    def empty_tables() -> list[DltResource]:
        return resources

    return dlt.source(empty_tables, name=name, max_table_nesting=0)()


def _kind_resource(kind: Kind) -> DltResource:
    hints = kind_table_hints(kind)  # the download source's own hints for this table
    schema = arrow_schema(kind).append(pa.field(LOADED_AT, pa.timestamp("us")))

    def rows() -> Iterator[Any]:
        yield dlt.mark.with_hints(schema.empty_table(), hints, create_table_variant=True)

    return dlt.resource(rows, name=kind.key)


def _empty(name: str, schema: pa.Schema, **hints: Any) -> DltResource:
    def rows() -> Iterator[pa.Table]:
        yield schema.empty_table()

    return dlt.resource(rows, name=name, **copy.deepcopy(hints))  # dlt adds keys to the hint dicts it is given
