"""``smw status``: the last runs, how fresh each raw table and mart is, row counts, pending load packages.

Read-only: a DuckDB warehouse is opened read-only, so a status check never holds up a nightly run. While a run
holds the DuckDB file, the warehouse cannot be read at all (DuckDB allows one writer or many readers); status then
says which run is busy and shows the published copy, which is what BI tools see.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from warehouse.lock import read_holder
from warehouse.publish import PUBLISHED_SCHEMAS
from warehouse.run_config import RunConfig
from warehouse.runlog import recent
from warehouse.target import Connection, Target

RAW_SCHEMA = "raw"
NOT_DOWNLOADS = ("feed_events", "deletions", "rejected_rows")  # rows_loaded keys that are not downloaded rows
FRESH_STATUSES = ("success", "rows_rejected", "tests_failed", "source_error", "failed", "interrupted")


def gather_status(config: RunConfig, *, runs: int = 5) -> dict[str, Any]:
    """Everything ``smw status`` shows, as plain data (the ``--json`` output)."""
    target = config.target
    held, holder = read_holder(target, lock_path=config.lock_path)
    status: dict[str, Any] = {
        "warehouse": target.redacted,
        "lock": {"held": held, "holder": holder.__dict__ if holder else None},
        "warehouse_readable": True,
        "note": None,
        "runs": [],
        "raw_tables": [],
        "marts": [],
        "published": None,
        "catalog": str(config.docs_dir / "index.html") if (config.docs_dir / "index.html").exists() else None,
        "pending_packages": _pending_packages(config),
        "full_refresh": {},
    }
    if config.publish_path is not None:
        status["published"] = _published_file(config.publish_path)
    # a running run may open the DuckDB file for writing at any moment, and DuckDB refuses a writer while anyone
    # has the file open: leave it alone until the run is over
    conn = None if held and target.dialect == "duckdb" else _open_read_only(target)
    if conn is None:
        status["warehouse_readable"] = False
        if held and holder:
            status["note"] = f"the warehouse is busy: {holder.describe()} is running; try again when it finishes"
        elif target.path is not None and not target.path.exists():
            status["note"] = "there is no warehouse yet: run `smw run`"
        else:
            status["note"] = "the warehouse is busy (another process has the DuckDB file open for writing)"
        status["full_refresh"] = _full_refresh_schedule(config, {})
        return status
    with conn:
        history = recent(conn, limit=200)
        status["runs"] = [_run_summary(r) for r in history[:runs]]
        loaded_at = _last_loads(history)
        status["raw_tables"] = [
            {"table": f"{RAW_SCHEMA}.{t}", "rows": rows, "last_loaded_at": _iso(loaded_at.get(t))}
            for t, rows in _row_counts(conn, [RAW_SCHEMA], skip_prefix="_dlt")
        ]
        published_at = next((r["published_at"] for r in history if r.get("published_at")), None)
        status["marts"] = [
            {"table": name, "rows": rows, "published_at": _iso(published_at)}
            for name, rows in _row_counts(conn, list(PUBLISHED_SCHEMAS), qualified=True)
        ]
        status["full_refresh"] = _full_refresh_schedule(config, _last_full_refreshes(history))
    return status


def _open_read_only(target: Target) -> Connection | None:
    if target.dialect == "postgres":
        return target.connect()
    assert target.path is not None
    if not target.path.exists():
        return None
    import duckdb

    try:
        raw = duckdb.connect(str(target.path), read_only=True)
    except duckdb.Error:
        return None
    return Connection(target, raw)


def _row_counts(
    conn: Connection, schemas: list[str], *, skip_prefix: str | None = None, qualified: bool = False
) -> list[tuple[str, int]]:
    out = []
    for schema in schemas:
        rows = conn.query(
            "select table_name from information_schema.tables where table_schema = %s order by table_name", (schema,)
        )
        for (name,) in rows:
            if skip_prefix and name.startswith(skip_prefix) or name.startswith("__smw_tmp_"):
                continue
            count = int(conn.query(f'select count(*) from {schema}."{name}"')[0][0])
            out.append((f"{schema}.{name}" if qualified else name, count))
    return out


def _last_loads(history: list[dict[str, Any]]) -> dict[str, datetime]:
    """raw table -> when the last run that committed a load of it finished (history is newest first)."""
    out: dict[str, datetime] = {}
    for run in history:
        when = run.get("finished_at") or run.get("started_at")
        if run.get("status") not in FRESH_STATUSES or when is None:
            continue
        for table in run.get("rows_loaded") or {}:
            out.setdefault(table, when)
    return out


def _last_full_refreshes(history: list[dict[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for run in history:
        if run.get("status") in ("success", "rows_rejected", "tests_failed") and run.get("started_at"):
            for kind in run.get("full_refresh") or {}:
                out.setdefault(kind, run["started_at"].date().isoformat())
    return out


def _full_refresh_schedule(config: RunConfig, from_runs: dict[str, str]) -> dict[str, Any]:
    from pipelines.serviceminder.kinds import ALL_KINDS

    state = _pipeline_kinds_state(config)
    out = {}
    for kind in ALL_KINDS:
        last = state.get(kind.key, {}).get("last_full_refresh") or from_runs.get(kind.key)
        due = None
        if last and config.full_refresh_days:
            due = (date.fromisoformat(last) + timedelta(days=config.full_refresh_days)).isoformat()
        out[kind.key] = {"last": last, "next_due": due}
    return out


def _pipeline(config: RunConfig) -> Any:
    """dlt's view of the working folder (no connection is made), or None before the first run."""
    from pipelines.serviceminder.pipeline import PIPELINE_NAME, make_pipeline
    from warehouse.nightly import dlt_destination

    if not (config.pipelines_dir / PIPELINE_NAME).is_dir():
        return None
    return make_pipeline(dlt_destination(config.target), pipelines_dir=config.pipelines_dir)


def _pipeline_kinds_state(config: RunConfig) -> dict[str, Any]:
    from pipelines.serviceminder.download_source import SOURCE_NAME

    pipeline = _pipeline(config)
    if pipeline is None:
        return {}
    return pipeline.state.get("sources", {}).get(SOURCE_NAME, {}).get("kinds", {})


def _pending_packages(config: RunConfig) -> int:
    """Load packages an interrupted run left in dlt's working folder (the next run settles them first)."""
    pipeline = _pipeline(config)
    if pipeline is None:
        return 0
    return len(pipeline.list_extracted_load_packages()) + len(pipeline.list_normalized_load_packages())


def _published_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"path": str(path), "exists": False, "modified_at": None}
    modified = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
    return {"path": str(path), "exists": True, "modified_at": _iso(modified)}


def _run_summary(run: dict[str, Any]) -> dict[str, Any]:
    started, finished = run.get("started_at"), run.get("finished_at")
    seconds = (finished - started).total_seconds() if started and finished else None
    rows = run.get("rows_loaded") or {}
    return {
        "run_id": run.get("run_id"),
        "started_at": _iso(started),
        "finished_at": _iso(finished),
        "seconds": round(seconds, 1) if seconds is not None else None,
        "status": run.get("status"),
        "exit_code": run.get("exit_code"),
        "rows_loaded": rows,
        "rejected_rows": run.get("rejected_rows"),
        "feed_events": run.get("feed_events"),
        "deletions_found": run.get("deletions_found"),
        "full_refresh": run.get("full_refresh") or {},
        "step_seconds": run.get("step_seconds") or {},
        "models_built": run.get("models_built"),
        "published_at": _iso(run.get("published_at")),
        "warnings": run.get("warnings") or [],
        "error": run.get("error"),
    }


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)


# -- text --------------------------------------------------------------------------------------------------------


def print_status(status: dict[str, Any], out: TextIO) -> None:
    def say(line: str = "") -> None:
        print(line, file=out)

    lock = status["lock"]
    holder = lock.get("holder")
    say(f"warehouse   {status['warehouse']}")
    if lock["held"]:
        who = f"run {holder['run_id']} (pid {holder['pid']} on {holder['host']}, since {holder['started_at']} UTC)"
        say(f"running     {who if holder else 'yes'}")
    published = status.get("published")
    if published:
        when = f"  (replaced {published['modified_at']} UTC)" if published["exists"] else "  (not published yet)"
        say(f"published   {published['path']}{when}")
    if status.get("catalog"):
        say(f"catalog     {status['catalog']}")
    say(
        f"pending     {status['pending_packages']} load package(s) left by an interrupted run"
        if status["pending_packages"]
        else "pending     no load packages waiting"
    )
    if status.get("note"):
        say()
        say(status["note"])
    if status["runs"]:
        say()
        say("last runs (newest first; times UTC)")
        say(
            f"  {'run':<23} {'started':<19} {'took':>7}  {'status':<13} {'exit':>4} {'rows':>9} {'events':>7} "
            f"{'deleted':>7} {'rejected':>8}"
        )
        for run in status["runs"]:
            took = f"{run['seconds']:.1f}s" if run["seconds"] is not None else "-"
            rows = sum(v for k, v in run["rows_loaded"].items() if k not in NOT_DOWNLOADS)
            say(
                f"  {run['run_id']:<23} {run['started_at'] or '':<19} {took:>7}  {run['status']:<13} "
                f"{_dash(run['exit_code']):>4} {rows:>9,} {_dash(run['feed_events']):>7} "
                f"{_dash(run['deletions_found']):>7} {_dash(run['rejected_rows']):>8}"
            )
        last = status["runs"][0]
        if last["step_seconds"]:
            steps = ", ".join(f"{k} {v:.1f}s" for k, v in last["step_seconds"].items())
            say(f"  last run's steps: {steps}")
        if last["full_refresh"]:
            say(f"  last run refreshed in full: {', '.join(last['full_refresh'])}")
        for warning in last["warnings"][:5]:
            say(f"  warning: {warning}")
        if last["error"]:
            say(f"  error: {last['error']}")
    if status["raw_tables"]:
        say()
        say(f"{'raw tables':<30} {'rows':>10}  last loaded (UTC)")
        for t in status["raw_tables"]:
            say(f"  {t['table']:<28} {t['rows']:>10,}  {t['last_loaded_at'] or '-'}")
    if status["marts"]:
        say()
        say(f"{'marts and reports':<30} {'rows':>10}  published (UTC)")
        for t in status["marts"]:
            say(f"  {t['table']:<28} {t['rows']:>10,}  {t['published_at'] or 'not yet'}")
    schedule = status["full_refresh"]
    if schedule:
        say()
        say("full refresh (per kind)")
        for kind, s in schedule.items():
            say(f"  {kind:<14} last {s['last'] or 'never':<10}  next due {s['next_due'] or 'when asked'}")


def _dash(value: Any) -> str:
    return "-" if value is None else str(value)


def status_json(status: dict[str, Any]) -> str:
    return json.dumps(status, indent=2, default=str)
