"""``smw sandbox``: serve the sandbox on a fixed port until Ctrl-C or SIGTERM, for the demo and for curl.

Kept free of heavy imports: ``smw --help`` imports this module to build its parser.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from datetime import date
from types import FrameType
from typing import TextIO

_SCALE = re.compile(r"(\d+(?:\.\d+)?)([km]?)", re.IGNORECASE)


def parse_scale(text: str) -> int:
    """``2000`` -> 2000, ``10k`` -> 10,000, ``1m`` / ``1M`` -> 1,000,000, ``2.5k`` -> 2,500."""
    match = _SCALE.fullmatch(text.strip().replace("_", "").replace(",", ""))
    if not match:
        raise argparse.ArgumentTypeError(f"scale must be a number of appointments like 2000, 10k or 1m; got {text!r}")
    number = float(match[1]) * {"": 1, "k": 1_000, "m": 1_000_000}[match[2].lower()]
    if number < 1:
        raise argparse.ArgumentTypeError(f"scale must be at least 1 appointment; got {text!r}")
    return int(number)


def _parse_today(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--today must be a date like 2026-08-26; got {text!r}") from None


def _parse_org_key(text: str) -> tuple[str, int]:
    key, sep, org = text.rpartition("=")
    if not sep or not key or not org.strip().isdigit():
        raise argparse.ArgumentTypeError("--org-key must look like KEY=ORGANIZATION_ID") from None
    return key, int(org)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, 0 or more; got {text!r}")
    return value


def add_sandbox_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on; 0 picks a free one (default: 8765)")
    parser.add_argument("--api-key", default="sandbox-key", help="the brand key it accepts (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic brand (default: %(default)s)")
    parser.add_argument(
        "--scale", type=parse_scale, default=2_000, help="number of appointments, e.g. 2000, 10k, 1m (default: 2000)"
    )
    parser.add_argument("--page-size", type=int, default=25_000, help="rows per download (default: %(default)s)")
    parser.add_argument(
        "--prep-delay",
        type=_positive_float,
        default=1.0,
        help="seconds before a download is ready (default: %(default)s)",
    )
    parser.add_argument("--today", type=_parse_today, default=None, help="simulated business date, YYYY-MM-DD")
    parser.add_argument(
        "--days",
        type=int,
        default=0,
        help="simulate this many business days after --today before serving; their events wait in the feed",
    )
    parser.add_argument(
        "--advance-every",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="simulate one business day every SECONDS of real time (default: never)",
    )
    parser.add_argument(
        "--org-key",
        type=_parse_org_key,
        action="append",
        default=[],
        metavar="KEY=ORGANIZATION_ID",
        help="also accept an organization-level key for download/ paths (repeatable)",
    )


def run_sandbox_command(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    from pipelines.sandbox.server import Sandbox

    out = out or sys.stdout
    if args.page_size < 1:
        print("error: --page-size must be 1 or more", file=sys.stderr)
        return 2
    if args.days < 0:
        print("error: --days must be 0 or more", file=sys.stderr)
        return 2

    def say(line: str = "") -> None:
        print(line, file=out, flush=True)

    say(f"generating the synthetic brand: seed {args.seed}, {args.scale:,} appointments ...")
    try:
        sandbox = Sandbox(
            api_key=args.api_key,
            seed=args.seed,
            appointments=args.scale,
            today=args.today,
            page_size=args.page_size,
            prep_delay=args.prep_delay,
            org_keys=dict(args.org_key),
            host=args.host,
            port=args.port,
        )
        sandbox.advance_days(args.days)
        base_url = sandbox.start()
    except (ValueError, OSError) as exc:
        print(f"error: cannot start the sandbox: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = (
        signal.signal(signal.SIGTERM, on_sigterm) if threading.current_thread() is threading.main_thread() else None
    )
    try:
        say(f"serviceminder sandbox listening at {base_url}")
        say(f"accepted brand API key: {args.api_key}")
        for key, org in args.org_key:
            say(f"accepted organization key: {key} (organization {org})")
        organizations = sandbox.brand.organizations
        names = ", ".join(f"{org_id} {name}" for org_id, name in organizations[:3])
        more = ", ..." if len(organizations) > 3 else ""
        say(f"business date {sandbox.today}; {len(organizations)} organizations: {names}{more}")
        say(f"{len(sandbox.feed)} events waiting in the feed")
        say("try:")
        say(
            f"  curl -s -X POST {base_url}datasubscriber/startdownload -H 'Content-Type: application/json' "
            f'-d \'{{"ApiKey": "{args.api_key}", "Kind": "branding-contacts", "RowId": 0}}\''
        )
        say("press Ctrl-C to stop")
        while not stop.wait(args.advance_every or 3600):
            if args.advance_every:
                sandbox.advance_days(1)
                say(f"advanced to {sandbox.today}; {len(sandbox.feed)} events waiting in the feed")
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    say("sandbox stopped")
    return 0
