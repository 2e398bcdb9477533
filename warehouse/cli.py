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


_REGISTRARS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_sandbox,
    _add_build,
    _add_test,
    _add_models,
    _add_docs,
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
