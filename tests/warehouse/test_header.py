"""The model header: the accepted shapes, and every error with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from warehouse.header import HeaderError, TestSpec, parse_header, split_model_file

FULL = """\
/*
description: One row per appointment.
materialized: view
grain: [appointment_id]
columns:
  appointment_id: {description: The id., tests: [unique, not_null]}
  status:
    description: The status.
    tests:
      - accepted_values: {values: [Scheduled, Completed]}
      - not_null:
        severity: warn
  contact_id:
    tests:
      - relationships: {to: marts.dim_contacts, field: contact_id}
  city: Shorthand description.
  note:
  kind:
    tests:
      - accepted_values: [a, b]
      - accepted_values: {values: [1, 2], severity: warn}
tests:
  - expression: "total >= 0"
    severity: warn
  - unique: {columns: [appointment_id, status]}
  - row_count: {min: 1, max: 10}
*/
select 1
"""


def parse(text: str, path: str = "sql_models/marts/m.sql"):
    return parse_header(path, split_model_file(path, text))


def test_full_header_parses_every_shape() -> None:
    config = parse(FULL)
    assert config.description == "One row per appointment."
    assert config.materialized == "view"
    assert config.grain == ("appointment_id",)
    columns = {c.name: c for c in config.columns}
    assert [t.kind for t in columns["appointment_id"].tests] == ["unique", "not_null"]
    assert columns["status"].tests[0].values == ("Scheduled", "Completed")
    assert columns["status"].tests[1] == TestSpec("not_null", "status", "warn", line=11)
    rel = columns["contact_id"].tests[0]
    assert (rel.to, rel.field, rel.column, rel.blocking) == ("marts.dim_contacts", "contact_id", "contact_id", True)
    assert columns["city"].description == "Shorthand description."
    assert columns["note"].description is None and columns["note"].tests == ()
    assert columns["kind"].tests[0].values == ("a", "b")
    assert columns["kind"].tests[1].values == (1, 2) and columns["kind"].tests[1].severity == "warn"
    expression, unique, row_count = config.tests
    assert (expression.expression, expression.severity, expression.line) == ("total >= 0", "warn", 23)
    assert unique.columns == ("appointment_id", "status") and unique.column is None
    assert (row_count.min_rows, row_count.max_rows) == (1, 10)


def test_defaults_and_single_name_grain() -> None:
    config = parse("/*\ndescription: d\ngrain: contact_id\n*/\nselect 1")
    assert config.materialized == "table"
    assert config.grain == ("contact_id",)
    assert config.columns == () and config.tests == ()


def test_sql_and_its_first_line_are_split_off() -> None:
    split = split_model_file("m.sql", "\n\n/* description: d\ngrain: a */\nselect 1\n")
    assert split.yaml_line == 3
    assert split.sql.strip() == "select 1"
    assert split.sql_line == 4


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("select 1", 1, "must start with a /* ... */ header"),
        ("\n-- comment\nselect 1", 2, "must start with a /* ... */ header"),
        ("/*\ndescription: d\ngrain: a\nselect 1", 1, "never closed"),
        ("/*\n*/\nselect 1", 1, "the header is empty"),
        ("/*\ndescription: d\ngrain: [a\n*/", 4, "not valid YAML"),
        ("/*\ndescription: d\ngrain: a\nowner: me\n*/", 4, "unknown key 'owner' in the header"),
        ("/*\ngrain: a\n*/", 2, "needs a 'description' key"),
        ("/*\ndescription: d\n*/", 2, "needs a 'grain' key"),
        ("/*\ndescription: d\ndescription: e\ngrain: a\n*/", 3, "'description' appears twice"),
        ("/*\ndescription: [d]\ngrain: a\n*/", 2, "expected a single value"),
        ("/*\ndescription: ''\ngrain: a\n*/", 2, "description must be non-empty text"),
        ("/*\ndescription: d\ngrain: {a: 1}\n*/", 3, "grain must be a list"),
        ("/*\ndescription: d\ngrain: []\n*/", 3, "at least one column"),
        ("/*\ndescription: d\ngrain: [a, a]\n*/", 3, "lists a column twice"),
        ("/*\ndescription: d\ngrain: [Contact Id]\n*/", 3, "snake_case column name"),
        ("/*\ndescription: d\ngrain: a\nmaterialized: incremental\n*/", 4, "materialized must be table or view"),
        ("/*\ndescription: d\ngrain: a\ncolumns: [a, b]\n*/", 4, "columns must be a mapping"),
        ("/*\ndescription: d\ngrain: a\ncolumns:\n  a:\n    descripton: x\n*/", 6, "unknown key 'descripton'"),
        ("/*\ndescription: d\ngrain: a\ncolumns:\n  BadName: x\n*/", 5, "snake_case column name"),
        ("/*\ndescription: d\ngrain: a\ncolumns:\n  a:\n    tests: unique\n*/", 6, "must be a list"),
        ("/*\ndescription: d\ngrain: a\ncolumns:\n  a:\n    tests: [uniq]\n*/", 6, "unknown test 'uniq'"),
        (
            "/*\ndescription: d\ngrain: a\ncolumns:\n  a:\n    tests:\n      - row_count: {min: 1}\n*/",
            7,
            "unknown test",
        ),
        (
            "/*\ndescription: d\ngrain: a\ncolumns:\n  a:\n    tests:\n      - {unique: , not_null: }\n*/",
            7,
            "one test name with its arguments",
        ),
        (
            "/*\ndescription: d\ngrain: a\ncolumns:\n  a:\n    tests:\n      - not_null:\n        severity: fatal\n*/",
            8,
            "severity must be error",
        ),
        (
            "/*\ndescription: d\ngrain: a\ncolumns:\n  a:\n    tests:\n      - accepted_values: {vals: [1]}\n*/",
            7,
            "unknown key 'vals'",
        ),
        (
            "/*\ndescription: d\ngrain: a\ncolumns:\n  a:\n    tests:\n      - accepted_values: {}\n*/",
            7,
            "needs values",
        ),
        (
            "/*\ndescription: d\ngrain: a\ncolumns:\n  a:\n    tests:\n      - accepted_values: []\n*/",
            7,
            "at least one value",
        ),
        (
            "/*\ndescription: d\ngrain: a\ncolumns:\n  a:\n    tests:\n      - accepted_values: [x, null]\n*/",
            7,
            "accepted values must be text",
        ),
        (
            "/*\ndescription: d\ngrain: a\ncolumns:\n  a:\n    tests:\n      - relationships: {to: marts.b}\n*/",
            7,
            "needs to: <schema.model> and field",
        ),
        (
            "/*\ndescription: d\ngrain: a\ncolumns:\n  a:\n    tests:\n      - relationships: {to: b, field: a}\n*/",
            7,
            "must be schema.name",
        ),
        (
            "/*\ndescription: d\ngrain: a\ncolumns:\n  a:\n    tests:\n"
            "      - not_null: {severity: warn}\n        severity: warn\n*/",
            7,
            "severity is given twice",
        ),
        ("/*\ndescription: d\ngrain: a\ntests:\n  - unique\n*/", 5, "needs columns"),
        ("/*\ndescription: d\ngrain: a\ntests:\n  - not_null\n*/", 5, "unknown test 'not_null' for model-level"),
        ("/*\ndescription: d\ngrain: a\ntests:\n  - row_count: {}\n*/", 5, "needs min"),
        ("/*\ndescription: d\ngrain: a\ntests:\n  - row_count: {min: -1}\n*/", 5, "whole number >= 0"),
        ("/*\ndescription: d\ngrain: a\ntests:\n  - expression: ''\n*/", 5, "must be non-empty text"),
        ("/*\ndescription: d\ngrain: a\ntests:\n  - expression: {sql: x}\n*/", 5, "unknown key 'sql'"),
    ],
)
def test_errors_name_the_file_and_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(HeaderError) as caught:
        parse(text)
    assert caught.value.line == line, str(caught.value)
    assert fragment in caught.value.message
    assert str(caught.value).startswith(f"sql_models/marts/m.sql:{line}: ")


def test_header_error_accepts_a_path_object() -> None:
    with pytest.raises(HeaderError, match=r"^x[/\\]m.sql:1: "):
        parse("select 1", path=Path("x") / "m.sql")  # type: ignore[arg-type]


def test_the_example_in_the_analysts_readme_parses() -> None:
    readme = Path(__file__).parents[2] / "sql_models" / "README.md"
    example = readme.read_text(encoding="utf-8").split("```sql\n", 1)[1].split("```", 1)[0]
    config = parse(example)
    assert config.grain == ("appointment_id",)
    assert [t.severity for t in config.tests] == ["error", "warn"]
    assert config.column("city") is not None and config.column("city").description == "City of the service address."
