"""Building models on real DuckDB and PostgreSQL: identical results, comments, atomic swaps, data tests that block.

Every data-test kind has a case here that proves it fails on bad data and that the old table stays as it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.warehouse.conftest import ModelWriter
from tests.warehouse.helpers import model_file
from tests.warehouse.raw_data import FIXTURE_MODELS, create_raw
from warehouse.build import EXIT_MODEL_ERROR, EXIT_OK, EXIT_TESTS_FAILED, BuildResult, build_models
from warehouse.models import load_project
from warehouse.target import Connection, Target


def rows(conn: Connection, relation: str) -> list[tuple]:
    return sorted(conn.query(f"select * from {relation}"), key=repr)


def statuses(result: BuildResult) -> dict[str, str]:
    return {m.model: m.status for m in result.models}


def leftovers(conn: Connection) -> list[tuple]:
    return conn.query("select table_schema, table_name from information_schema.tables where table_name like '__smw%%'")


def test_fixture_graph_is_identical_on_duckdb_and_postgresql(duckdb_target: Target, postgres_target: Target) -> None:
    project = load_project(FIXTURE_MODELS)
    results = {}
    with duckdb_target.connect() as duck, postgres_target.connect() as pg:
        for conn in (duck, pg):
            create_raw(conn)
            seen: list[str] = []
            results[conn.dialect] = build_models(conn, project, progress=lambda r, seen=seen: seen.append(r.model))
            assert seen == project.order
        for dialect, result in results.items():
            assert result.ok, (dialect, result.first_problem())
            assert result.exit_code == EXIT_OK
            assert all(t.status == "pass" for m in result.models for t in m.tests)
        for name in project.order:
            assert rows(duck, name) == rows(pg, name), name
            assert duck.columns(*name.split(".")) == pg.columns(*name.split(".")), name
        assert leftovers(duck) == [] and leftovers(pg) == []
        # a few values that the SQL is meant to produce, to be sure both are right and not just equal
        monthly = {(r[0], r[1].isoformat()): r[3:] for r in duck.query("select * from reports.organization_monthly")}
        assert len(monthly) == 5 + 6  # org 10: Jan..May 2024, org 20: Feb..Jul 2024, gaps filled with zeros
        assert monthly[(10, "2024-01-01")] == (2, pytest.approx(200.50), pytest.approx(100.25))
        assert monthly[(10, "2024-02-01")][:2] == (0, 0)
        assert duck.query("select email, segment from marts.dim_contacts where contact_id = 1") == [
            ("ada@example.com", "regular")
        ]
    rows_built = {m.model: m.rows for m in results["duckdb"].models}
    assert rows_built["marts.fct_appointments"] == 8 and rows_built["staging.stg_contacts"] is None  # a view


def test_descriptions_become_comments(conn: Connection) -> None:
    create_raw(conn)
    assert build_models(conn, load_project(FIXTURE_MODELS)).ok
    if conn.dialect == "duckdb":
        table = conn.query(
            "select comment from duckdb_tables() where schema_name = 'marts' and table_name = 'dim_contacts'"
        )
        view = conn.query(
            "select comment from duckdb_views() where schema_name = 'staging' and view_name = 'stg_contacts'"
        )
        column = conn.query(
            "select comment from duckdb_columns() where schema_name = 'marts' and table_name = 'dim_contacts' "
            "and column_name = 'segment'"
        )
        view_column = conn.query(
            "select comment from duckdb_columns() where schema_name = 'staging' and table_name = 'stg_contacts' "
            "and column_name = 'email'"
        )
    else:
        table = conn.query("select obj_description('marts.dim_contacts'::regclass, 'pg_class')")
        view = conn.query("select obj_description('staging.stg_contacts'::regclass, 'pg_class')")
        column = conn.query(
            "select col_description(c.table_name::regclass, c.ordinal_position::int) from "
            "(select table_schema || '.' || table_name as table_name, ordinal_position from information_schema.columns "
            "where table_schema = 'marts' and table_name = 'dim_contacts' and column_name = 'segment') as c"
        )
        view_column = conn.query(
            "select col_description('staging.stg_contacts'::regclass, ordinal_position::int) "
            "from information_schema.columns where table_schema = 'staging' and table_name = 'stg_contacts' "
            "and column_name = 'email'"
        )
    assert table == [("One row per contact, with appointment figures.",)]
    assert view == [("One row per contact, cleaned: trimmed text, empty strings as NULL, lower-case emails.",)]
    assert column == [("new, regular or loyal.",)]
    assert view_column == [("Lower-case email address, NULL when empty.",)]


def test_rebuild_replaces_the_data_and_cleans_up_an_interrupted_build(conn: Connection) -> None:
    create_raw(conn)
    project = load_project(FIXTURE_MODELS)
    assert build_models(conn, project).ok
    # a crashed earlier build left its temporary table behind
    conn.execute("create table marts.__smw_tmp_fct_appointments as select 1 as junk")
    conn.execute("delete from raw.appointments where id >= 104")
    result = build_models(conn, project)
    assert result.ok, result.first_problem()
    assert conn.query("select count(*) from marts.fct_appointments") == [(4,)]
    assert conn.query("select count(*) from reports.organization_monthly") == [(5,)]
    assert leftovers(conn) == []


KIND_MODELS = {
    "kinds/k_unique.sql": model_file(
        "select id, v from raw.u", extra="columns:\n  v: {description: d, tests: [unique]}"
    ),
    "kinds/k_not_null.sql": model_file(
        "select id, v from raw.n", extra="columns:\n  v: {description: d, tests: [not_null]}"
    ),
    "kinds/k_accepted.sql": model_file(
        "select id, v from raw.a",
        extra="columns:\n  v:\n    description: d\n    tests:\n      - accepted_values: {values: [x, y]}",
    ),
    "kinds/k_parent.sql": model_file("select id from raw.p"),
    "kinds/k_child.sql": model_file(
        "select id, parent_id from raw.r",
        extra="columns:\n  parent_id:\n    tests:\n      - relationships: {to: kinds.k_parent, field: id}",
    ),
    "kinds/k_expression.sql": model_file("select id, amount from raw.e", extra='tests:\n  - expression: "amount >= 0"'),
    "kinds/k_downstream.sql": model_file("select id, amount * 2 as doubled from kinds.k_expression"),
    "kinds/k_rows.sql": model_file("select id from raw.c", extra="tests:\n  - row_count: {max: 2}"),
    "kinds/k_grain.sql": model_file("select id, v from raw.g"),
    "kinds/k_grain_null.sql": model_file("select id, v from raw.gn"),
    "kinds/k_combo.sql": model_file("select id, a, b from raw.cb", extra="tests:\n  - unique: {columns: [a, b]}"),
    "kinds/k_warn.sql": model_file(
        "select id, v from raw.w",
        extra="columns:\n  v:\n    tests:\n      - accepted_values: {values: [x]}\n        severity: warn",
    ),
    "kinds/k_view.sql": model_file(
        "select id, v from raw.vw", materialized="view", extra="columns:\n  v: {tests: [not_null]}"
    ),
}

GOOD = {
    "u": "create table raw.u as select * from (values (1, 'a'), (2, 'b')) as t(id, v)",
    "n": "create table raw.n as select * from (values (1, 'a'), (2, 'b')) as t(id, v)",
    "a": "create table raw.a as select * from (values (1, 'x'), (2, 'y')) as t(id, v)",
    "p": "create table raw.p as select * from (values (1), (2)) as t(id)",
    "r": "create table raw.r as select * from (values (1, 1), (2, 2)) as t(id, parent_id)",
    "e": "create table raw.e as select * from (values (1, 5), (2, 0)) as t(id, amount)",
    "c": "create table raw.c as select * from (values (1), (2)) as t(id)",
    "g": "create table raw.g as select * from (values (1, 'a'), (2, 'b')) as t(id, v)",
    "gn": "create table raw.gn as select * from (values (1, 'a'), (2, 'b')) as t(id, v)",
    "cb": "create table raw.cb as select * from (values (1, 'a', 1), (2, 'a', 2)) as t(id, a, b)",
    "w": "create table raw.w as select * from (values (1, 'x')) as t(id, v)",
    "vw": "create table raw.vw as select * from (values (1, 'x')) as t(id, v)",
}
BAD = {
    "u": (
        "insert into raw.u values (3, 'a')",
        "kinds.k_unique: unique(v) failed on 1 duplicated value, e.g. v='a' (2 rows)",
    ),
    "n": ("insert into raw.n values (3, null)", "kinds.k_not_null: not_null(v) failed on 1 row, e.g. id=3"),
    "a": (
        "insert into raw.a values (3, 'z'), (4, 'zz')",
        "kinds.k_accepted: accepted_values(v) failed on 2 rows, e.g. id=3, v='z'; id=4, v='zz'",
    ),
    "r": (
        "insert into raw.r values (3, 99)",
        "kinds.k_child: relationships(parent_id -> kinds.k_parent.id) failed on 1 row, e.g. id=3, parent_id=99",
    ),
    "e": ("insert into raw.e values (3, -1)", "kinds.k_expression: expression(amount >= 0) failed on 1 row, e.g. id=3"),
    "c": ("insert into raw.c values (3)", "kinds.k_rows: row_count(max 2) failed: the model has 3 rows"),
    "g": (
        "insert into raw.g values (2, 'c')",
        "kinds.k_grain: grain unique(id) failed on 1 duplicated value, e.g. id=2 (2 rows)",
    ),
    "gn": (
        "insert into raw.gn values (null, 'c')",
        "kinds.k_grain_null: grain not_null(id) failed on 1 row, e.g. id=NULL",
    ),
    "cb": (
        "insert into raw.cb values (3, 'a', 2)",
        "kinds.k_combo: unique(a, b) failed on 1 duplicated value, e.g. a='a', b=2 (2 rows)",
    ),
    "vw": ("insert into raw.vw values (2, null)", "kinds.k_view: not_null(v) failed on 1 row, e.g. id=2"),
}


def test_each_test_kind_blocks_on_bad_data_and_keeps_the_old_table(conn: Connection, write_models: ModelWriter) -> None:
    project = load_project(write_models(KIND_MODELS))
    conn.execute("create schema raw")
    for ddl in GOOD.values():
        conn.execute(ddl)
    first = build_models(conn, project)
    assert first.ok, first.first_problem()
    before = {name: rows(conn, name) for name in project.order}

    for statement, _ in BAD.values():
        conn.execute(statement)
    conn.execute("insert into raw.w values (2, 'not x')")
    conn.execute("insert into raw.p values (3)")  # the parent changes too, and must be swapped in
    result = build_models(conn, project)

    assert result.exit_code == EXIT_TESTS_FAILED
    by_name = {m.model: m for m in result.models}
    for _, message in BAD.values():
        model = message.split(":", 1)[0]
        assert by_name[model].status == "test_failed", model
        assert [t.message for t in by_name[model].failed_tests] == [message]
        assert by_name[model].error == message
    assert by_name["kinds.k_downstream"].status == "skipped"
    assert "kinds.k_expression failed" in (by_name["kinds.k_downstream"].error or "")
    for name in (m for m, r in by_name.items() if r.status != "success" and m != "kinds.k_view"):
        assert rows(conn, name) == before[name], f"{name} changed although its build was blocked"
    # a warning does not block: the new rows are in, and the warning names the offending key
    warn = by_name["kinds.k_warn"]
    assert warn.status == "success"
    assert [t.message for t in warn.warned_tests] == [
        "kinds.k_warn: accepted_values(v) failed on 1 row, e.g. id=2, v='not x'"
    ]
    assert rows(conn, "kinds.k_warn") == [(1, "x"), (2, "not x")]
    assert rows(conn, "kinds.k_parent") == [(1,), (2,), (3,)]
    assert leftovers(conn) == []
    first_failed = next(m for m in result.models if m.status == "test_failed")
    assert result.first_problem() == first_failed.error


def test_missing_inputs_fail_the_model_and_skip_what_reads_it(duckdb_target: Target) -> None:
    project = load_project(FIXTURE_MODELS)
    with duckdb_target.connect() as conn:
        result = build_models(conn, project)
        assert result.exit_code == EXIT_MODEL_ERROR
        by_name = {m.model: m for m in result.models}
        assert by_name["staging.stg_contacts"].status == "error"
        assert by_name["staging.stg_contacts"].error.startswith(
            "staging.stg_contacts reads raw.contacts, which does not exist in the warehouse: load it first"
        )
        assert statuses(result)["marts.dim_contacts"] == "skipped"
        create_raw(conn)
        alone = build_models(conn, project, ["marts.fct_appointments"])
        assert [m.model for m in alone.models] == ["marts.fct_appointments"]
        assert alone.models[0].error == (
            "marts.fct_appointments reads staging.stg_appointments, which is not built yet: "
            "build it too (--select +marts.fct_appointments)"
        )
        upstream_too = build_models(conn, project, ["+marts.fct_appointments"])
        assert upstream_too.ok
        # relationships tests whose other model was never built cannot run yet: they are skipped, with a note
        skipped = [t.message for m in upstream_too.models for t in m.tests if t.status == "skipped"]
        assert skipped == [
            "staging.stg_appointments: relationships(contact_id -> staging.stg_contacts.contact_id) not run: "
            "staging.stg_contacts is not in the warehouse yet",
            "marts.fct_appointments: relationships(contact_id -> marts.dim_contacts.contact_id) not run: "
            "marts.dim_contacts is not in the warehouse yet",
        ]
        assert upstream_too.models[0].warnings == [skipped[0]]


def test_runtime_errors_and_column_rules(duckdb_target: Target, write_models: ModelWriter) -> None:
    root = write_models(
        {
            "s/bad_sql.sql": model_file("select id, no_such_column from raw.t"),
            "s/camel.sql": model_file('select id, name as "Name" from raw.t'),
            "s/no_grain.sql": model_file("select name from raw.t"),
            "s/ghost.sql": model_file("select id from raw.t", extra="columns:\n  id: The id.\n  ghost: Not there."),
            "s/fine.sql": model_file("select id, name from raw.t", extra="columns:\n  id: The id."),
        }
    )
    with duckdb_target.connect() as conn:
        conn.execute("create schema raw")
        conn.execute("create table raw.t as select 1 as id, 'a' as name")
        result = build_models(conn, load_project(root))
    errors = {m.model: m.error for m in result.models}
    assert errors["s.bad_sql"].startswith("s.bad_sql failed to build: Binder Error:")
    assert "no_such_column" in errors["s.bad_sql"] or "not found" in errors["s.bad_sql"]
    assert errors["s.camel"].startswith("s.camel produces column 'Name', which is not lower-case snake_case")
    assert errors["s.no_grain"].startswith("s.no_grain: grain column id is not in the result")
    assert (
        errors["s.ghost"]
        == f"{root / 's' / 'ghost.sql'}:7: s.ghost documents column ghost, which the SELECT does not produce"
    )
    fine = next(m for m in result.models if m.model == "s.fine")
    assert fine.status == "success"
    assert fine.warnings == ["1 columns have no description: name"]


def test_run_atomicity_rolls_back_every_model(conn: Connection) -> None:
    create_raw(conn)
    project = load_project(FIXTURE_MODELS)
    assert build_models(conn, project).ok
    before = {name: rows(conn, name) for name in project.order}
    conn.execute("insert into raw.contacts values (5, 10, 'New', null, null, null, null)")
    conn.execute("insert into raw.appointments values (200, 10, 5, 'Completed', '2024-06-01 10:00', 30, -3)")
    result = build_models(conn, project, atomic="run")
    assert statuses(result) == {
        "staging.stg_contacts": "rolled_back",
        "staging.stg_appointments": "rolled_back",
        "marts.fct_appointments": "test_failed",
        "marts.dim_contacts": "skipped",
        "reports.organization_monthly": "skipped",
    }
    assert result.exit_code == EXIT_TESTS_FAILED
    assert {name: rows(conn, name) for name in project.order if name != "staging.stg_contacts"} == {
        name: before[name] for name in project.order if name != "staging.stg_contacts"
    }
    assert conn.query("select count(*) from staging.stg_appointments") == [(8,)]
    assert not conn.in_transaction


def test_fail_fast_stops_at_the_first_failure(duckdb_target: Target, write_models: ModelWriter) -> None:
    root = write_models(
        {"a/first.sql": model_file("select id from raw.missing"), "b/second.sql": model_file("select 1 as id")}
    )
    result = build_models(duckdb_target, load_project(root), fail_fast=True)
    assert statuses(result) == {"a.first": "error", "b.second": "skipped"}
    assert "the run stopped" in (result.models[1].error or "")
    assert "1 failed, 1 skipped" in result.summary()


def test_render_problems_stop_the_build_before_it_starts(postgres_target: Target, write_models: ModelWriter) -> None:
    from warehouse.models import ProjectError

    root = write_models(
        {
            "s/a.sql": model_file("select id, try_cast(v as int) as n from raw.t"),
            "s/b.sql": model_file("select id, arg_max(v, id) as m from raw.t group by id"),
            "s/c.sql": model_file(
                "select id from raw.t", extra='tests:\n  - expression: "id::int = try_cast(id as int)"'
            ),
        }
    )
    with postgres_target.connect() as conn, pytest.raises(ProjectError) as caught:
        build_models(conn, load_project(root))
    problems = caught.value.problems
    assert len(problems) == 3
    assert problems[0].startswith("model s.a (") and "try_cast()" in problems[0]
    assert problems[1].startswith("model s.b (") and "calls arg_max" in problems[1]
    assert problems[2].startswith("test expression(id::int = try_cast(id as int)) of s.c (")
    with postgres_target.connect() as conn:
        assert conn.query("select count(*) from information_schema.schemata where schema_name = 's'") == [(0,)]


def test_target_password_never_in_results(postgres_url: str, write_models: ModelWriter) -> None:
    from warehouse.target import parse_target

    url = postgres_url.replace("postgres:postgres@", "postgres:Sup3r-Secret@")
    root = write_models({"s/a.sql": model_file("select id from raw.missing")})
    result = build_models(parse_target(url), load_project(root))
    assert "Sup3r-Secret" not in repr(result) and "Sup3r-Secret" not in result.summary()
    assert "***" in result.target


def test_build_result_summary_and_problem_line(duckdb_target: Target) -> None:
    result = build_models(duckdb_target, load_project(FIXTURE_MODELS))
    assert result.summary().startswith("0 built, 2 failed, 3 skipped in ")
    assert result.first_problem().startswith("staging.stg_contacts reads raw.contacts")
    assert Path(str(duckdb_target.path)).exists()


def test_a_connection_inside_a_transaction_is_refused(duckdb_target: Target) -> None:
    with duckdb_target.connect() as conn, conn.transaction(), pytest.raises(ValueError, match="outside a transaction"):
        build_models(conn, load_project(FIXTURE_MODELS))
