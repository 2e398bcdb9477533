"""Every exit code of ``smw run`` but 3 and 6 (test_publish_*.py and test_lock.py): what each run leaves behind."""

from __future__ import annotations

import argparse
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pipelines.sandbox import Sandbox
from pipelines.serviceminder.client import ApiError, ServiceminderClient
from tests.nightly.conftest import MODELS_DIR, make_config, nightly
from warehouse.cli import main
from warehouse.lock import acquire, this_process
from warehouse.nightly import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_ROWS_REJECTED,
    EXIT_SOURCE_ERROR,
    EXIT_USAGE,
    run_nightly,
    utc_now,
)
from warehouse.progress import Reporter
from warehouse.run_commands import run_run
from warehouse.target import Target


def runs(target: Target) -> list[tuple]:
    with target.connect() as conn:
        return conn.query("select status, exit_code, error, rows_loaded from meta.runs order by started_at")


def assert_lock_free(config: Any) -> None:
    acquire(config.target, this_process("probe", utc_now()), lock_path=config.lock_path).release()


def test_a_rejected_key_stops_the_run_with_exit_4(sandbox: Sandbox, duckdb_url: str, tmp_path: Path) -> None:
    config = make_config(duckdb_url, tmp_path)
    ran = nightly(config, sandbox, key="not-the-sandbox-key")
    assert ran.exit_code == EXIT_SOURCE_ERROR
    assert "rejected the API key" in ran.result.message and "SOURCES__SERVICEMINDER__API_KEY" in ran.result.message
    [(status, code, error, loaded)] = runs(config.target)
    assert (status, code, loaded) == ("source_error", 4, "{}")
    assert "rejected the API key" in error
    assert not config.publish_path.exists()
    assert_lock_free(config)


class FeedFails(ServiceminderClient):
    def call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        if path.endswith("fetch"):
            raise ApiError("serviceminder answered datasubscriber/fetch with ResultCode 9: busy", path=path, code=9)
        return super().call(path, body)


def test_a_feed_error_stops_the_run_after_the_committed_downloads(
    sandbox: Sandbox, duckdb_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(duckdb_url, tmp_path)
    monkeypatch.setattr("tests.nightly.conftest.ServiceminderClient", FeedFails)
    sandbox.advance_days(1)
    ran = nightly(config, sandbox)
    assert ran.exit_code == EXIT_SOURCE_ERROR
    assert ran.result.message.startswith("the event feed failed: serviceminder answered datasubscriber/fetch")
    [(status, _, _, loaded)] = runs(config.target)
    assert status == "source_error"
    assert json.loads(loaded)["appointments"] == len(sandbox.truth().live["appointments"]), "downloads committed"
    assert len(sandbox.feed) > 0, "nothing was cleared"
    assert not config.publish_path.exists(), "the run stopped before building and publishing"


def test_rejected_rows_load_everything_else_and_exit_5(sandbox: Sandbox, duckdb_url: str, tmp_path: Path) -> None:
    config = make_config(duckdb_url, tmp_path)
    bad = sorted(sandbox.truth().live["contacts"])[:2]
    sandbox.malformed["contacts"] = set(bad)
    ran = nightly(config, sandbox)
    assert ran.exit_code == EXIT_ROWS_REJECTED
    assert ran.result.message.startswith("2 row(s) could not be parsed and were not loaded (contacts 2)")
    assert ran.result.record.rejected_rows == 2
    [(status, code, error, _)] = runs(config.target)
    assert (status, code, error) == ("rows_rejected", 5, None)
    with config.target.connect() as conn:
        assert conn.query("select count(*) from raw.rejected_rows")[0][0] == 2
        assert conn.query("select count(*) from raw.contacts")[0][0] == len(sandbox.truth().live["contacts"]) - 2
    assert config.publish_path.exists(), "the rest was built and published"


def test_a_model_that_fails_to_build_exits_1_and_publishes_nothing(
    sandbox: Sandbox, duckdb_url: str, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    shutil.copytree(MODELS_DIR, models)
    broken = models / "reports" / "broken.sql"
    broken.write_text(
        "/*\ndescription: A model whose SQL names a column that does not exist.\nmaterialized: table\n"
        "grain: [appointment_id]\n*/\nselect appointment_id, no_such_column from marts.fct_appointments\n"
    )
    config = make_config(duckdb_url, tmp_path, models_dir=models)
    ran = nightly(config, sandbox)
    assert ran.exit_code == EXIT_FAILED
    assert ran.result.message.startswith("a model failed to build, so nothing was published")
    assert "reports.broken" in ran.result.message
    [(status, code, error, _)] = runs(config.target)
    assert (status, code) == ("failed", 1) and "reports.broken" in error
    assert not config.publish_path.exists()


def test_an_unexpected_error_exits_1_records_it_and_releases_the_lock(
    sandbox: Sandbox, duckdb_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("warehouse.publish.publish_duckdb", explode)
    config = make_config(duckdb_url, tmp_path)
    ran = nightly(config, sandbox)
    assert ran.exit_code == EXIT_FAILED
    assert "failed unexpectedly (RuntimeError: disk on fire)" in ran.result.message
    assert "Traceback" in ran.log, "the traceback is logged for whoever reads the cron mail"
    [(status, code, error, _)] = runs(config.target)
    assert (status, code) == ("failed", 1) and "disk on fire" in error
    assert_lock_free(config)


class Interrupted(ServiceminderClient):
    def call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        raise KeyboardInterrupt


def test_an_interrupted_run_exits_130_and_releases_the_lock(
    sandbox: Sandbox, duckdb_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tests.nightly.conftest.ServiceminderClient", Interrupted)
    config = make_config(duckdb_url, tmp_path)
    ran = nightly(config, sandbox)
    assert ran.exit_code == EXIT_INTERRUPTED
    [(status, code, _, _)] = runs(config.target)
    assert (status, code) == ("interrupted", 130)
    assert_lock_free(config)


def test_usage_errors_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--full-refresh", "customers"])
    assert exited.value.code == EXIT_USAGE
    assert "invalid choice: 'customers'" in capsys.readouterr().err

    monkeypatch.setenv("NIGHTLY__FULL_REFRESH_DAYS", "-1")
    args = argparse.Namespace(warehouse=f"duckdb:///{tmp_path}/w.duckdb", models_dir=None, log_format="text",
                              full_refresh=None, today=None, verbose=False)  # fmt: skip
    err = io.StringIO()
    assert run_run(args, out=io.StringIO(), err=err) == EXIT_USAGE
    assert "nightly.full_refresh_days must be 0" in err.getvalue()

    monkeypatch.setenv("NIGHTLY__FULL_REFRESH_DAYS", "weekly")
    err = io.StringIO()
    assert run_run(args, out=io.StringIO(), err=err) == EXIT_USAGE
    assert "NIGHTLY__FULL_REFRESH_DAYS" in err.getvalue() and "not a valid int" in err.getvalue()


def test_unknown_kinds_are_refused_before_anything_runs(tmp_path: Path) -> None:
    config = make_config(f"duckdb:///{tmp_path}/w.duckdb", tmp_path)
    result = run_nightly(config, reporter=Reporter("text", io.StringIO()), full_refresh=["customers"])
    assert result.exit_code == EXIT_USAGE and "unknown kind(s) customers" in result.message
    assert not config.target.path.exists()
