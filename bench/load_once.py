"""One download load in a process of its own, so that its peak memory is its own: ``python -m bench.load_once``.

Prints one JSON object: seconds, rows per kind, downloads started, peak RSS in MiB.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa

from bench.common import peak_rss_mb
from pipelines.serviceminder.client import ServiceminderClient
from pipelines.serviceminder.csv_arrow import CsvReport, read_csv_batches
from pipelines.serviceminder.download_source import (
    KindOutcome,
    check_first_load,
    extract_normalize_load,
    kind_table_hints,
    page_table,
    raw_table_is_empty,
    read_ahead,
    run_downloads,
)
from pipelines.serviceminder.downloads import DownloadSettings
from pipelines.serviceminder.kinds import ALL_KINDS, APPOINTMENTS, DEFAULT_PAGE_SIZE, KINDS_BY_KEY
from pipelines.serviceminder.pipeline import duckdb_destination, make_pipeline, utc_now


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url")
    parser.add_argument("--api-key")
    parser.add_argument("--csv", type=Path, help="load this appointments CSV file instead of downloading")
    parser.add_argument("--warehouse", required=True, help="a DuckDB file path or a postgresql:// URL")
    parser.add_argument("--pipelines-dir", required=True)
    parser.add_argument("--kinds", default=",".join(k.key for k in ALL_KINDS))
    parser.add_argument("--full-refresh", action="store_true")
    parser.add_argument("--today", type=date.fromisoformat, required=True)
    parser.add_argument("--poll-interval", type=float, default=0.05)
    args = parser.parse_args(argv)

    if args.warehouse.startswith("postgres"):
        destination = dlt.destinations.postgres(args.warehouse)
    else:
        destination = duckdb_destination(args.warehouse)
    pipeline = make_pipeline(destination, pipelines_dir=args.pipelines_dir, pipeline_name="bench")
    kinds = [KINDS_BY_KEY[k] for k in args.kinds.split(",")]
    if args.csv:
        return _load_file(pipeline, args.csv)
    start = time.perf_counter()
    with ServiceminderClient(args.api_key, args.base_url) as client:
        result = run_downloads(
            pipeline,
            client,
            kinds=kinds,
            full_refresh={k.key for k in kinds} if args.full_refresh else (),
            today=args.today,
            settings=DownloadSettings(poll_interval=args.poll_interval),
        )
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rows": {k: o.rows for k, o in result.outcomes.items()},
                "pages": sum(o.pages for o in result.outcomes.values()),
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )
    return 0


def _load_file(pipeline: dlt.Pipeline, path: Path) -> int:
    """Parse and load one local CSV the way the download source does: the loader's own share, without HTTP."""
    loaded_at = utc_now()
    report = CsvReport()

    def file_pages() -> Iterator[list[pa.RecordBatch]]:
        page: list[pa.RecordBatch] = []
        rows = 0
        for batch in read_csv_batches(path, APPOINTMENTS, download_id=path.name, report=report):
            page.append(batch)
            rows += batch.num_rows
            if rows >= DEFAULT_PAGE_SIZE:
                yield page
                page, rows = [], 0
        if page:
            yield page

    def pages() -> Iterator[Any]:
        # as the download source does it: one item per page's worth of rows, the next page parsed ahead meanwhile
        parsed = file_pages()
        with ThreadPoolExecutor(max_workers=1) as fetcher:
            for page in read_ahead(lambda: next(parsed, None), fetcher):
                table = page_table(page, APPOINTMENTS, outcome, loaded_at)
                outcome.rows += table.num_rows
                yield dlt.mark.with_hints(table, hints, create_table_variant=True)

    start = time.perf_counter()
    # as the download source does it: a first load into an empty table is appended, then checked for twins
    outcome = KindOutcome(mode="full", appended=raw_table_is_empty(pipeline, APPOINTMENTS))
    hints = kind_table_hints(APPOINTMENTS, append=outcome.appended)
    extract_normalize_load(pipeline, dlt.resource(pages, name=APPOINTMENTS.key))
    if outcome.appended:
        check_first_load(pipeline, APPOINTMENTS, outcome)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rows": {"appointments": report.rows}, "peak_rss_mb": peak_rss_mb()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
