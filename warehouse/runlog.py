"""The run log: ``meta.runs``, one row per ``smw run``, written through the warehouse connection (not dlt).

A row is inserted with status ``running`` when a run starts and completed when it ends, so a run that was killed
stays visible (``abandoned`` once the next run takes over its lock). Times are UTC without a zone. The per-table
and per-step figures are JSON text, so the table reads the same on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from warehouse.target import Connection

RUNS_TABLE = "meta.runs"

# status -> meaning; every finished run has one of these
STATUSES = {
    "running": "in progress (or killed, until the next run takes over its lock)",
    "success": "loaded, built, tested and published",
    "rows_rejected": "loaded and published, but some rows could not be parsed (see raw.rejected_rows)",
    "tests_failed": "a blocking data test failed; the previous marts were kept",
    "source_error": "serviceminder could not be read (key, network, API); nothing after that step ran",
    "failed": "an unexpected error or a model that failed to build; the previous marts were kept",
    "interrupted": "stopped by a signal (Ctrl-C, SIGTERM)",
    "abandoned": "the process died without finishing (its lock was found stale by a later run)",
}

# column -> type; names and order are the table's interface (smw status, BI, ops dashboards)
COLUMNS: dict[str, str] = {
    "run_id": "text",
    "started_at": "timestamp",
    "finished_at": "timestamp",
    "status": "text",
    "exit_code": "integer",
    "host": "text",
    "pid": "integer",
    "full_refresh": "text",  # JSON: {kind: reason} of the kinds refreshed whole
    "rows_loaded": "text",  # JSON: {raw table: rows} of every load that committed
    "rejected_rows": "integer",
    "feed_events": "integer",
    "deletions_found": "integer",
    "step_seconds": "text",  # JSON: {step: seconds}, in run order
    "models_built": "integer",
    "published_at": "timestamp",
    "warnings": "text",  # JSON list
    "error": "text",
}


@dataclass
class RunRecord:
    """What a run did; filled in step by step and written to ``meta.runs``."""

    run_id: str
    started_at: datetime
    host: str
    pid: int
    status: str = "running"
    finished_at: datetime | None = None
    exit_code: int | None = None
    full_refresh: dict[str, str] = field(default_factory=dict)
    rows_loaded: dict[str, int] = field(default_factory=dict)
    rejected_rows: int = 0
    feed_events: int = 0
    deletions_found: int = 0
    step_seconds: dict[str, float] = field(default_factory=dict)
    models_built: int = 0
    published_at: datetime | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "status": self.status,
            "exit_code": self.exit_code,
            "host": self.host,
            "pid": self.pid,
            "full_refresh": json.dumps(self.full_refresh),
            "rows_loaded": json.dumps(self.rows_loaded),
            "rejected_rows": self.rejected_rows,
            "feed_events": self.feed_events,
            "deletions_found": self.deletions_found,
            "step_seconds": json.dumps({k: round(v, 3) for k, v in self.step_seconds.items()}),
            "models_built": self.models_built,
            "published_at": self.published_at,
            "warnings": json.dumps(self.warnings),
            "error": self.error,
        }


def ensure_table(conn: Connection) -> None:
    """Create ``meta.runs``, or add the columns a newer version of this module knows."""
    conn.execute("create schema if not exists meta")
    if conn.relation_kind("meta", "runs") is None:
        columns = ", ".join(f"{name} {kind}" for name, kind in COLUMNS.items())
        conn.execute(f"create table {RUNS_TABLE} ({columns}, primary key (run_id))")
        return
    present = set(conn.columns("meta", "runs"))
    for name, kind in COLUMNS.items():
        if name not in present:
            conn.execute(f"alter table {RUNS_TABLE} add column {name} {kind}")


def start(conn: Connection, record: RunRecord) -> None:
    ensure_table(conn)
    row = record.row()
    names = ", ".join(row)
    marks = ", ".join(["%s"] * len(row))
    conn.execute(f"insert into {RUNS_TABLE} ({names}) values ({marks})", list(row.values()))


def finish(conn: Connection, record: RunRecord) -> None:
    ensure_table(conn)
    row = record.row()
    run_id = row.pop("run_id")
    updated = _update(conn, row, run_id)
    if not updated:  # the start row could not be written (e.g. the warehouse was unreachable then)
        start(conn, record)


def _update(conn: Connection, row: dict[str, Any], run_id: str) -> bool:
    exists = conn.query(f"select count(*) from {RUNS_TABLE} where run_id = %s", (run_id,))[0][0]
    if not exists:
        return False
    assignments = ", ".join(f"{name} = %s" for name in row)
    conn.execute(f"update {RUNS_TABLE} set {assignments} where run_id = %s", [*row.values(), run_id])
    return True


def mark_abandoned(conn: Connection, current_run_id: str, at: datetime) -> list[str]:
    """Rows still ``running`` other than ``current_run_id`` → ``abandoned``; returns their run ids.

    Only the lock holder calls this, and only one run holds the lock, so any other ``running`` row is a run that
    died (killed, machine lost) without writing its end.
    """
    if conn.relation_kind("meta", "runs") is None:
        return []
    rows = conn.query(
        f"select run_id from {RUNS_TABLE} where status = 'running' and run_id <> %s order by started_at",
        (current_run_id,),
    )
    dead = [r[0] for r in rows]
    if dead:
        conn.execute(
            f"update {RUNS_TABLE} set status = 'abandoned', finished_at = coalesce(finished_at, %s), error = %s "
            "where status = 'running' and run_id <> %s",
            (at, f"the run died without recording its end; found by run {current_run_id}", current_run_id),
        )
    return dead


def recent(conn: Connection, limit: int = 10) -> list[dict[str, Any]]:
    """The last ``limit`` runs, newest first, with JSON columns decoded."""
    if conn.relation_kind("meta", "runs") is None:
        return []
    present = [c for c in COLUMNS if c in set(conn.columns("meta", "runs"))]
    names, rows = conn.query_with_names(
        f"select {', '.join(present)} from {RUNS_TABLE} order by started_at desc limit {int(limit)}"
    )
    return [decode(dict(zip(names, row, strict=True))) for row in rows]


def decode(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name, empty in (("full_refresh", {}), ("rows_loaded", {}), ("step_seconds", {}), ("warnings", [])):
        value = out.get(name)
        try:
            out[name] = json.loads(value) if value else empty
        except ValueError:
            out[name] = empty
    return out
