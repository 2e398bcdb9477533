"""The ``smw`` command: one entry point for the sandbox, the model runner and the nightly run.

Each subcommand is registered by one ``_add_<name>`` function below; its handler imports what it needs lazily, so
``smw --help`` stays fast and the sandbox is only imported when ``smw sandbox`` runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence


def _add_sandbox(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sandbox", help="serve a local stand-in for serviceminder (demo, tests, benchmarks)")

    def handler(args: argparse.Namespace) -> int:
        from pipelines.sandbox.command import run_sandbox_command

        return run_sandbox_command(args)

    from pipelines.sandbox.command import add_sandbox_arguments

    add_sandbox_arguments(parser)
    parser.set_defaults(handler=handler)


_REGISTRARS: list[Callable[[argparse._SubParsersAction], None]] = [_add_sandbox]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smw",
        description="serviceminder-warehouse: load serviceminder into DuckDB or PostgreSQL and build the marts.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in _REGISTRARS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return int(handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
