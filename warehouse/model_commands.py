"""The model runner's subcommands: ``smw build``, ``smw test``, ``smw models`` and ``smw docs``.

``warehouse/cli.py`` registers them; this module holds their arguments and handlers, and prints for humans.
Exit codes: 0 ok; 1 a model (or the project, or the connection) failed; 3 a blocking data test failed, so the old
versions were kept.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from warehouse.target import WAREHOUSE_ENV, TargetError, parse_target

if TYPE_CHECKING:  # sqlglot and friends load only when a command runs, so that `smw --help` stays quick
    from warehouse.build import BuildResult, ModelResult
    from warehouse.checks import TestResult
    from warehouse.models import Project

DEFAULT_MODELS_DIR = "sql_models"
EXIT_OK = 0
EXIT_MODEL_ERROR = 1
EXIT_TESTS_FAILED = 3


def add_common_arguments(parser: argparse.ArgumentParser, *, warehouse: bool, select: bool) -> None:
    parser.add_argument(
        "--models-dir",
        default=DEFAULT_MODELS_DIR,
        metavar="DIR",
        help=f"folder of SQL models, one sub-folder per schema (default: {DEFAULT_MODELS_DIR})",
    )
    if warehouse:
        parser.add_argument(
            "--warehouse",
            metavar="URL",
            help=f"duckdb:///path.duckdb or postgresql://user:pass@host/db (default: ${WAREHOUSE_ENV}, "
            "else duckdb:///data/serviceminder.duckdb)",
        )
    if select:
        parser.add_argument(
            "--select",
            "-s",
            nargs="+",
            metavar="MODEL",
            help="models to use: names or globs (marts.*); +MODEL adds its upstream, MODEL+ its downstream",
        )


def run_build(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    from warehouse.build import build_models
    from warehouse.models import ProjectError, load_project

    try:
        project = load_project(args.models_dir)
        target = parse_target(args.warehouse)
        selected = project.select(args.select)
        total = len(selected)
        counter = iter(range(1, total + 1))

        def show(result: ModelResult) -> None:
            _print_model(out, next(counter), total, result)

        result = build_models(target, project, args.select, progress=show)
    except (ProjectError, TargetError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_MODEL_ERROR
    return _finish_build(result, out, err)


def _finish_build(result: BuildResult, out: TextIO, err: TextIO) -> int:
    print(result.summary(), file=out)
    problem = result.first_problem()
    if result.exit_code == EXIT_TESTS_FAILED:
        print(f"error: a blocking data test failed, the previous versions were kept: {problem}", file=err)
    elif result.exit_code != EXIT_OK:
        print(f"error: {problem}", file=err)
    return result.exit_code


def _print_model(out: TextIO, index: int, total: int, result: ModelResult) -> None:
    label = {"success": "OK", "error": "ERROR", "test_failed": "FAIL", "skipped": "SKIP", "rolled_back": "UNDONE"}
    width = len(str(total))
    head = f"{index:>{width}}/{total} {label[result.status]:<6} {result.model:<40} {result.materialized:<5}"
    indent = " " * (width * 2 + 2)
    if result.status == "skipped":
        print(f"{head}  {result.error}", file=out)
        return
    rows = f"{result.rows:>10,} rows" if result.rows is not None else ""
    passed = sum(1 for t in result.tests if t.status == "pass")
    print(f"{head} {rows:>15} {result.seconds:7.2f}s  {passed}/{len(result.tests)} tests passed", file=out)
    if result.status == "error":
        print(f"{indent} {result.error}", file=out)
    for test in result.tests:
        if test.status != "pass":
            print(f"{indent} {_test_line(test)}", file=out)
    for warning in result.warnings:
        print(f"{indent} note: {warning}", file=out)


def _test_line(test: TestResult) -> str:
    level = "WARN" if test.warning else "FAIL" if test.status == "fail" else test.status.upper()
    return f"{level}: {test.message or f'{test.model}: {test.test}'}"


def run_test(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    from warehouse.checks import run_tests
    from warehouse.models import ProjectError, load_project

    try:
        project = load_project(args.models_dir)
        target = parse_target(args.warehouse)
        with target.connect() as conn:
            results = run_tests(conn, project, args.select)
    except (ProjectError, TargetError) as exc:
        print(f"error: {exc}", file=err)
        return EXIT_MODEL_ERROR
    for test in results:
        status = {"pass": "ok", "fail": "FAIL", "error": "ERROR", "skipped": "skip"}[test.status]
        if test.warning:
            status = "WARN"
        print(f"{status:<5} {test.model:<40} {test.test}", file=out)
        if test.status != "pass":
            print(f"      {test.message}", file=out)
    passed = sum(1 for t in results if t.status == "pass")
    warned = sum(1 for t in results if t.warning)
    failed = [t for t in results if t.blocking_failure]
    print(f"{passed} passed, {warned} warnings, {len(failed)} failed on {target.redacted}", file=out)
    if any(t.status == "error" for t in failed):
        print(f"error: {next(t for t in failed if t.status == 'error').message}", file=err)
        return EXIT_MODEL_ERROR
    if failed:
        print(f"error: a blocking data test failed: {failed[0].message}", file=err)
        return EXIT_TESTS_FAILED
    return EXIT_OK


def run_models(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    from warehouse.models import ProjectError, load_project

    try:
        project = load_project(args.models_dir)
        selected = project.select(args.select)
    except ProjectError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_MODEL_ERROR
    print(format_models(project, selected), file=out)
    return EXIT_OK


def format_models(project: Project, selected: list[str]) -> str:
    """The build order, one model a line, with what each one reads."""
    width = max((len(n) for n in selected), default=10)
    lines = [f"{len(selected)} models in build order ({project.models_dir}):"]
    for index, name in enumerate(selected, 1):
        model = project.models[name]
        reads = ", ".join([*model.depends_on, *model.sources]) or "-"
        lines.append(f"{index:>3}  {name:<{width}}  {model.materialized:<5}  <- {reads}")
    return "\n".join(lines)


def run_docs(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    from warehouse.docs import write_catalog
    from warehouse.models import ProjectError, load_project

    try:
        project = load_project(args.models_dir)
    except ProjectError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_MODEL_ERROR
    path = write_catalog(project, Path(args.out))
    print(f"wrote the catalog of {len(project.models)} models to {path}", file=out)
    return EXIT_OK
