"""Download benchmarks: 1M appointments into DuckDB and PostgreSQL, an incremental night, kinds in flight, memory.

The sandbox runs in this process; each load runs in a child process (``bench.load_once``) so that its peak memory is
its own. Anchors are measured in the same run: DuckDB's own ``read_csv`` and PostgreSQL's ``COPY`` of the very CSV
that the sandbox served, concatenated into one file. The file loads (parse, type, load, as one page after another)
run five times, each right beside its anchors, and the medians are reported.

The incremental night follows one simulated business day of the brand, topped up with edits so that 1% of the
appointments changed. It runs three times from the state the full load left, each time right after a full load of
the same day into a new warehouse; the medians of both are reported.
"""

from __future__ import annotations

import csv
import io
import os
import random
import shutil
import statistics
import tempfile
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import duckdb
import psycopg2

from bench.common import Figure, run_child, timed
from pipelines.sandbox import Sandbox
from pipelines.serviceminder.client import ServiceminderClient
from pipelines.serviceminder.kinds import ALL_KINDS, APPOINTMENTS, BRAND_PATHS

KEY = "bench-key-0b7e41"
TODAY = date(2026, 11, 2)
SCALE = int(os.environ.get("SMW_BENCH_APPOINTMENTS", "1000000"))
FILE_RUNS = 5  # the file loads are short enough for one machine hiccup to move them: their median is reported
NIGHT_RUNS = 3  # the night (~1.5 s) against its anchor (~20 s), in rounds: a full load, then a night
PG_ADMIN = os.environ.get("SMW_TEST_PG_DSN", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")
PG_DATABASES = ("smw_bench", "smw_bench_small", "smw_bench_file")


def _load(sandbox: Sandbox, warehouse: str, pipelines_dir: Path, *, kinds: str, full: bool) -> dict:
    args = [
        "--base-url", sandbox.base_url, "--api-key", KEY, "--warehouse", warehouse,
        "--pipelines-dir", str(pipelines_dir), "--kinds", kinds, "--today", sandbox.today.isoformat(),
    ]  # fmt: skip
    return run_child("bench.load_once", *args, *(["--full-refresh"] if full else []))


def _load_file(csv_path: Path, warehouse: str, pipelines_dir: Path) -> dict:
    args = ["--csv", str(csv_path), "--warehouse", warehouse, "--pipelines-dir", str(pipelines_dir)]
    return run_child("bench.load_once", *args, "--today", TODAY.isoformat())


def _served_csv(sandbox: Sandbox, target: Path) -> int:
    """Fetch every appointments page as the loader does, and join them into one CSV file; returns data bytes."""
    row_id = 0
    with ServiceminderClient(KEY, sandbox.base_url) as client, target.open("wb") as out:
        first = True
        while True:
            start = client.call(BRAND_PATHS.start_download, {"Kind": APPOINTMENTS.brand_token, "RowId": row_id})
            page = client.download(BRAND_PATHS.get_download, {"DownloadId": start["DownloadId"]})
            data = page.read_bytes()
            page.unlink()
            header_end = data.index(b"\r\n") + 2
            body = data[header_end:]
            if not body:
                break
            out.write(data if first else body)
            first = False
            row_id = max(int(record["Id"]) for record in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))) + 1
    return target.stat().st_size


def _read_csv_seconds(csv_path: Path, work: Path) -> float:
    with duckdb.connect(str(work / "anchor.duckdb")) as conn, timed() as elapsed:
        conn.execute(f"create or replace table anchor as select * from read_csv('{csv_path}')")
    return elapsed()


_TYPED = {
    "id": "cast({c} as bigint)",
    "int": "cast({c} as bigint)",
    "money": "cast(replace(replace({c}, '$', ''), ',', '') as decimal(18, 2))",
    "decimal": "cast({c} as decimal(18, 4))",
    "timestamp": "strptime({c}, '%m/%d/%Y %I:%M:%S %p')",
    "date": "cast(strptime({c}, '%m/%d/%Y') as date)",
    "bool": "{c} in ('Yes', 'True', '1')",
    "text": "{c}",
}


def _typed_read_csv_seconds(csv_path: Path, work: Path) -> float:
    """read_csv doing the same typing work as our loader: serviceminder's date-times, money and Yes/No."""
    columns = ", ".join(_TYPED[c.type].format(c=f'"{c.header}"') + f" as {c.name}" for c in APPOINTMENTS.columns)
    sql = f"create or replace table anchor as select {columns} from read_csv('{csv_path}', all_varchar = true)"
    with duckdb.connect(str(work / "typed_anchor.duckdb")) as conn, timed() as elapsed:
        conn.execute(sql)
    return elapsed()


def _pg_database(name: str) -> str:
    _drop_pg_database(name)
    admin = psycopg2.connect(PG_ADMIN)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'create database "{name}"')
    admin.close()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg_database(name: str) -> None:
    admin = psycopg2.connect(PG_ADMIN)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'drop database if exists "{name}" with (force)')
    admin.close()


def _copy_seconds(csv_path: Path, url: str) -> float:
    with csv_path.open("rb") as handle:
        header = handle.readline().decode("utf-8-sig").strip().split(",")
    columns = ", ".join(f'"{name}" text' for name in header)
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(f"create table copy_anchor ({columns})")
        with csv_path.open("rb") as handle, timed() as elapsed:
            cur.copy_expert("copy copy_anchor from stdin with (format csv, header true)", handle)
            conn.commit()
    conn.close()
    return elapsed()


def _quiet() -> None:
    """Let the last measurement's writes reach the disk first, so they do not slow down the next one."""
    with psycopg2.connect(PG_ADMIN) as conn, conn.cursor() as cur:
        cur.execute("checkpoint")
    conn.close()
    os.sync()


def _file_run(csv_path: Path, work: Path) -> dict[str, Any]:
    """One round of the file loads, each right beside its anchor, so that the machine's drift hits both alike."""
    work.mkdir()
    pg_url = _pg_database("smw_bench_file")
    _quiet()
    duck = _load_file(csv_path, str(work / "file.duckdb"), work / "pipelines-duck")
    _quiet()
    read_csv = _read_csv_seconds(csv_path, work)
    _quiet()
    typed_read_csv = _typed_read_csv_seconds(csv_path, work)
    _quiet()
    pg = _load_file(csv_path, pg_url, work / "pipelines-pg")
    _quiet()
    copy = _copy_seconds(csv_path, pg_url)
    return {
        "rows": duck["rows"]["appointments"],
        "duckdb": duck["seconds"],
        "read_csv": read_csv,
        "typed_read_csv": typed_read_csv,
        "postgres": pg["seconds"],
        "copy": copy,
    }


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def _night_round(sandbox: Sandbox, work: Path, attempt: int) -> dict[str, Any]:
    """A full load of the day into a new warehouse, then the incremental night of the same day on a copy of the
    warehouse and working folder as the first full load left them: back to back, so the machine's drift hits both."""
    here = work / f"night-{attempt}"
    _quiet()
    full = _load(sandbox, str(here / "full.duckdb"), here / "pipelines-full", kinds="appointments", full=True)
    shutil.copytree(work / "pipelines-duck", here / "pipelines")
    shutil.copyfile(work / "w.duckdb", here / "w.duckdb")
    _quiet()
    night = _load(sandbox, str(here / "w.duckdb"), here / "pipelines", kinds="appointments", full=False)
    shutil.rmtree(here)
    return {"night": night["seconds"], "full": full["seconds"], "rows": night["rows"], "pages": night["pages"]}


def _change_share(sandbox: Sandbox, share: float) -> int:
    """Make ``share`` of the appointments changed today: the brand's own day, topped up by edits of other rows.

    Returns how many appointments changed today. If the brand's day alone changed more, that is what the night
    gets: the figure's label says so.
    """
    brand = sandbox.brand
    changed_today = brand.select(
        "appointments", updated_from=sandbox.today, updated_through=sandbox.today, limit=brand.count("appointments")
    )
    changed = {row["id"] for row in changed_today}
    table = brand._world.tables["appointments"]  # bench-only reach into the sandbox's store
    others = [row[0] for row in table.live_rows() if row[0] not in changed]
    top_up = max(0, int(brand.count("appointments") * share) - len(changed))
    stamp = datetime.combine(sandbox.today, time(15, 30))
    for rid in random.Random(7).sample(others, top_up):
        table.update(rid, updated_at=stamp)
    return len(changed) + top_up


def run() -> list[Figure]:
    # ~700 MB of files and three PostgreSQL databases of up to 1M rows: none of it outlives the run
    try:
        with tempfile.TemporaryDirectory(prefix="smw-bench-") as work:
            return _measure(Path(work))
    finally:
        for name in PG_DATABASES:
            _drop_pg_database(name)


def _measure(work: Path) -> list[Figure]:
    figures: list[Figure] = []
    with timed() as generation:
        big = Sandbox(api_key=KEY, seed=1, appointments=SCALE, today=TODAY)
    print(f"   (sandbox brand with {big.brand.count('appointments'):,} appointments generated in {generation():.1f} s)")
    with big:
        csv_path = work / "appointments.csv"
        with timed() as fetch:
            size = _served_csv(big, csv_path)
        serving = fetch()
        print(f"   (served CSV: {size / 1e6:.0f} MB)")

        file_runs = [_file_run(csv_path, work / f"file-{attempt}") for attempt in range(FILE_RUNS)]
        rows = file_runs[0]["rows"]
        figures += [
            Figure(
                f"{rows:,}-row appointments CSV → DuckDB raw (median of {FILE_RUNS})",
                _median(file_runs, "duckdb"),
                "s",
                "DuckDB read_csv of the same file",
                _median(file_runs, "read_csv"),
                "<= 2.5",
            ),
            Figure(
                f"{rows:,}-row appointments CSV → DuckDB raw (median of {FILE_RUNS})",
                _median(file_runs, "duckdb"),
                "s",
                "read_csv typing the same columns",
                _median(file_runs, "typed_read_csv"),
            ),
            Figure(
                f"{rows:,}-row appointments CSV → PostgreSQL raw (median of {FILE_RUNS})",
                _median(file_runs, "postgres"),
                "s",
                "PostgreSQL COPY of the same file",
                _median(file_runs, "copy"),
                "<= 2",
            ),
        ]

        duck = _load(big, str(work / "w.duckdb"), work / "pipelines-duck", kinds="appointments", full=True)
        pg = _load(big, _pg_database("smw_bench"), work / "pipelines-pg", kinds="appointments", full=True)
        # autovacuum would start on the 1M new rows within a minute, in the middle of the nights measured next
        _drop_pg_database("smw_bench")
        figures += [
            Figure(
                f"{rows:,} appointments, sandbox → DuckDB (end to end)",
                duck["seconds"],
                "s",
                "fetching the same pages, no parsing",
                serving,
                "(the sandbox's own pace)",
            ),
            Figure(
                f"{rows:,} appointments, sandbox → PostgreSQL (end to end)",
                pg["seconds"],
                "s",
                "fetching the same pages, no parsing",
                serving,
                "(the sandbox's own pace)",
            ),
        ]

        big.advance_days(1)
        changed = _change_share(big, 0.01)
        changed_share = changed / big.brand.count("appointments")
        rounds = [_night_round(big, work, attempt) for attempt in range(NIGHT_RUNS)]
        night = rounds[0]
        figures += [
            Figure(
                f"incremental night, {changed:,} appointments changed ({changed_share:.1%}), "
                f"{night['rows']['appointments']:,} loaded (median of {NIGHT_RUNS})",
                _median(rounds, "night"),
                "s",
                f"full loads of the same day, each just before a night (median of {NIGHT_RUNS})",
                _median(rounds, "full"),
                "<= 0.1",
            ),
            # what bounds that share from below: the rows the night must reload (the day's changes and, through the
            # 2-day overlap, the three days before it) and the downloads they take
            Figure(
                "incremental night: rows loaded",
                night["rows"]["appointments"],
                "rows",
                "rows of the full load",
                duck["rows"]["appointments"],
            ),
            Figure(
                "incremental night: downloads", night["pages"], "pages", "downloads of the full load", duck["pages"]
            ),
        ]
    del big

    with Sandbox(api_key=KEY, seed=1, appointments=max(SCALE // 10, 1000), today=TODAY) as small:
        tenth_pg = _load(
            small, _pg_database("smw_bench_small"), work / "pipelines-small-pg", kinds="appointments", full=True
        )
        tenth_duck = _load(small, str(work / "s.duckdb"), work / "pipelines-small", kinds="appointments", full=True)
    tenth_rows = tenth_pg["rows"]["appointments"]
    figures += [
        # PostgreSQL loads in its own server process, so this child's peak is the loader's alone
        Figure(
            f"peak RSS, {rows:,} appointments → PostgreSQL (loader process)",
            pg["peak_rss_mb"],
            "MiB",
            f"the same for {tenth_rows:,} appointments",
            tenth_pg["peak_rss_mb"],
            "near 1 (streaming)",
        ),
        # embedded DuckDB loads inside the loader process: its own memory for the merge is included here
        Figure(
            f"peak RSS, {rows:,} appointments → DuckDB (incl. DuckDB's load)",
            duck["peak_rss_mb"],
            "MiB",
            f"the same for {tenth_rows:,} appointments",
            tenth_duck["peak_rss_mb"],
        ),
    ]

    delay = 2.0
    with Sandbox(api_key=KEY, seed=1, appointments=20_000, today=TODAY, prep_delay=delay) as slow:
        six = _load(
            slow, str(work / "six.duckdb"), work / "pipelines-six", kinds=",".join(k.key for k in ALL_KINDS), full=True
        )
    figures.append(
        Figure(
            f"six kinds, {six['pages']} downloads, {delay:.0f} s preparation each",
            six["seconds"],
            "s",
            "sum of the preparation waits",
            six["pages"] * delay,
            "<= 0.35",
        )
    )
    return figures
