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


def _add_build(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("build", help="build the SQL models in dependency order and run their data tests")
    from warehouse.model_commands import add_common_arguments, run_build

    add_common_arguments(parser, warehouse=True, select=True)
    parser.set_defaults(handler=run_build)


def _add_test(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("test", help="run the models' data tests against the warehouse as it is")
    from warehouse.model_commands import add_common_arguments, run_test

    add_common_arguments(parser, warehouse=True, select=True)
    parser.set_defaults(handler=run_test)


def _add_models(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list the SQL models in build order with their dependencies")
    from warehouse.model_commands import add_common_arguments, run_models

    add_common_arguments(parser, warehouse=False, select=True)
    parser.set_defaults(handler=run_models)


def _add_docs(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("docs", help="write the model catalog as one static HTML page")
    from warehouse.model_commands import add_common_arguments, run_docs

    add_common_arguments(parser, warehouse=False, select=False)
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write index.html into")
    parser.set_defaults(handler=run_docs)


def _add_run(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="the nightly run: load serviceminder, build and test the models, publish the marts",
        description="One nightly run: take the lock, settle pending loads, download the six kinds (incrementally, "
        "or whole when due), load and clear the feed, build and test the models, publish, record the run in "
        "meta.runs. Exit codes: 0 ok, 1 failed, 2 usage, 3 data tests failed (old marts kept), 4 serviceminder "
        "error, 5 rows rejected (rest loaded), 6 another run holds the lock, 130 interrupted.",
    )
    from warehouse.run_commands import add_run_arguments, run_run

    add_run_arguments(parser)
    parser.set_defaults(handler=run_run)


def _add_status(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "status", help="last runs, freshness and row counts of raw tables and marts, pending load packages"
    )
    from warehouse.run_commands import add_status_arguments, run_status

    add_status_arguments(parser)
    parser.set_defaults(handler=run_status)


def _add_grant_reader(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "grant-reader", help="PostgreSQL: create or update a role that can read marts and reports, nothing else"
    )
    from warehouse.run_commands import add_grant_reader_arguments, run_grant_reader

    add_grant_reader_arguments(parser)
    parser.set_defaults(handler=run_grant_reader)


_REGISTRARS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_sandbox,
    _add_build,
    _add_test,
    _add_models,
    _add_docs,
    _add_run,
    _add_status,
    _add_grant_reader,
]


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
