"""Discover the SQL models under ``sql_models/``, read their headers, find their dependencies, order them.

Every ``sql_models/<schema>/<name>.sql`` is one model named ``<schema>.<name>``. Dependencies come from sqlglot
scopes: each scope's tables minus the CTEs visible in it. A model may read ``raw.*`` tables and other models, and
nothing else. All problems of a project are collected and raised together as one ``ProjectError``.
"""

from __future__ import annotations

import fnmatch
import graphlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.optimizer.scope import traverse_scope

from warehouse.header import IDENTIFIER, HeaderError, ModelConfig, parse_header, split_model_file

RAW_SCHEMA = "raw"
SOURCE_DIALECT = "duckdb"  # models are written in DuckDB's SQL
RESERVED_SCHEMAS = frozenset({RAW_SCHEMA, "meta", "information_schema", "pg_catalog", "pg_toast"})
TMP_PREFIX = "__smw_tmp_"
MAX_NAME_LENGTH = 63 - len(TMP_PREFIX)  # PostgreSQL truncates identifiers at 63 bytes
ALLOWED_TABLE_FUNCTIONS = frozenset({"generate_series", "unnest"})


class ProjectError(Exception):
    """One or more problems in the model files; each line says where and what."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = "1 problem" if count == 1 else f"{count} problems"
        super().__init__(f"{head} in the SQL models:\n" + "\n".join(f"  {p}" for p in self.problems))


@dataclass(eq=False)
class Model:
    """One model file, parsed."""

    name: str  # schema.table
    schema: str
    table: str
    path: Path
    config: ModelConfig
    sql: str  # the SELECT as written, without the header
    sql_line: int  # file line where ``sql`` starts
    ast: exp.Query = field(repr=False)
    depends_on: tuple[str, ...] = ()  # other models, sorted
    sources: tuple[str, ...] = ()  # raw tables, sorted

    @property
    def materialized(self) -> str:
        return self.config.materialized

    @property
    def description(self) -> str:
        return self.config.description

    @property
    def grain(self) -> tuple[str, ...]:
        return self.config.grain


@dataclass
class Project:
    """All models of a folder, in build order (dependencies first; ties by name)."""

    models_dir: Path
    models: dict[str, Model]  # in build order
    depth: dict[str, int]  # 1 + the deepest dependency; raw tables are depth 0

    @property
    def order(self) -> list[str]:
        return list(self.models)

    @property
    def raw_sources(self) -> list[str]:
        return sorted({s for m in self.models.values() for s in m.sources})

    def downstream(self, name: str) -> list[str]:
        """Models that read ``name`` (a model or a raw table) directly, in build order."""
        return [m.name for m in self.models.values() if name in m.depends_on or name in m.sources]

    def ancestors(self, name: str) -> set[str]:
        out: set[str] = set()
        stack = list(self.models[name].depends_on)
        while stack:
            current = stack.pop()
            if current not in out:
                out.add(current)
                stack.extend(self.models[current].depends_on)
        return out

    def descendants(self, name: str) -> set[str]:
        out: set[str] = set()
        stack = [name]
        while stack:
            for child in self.downstream(stack.pop()):
                if child not in out:
                    out.add(child)
                    stack.append(child)
        return out

    def select(self, patterns: Iterable[str] | None) -> list[str]:
        """Model names for ``--select``, in build order. None or empty selects everything.

        A pattern is a model name or a glob (``marts.*``); ``+pattern`` adds everything upstream,
        ``pattern+`` everything downstream.
        """
        patterns = [p.strip() for p in patterns or () if p.strip()]
        if not patterns:
            return self.order
        chosen: set[str] = set()
        for pattern in patterns:
            up, down = pattern.startswith("+"), pattern.endswith("+")
            core = pattern.strip("+")
            matched = [n for n in self.models if n == core or fnmatch.fnmatchcase(n, core)]
            if not matched:
                raise ProjectError([f"--select {pattern!r} matches no model; `smw models` lists them"])
            for name in matched:
                chosen.add(name)
                if up:
                    chosen |= self.ancestors(name)
                if down:
                    chosen |= self.descendants(name)
        return [n for n in self.order if n in chosen]


def load_project(models_dir: Path | str) -> Project:
    """Read every model under ``models_dir``; raise ``ProjectError`` listing every problem found."""
    models_dir = Path(models_dir)
    if not models_dir.is_dir():
        raise ProjectError([f"{models_dir}: no such folder of SQL models (use --models-dir)"])
    problems: list[str] = []
    parsed: list[Model] = []
    names: set[str] = set()  # also the names of broken files, so that their readers get no second error
    for path in sorted(models_dir.rglob("*.sql")):
        relative = path.relative_to(models_dir)
        names.add(".".join((*relative.parts[:-1], path.stem)))
        try:
            parsed.append(_read_model(models_dir, path))
        except HeaderError as exc:
            problems.append(str(exc))
    for model in parsed:
        problems.extend(_resolve_references(model, names))
        problems.extend(_check_tests(model, names))
    if problems:
        raise ProjectError(problems)
    by_name = {m.name: m for m in parsed}
    order = _build_order(by_name)
    depth: dict[str, int] = {}
    for name in order:
        depth[name] = 1 + max((depth[d] for d in by_name[name].depends_on), default=0)
    return Project(models_dir, {n: by_name[n] for n in order}, depth)


def _read_model(models_dir: Path, path: Path) -> Model:
    relative = path.relative_to(models_dir)
    if len(relative.parts) != 2:
        raise HeaderError(path, None, "a model lives exactly one folder deep: sql_models/<schema>/<name>.sql")
    schema, table = relative.parts[0], path.stem
    for part, what in ((schema, "folder (schema)"), (table, "file name")):
        if not IDENTIFIER.match(part):
            raise HeaderError(path, None, f"the {what} {part!r} must be lower-case snake_case")
    if schema in RESERVED_SCHEMAS or schema.startswith("pg_"):
        raise HeaderError(path, None, f"schema {schema!r} is reserved (raw is for the loaders): use another folder")
    if len(table) > MAX_NAME_LENGTH or table.startswith(TMP_PREFIX):
        raise HeaderError(path, None, f"the model name {table!r} must be at most {MAX_NAME_LENGTH} characters")
    text = path.read_text(encoding="utf-8")
    split = split_model_file(path, text)
    config = parse_header(path, split)
    ast = _parse_select(path, split.sql, split.sql_line)
    return Model(f"{schema}.{table}", schema, table, path, config, split.sql.strip(), split.sql_line, ast)


def _parse_select(path: Path, sql: str, first_line: int) -> exp.Query:
    try:
        statements = [s for s in sqlglot.parse(sql, read=SOURCE_DIALECT) if s is not None]
    except ParseError as exc:
        detail = exc.errors[0] if exc.errors else {}
        line = first_line + int(detail.get("line", 1)) - 1
        description = detail.get("description") or str(exc).splitlines()[0]
        raise HeaderError(path, line, f"the SQL does not parse (DuckDB dialect): {description}") from None
    if not statements:
        raise HeaderError(path, first_line, "the model has a header but no SELECT after it")
    if len(statements) > 1:
        raise HeaderError(path, first_line, "a model holds exactly one SELECT statement (remove the others)")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise HeaderError(
            path,
            first_line,
            f"a model holds a single SELECT, not {statement.key.upper()}: the runner writes the DDL itself",
        )
    return statement


def table_references(query: exp.Expression) -> list[exp.Table]:
    """Every physical table a query reads: each scope's tables, minus the CTEs visible in that scope."""
    found: list[exp.Table] = []
    for scope in traverse_scope(query):
        for table in scope.tables:
            if not table.args.get("db") and table.name in scope.cte_sources:
                continue
            found.append(table)
    return found


def _resolve_references(model: Model, model_names: set[str]) -> list[str]:
    problems: list[str] = []
    depends: set[str] = set()
    sources: set[str] = set()
    for table in table_references(model.ast):
        if not isinstance(table.this, exp.Identifier):
            function = table.this.sql_name() if isinstance(table.this, exp.Func) else table.this.key
            if function.lower() not in ALLOWED_TABLE_FUNCTIONS:
                problems.append(
                    f"{model.path}: model {model.name} reads from {table.this.sql(SOURCE_DIALECT)}; "
                    f"a model reads only raw.* tables, other models, generate_series() and unnest()"
                )
            continue
        name = _qualified_name(table)
        if table.args.get("catalog") or not table.args.get("db"):
            problems.append(
                f"{model.path}: model {model.name} reads table {name!r}: write it as raw.<table> "
                "or <schema>.<model> (a CTE of that name is not visible there)"
            )
        elif name.startswith(f"{RAW_SCHEMA}."):
            sources.add(name)
        elif name in model_names:
            depends.add(name)
        else:
            problems.append(
                f"{model.path}: model {model.name} reads {name}, which is neither a model "
                f"(no file {name.replace('.', '/')}.sql) nor a raw.* table"
            )
    model.depends_on = tuple(sorted(depends))
    model.sources = tuple(sorted(sources))
    return problems


def _qualified_name(table: exp.Table) -> str:
    parts = [p for p in (table.args.get("catalog"), table.args.get("db"), table.this) if p is not None]
    return ".".join(p.name if isinstance(p, exp.Identifier) and p.quoted else p.name.lower() for p in parts)


def parse_condition(expression: str) -> exp.Expression:
    """Parse an ``expression`` test: a condition on one row, with no subquery. Raises ValueError."""
    try:
        node = sqlglot.parse_one(expression, read=SOURCE_DIALECT, into=exp.Condition)
    except ParseError as exc:
        detail = exc.errors[0].get("description") if exc.errors else str(exc)
        raise ValueError(f"the expression {expression!r} does not parse: {detail}") from None
    if node.find(exp.Query, exp.Table):
        raise ValueError(f"the expression {expression!r} holds a subquery; test one row's own columns only")
    return node


def _check_tests(model: Model, model_names: set[str]) -> list[str]:
    problems = []
    for spec in model.config.all_tests:
        where = f"{model.path}:{spec.line}"
        if spec.kind == "expression":
            try:
                parse_condition(spec.expression or "")
            except ValueError as exc:
                problems.append(f"{where}: {exc}")
        if spec.kind == "relationships" and spec.to not in model_names and not (spec.to or "").startswith("raw."):
            problems.append(f"{where}: relationships to {spec.to}, which is neither a model nor a raw.* table")
    return problems


def _build_order(models: dict[str, Model]) -> list[str]:
    """Dependencies first; ties by name. A model with a relationships test also goes after the model it points
    at, where that adds no cycle, so that the test runs against the new version of both when the child builds."""
    after = {name: set(model.depends_on) for name, model in models.items()}
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for name in sorted(models):
        sorter.add(name, *after[name])
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        raise ProjectError([f"the models form a cycle: {' -> '.join(cycle)}"]) from None
    for name in sorted(models):
        for spec in models[name].config.all_tests:
            parent = spec.to if spec.kind == "relationships" else None
            if parent in models and parent != name and not _reaches(after, parent, name):
                after[name].add(parent)
    sorter = graphlib.TopologicalSorter()
    for name in sorted(models):
        sorter.add(name, *after[name])
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order.extend(ready)
        sorter.done(*ready)
    return order


def _reaches(after: dict[str, set[str]], start: str, goal: str) -> bool:
    """Whether ``start`` must come after ``goal`` already (``goal`` is upstream of ``start``)."""
    stack, seen = [start], set()
    while stack:
        current = stack.pop()
        if current == goal:
            return True
        if current not in seen:
            seen.add(current)
            stack.extend(after[current])
    return False
