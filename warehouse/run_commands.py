"""The nightly run's subcommands: ``smw run``, ``smw status`` and ``smw grant-reader``.

``warehouse/cli.py`` registers them; this module holds their arguments and handlers. Log lines and live progress go
to stderr; the closing summary (``smw run``) and the status report go to stdout.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import signal
import sys
from datetime import date
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from pipelines.serviceminder.kinds import ALL_KINDS
from warehouse.target import WAREHOUSE_ENV

if TYPE_CHECKING:
    from warehouse.nightly import RunResult

KIND_KEYS = tuple(k.key for k in ALL_KINDS)
EXIT_USAGE = 2


def add_warehouse_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--warehouse",
        metavar="URL",
        help=f"duckdb:///path.duckdb or postgresql://user:pass@host/db (default: ${WAREHOUSE_ENV}, "
        "else duckdb:///data/serviceminder.duckdb)",
    )


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    add_warehouse_argument(parser)
    parser.add_argument(
        "--full-refresh",
        nargs="*",
        metavar="KIND",
        choices=KIND_KEYS,
        help="download these kinds whole now (all six when none is named); deletions are found this way. "
        "Without it, each kind is refreshed every nightly.full_refresh_days (default 7)",
    )
    parser.add_argument(
        "--log-format",
        choices=("auto", "text", "json"),
        default="auto",
        help="auto: live progress on a terminal, plain lines otherwise; text: plain lines; json: JSON lines",
    )
    parser.add_argument("--models-dir", metavar="DIR", help="folder of SQL models (default: sql_models)")
    parser.add_argument(
        "--today",
        type=_date,
        metavar="YYYY-MM-DD",
        help="the business date to load through (default: today); for backfills and tests",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="also log each model and each download start")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2026-11-05; got {text!r}") from None


def run_run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    from warehouse.nightly import apply_dlt_load_defaults, run_nightly
    from warehouse.progress import Reporter, choose_mode
    from warehouse.run_config import ConfigError, load_run_config
    from warehouse.target import TargetError

    try:
        config = load_run_config(args.warehouse, models_dir=args.models_dir)
    except (ConfigError, TargetError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_USAGE
    apply_dlt_load_defaults()
    mode = choose_mode(args.log_format, err)
    with _sigterm_as_interrupt(), Reporter(mode, err, verbose=args.verbose) as reporter:
        result = run_nightly(config, reporter=reporter, full_refresh=args.full_refresh, today=args.today)
        reporter.close_block()
    if mode == "json":
        print(_redact(json.dumps(result_json(result), default=str)), file=out)
    else:
        print(_redact(format_result(result)), file=out)
    return result.exit_code


def result_json(result: RunResult) -> dict[str, Any]:
    record = result.record.row() if result.record else {}
    for name in ("full_refresh", "rows_loaded", "step_seconds", "warnings"):
        if name in record:
            record[name] = json.loads(record[name])
    return {
        "event": "run_finished",
        "exit_code": result.exit_code,
        "message": result.message,
        **{k: v for k, v in record.items() if k != "exit_code"},
        "published": result.publish_location,
        "published_tables": result.published.tables if result.published else None,
        "catalog": result.docs_path,
    }


def format_result(result: RunResult) -> str:
    """The closing summary of one run, for people."""
    record = result.record
    if record is None:
        return f"smw run: {result.message} (exit {result.exit_code})"
    took = (record.finished_at - record.started_at).total_seconds() if record.finished_at else 0.0
    lines = [f"run {record.run_id}: {record.status} in {took:.1f}s (exit {result.exit_code}): {result.message}"]
    loaded = {k: v for k, v in record.rows_loaded.items() if k not in ("feed_events", "deletions", "rejected_rows")}
    if loaded:
        lines.append("  rows loaded   " + ", ".join(f"{k} {v:,}" for k, v in loaded.items()))
    lines.append(
        f"  feed          {record.feed_events:,} new event(s); deletions found {record.deletions_found:,}; "
        f"rows rejected {record.rejected_rows:,}"
    )
    if record.full_refresh:
        by_reason: dict[str, list[str]] = {}
        for kind, why in record.full_refresh.items():
            by_reason.setdefault(why, []).append(kind)
        lines.append("  full refresh  " + "; ".join(f"{', '.join(k)} ({why})" for why, k in by_reason.items()))
    if record.step_seconds:
        lines.append("  steps         " + ", ".join(f"{k} {v:.1f}s" for k, v in record.step_seconds.items()))
    if result.published is not None:
        marts = len(result.published.tables)
        lines.append(f"  published     {marts} tables -> {result.publish_location}")
    if result.docs_path:
        lines.append(f"  catalog       {result.docs_path}")
    for warning in record.warnings:
        lines.append(f"  warning       {warning}")
    return "\n".join(lines)


def run_status(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    from warehouse.run_config import ConfigError, load_run_config
    from warehouse.status import gather_status, print_status, status_json
    from warehouse.target import TargetError

    try:
        config = load_run_config(args.warehouse)
        status = gather_status(config, runs=args.runs)
    except (ConfigError, TargetError) as exc:
        print(f"error: {exc}", file=err)
        return 1
    if args.json:
        print(_redact(status_json(status)), file=out)
    else:
        print_status(status, out)
    return 0


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    add_warehouse_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the status as one JSON document")
    parser.add_argument("--runs", type=int, default=5, metavar="N", help="how many recent runs to show (default: 5)")


def add_grant_reader_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("role", metavar="ROLE", help="the PostgreSQL role BI tools log in as (created if missing)")
    add_warehouse_argument(parser)
    password = parser.add_mutually_exclusive_group()
    password.add_argument(
        "--password-env",
        metavar="VAR",
        help="set the role's password from this environment variable (never on the command line)",
    )
    password.add_argument("--password", action="store_true", help="ask for the role's password at a prompt")
    parser.add_argument(
        "--no-login", action="store_true", help="a group role to grant to other roles, instead of a login role"
    )


def run_grant_reader(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    from warehouse.publish import NOT_FOR_READERS, GrantError, grant_reader
    from warehouse.target import TargetError, parse_target

    password = None
    if args.password_env:
        password = os.environ.get(args.password_env)
        if not password:
            print(f"error: the environment variable {args.password_env} is not set or empty", file=err)
            return EXIT_USAGE
    elif args.password:
        password = getpass.getpass(f"password for {args.role}: ")
    try:
        target = parse_target(args.warehouse)
        if target.dialect != "postgres":
            raise GrantError(
                "grant-reader is for PostgreSQL warehouses. DuckDB has no roles: BI tools open the published "
                "read-only copy, whose path `smw status` shows"
            )
        with target.connect() as conn:
            schemas = grant_reader(conn, args.role, password=password, login=not args.no_login)
    except (GrantError, TargetError) as exc:
        print(f"error: {exc}", file=err)
        return 1
    print(
        f"role {args.role} can read {', '.join(schemas)} (read-only, search_path {', '.join(schemas)}) and nothing "
        f"else: not {', '.join(NOT_FOR_READERS)}. Nightly runs keep these grants.",
        file=out,
    )
    if not args.no_login and password is None:
        print("it has no password yet: rerun with --password or --password-env VAR to set one", file=out)
    return 0


class _sigterm_as_interrupt:  # noqa: N801 - used like a function
    """SIGTERM (systemd stop, cron kill) ends the run like Ctrl-C: recorded as interrupted, lock released."""

    def __enter__(self) -> None:
        def handler(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        try:
            self._previous = signal.signal(signal.SIGTERM, handler)
        except ValueError:  # not the main thread (tests)
            self._previous = None

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def _redact(text: str) -> str:
    from pipelines.serviceminder.redaction import REDACTOR

    return REDACTOR.redact(text)
