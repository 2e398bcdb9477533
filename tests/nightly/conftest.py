"""Fixtures for the nightly run: a sandbox brand, run settings on a temp folder, and a way to run in-process."""

from __future__ import annotations

import io
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from pipelines.sandbox import Sandbox
from pipelines.serviceminder.client import RetryPolicy, ServiceminderClient
from pipelines.serviceminder.downloads import DownloadSettings
from tests.fakes import FakeClock
from warehouse.nightly import RunResult, run_nightly
from warehouse.progress import Reporter
from warehouse.run_config import RunConfig, load_run_config

REPO = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO / "sql_models"
KEY = "nightly-key-5c81e0f4d2b9a7"
TODAY = date(2026, 3, 10)

FAILING_MODEL = """/*
description: A test fixture whose blocking data test fails on any appointment.
materialized: table
grain: [appointment_id]
tests:
  - expression: "appointment_id < 0"
*/
select appointment_id from marts.fct_appointments
"""


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(api_key=KEY, seed=5, appointments=250, today=TODAY, page_size=5_000) as sb:
        yield sb


def make_config(url: str, base: Path, models_dir: Path = MODELS_DIR, **changes: Any) -> RunConfig:
    config = load_run_config(url, models_dir=models_dir, base_dir=base)
    settings = DownloadSettings(poll_interval=1.0, ready_timeout=600.0)
    return replace(config, downloads=settings, retry=RetryPolicy(max_attempts=6), **changes)


@pytest.fixture
def duckdb_url(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'data' / 'warehouse.duckdb'}"


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on a DuckDB file and on a fresh PostgreSQL database."""
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"duckdb:///{tmp_path / 'data' / 'warehouse.duckdb'}"


def failing_models(tmp_path: Path) -> Path:
    """A copy of sql_models with one more model whose blocking test fails."""
    models = tmp_path / "models_failing"
    shutil.copytree(MODELS_DIR, models)
    (models / "reports" / "no_appointments_allowed.sql").write_text(FAILING_MODEL)
    return models


@dataclass
class Ran:
    result: RunResult
    log: str

    @property
    def exit_code(self) -> int:
        return self.result.exit_code


def nightly(
    config: RunConfig,
    sandbox: Sandbox,
    clock: FakeClock | None = None,
    *,
    key: str = KEY,
    log_format: str = "text",
    **options: Any,
) -> Ran:
    """One in-process nightly run against the sandbox, with a fake clock for the client and the scheduler."""
    clock = clock or FakeClock()
    stream = io.StringIO()
    client = ServiceminderClient(
        key, sandbox.base_url, sleep=clock.sleep, rng=random.Random(0), retry=RetryPolicy(max_attempts=6)
    )
    options.setdefault("today", sandbox.today)
    mode = "json" if log_format == "json" else "text"
    with client, Reporter(mode, stream) as reporter:
        result = run_nightly(
            config, reporter=reporter, client=client, scheduler_clock=clock.now, sleep=clock.sleep, **options
        )
    return Ran(result, stream.getvalue())
