"""Step 2: load packages an interrupted run left behind are settled on purpose before anything new is loaded."""

from __future__ import annotations

import random
from pathlib import Path

from pipelines.sandbox import Sandbox
from pipelines.serviceminder.client import ServiceminderClient
from pipelines.serviceminder.download_source import serviceminder_downloads
from pipelines.serviceminder.downloads import DownloadSettings
from pipelines.serviceminder.pipeline import LOADER_FILE_FORMAT, make_pipeline
from tests.fakes import FakeClock
from tests.nightly.conftest import KEY, make_config, nightly
from warehouse.nightly import dlt_destination
from warehouse.status import gather_status


def test_a_package_left_by_an_interrupted_run_is_loaded_first(
    sandbox: Sandbox, duckdb_url: str, tmp_path: Path
) -> None:
    config = make_config(duckdb_url, tmp_path)
    pipeline = make_pipeline(dlt_destination(config.target), pipelines_dir=config.pipelines_dir)
    clock = FakeClock()
    with ServiceminderClient(KEY, sandbox.base_url, sleep=clock.sleep, rng=random.Random(0)) as client:
        source = serviceminder_downloads(
            client, today=sandbox.today, settings=DownloadSettings(poll_interval=1.0), clock=clock.now,
            sleep=clock.sleep,
        )  # fmt: skip
        pipeline.extract(source, loader_file_format=LOADER_FILE_FORMAT)
        pipeline.normalize()  # ... and the process died before pipeline.load()
    assert pipeline.has_pending_data
    assert gather_status(config)["pending_packages"] == 1

    ran = nightly(config, sandbox)
    assert ran.exit_code == 0, ran.result.message
    assert "loaded the load packages an interrupted run left behind" in ran.log
    assert ran.log.index("loaded the load packages") < ran.log.index("downloading the six kinds")
    assert gather_status(config)["pending_packages"] == 0
    with config.target.connect() as conn:
        contacts = conn.query("select count(*) - count(distinct id) as dupes, count(*) from raw.contacts")[0]
    assert contacts == (0, len(sandbox.truth().live["contacts"])), "loaded once, not twice"
