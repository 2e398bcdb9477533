"""The one dlt pipeline that lands serviceminder data in dataset ``raw``, and how to run it safely.

Downloads and the feed are two dlt sources of the same pipeline, so they share one state and one working folder.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
from dlt.common.destination import Destination
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines.serviceminder.client import ServiceminderError
from pipelines.serviceminder.load_files import adjust_dlt_parquet

log = logging.getLogger(__name__)

PIPELINE_NAME = "serviceminder"
RAW_DATASET = "raw"
# DuckDB reads parquet natively; PostgreSQL loads it through ADBC, measured at about 1.25x COPY (csv: 5.9x)
LOADER_FILE_FORMAT = "parquet"


def utc_now() -> datetime:
    """Now in UTC as a naive timestamp: everything the pipeline stamps (``_loaded_at``, ``received_at``,
    ``detected_at``) is stored without a zone."""
    return datetime.now(UTC).replace(tzinfo=None)


def duckdb_destination(path: Path | str) -> Destination:
    """DuckDB at ``path``, loading without keeping insertion order.

    Raw tables have no order to keep, and keeping it made DuckDB copy a 1M-row parquet file about 40% slower
    (0.60 against 0.43 s): it can only then insert row groups in parallel.
    """
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

    credentials = DuckDbCredentials(str(path), local_config={"preserve_insertion_order": False})
    return dlt.destinations.duckdb(credentials)


@contextmanager
def warehouse_kept_open(pipeline: dlt.Pipeline) -> Iterator[None]:
    """Keep an embedded DuckDB warehouse open while dlt loads into it.

    dlt connects for each load job and disconnects after it. When no other connection holds the file, each connect
    opens the database anew (about 25 ms) and each disconnect checkpoints it: five opens and three checkpoints for
    one incremental load. One connection held across the load makes the rest share the open database, and the
    changes are checkpointed once, when it closes. A PostgreSQL warehouse needs nothing of this.
    """
    if pipeline.destination is None or not pipeline.destination.destination_type.endswith(".duckdb"):
        yield
        return
    with pipeline.sql_client():
        yield


def make_pipeline(
    destination: Destination | str,
    *,
    pipelines_dir: Path | str | None = None,
    pipeline_name: str = PIPELINE_NAME,
    **kwargs: Any,
) -> dlt.Pipeline:
    """A pipeline writing to dataset ``raw`` of ``destination``; its working folder lives in ``pipelines_dir``."""
    adjust_dlt_parquet()
    return dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=destination,
        dataset_name=RAW_DATASET,
        pipelines_dir=str(pipelines_dir) if pipelines_dir else None,
        progress=None,
        **kwargs,
    )


@contextmanager
def raise_source_errors() -> Iterator[None]:
    """Re-raise a serviceminder error that dlt wrapped in ``PipelineStepFailed``, so its one clear sentence shows."""
    try:
        yield
    except PipelineStepFailed as exc:
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, ServiceminderError):
                raise cause from None
            cause = cause.__cause__ or cause.__context__
        raise


def settle_pending(pipeline: dlt.Pipeline) -> tuple[dlt.Pipeline, str | None]:
    """Deal on purpose with load packages that an earlier, interrupted run left behind.

    Returns the pipeline to go on with and what was done: ``None`` (nothing pending), ``"finished"`` (the packages
    were normalized and loaded; their state, e.g. watermarks, is now committed) or ``"aborted"`` (they could not be
    loaded: they were aborted and the local state restored to where they started, so no watermark moves past
    data that never arrived).
    """
    if not pipeline.has_pending_data:
        return pipeline, None
    try:
        pipeline.normalize()
        pipeline.load()
        return pipeline, "finished"
    except PipelineStepFailed as exc:
        log.error("pending load packages could not be loaded and are aborted: %s", exc)
    # abort_packages also restores the local state and schemas to where the aborted package started
    pipeline.abort_packages()
    if pipeline.has_pending_data:
        pipeline.load()  # completes the abort of a package that was being loaded
    return pipeline, "aborted"
