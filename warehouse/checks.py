"""Data tests: compile each declared test to a query that returns the offending rows, run it, report.

Kinds: ``unique``, ``not_null``, ``accepted_values``, ``relationships``, ``expression`` (a condition that must not be
false on any row; NULL passes, as in a CHECK constraint) and ``row_count``. Every model's grain is tested too:
its columns are unique together and never NULL. The queries are written in the DuckDB dialect and rendered for the
target like the models. A failure message names the model, the test and a few offending keys (grain values).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal

import sqlglot
from sqlglot import exp

from warehouse.header import TestSpec
from warehouse.models import SOURCE_DIALECT, Model, Project, parse_condition
from warehouse.render import render_query
from warehouse.target import Connection

SAMPLE_SIZE = 5
FAILURES_COLUMN = "__smw_failures"
TestStatus = Literal["pass", "fail", "error", "skipped"]


@dataclass(frozen=True)
class Check:
    """A test bound to its model: what it is called, and which relations it reads besides the model itself."""

    model: str
    spec: TestSpec
    name: str
    implicit: bool = False  # the grain tests nobody had to write

    @property
    def other_relation(self) -> str | None:
        return self.spec.to if self.spec.kind == "relationships" else None


@dataclass
class TestResult:
    __test__: ClassVar[bool] = False  # not a pytest class

    model: str
    test: str
    kind: str
    column: str | None
    severity: str
    status: TestStatus
    failures: int = 0
    examples: list[str] = field(default_factory=list)
    message: str = ""
    seconds: float = 0.0

    @property
    def blocking_failure(self) -> bool:
        return self.status == "error" or (self.status == "fail" and self.severity == "error")

    @property
    def warning(self) -> bool:
        return self.status == "fail" and self.severity == "warn"


class CheckError(Exception):
    """A test could not run (bad SQL, missing relation); in a build this fails the model."""


def checks_for(model: Model) -> list[Check]:
    """The model's declared tests, plus the grain tests (unique together, not null) unless already declared."""
    declared = list(model.config.all_tests)
    out: list[Check] = []
    grain = model.config.grain
    has = {(t.kind, t.column, t.columns) for t in declared if t.blocking}
    if len(grain) == 1:
        if ("unique", grain[0], ()) not in has:
            out.append(Check(model.name, TestSpec("unique", grain[0]), f"grain unique({grain[0]})", True))
    elif ("unique", None, grain) not in has:
        spec = TestSpec("unique", None, columns=grain)
        out.append(Check(model.name, spec, f"grain unique({', '.join(grain)})", True))
    for column in grain:
        if ("not_null", column, ()) not in has:
            out.append(Check(model.name, TestSpec("not_null", column), f"grain not_null({column})", True))
    out.extend(Check(model.name, spec, test_name(spec)) for spec in declared)
    return out


def test_name(spec: TestSpec) -> str:
    if spec.kind == "relationships":
        return f"relationships({spec.column} -> {spec.to}.{spec.field})"
    if spec.kind == "expression":
        return f"expression({spec.expression})"
    if spec.kind == "row_count":
        bounds = [f"min {spec.min_rows}"] if spec.min_rows is not None else []
        bounds += [f"max {spec.max_rows}"] if spec.max_rows is not None else []
        return f"row_count({', '.join(bounds)})"
    if spec.kind == "unique" and spec.columns:
        return f"unique({', '.join(spec.columns)})"
    return f"{spec.kind}({spec.column})"


def failing_rows_sql(check: Check, model: Model, relations: Mapping[str, str]) -> str:
    """The query (DuckDB dialect) returning the offending rows; ``relations`` maps model names to physical names."""
    spec = check.spec
    this = relations.get(model.name, model.name)
    col = spec.column
    keys = [k for k in model.config.grain if k != col]
    shown = ", ".join(f"t.{k}" for k in keys)
    if spec.kind == "unique":
        columns = spec.columns or (col,)
        listed = ", ".join(columns)
        where = "" if spec.columns else f" where {col} is not null"
        return f"select {listed}, count(*) as duplicates from {this}{where} group by {listed} having count(*) > 1"
    if spec.kind == "not_null":
        return f"select {shown or 't.' + str(col)} from {this} as t where t.{col} is null"
    if spec.kind == "accepted_values":
        values = ", ".join(exp.convert(v).sql(SOURCE_DIALECT) for v in spec.values)
        return f"select {_with(shown, col)} from {this} as t where t.{col} is not null and t.{col} not in ({values})"
    if spec.kind == "relationships":
        parent = relations.get(spec.to or "", spec.to)
        return (
            f"select {_with(shown, col)} from {this} as t where t.{col} is not null "
            f"and not exists (select 1 from {parent} as p where p.{spec.field} = t.{col})"
        )
    if spec.kind == "expression":
        condition = parse_condition(spec.expression or "").sql(SOURCE_DIALECT)
        return f"select {', '.join(model.config.grain)} from {this} where not ({condition})"
    if spec.kind == "row_count":
        return f"select count(*) as row_count from {this}"
    raise ValueError(f"unknown test kind {spec.kind}")


def _with(shown: str, col: str | None) -> str:
    return f"{shown}, t.{col}" if shown else f"t.{col}"


def run_check(
    conn: Connection,
    check: Check,
    model: Model,
    relations: Mapping[str, str] | None = None,
    *,
    known_functions: Collection[str] | None = None,
    validate: bool = True,
    clock: Callable[[], float] = time.perf_counter,
) -> TestResult:
    """Run one test. A test that cannot run raises ``CheckError``; the caller decides what that means.

    ``validate=False`` when the test's query was already rendered with the portability checks (a build does that
    for every test before it starts).
    """
    relations = relations or {}
    spec = check.spec
    started = clock()
    result = TestResult(model.name, check.name, spec.kind, spec.column or None, spec.severity, "pass")
    base = failing_rows_sql(check, model, relations)
    what = f"test {check.name} of {model.name}"
    try:
        if spec.kind == "row_count":
            sql = render_query(
                _parse(base), conn.dialect, what=what, known_functions=known_functions, validate=validate
            )
            rows = conn.query(sql)
            count = int(rows[0][0])
            low = spec.min_rows if spec.min_rows is not None else 0
            high = spec.max_rows
            if count < low or (high is not None and count > high):
                result.status = "fail"
                result.failures = count
                result.message = f"{model.name}: {check.name} failed: the model has {count} rows"
        else:
            wrapped = (
                f"select *, count(*) over () as {FAILURES_COLUMN} from ({base}) as failing "
                f"order by 1 limit {SAMPLE_SIZE}"
            )
            sql = render_query(
                _parse(wrapped), conn.dialect, what=what, known_functions=known_functions, validate=validate
            )
            names, rows = conn.query_with_names(sql)
            if rows:
                result.status = "fail"
                result.failures = int(rows[0][-1])
                result.examples = [_format_row(names[:-1], row[:-1]) for row in rows]
                noun = ("duplicated value" if spec.kind == "unique" else "row") + ("" if result.failures == 1 else "s")
                result.message = (
                    f"{model.name}: {check.name} failed on {result.failures} {noun}, e.g. {'; '.join(result.examples)}"
                )
    except CheckError:
        raise
    except Exception as exc:  # noqa: BLE001 - the warehouse's own error, reported with the test named
        raise CheckError(f"{model.name}: {check.name} could not run: {_first_line(exc)}") from exc
    finally:
        result.seconds = clock() - started
    return result


def _parse(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read=SOURCE_DIALECT)


def _format_row(names: list[str], row: tuple[Any, ...]) -> str:
    if names and names[-1] == "duplicates":  # a unique test: the value, and how often it occurs
        return f"{_format_row(names[:-1], row[:-1])} ({row[-1]} rows)"
    return ", ".join(f"{name}={_format_value(value)}" for name, value in zip(names, row, strict=True))


def _format_value(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:37] + "...")
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run_tests(
    conn: Connection,
    project: Project,
    select: list[str] | None = None,
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> list[TestResult]:
    """``smw test``: run the tests of the selected models against what is in the warehouse now."""
    known = conn.function_names()
    results = []
    for name in project.select(select):
        model = project.models[name]
        for check in checks_for(model):
            try:
                results.append(run_check(conn, check, model, known_functions=known, clock=clock))
            except CheckError as exc:
                spec = check.spec
                results.append(
                    TestResult(name, check.name, spec.kind, spec.column, spec.severity, "error", message=str(exc))
                )
            except Exception as exc:  # noqa: BLE001 - e.g. a render error: report it as this test's error
                spec = check.spec
                results.append(
                    TestResult(name, check.name, spec.kind, spec.column, spec.severity, "error", message=str(exc))
                )
    return results
