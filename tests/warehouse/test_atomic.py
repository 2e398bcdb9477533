"""Atomic swaps: readers in other connections never see a missing or empty relation during rebuilds; on PostgreSQL,
views that read a rebuilt table (an analyst's own, or a model) and grants survive the swap."""

from __future__ import annotations

import threading
import uuid

import pytest

from tests.warehouse.conftest import ModelWriter
from tests.warehouse.helpers import model_file
from tests.warehouse.raw_data import FIXTURE_MODELS, create_raw
from warehouse.build import build_models
from warehouse.models import load_project
from warehouse.target import Connection, Target

REBUILDS = 8


def test_a_reader_never_sees_a_gap_during_rebuilds(target: Target, conn: Connection) -> None:
    create_raw(conn)
    project = load_project(FIXTURE_MODELS)
    assert build_models(conn, project).ok
    expected = {"marts.fct_appointments": 8, "staging.stg_contacts": 4, "marts.dim_contacts": 4}
    stop, building = threading.Event(), threading.Event()
    problems: list[str] = []
    polls = {"total": 0, "during_builds": 0}
    first_poll = threading.Event()

    def read() -> None:
        with target.connect() as reader:
            while not stop.is_set():
                during = building.is_set()
                for relation, count in expected.items():
                    try:
                        seen = reader.query(f"select count(*) from {relation}")[0][0]
                    except Exception as exc:  # noqa: BLE001 - any error is what this test looks for
                        problems.append(f"{relation}: {type(exc).__name__}: {exc}")
                        continue
                    if seen != count:
                        problems.append(f"{relation}: {seen} rows instead of {count}")
                polls["total"] += 1
                polls["during_builds"] += during and building.is_set()
                first_poll.set()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    assert first_poll.wait(timeout=30)
    building.set()
    try:
        for _ in range(REBUILDS):
            result = build_models(conn, project)
            assert result.ok, result.first_problem()
    finally:
        building.clear()
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert problems == []
    assert polls["during_builds"] >= REBUILDS, polls  # the reader really ran while the builds swapped tables


@pytest.fixture
def reader_role(postgres_target: Target):
    """A role that exists only for this test (roles are cluster-wide in PostgreSQL)."""
    name = f"smw_reader_{uuid.uuid4().hex[:8]}"
    with postgres_target.connect() as admin:
        admin.execute(f"create role {name}")
    yield name
    with postgres_target.connect() as admin:
        admin.execute(f"drop owned by {name}")
        admin.execute(f"drop role {name}")


def test_postgres_keeps_dependent_views_comments_and_grants(
    postgres_target: Target, reader_role: str, write_models: ModelWriter
) -> None:
    root = write_models(
        {
            "marts/fct.sql": model_file("select id, amount from raw.t"),
            "marts/v_big.sql": model_file("select id from marts.fct where amount > 10", materialized="view"),
        }
    )
    project = load_project(root)
    with postgres_target.connect() as conn:
        conn.execute("create schema raw")
        conn.execute("create table raw.t as select * from (values (1, 5), (2, 50)) as t(id, amount)")
        assert build_models(conn, project).ok
        # an analyst's view on the mart, a view on that view, comments and grants
        conn.execute("create schema analysis")
        conn.execute("create view analysis.totals as select sum(amount) as total from marts.fct")
        conn.execute("create view analysis.doubled as select total * 2 as doubled from analysis.totals")
        conn.execute("comment on view analysis.totals is 'Analyst total.'")
        conn.execute("comment on column analysis.totals.total is 'Sum of amounts.'")
        for relation in ("marts.fct", "marts.v_big", "analysis.totals", "analysis.doubled"):
            conn.execute(f"grant select on {relation} to {reader_role}")
        conn.execute("insert into raw.t values (3, 100)")

        result = build_models(conn, project, ["marts.fct"])
        assert result.ok, result.first_problem()

        assert conn.query("select total from analysis.totals") == [(155,)]
        assert conn.query("select doubled from analysis.doubled") == [(310,)]
        assert conn.query("select id from marts.v_big order by id") == [(2,), (3,)]
        assert conn.query("select obj_description('analysis.totals'::regclass, 'pg_class')") == [("Analyst total.",)]
        assert conn.query("select col_description('analysis.totals'::regclass, 1)") == [("Sum of amounts.",)]
        for relation in ("marts.fct", "marts.v_big", "analysis.totals", "analysis.doubled"):
            assert conn.query("select has_table_privilege(%s, %s, 'select')", (reader_role, relation)) == [(True,)]


def test_postgres_refuses_a_rebuild_that_would_break_a_view(postgres_target: Target, write_models: ModelWriter) -> None:
    root = write_models({"marts/fct.sql": model_file("select id, amount from raw.t")})
    with postgres_target.connect() as conn:
        conn.execute("create schema raw")
        conn.execute("create table raw.t as select * from (values (1, 5)) as t(id, amount)")
        assert build_models(conn, load_project(root)).ok
        conn.execute("create view public.uses_amount as select amount from marts.fct")
        (root / "marts" / "fct.sql").write_text(model_file("select id from raw.t"))
        result = build_models(conn, load_project(root))
        assert result.models[0].status == "error"
        assert result.models[0].error.startswith(
            "rebuilding marts.fct drops view public.uses_amount, which cannot be recreated on the new version"
        )
        assert result.models[0].error.endswith("fix or drop that view, then build again")
        assert conn.columns("marts", "fct") == ["id", "amount"]  # the old version stays
        assert conn.query("select amount from public.uses_amount") == [(5,)]
