"""One download load in a process of its own, so that its peak memory is its own: ``python -m bench.load_once``.

Prints one JSON object: seconds, rows per kind, downloads started, peak RSS in MiB.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date

import dlt

from bench.common import peak_rss_mb
from pipelines.serviceminder.client import ServiceminderClient
from pipelines.serviceminder.download_source import run_downloads
from pipelines.serviceminder.downloads import DownloadSettings
from pipelines.serviceminder.kinds import ALL_KINDS, KINDS_BY_KEY
from pipelines.serviceminder.pipeline import make_pipeline


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", required=True)
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
        destination = dlt.destinations.duckdb(args.warehouse)
    pipeline = make_pipeline(destination, pipelines_dir=args.pipelines_dir, pipeline_name="bench")
    kinds = [KINDS_BY_KEY[k] for k in args.kinds.split(",")]
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
