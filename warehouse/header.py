"""The header of a model file: a YAML document in a leading ``/* ... */`` comment, parsed strictly.

Every mistake (unknown key, wrong type, malformed test) is a ``HeaderError`` that names the file and the line, taken
from the YAML node marks. The format is documented for analysts in ``sql_models/README.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Materialization = Literal["table", "view"]
Severity = Literal["error", "warn"]
TestKind = Literal["unique", "not_null", "accepted_values", "relationships", "expression", "row_count"]

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
COLUMN_TEST_KINDS: tuple[TestKind, ...] = ("unique", "not_null", "accepted_values", "relationships", "expression")
MODEL_TEST_KINDS: tuple[TestKind, ...] = ("expression", "unique", "row_count")
_HEADER_KEYS = ("description", "materialized", "grain", "columns", "tests")
_COLUMN_KEYS = ("description", "tests")


class HeaderError(Exception):
    """A problem in a model file, located as ``path:line: message``."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(f"{self.path}:{line}: {message}" if line else f"{self.path}: {message}")


@dataclass(frozen=True)
class TestSpec:
    """One data test as declared. ``column`` is None for a model-level test."""

    __test__: ClassVar[bool] = False  # not a pytest class

    kind: TestKind
    column: str | None = None
    severity: Severity = "error"
    values: tuple[Any, ...] = ()  # accepted_values
    to: str | None = None  # relationships: the referenced relation, e.g. ``marts.dim_contacts``
    field: str | None = None  # relationships: the referenced column
    expression: str | None = None  # expression: SQL (DuckDB dialect) that must not be false on any row
    columns: tuple[str, ...] = ()  # model-level unique: the column combination
    min_rows: int | None = None  # row_count
    max_rows: int | None = None  # row_count
    line: int | None = None

    @property
    def blocking(self) -> bool:
        return self.severity == "error"


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    description: str | None = None
    tests: tuple[TestSpec, ...] = ()
    line: int | None = None


@dataclass(frozen=True)
class ModelConfig:
    description: str
    grain: tuple[str, ...]
    materialized: Materialization = "table"
    columns: tuple[ColumnSpec, ...] = ()
    tests: tuple[TestSpec, ...] = ()  # model-level tests
    line: int | None = None

    @property
    def all_tests(self) -> tuple[TestSpec, ...]:
        return tuple(t for c in self.columns for t in c.tests) + self.tests

    def column(self, name: str) -> ColumnSpec | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class SplitFile:
    """A model file cut in two: the header's YAML text and the SQL after it, with their first line numbers."""

    yaml_text: str
    yaml_line: int  # 1-based file line of the YAML text's first line
    sql: str
    sql_line: int  # 1-based file line of the SQL's first line


def split_model_file(path: Path | str, text: str) -> SplitFile:
    """Separate the leading ``/* ... */`` header from the SQL."""
    stripped = text.lstrip()
    lead = text[: len(text) - len(stripped)]
    if not stripped.startswith("/*"):
        first_line = lead.count("\n") + 1
        raise HeaderError(
            path,
            first_line,
            "a model file must start with a /* ... */ header holding at least description and grain "
            "(see sql_models/README.md)",
        )
    start = len(lead) + 2
    end = text.find("*/", start)
    if end < 0:
        raise HeaderError(path, lead.count("\n") + 1, "the /* header comment is never closed with */")
    return SplitFile(
        yaml_text=text[start:end],
        yaml_line=text.count("\n", 0, start) + 1,
        sql=text[end + 2 :],
        sql_line=text.count("\n", 0, end + 2) + 1,
    )


@dataclass
class _Parser:
    path: Path | str
    line_offset: int  # added to a node's 0-based mark line to give the 1-based file line
    loader: yaml.SafeLoader = field(repr=False)

    def line(self, node: Node) -> int:
        return node.start_mark.line + self.line_offset

    def fail(self, node: Node, message: str) -> HeaderError:
        return HeaderError(self.path, self.line(node), message)

    def scalar(self, node: Node) -> Any:
        if not isinstance(node, ScalarNode):
            raise self.fail(node, "expected a single value here, not a list or a mapping")
        return self.loader.construct_object(node, deep=True)

    def text(self, node: Node, what: str) -> str:
        value = self.scalar(node)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(node, f"{what} must be non-empty text")
        return value.strip()

    def identifier(self, node: Node, what: str) -> str:
        value = self.scalar(node)
        if not isinstance(value, str) or not IDENTIFIER.match(value):
            raise self.fail(node, f"{what} must be a lower-case snake_case column name, got {value!r}")
        return value

    def mapping(self, node: Node, what: str, allowed: tuple[str, ...]) -> dict[str, tuple[Node, Node]]:
        """A mapping's entries by key, as (key node, value node); unknown and duplicate keys are errors."""
        if not isinstance(node, MappingNode):
            raise self.fail(node, f"{what} must be a mapping of key: value")
        entries: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node)
            if not isinstance(key, str):
                raise self.fail(key_node, f"keys in {what} must be text, got {key!r}")
            if key in entries:
                raise self.fail(key_node, f"{key!r} appears twice in {what}")
            if allowed and key not in allowed:
                raise self.fail(key_node, f"unknown key {key!r} in {what}; allowed: {', '.join(allowed)}")
            entries[key] = (key_node, value_node)
        return entries

    def sequence(self, node: Node, what: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            raise self.fail(node, f"{what} must be a list (- item lines, or [a, b])")
        return list(node.value)

    def identifiers(self, node: Node, what: str) -> tuple[str, ...]:
        """One name, or a non-empty list of distinct names."""
        items = [node] if isinstance(node, ScalarNode) else self.sequence(node, what)
        if not items:
            raise self.fail(node, f"{what} must name at least one column")
        names = tuple(self.identifier(item, f"each entry of {what}") for item in items)
        if len(set(names)) != len(names):
            raise self.fail(node, f"{what} lists a column twice")
        return names

    # -- the document ---------------------------------------------------------------------------------------------

    def config(self, root: Node) -> ModelConfig:
        entries = self.mapping(root, "the header", _HEADER_KEYS)
        for required in ("description", "grain"):
            if required not in entries:
                raise self.fail(root, f"the header needs a {required!r} key (see sql_models/README.md)")
        description = self.text(entries["description"][1], "description")
        grain = self.identifiers(entries["grain"][1], "grain")
        materialized: Materialization = "table"
        if "materialized" in entries:
            node = entries["materialized"][1]
            value = self.scalar(node)
            if value not in ("table", "view"):
                raise self.fail(node, f"materialized must be table or view, got {value!r}")
            materialized = value
        columns: tuple[ColumnSpec, ...] = ()
        if "columns" in entries:
            columns = self.columns(entries["columns"][1])
        tests: tuple[TestSpec, ...] = ()
        if "tests" in entries:
            tests = tuple(self.test(n, None) for n in self.sequence(entries["tests"][1], "tests"))
        return ModelConfig(description, grain, materialized, columns, tests, self.line(root))

    def columns(self, node: Node) -> tuple[ColumnSpec, ...]:
        if isinstance(node, MappingNode) and not node.value:
            return ()
        out = []
        for name, (key_node, value_node) in self.mapping(node, "columns", ()).items():
            self.identifier(key_node, "a column name")
            out.append(self.column(name, key_node, value_node))
        return tuple(out)

    def column(self, name: str, key_node: Node, node: Node) -> ColumnSpec:
        line = self.line(key_node)
        if isinstance(node, ScalarNode):
            value = self.scalar(node)
            if value is None:
                return ColumnSpec(name, None, (), line)
            return ColumnSpec(name, self.text(node, f"the description of column {name}"), (), line)
        entries = self.mapping(node, f"column {name}", _COLUMN_KEYS)
        description = None
        if "description" in entries:
            description = self.text(entries["description"][1], f"the description of column {name}")
        tests: tuple[TestSpec, ...] = ()
        if "tests" in entries:
            tests = tuple(self.test(n, name) for n in self.sequence(entries["tests"][1], f"tests of column {name}"))
        return ColumnSpec(name, description, tests, line)

    def test(self, node: Node, column: str | None) -> TestSpec:
        """``- unique``, or ``- kind: arguments`` with an optional sibling ``severity: warn``."""
        allowed = COLUMN_TEST_KINDS if column else MODEL_TEST_KINDS
        where = f"column {column}" if column else "model-level tests"
        if isinstance(node, ScalarNode):
            kind = self.scalar(node)
            if kind not in allowed:
                raise self.fail(node, f"unknown test {kind!r} for {where}; allowed: {', '.join(allowed)}")
            no_args = ScalarNode("tag:yaml.org,2002:null", "", node.start_mark, node.end_mark)
            return self._build_test(kind, column, no_args, "error", node)
        entries = self.mapping(node, f"a test of {where}", ())
        kinds = [k for k in entries if k != "severity"]
        if len(kinds) != 1:
            raise self.fail(
                node,
                f"a test of {where} is one test name with its arguments, and optionally severity: warn; "
                f"got keys {', '.join(entries) or 'none'}",
            )
        kind = kinds[0]
        key_node, args_node = entries[kind]
        if kind not in allowed:
            raise self.fail(key_node, f"unknown test {kind!r} for {where}; allowed: {', '.join(allowed)}")
        severity: Severity = "error"
        if "severity" in entries:
            severity = self._severity(entries["severity"][1])
        return self._build_test(kind, column, args_node, severity, node)

    def _severity(self, node: Node) -> Severity:
        value = self.scalar(node)
        if value not in ("error", "warn"):
            raise self.fail(node, f"severity must be error (blocking, the default) or warn, got {value!r}")
        return value

    def _build_test(self, kind: str, column: str | None, args: Node, severity: Severity, at: Node) -> TestSpec:
        line = self.line(at)
        builders: dict[str, Callable[[], TestSpec]] = {
            "unique": lambda: self._unique(column, args, severity, line),
            "not_null": lambda: self._no_args("not_null", column, args, severity, line),
            "accepted_values": lambda: self._accepted_values(column, args, severity, line),
            "relationships": lambda: self._relationships(column, args, severity, line),
            "expression": lambda: self._expression(column, args, severity, line),
            "row_count": lambda: self._row_count(args, severity, line),
        }
        return builders[kind]()

    def _options(self, args: Node, what: str, allowed: tuple[str, ...]) -> dict[str, Node]:
        """The argument mapping of a test, without ``severity`` (dbt also puts it there)."""
        if isinstance(args, ScalarNode) and self.scalar(args) is None:
            return {}
        entries = self.mapping(args, f"the arguments of {what}", (*allowed, "severity"))
        return {k: v for k, (_, v) in entries.items()}

    def _with_severity(self, options: dict[str, Node], severity: Severity, what: str) -> Severity:
        if "severity" not in options:
            return severity
        if severity != "error":
            raise self.fail(options["severity"], f"severity is given twice for {what}")
        return self._severity(options["severity"])

    def _no_args(self, kind: TestKind, column: str | None, args: Node, severity: Severity, line: int) -> TestSpec:
        options = self._options(args, kind, ())
        return TestSpec(kind, column, self._with_severity(options, severity, kind), line=line)

    def _unique(self, column: str | None, args: Node, severity: Severity, line: int) -> TestSpec:
        if column:
            return self._no_args("unique", column, args, severity, line)
        options = self._options(args, "unique", ("columns",))
        if "columns" not in options:
            raise self.fail(args, "a model-level unique test needs columns: [a, b] (for one column, test the column)")
        columns = self.identifiers(options["columns"], "unique columns")
        return TestSpec("unique", None, self._with_severity(options, severity, "unique"), columns=columns, line=line)

    def _accepted_values(self, column: str | None, args: Node, severity: Severity, line: int) -> TestSpec:
        if isinstance(args, SequenceNode):  # shorthand: accepted_values: [a, b]
            options: dict[str, Node] = {"values": args}
        else:
            options = self._options(args, "accepted_values", ("values",))
        if "values" not in options:
            raise self.fail(args, "accepted_values needs values: [a, b, ...]")
        items = self.sequence(options["values"], "accepted_values values")
        if not items:
            raise self.fail(options["values"], "accepted_values needs at least one value")
        values = []
        for item in items:
            value = self.scalar(item)
            if value is None or not isinstance(value, str | int | float | bool):
                raise self.fail(item, f"accepted values must be text, numbers or booleans, got {value!r}")
            values.append(value)
        severity = self._with_severity(options, severity, "accepted_values")
        return TestSpec("accepted_values", column, severity, values=tuple(values), line=line)

    def _relationships(self, column: str | None, args: Node, severity: Severity, line: int) -> TestSpec:
        options = self._options(args, "relationships", ("to", "field"))
        for required in ("to", "field"):
            if required not in options:
                raise self.fail(args, "relationships needs to: <schema.model> and field: <column>")
        to = self.scalar(options["to"])
        if not isinstance(to, str) or not re.match(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$", to):
            raise self.fail(
                options["to"], f"relationships to: must be schema.name, e.g. marts.dim_contacts, got {to!r}"
            )
        field_name = self.identifier(options["field"], "relationships field")
        severity = self._with_severity(options, severity, "relationships")
        return TestSpec("relationships", column, severity, to=to, field=field_name, line=line)

    def _expression(self, column: str | None, args: Node, severity: Severity, line: int) -> TestSpec:
        if isinstance(args, ScalarNode):
            expression = self.text(args, "an expression test")
        else:
            options = self._options(args, "expression", ("expression",))
            if "expression" not in options:
                raise self.fail(args, 'expression needs a SQL condition, e.g. expression: "total >= 0"')
            expression = self.text(options["expression"], "an expression test")
            severity = self._with_severity(options, severity, "expression")
        return TestSpec("expression", column, severity, expression=expression, line=line)

    def _row_count(self, args: Node, severity: Severity, line: int) -> TestSpec:
        options = self._options(args, "row_count", ("min", "max"))
        bounds: dict[str, int | None] = {"min": None, "max": None}
        for key in bounds:
            if key in options:
                value = self.scalar(options[key])
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise self.fail(options[key], f"row_count {key} must be a whole number >= 0, got {value!r}")
                bounds[key] = value
        if bounds["min"] is None and bounds["max"] is None:
            raise self.fail(args, "row_count needs min: N and/or max: N")
        severity = self._with_severity(options, severity, "row_count")
        return TestSpec("row_count", None, severity, min_rows=bounds["min"], max_rows=bounds["max"], line=line)


def parse_header(path: Path | str, split: SplitFile) -> ModelConfig:
    """Parse and validate the YAML header of one model file."""
    loader = yaml.SafeLoader(split.yaml_text)
    offset = split.yaml_line
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + offset if mark else offset
        raise HeaderError(path, line, f"the header is not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise HeaderError(path, offset, f"the header is not valid YAML: {exc}") from None
    if root is None:
        raise HeaderError(path, offset, "the header is empty: it needs at least description and grain")
    parser = _Parser(path, offset, loader)
    try:
        return parser.config(root)
    finally:
        loader.dispose()
