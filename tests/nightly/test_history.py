"""Three nightly runs on DuckDB, days apart: the full-refresh policy at work, meta.runs, smw status, the published copy.

Run 1 loads everything (first load). Two days later run 2 is incremental but forced to refresh invoices. A day
later run 3 finds every kind but invoices due (``full_refresh_days = 3``), so deletions are found by the full
refresh as well as by the feed.
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from pipelines.sandbox import Sandbox
from pipelines.serviceminder.pipeline import make_pipeline
from tests.nightly.conftest import KEY, TODAY, Ran, make_config, nightly
from warehouse import nightly as nightly_module
from warehouse.nightly import ALL_KIND_KEYS, dlt_destination
from warehouse.run_commands import run_status
from warehouse.run_config import RunConfig
from warehouse.runlog import COLUMNS
from warehouse.status import gather_status

STEPS = ["pending", "downloads", "feed", "build", "publish"]


@dataclass
class History:
    config: RunConfig
    runs: list[Ran]
    sandbox: Sandbox
    events: int  # feed events the sandbox produced


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    base = tmp_path_factory.mktemp("history")
    config = make_config(f"duckdb:///{base / 'data' / 'warehouse.duckdb'}", base, full_refresh_days=3)
    keep = nightly_module.KEEP_LOADED_PACKAGES
    nightly_module.KEEP_LOADED_PACKAGES = 2  # so that pruning shows within three runs
    with Sandbox(api_key=KEY, seed=5, appointments=250, today=TODAY, page_size=5_000) as sandbox:
        try:
            runs = [nightly(config, sandbox)]
            sandbox.advance_days(2)
            events = len(sandbox.feed)
            runs.append(nightly(config, sandbox, full_refresh=["invoices"]))
            sandbox.advance_days(1)
            events += len(sandbox.feed)
            runs.append(nightly(config, sandbox))
        finally:
            nightly_module.KEEP_LOADED_PACKAGES = keep
        yield History(config, runs, sandbox, events)


def test_every_run_succeeds(history: History) -> None:
    for ran in history.runs:
        assert ran.exit_code == 0, ran.result.message


def test_the_full_refresh_policy_decides_each_kind(history: History) -> None:
    first, second, third = (r.result.record for r in history.runs)
    assert first.full_refresh == {k: "first load" for k in ALL_KIND_KEYS}
    assert second.full_refresh == {"invoices": "asked for with --full-refresh"}
    assert set(third.full_refresh) == set(ALL_KIND_KEYS) - {"invoices"}
    assert third.full_refresh["contacts"] == "due: the last one was on 2026-03-10 (every 3 days)"
    assert "full refresh of invoices: asked for with --full-refresh" in history.runs[1].log
    invoice_starts = [
        body
        for path, body in history.sandbox.requests
        if path.endswith("startdownload") and body["Kind"] == "branding-invoices" and body["RowId"] == 0
    ]
    assert [("UpdatedFrom" in body) for body in invoice_starts] == [False, False, True]
    assert invoice_starts[-1]["UpdatedFrom"] == "2026-3-10", "the refresh day's watermark minus the 2-day overlap"


def test_meta_runs_holds_one_complete_row_per_run(history: History) -> None:
    path = history.config.target.path
    with duckdb.connect(str(path), read_only=True) as conn:
        cursor = conn.execute("select * from meta.runs order by started_at")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    assert names == list(COLUMNS)
    assert [r["run_id"] for r in rows] == [ran.result.record.run_id for ran in history.runs]
    for row in rows:
        assert row["status"] == "success" and row["exit_code"] == 0 and row["error"] is None
        assert row["finished_at"] >= row["published_at"] >= row["started_at"]
        assert list(json.loads(row["step_seconds"])) == STEPS
        assert all(v >= 0 for v in json.loads(row["step_seconds"]).values())
        loaded = json.loads(row["rows_loaded"])
        assert set(loaded) == {"contacts", "appointments", "invoices", "invoice_lines", "proposals", "payments",
                               "feed_events", "deletions"}  # fmt: skip
        assert row["models_built"] == 19
        assert row["pid"] > 0 and row["host"]
    assert json.loads(rows[0]["rows_loaded"])["appointments"] == 250
    assert sum(r["feed_events"] for r in rows) == history.events
    deletions = sum(r["deletions_found"] for r in rows)
    with duckdb.connect(str(path), read_only=True) as conn:
        stored = conn.execute("select count(*) from raw.deletions").fetchone()[0]
        by_refresh = conn.execute("select count(*) from raw.deletions where detected_by = 'full_refresh'").fetchone()
    assert deletions == stored > 0
    assert by_refresh[0] > 0, "run 3's full refresh should find deletes the feed did not report"
    assert json.loads(rows[2]["full_refresh"]) == history.runs[2].result.record.full_refresh


def test_status_reports_runs_freshness_row_counts_and_schedule(history: History) -> None:
    status = gather_status(history.config, runs=2)
    last = history.runs[-1].result.record
    assert status["lock"] == {"held": False, "holder": None}
    assert [r["run_id"] for r in status["runs"]] == [last.run_id, history.runs[1].result.record.run_id]
    assert status["runs"][0]["status"] == "success" and status["runs"][0]["seconds"] > 0
    assert status["pending_packages"] == 0
    finished = last.finished_at.isoformat(sep=" ", timespec="seconds")
    raw = {t["table"]: t for t in status["raw_tables"]}
    assert set(raw) >= {"raw.contacts", "raw.appointments", "raw.deletions", "raw.feed_events"}
    assert all(t["last_loaded_at"] == finished for name, t in raw.items() if name != "raw.rejected_rows")
    assert raw["raw.appointments"]["rows"] == len(history.sandbox.truth().live["appointments"]) + sum(
        1 for d in history.sandbox.truth().deletions if d.kind_key == "appointments"
    )
    published = history.config.publish_path
    with duckdb.connect(str(published), read_only=True) as conn:
        for mart in status["marts"]:
            assert conn.execute(f"select count(*) from {mart['table']}").fetchone()[0] == mart["rows"]
            assert mart["published_at"] == last.published_at.isoformat(sep=" ", timespec="seconds")
    assert {m["table"] for m in status["marts"]} >= {"marts.fct_invoices", "reports.organization_monthly"}
    assert status["full_refresh"]["invoices"] == {"last": "2026-03-12", "next_due": "2026-03-15"}
    assert status["full_refresh"]["contacts"] == {"last": "2026-03-13", "next_due": "2026-03-16"}
    assert status["published"]["exists"] and status["catalog"].endswith("index.html")


def test_status_command_prints_text_and_json(history: History, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(history.config.target.path.parent.parent)  # the default paths resolve from here
    args = argparse.Namespace(warehouse=history.config.target.url, json=False, runs=3)
    out = io.StringIO()
    assert run_status(args, out=out) == 0
    text = out.getvalue()
    for expected in ("last runs (newest first", "raw.feed_events", "marts.dim_contacts", "full refresh (per kind)",
                     history.runs[-1].result.record.run_id, "published   "):  # fmt: skip
        assert expected in text, expected
    out = io.StringIO()
    assert run_status(argparse.Namespace(warehouse=history.config.target.url, json=True, runs=1), out=out) == 0
    parsed = json.loads(out.getvalue())
    assert parsed["runs"][0]["run_id"] == history.runs[-1].result.record.run_id
    assert KEY not in text + out.getvalue()


def test_the_published_copy_holds_marts_and_reports_with_their_comments(history: History) -> None:
    with duckdb.connect(str(history.config.publish_path), read_only=True) as conn:
        schemas = {r[0] for r in conn.execute("select distinct table_schema from information_schema.tables").fetchall()}
        comment = conn.execute(
            "select comment from duckdb_columns() where schema_name = 'marts' and table_name = 'fct_invoices' "
            "and column_name = 'total'"
        ).fetchone()[0]
        appointments = conn.execute("select count(*) from marts.fct_appointments").fetchone()[0]
    assert schemas == {"marts", "reports"}
    assert comment, "column descriptions travel with the copy, so BI tools show them"
    assert appointments == len(history.sandbox.truth().live["appointments"])
    assert Path(history.config.publish_path).stat().st_mode & 0o222 == 0, "the copy is read-only"


def test_the_working_folder_keeps_only_the_newest_load_packages(history: History) -> None:
    pipeline = make_pipeline(dlt_destination(history.config.target), pipelines_dir=history.config.pipelines_dir)
    assert len(pipeline.list_completed_load_packages()) == 2
