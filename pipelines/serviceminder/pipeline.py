"""The one dlt pipeline that lands serviceminder data in dataset ``raw``, and how to run it safely.

Downloads and the feed are two dlt sources of the same pipeline, so they share one state and one working folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt
from dlt.common.destination import Destination

PIPELINE_NAME = "serviceminder"
RAW_DATASET = "raw"
# DuckDB reads parquet natively; PostgreSQL loads it through ADBC, measured at about 1.25x COPY (csv: 5.9x)
LOADER_FILE_FORMAT = "parquet"


def make_pipeline(
    destination: Destination | str,
    *,
    pipelines_dir: Path | str | None = None,
    pipeline_name: str = PIPELINE_NAME,
    **kwargs: Any,
) -> dlt.Pipeline:
    """A pipeline writing to dataset ``raw`` of ``destination``; its working folder lives in ``pipelines_dir``."""
    return dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=destination,
        dataset_name=RAW_DATASET,
        pipelines_dir=str(pipelines_dir) if pipelines_dir else None,
        progress=None,
        **kwargs,
    )
