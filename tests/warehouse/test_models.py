"""Discovering models: names, dependencies through sqlglot scopes (CTEs excluded), errors, order, selection."""

from __future__ import annotations

import pytest
import sqlglot

from tests.warehouse.conftest import ModelWriter
from tests.warehouse.helpers import model_file
from tests.warehouse.raw_data import FIXTURE_MODELS
from warehouse.models import ProjectError, load_project, table_references


def refs(sql: str) -> list[str]:
    return sorted({t.sql("duckdb") for t in table_references(sqlglot.parse_one(sql, read="duckdb"))})


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select * from raw.a", ["raw.a"]),
        ("with a as (select * from raw.x) select * from a", ["raw.x"]),
        (
            "with a as (select * from raw.x), b as (with a2 as (select * from a) "
            "select * from a2 join staging.y on true) select * from b",
            ["raw.x", "staging.y"],
        ),
        ("with recursive r(n) as (select 1 union all select n + 1 from r where n < 3) select * from r", []),
        (
            "with recursive r as (select id, parent from raw.t union all "
            "select t.id, t.parent from raw.t as t join r on t.parent = r.id) select * from r",
            ["raw.t", "raw.t AS t"],
        ),
        (
            "select * from raw.a where id in (select id from raw.b) and exists (select 1 from raw.c where c.x = a.x)",
            ["raw.a", "raw.b", "raw.c"],
        ),
        (
            "select (select max(x) from raw.d) as m from raw.a union all select 1 from raw.e",
            ["raw.a", "raw.d", "raw.e"],
        ),
        (
            "select * from (select * from raw.f) as s, lateral (select * from raw.g where g.id = s.id) as l",
            ["raw.f", "raw.g"],
        ),
        # an inner CTE shadows an outer one only inside its own scope
        (
            "with x as (select * from raw.outer_t) select * from "
            "(with x as (select * from raw.inner_t) select * from x) as q join x on true",
            ["raw.inner_t", "raw.outer_t"],
        ),
        # a schema-qualified name is never a CTE, even when a CTE has the same table name
        ("with contacts as (select 1 as id) select * from raw.contacts join contacts using (id)", ["raw.contacts"]),
    ],
)
def test_table_references_exclude_ctes(sql: str, expected: list[str]) -> None:
    assert refs(sql) == expected


def test_fixture_project_dependencies_and_order() -> None:
    project = load_project(FIXTURE_MODELS)
    assert project.order == [
        "staging.stg_contacts",  # before stg_appointments: that one's relationships test points at it
        "staging.stg_appointments",
        "marts.fct_appointments",
        "marts.dim_contacts",
        "reports.organization_monthly",
    ]
    dim = project.models["marts.dim_contacts"]
    assert dim.depends_on == ("marts.fct_appointments", "staging.stg_contacts")
    assert dim.sources == ()
    assert project.models["staging.stg_contacts"].sources == ("raw.contacts",)
    assert project.raw_sources == ["raw.appointments", "raw.contacts"]
    assert project.depth["reports.organization_monthly"] == 3
    assert project.downstream("marts.fct_appointments") == ["marts.dim_contacts", "reports.organization_monthly"]
    assert project.downstream("raw.contacts") == ["staging.stg_contacts"]


def test_order_is_topological_for_a_diamond(write_models: ModelWriter) -> None:
    root = write_models(
        {
            "a/top.sql": model_file("select id from raw.t"),
            "b/left.sql": model_file("select id from a.top"),
            "b/right.sql": model_file("select id from a.top"),
            "c/bottom.sql": model_file("select l.id from b.left as l join b.right as r using (id)"),
        }
    )
    project = load_project(root)
    assert project.order == ["a.top", "b.left", "b.right", "c.bottom"]
    assert project.depth == {"a.top": 1, "b.left": 2, "b.right": 2, "c.bottom": 3}


def test_selection(write_models: ModelWriter) -> None:
    project = load_project(FIXTURE_MODELS)
    assert project.select(None) == project.order
    assert project.select(["marts.*"]) == ["marts.fct_appointments", "marts.dim_contacts"]
    assert project.select(["+marts.fct_appointments"]) == ["staging.stg_appointments", "marts.fct_appointments"]
    assert project.select(["staging.stg_contacts+"]) == ["staging.stg_contacts", "marts.dim_contacts"]
    with pytest.raises(ProjectError, match="'marts.nope' matches no model"):
        project.select(["marts.nope"])


def test_a_cycle_names_its_members(write_models: ModelWriter) -> None:
    root = write_models(
        {
            "s/a.sql": model_file("select id from s.c"),
            "s/b.sql": model_file("select id from s.a"),
            "s/c.sql": model_file("select id from s.b"),
            "s/d.sql": model_file("select id from raw.t"),
        }
    )
    with pytest.raises(ProjectError) as caught:
        load_project(root)
    message = str(caught.value)
    assert "cycle" in message
    assert all(name in message for name in ("s.a", "s.b", "s.c"))
    assert "s.d" not in message


def test_a_model_reading_itself_is_a_cycle(write_models: ModelWriter) -> None:
    with pytest.raises(ProjectError, match=r"cycle: s\.a -> s\.a"):
        load_project(write_models({"s/a.sql": model_file("select id from s.a")}))


@pytest.mark.parametrize(
    ("select", "fragment"),
    [
        ("select id from contacts", "reads table 'contacts': write it as raw.<table> or <schema>.<model>"),
        ("select id from staging.nope", "reads staging.nope, which is neither a model (no file staging/nope.sql)"),
        ("select id from public.t", "reads public.t, which is neither a model"),
        ("select id from db.raw.t", "reads table 'db.raw.t'"),
        ("select * from read_csv('x.csv')", "reads from READ_CSV('x.csv')"),
        ("with a as (select 1 as id) select id from (select * from b) as q", "reads table 'b'"),
    ],
)
def test_unknown_tables_name_the_model_and_table(write_models: ModelWriter, select: str, fragment: str) -> None:
    root = write_models({"marts/m.sql": model_file(select)})
    with pytest.raises(ProjectError) as caught:
        load_project(root)
    assert "model marts.m" in str(caught.value)
    assert fragment in str(caught.value)


def test_allowed_table_functions(write_models: ModelWriter) -> None:
    root = write_models(
        {
            "r/months.sql": model_file("select m as id from generate_series(1, 3) as s(m)"),
            "r/u.sql": model_file("select unnest([1, 2]) as id"),
        }
    )
    assert load_project(root).models["r.months"].sources == ()


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        ({"x.sql": model_file("select 1 as id")}, "exactly one folder deep"),
        ({"a/b/x.sql": model_file("select 1 as id")}, "exactly one folder deep"),
        ({"Marts/x.sql": model_file("select 1 as id")}, "folder (schema) 'Marts' must be lower-case"),
        ({"marts/dim-x.sql": model_file("select 1 as id")}, "file name 'dim-x' must be lower-case"),
        ({"raw/x.sql": model_file("select 1 as id")}, "schema 'raw' is reserved"),
        ({"marts/" + "x" * 60 + ".sql": model_file("select 1 as id")}, "at most 53 characters"),
        ({"marts/x.sql": "/*\ndescription: d\ngrain: id\n*/\n"}, "no SELECT after it"),
        ({"marts/x.sql": "/*\ndescription: d\ngrain: id\n*/\nselect 1 as id; select 2 as id"}, "exactly one SELECT"),
        ({"marts/x.sql": "/*\ndescription: d\ngrain: id\n*/\ncreate table marts.x as select 1"}, "not CREATE"),
        ({"marts/x.sql": "/*\ndescription: d\ngrain: id\n*/\ninsert into raw.t values (1)"}, "not INSERT"),
    ],
)
def test_file_problems(write_models: ModelWriter, files: dict[str, str], fragment: str) -> None:
    with pytest.raises(ProjectError) as caught:
        load_project(write_models(files))
    assert fragment in str(caught.value)


def test_sql_syntax_error_points_at_the_file_line(write_models: ModelWriter) -> None:
    text = "/*\ndescription: d\ngrain: id\n*/\nselect\n    id,\n    (1 +\nfrom raw.t\n"
    root = write_models({"marts/x.sql": text})
    with pytest.raises(ProjectError) as caught:
        load_project(root)
    assert f"{root / 'marts' / 'x.sql'}:8: the SQL does not parse" in str(caught.value)


def test_every_problem_is_reported_at_once_without_knock_on_errors(write_models: ModelWriter) -> None:
    root = write_models(
        {
            "staging/broken.sql": "/*\ndescription: d\ngrain: id\nbogus: 1\n*/\nselect 1 as id",
            "marts/reader.sql": model_file("select id from staging.broken"),  # fine: the file exists, it is broken
            "marts/other.sql": model_file("select id from nowhere.t"),
        }
    )
    with pytest.raises(ProjectError) as caught:
        load_project(root)
    problems = caught.value.problems
    assert len(problems) == 2
    assert "broken.sql:4: unknown key 'bogus'" in problems[1] or "broken.sql:4: unknown key 'bogus'" in problems[0]
    assert any("nowhere.t" in p for p in problems)


def test_test_declarations_are_checked_against_the_project(write_models: ModelWriter) -> None:
    extra = """
    columns:
      id:
        tests:
          - relationships: {to: marts.missing, field: id}
          - expression: "id >"
    tests:
      - expression: "id in (select id from raw.t)"
    """
    root = write_models({"marts/x.sql": model_file("select 1 as id", extra=extra)})
    with pytest.raises(ProjectError) as caught:
        load_project(root)
    problems = "\n".join(caught.value.problems)
    assert "x.sql:8: relationships to marts.missing, which is neither a model nor a raw.* table" in problems
    assert "x.sql:9: the expression 'id >' does not parse" in problems
    assert "x.sql:11: the expression 'id in (select id from raw.t)' holds a subquery" in problems


def test_missing_models_folder() -> None:
    with pytest.raises(ProjectError, match="no such folder of SQL models"):
        load_project("/nonexistent/sql_models")
