"""``make demo``: the nightly job end to end on a synthetic brand, with no key and no server.

It starts the sandbox (a local stand-in for serviceminder) in this process, runs the nightly job into
``data/demo.duckdb`` (everything is a first load, so in full), advances the sandbox two business days, runs again
(incrementally: only what changed, plus the feed's events and deletions), and prints a summary: rows per mart,
deletions found, the last run's timings, and where the marts and the HTML catalog are. The demo starts afresh
each time, because each sandbox is a new brand.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from pipelines.serviceminder.client import RetryPolicy, ServiceminderClient
from pipelines.serviceminder.downloads import DownloadSettings
from warehouse.nightly import EXIT_OK, RunResult, run_nightly
from warehouse.progress import Reporter, choose_mode
from warehouse.run_config import RunConfig, load_run_config

DEMO_SEED = 7
DEMO_APPOINTMENTS = 1_500
DAYS_BETWEEN_RUNS = 2


def demo_config(data_dir: Path, models_dir: Path | None = None) -> RunConfig:
    config = load_run_config(f"duckdb:///{(data_dir / 'demo.duckdb').resolve()}", models_dir=models_dir)
    # the sandbox prepares a download in a fraction of a second: poll it that often
    return replace(
        config,
        downloads=DownloadSettings(poll_interval=0.1, ready_timeout=60.0),
        retry=RetryPolicy(max_attempts=4, base_delay=0.1, max_delay=1.0),
    )


def reset(config: RunConfig) -> None:
    """Remove what an earlier demo left: its warehouse, published copy and dlt working folder."""
    assert config.target.path is not None and config.publish_path is not None
    for path in (config.target.path, config.publish_path):
        for leftover in (path, path.with_name(path.name + ".wal")):
            leftover.unlink(missing_ok=True)
    shutil.rmtree(config.pipelines_dir, ignore_errors=True)


def run_demo(
    data_dir: Path = Path("data"),
    *,
    appointments: int = DEMO_APPOINTMENTS,
    seed: int = DEMO_SEED,
    models_dir: Path | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    log_format: str = "auto",
) -> int:
    from pipelines.sandbox import Sandbox

    out, err = out or sys.stdout, err or sys.stderr

    def say(line: str = "") -> None:
        print(line, file=out, flush=True)

    config = demo_config(data_dir, models_dir)
    reset(config)
    key = f"demo-{secrets.token_hex(12)}"  # never printed: the run's output is redacted like a real key's
    say(f"serviceminder-warehouse demo: a synthetic brand with {appointments:,} appointments, served in-process")
    with Sandbox(api_key=key, seed=seed, appointments=appointments, prep_delay=0.2, page_size=2_000) as sandbox:
        names = ", ".join(name for _, name in sandbox.brand.organizations)
        say(f"brand: {len(sandbox.brand.organizations)} organizations ({names}); business date {sandbox.today}")
        mode = choose_mode(log_format, err)  # type: ignore[arg-type]
        results: list[RunResult] = []
        with ServiceminderClient(key, sandbox.base_url, retry=config.retry) as client:
            for label in ("first run: everything, in full", f"{DAYS_BETWEEN_RUNS} days later: incremental run"):
                if results:
                    sandbox.advance_days(DAYS_BETWEEN_RUNS)
                say()
                say(f"== {label} (business date {sandbox.today}) ==")
                with Reporter(mode, err) as reporter:
                    result = run_nightly(config, reporter=reporter, client=client, today=sandbox.today)
                    reporter.close_block()
                results.append(result)
                say(_one_line(result))
                if result.exit_code != EXIT_OK:
                    say(f"the demo stopped: {result.message}")
                    return result.exit_code
    say()
    _summary(config, results, say)
    return EXIT_OK


def _one_line(result: RunResult) -> str:
    record = result.record
    assert record is not None and record.finished_at is not None
    took = (record.finished_at - record.started_at).total_seconds()
    loaded = sum(v for k, v in record.rows_loaded.items() if k not in ("feed_events", "deletions", "rejected_rows"))
    return (
        f"{record.status} in {took:.1f}s: {loaded:,} rows downloaded, {record.feed_events:,} feed events, "
        f"{record.deletions_found:,} deletions found, {record.models_built} models built and tested"
    )


def _summary(config: RunConfig, results: list[RunResult], say: object) -> None:
    import duckdb

    assert callable(say) and config.publish_path is not None
    last = results[-1].record
    assert last is not None
    with duckdb.connect(str(config.publish_path), read_only=True) as marts:
        tables = marts.execute(
            "select table_schema || '.' || table_name from information_schema.tables order by 1"
        ).fetchall()
        counts = [(name, marts.execute(f"select count(*) from {name}").fetchone()[0]) for (name,) in tables]
        by_source = marts.execute(
            "select detected_by, count(*) from marts.fct_deletions group by 1 order by 1"
        ).fetchall()
    say("rows per mart (what BI tools see):")
    width = max(len(n) for n, _ in counts)
    for name, count in counts:
        say(f"  {name:<{width}}  {count:>7,}")
    found = sum(r.record.deletions_found for r in results if r.record)
    detail = ", ".join(f"{n} by {source.replace('_', ' ')}" for source, n in by_source) or "none yet"
    say(f"deletions found: {found} ({detail})")
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in last.step_seconds.items())
    say(f"last run's timings: {steps}")
    say()
    rel = _relative
    say("where things are:")
    say(f"  marts for BI tools   {rel(config.publish_path)}   (a read-only DuckDB file, replaced atomically each run)")
    say(f"  HTML model catalog   {rel(config.docs_dir / 'index.html')}")
    say(f"  the warehouse        {rel(config.target.path)}   (raw, staging, marts, reports, meta.runs)")
    say("try:")
    say(f"  .venv/bin/smw status --warehouse duckdb:///{rel(config.target.path)}")
    say(
        f"  .venv/bin/python -c \"import duckdb; print(duckdb.connect('{rel(config.publish_path)}', read_only=True)"
        ".sql('select organization_name, contacts, appointments, invoices, gross_sales, collected "
        "from marts.dim_organizations'))\""
    )


def _relative(path: Path | None) -> str:
    assert path is not None
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m warehouse.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="where demo.duckdb goes (default: data)")
    parser.add_argument("--appointments", type=int, default=DEMO_APPOINTMENTS, help="size of the synthetic brand")
    parser.add_argument("--log-format", choices=("auto", "text", "json"), default="auto")
    args = parser.parse_args(argv)
    return run_demo(args.data_dir, appointments=args.appointments, log_format=args.log_format)


if __name__ == "__main__":
    sys.exit(main())
