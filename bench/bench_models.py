"""Model build benchmark: every SQL model built on DuckDB over a sandbox brand of 1M appointments.

The anchor is the raw load of the same brand (all six kinds plus the feed), measured in the same run.
"""

from __future__ import annotations

import os
import tempfile
from datetime import date
from pathlib import Path

from bench.common import ROOT, Figure, timed
from pipelines.sandbox import Sandbox
from pipelines.serviceminder.client import ServiceminderClient
from pipelines.serviceminder.download_source import run_downloads
from pipelines.serviceminder.downloads import DownloadSettings
from pipelines.serviceminder.feed import load_feed
from pipelines.serviceminder.pipeline import duckdb_destination, make_pipeline
from warehouse.build import build_models
from warehouse.models import load_project
from warehouse.target import parse_target

KEY = "bench-key-models-41"
TODAY = date(2026, 11, 2)
SCALE = int(os.environ.get("SMW_BENCH_APPOINTMENTS", "1000000"))


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="smw-bench-models-") as work:
        return _measure(Path(work))


def _measure(work: Path) -> list[Figure]:
    database = work / "w.duckdb"
    with Sandbox(api_key=KEY, seed=2, appointments=SCALE, today=TODAY) as sandbox:
        sandbox.advance_days(1)  # so the feed has events and deletions
        pipeline = make_pipeline(duckdb_destination(database), pipelines_dir=work / "pipelines")
        with ServiceminderClient(KEY, sandbox.base_url) as client, timed() as load:
            result = run_downloads(pipeline, client, today=sandbox.today, settings=DownloadSettings(poll_interval=0.05))
            load_feed(pipeline, client)
    rows = sum(o.rows for o in result.outcomes.values())
    project = load_project(ROOT / "sql_models")
    with timed() as build:
        built = build_models(parse_target(f"duckdb:///{database}"), project)
    if not built.ok:
        raise RuntimeError(f"the model build failed: {built.first_problem()}")
    return [
        Figure(
            f"build all {len(project.models)} models on DuckDB ({rows:,} raw rows)",
            build(),
            "s",
            "the raw load of the same brand (6 kinds + feed)",
            load(),
        )
    ]
