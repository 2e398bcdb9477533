"""``smw run`` as a real process, night after night, against the sandbox over loopback with faults injected.

Five runs over a simulated week: the first load, three incremental nights two days apart, and on day 7 the weekly
full refresh (``full_refresh_days`` 7, the default). The sandbox lives in this process, so the test can advance
its business days and read its truth; each run talks to it over HTTP and meets 429s, 5xx, dropped connections and
cut-off CSV bodies. At the end the published marts, as a BI tool reads them, must match the truth: every live
record, every organization and monthly figure, and every deletion the warehouse could know of, once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb

from pipelines.sandbox import Faults, Sandbox
from pipelines.serviceminder.kinds import KINDS_BY_KEY
from tests.marts import reference
from tests.nightly.conftest import KEY, MODELS_DIR, TODAY

NIGHTS = [0, 2, 2, 2, 1]  # days to advance before each run: day 0, 2, 4, 6 and 7


def run_night(sandbox: Sandbox, cwd: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        "SOURCES__SERVICEMINDER__API_KEY": KEY,
        "SOURCES__SERVICEMINDER__BASE_URL": sandbox.base_url,
        "SOURCES__SERVICEMINDER__RETRY_ATTEMPTS": "8",
        "SOURCES__SERVICEMINDER__RETRY_BASE_DELAY": "0.01",
        "SOURCES__SERVICEMINDER__RETRY_MAX_DELAY": "0.05",
        "NIGHTLY__POLL_INTERVAL": "0.05",
        "NIGHTLY__EVENT_COUNT": "25",
        "SMW_WAREHOUSE": "duckdb:///data/serviceminder.duckdb",
    }
    command = [sys.executable, "-m", "warehouse.cli", "run", "--log-format", "json", "--today", str(sandbox.today)]
    done = subprocess.run(
        [*command, "--models-dir", str(MODELS_DIR)], cwd=cwd, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert KEY not in done.stdout + done.stderr
    return json.loads(done.stdout)


def table(conn: duckdb.DuckDBPyConnection, relation: str) -> tuple[list[str], list[tuple]]:
    cursor = conn.execute(f"select * from {relation}")
    return [d[0] for d in cursor.description], cursor.fetchall()


def keyed(conn: duckdb.DuckDBPyConnection, relation: str, key: str | tuple[str, ...]) -> dict[Any, dict[str, Any]]:
    names, rows = table(conn, relation)
    keys = (key,) if isinstance(key, str) else key
    out = {}
    for row in rows:
        record = dict(zip(names, row, strict=True))
        out[record[keys[0]] if len(keys) == 1 else tuple(record[k] for k in keys)] = record
    assert len(out) == len(rows), f"{relation}: duplicate keys"
    return out


def assert_matches(relation: str, actual: dict[Any, dict], expected: dict[Any, dict]) -> None:
    missing, extra = set(expected) - set(actual), set(actual) - set(expected)
    assert not missing and not extra, f"{relation}: missing {sorted(missing)[:3]}, unexpected {sorted(extra)[:3]}"
    for key, want in expected.items():
        diffs = {c: (actual[key][c], v) for c, v in want.items() if c in actual[key] and actual[key][c] != v}
        assert not diffs, f"{relation} {key}: (got, expected) {diffs}"


def test_a_week_of_nightly_runs_with_faults_matches_the_truth(tmp_path: Path) -> None:
    faults = Faults(rate_429=0.04, rate_5xx=0.04, rate_drop=0.02, rate_truncate=0.06, seed=11, retry_after=0)
    with Sandbox(
        api_key=KEY, seed=21, appointments=300, today=TODAY, page_size=150, prep_delay=0.05, faults=faults
    ) as sandbox:
        summaries = []
        for days in NIGHTS:
            sandbox.advance_days(days)
            summaries.append(run_night(sandbox, tmp_path))
        truth = sandbox.truth()
        names = dict(sandbox.brand.organizations)
        assert len(sandbox.feed) == 0, "every night drains the feed"
        assert {outcome for _, outcome in sandbox.fault_log} >= {"truncate", "drop"}, "faults were met"

    assert list(summaries[0]["full_refresh"]) == list(KINDS_BY_KEY)
    assert [s["full_refresh"] for s in summaries[1:4]] == [{}, {}, {}], "incremental nights in between"
    assert set(summaries[4]["full_refresh"]) == set(KINDS_BY_KEY), "the weekly full refresh on day 7"
    assert all(reason.startswith("due: the last one was on") for reason in summaries[4]["full_refresh"].values())

    warehouse = tmp_path / "data" / "serviceminder.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        raw_ids = {k: {r[0] for r in conn.execute(f"select id from raw.{kind.table}").fetchall()}
                   for k, kind in KINDS_BY_KEY.items()}  # fmt: skip
        runs = conn.execute("select status from meta.runs").fetchall()
        staged = sum(
            conn.execute(f"select count(*) from raw_staging.{name}").fetchone()[0]
            for (name,) in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'raw_staging' "
                "and table_name not like '\\_dlt%' escape '\\'"
            ).fetchall()
        )
    assert runs == [("success",)] * len(NIGHTS)
    assert staged == 0, "smw run empties dlt's staging tables after each merge"
    assert not list((tmp_path / "data" / "pipelines").rglob("*.parquet")), "no loaded file is kept"

    # what BI tools see: the published copy
    with duckdb.connect(str(tmp_path / "data" / "serviceminder_marts.duckdb"), read_only=True) as marts:
        for relation, (kind_key, key) in reference.FACTS.items():
            expected = {i: reference.expected_fact_row(kind_key, r, key) for i, r in truth.live[kind_key].items()}
            assert_matches(relation, keyed(marts, relation, key), expected)
        assert_matches(
            "marts.dim_organizations",
            keyed(marts, "marts.dim_organizations", "organization_id"),
            reference.organizations(truth, names),
        )
        assert_matches(
            "marts.dim_contacts", keyed(marts, "marts.dim_contacts", "contact_id"), reference.contact_figures(truth)
        )
        assert_matches(
            "reports.organization_monthly",
            keyed(marts, "reports.organization_monthly", ("organization_id", "month_start")),
            reference.organization_monthly(truth, names),
        )
        deletions = keyed(marts, "marts.fct_deletions", ("entity_type", "entity_id"))
    knowable = {
        (KINDS_BY_KEY[d.kind_key].entity_type, d.entity_id): d
        for d in truth.deletions
        if d.feed_event or d.entity_id in raw_ids[d.kind_key]
    }
    assert set(deletions) == set(knowable)
    assert any(row["detected_by"] == "full_refresh" for row in deletions.values()), "the weekly refresh found some"
    assert any(row["detected_by"] == "feed" for row in deletions.values())
