"""Publishing on PostgreSQL: marts and reports swapped in one transaction, a reader role, grants and views kept.

One database for the module: run 1 publishes; then a BI role is granted and an analyst builds a view on the
marts; run 2 publishes new data while that role reads the marts in a loop from another connection; run 3 has a
failing blocking data test and must leave the marts as run 2 published them.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import psycopg2
import pytest

from pipelines.sandbox import Sandbox
from tests.nightly.conftest import KEY, TODAY, Ran, failing_models, make_config, nightly
from tests.warehouses import fresh_database
from warehouse.nightly import EXIT_FAILED, EXIT_OK, EXIT_TESTS_FAILED
from warehouse.publish import GrantError, grant_reader
from warehouse.target import parse_target

pytestmark = pytest.mark.postgres
PASSWORD = "bi-password-1"


@dataclass
class Reads:
    """What the BI role saw while run 2 swapped the marts."""

    counts: list[tuple[int, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class PgHistory:
    url: str
    role: str
    runs: list[Ran]
    before_run_2: tuple[int, int]
    after_run_2: tuple[int, int]
    reads: Reads
    sandbox: Sandbox


def role_url(url: str, role: str) -> str:
    database = url.rsplit("/", 1)[1]
    return f"postgresql://{role}:{PASSWORD}@127.0.0.1:5432/{database}"


def bi_connection(url: str, role: str) -> psycopg2.extensions.connection:
    # not `with psycopg2.connect(...)`: that block is one transaction whatever autocommit says
    conn = psycopg2.connect(role_url(url, role))
    conn.autocommit = True
    return conn


def counts(cur) -> tuple[int, int]:
    # one statement, one snapshot: a mart and a report that must come from the same run
    cur.execute(
        "select (select count(*) from marts.fct_feed_events), (select count(*) from reports.organization_monthly)"
    )
    events, months = cur.fetchone()
    return events, months


@pytest.fixture(scope="module")
def pg_history(tmp_path_factory: pytest.TempPathFactory, postgres_admin_dsn: str) -> Iterator[PgHistory]:
    base = tmp_path_factory.mktemp("pg_history")
    role = f"smw_bi_{uuid.uuid4().hex[:8]}"
    with fresh_database(postgres_admin_dsn) as url:
        try:
            yield _history(url, role, base)
        finally:
            admin = psycopg2.connect(postgres_admin_dsn)
            admin.autocommit = True
            with admin.cursor() as cur:
                cur.execute(f"select pg_terminate_backend(pid) from pg_stat_activity where usename = '{role}'")
            admin.close()
    admin = psycopg2.connect(postgres_admin_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'drop role if exists "{role}"')
    admin.close()


def _history(url: str, role: str, base: Path) -> PgHistory:
    config = make_config(url, base)
    with Sandbox(api_key=KEY, seed=5, appointments=250, today=TODAY, page_size=5_000) as sandbox:
        runs = [nightly(config, sandbox)]
        with parse_target(url).connect() as conn:
            grant_reader(conn, role, password=PASSWORD)
            conn.execute("create schema analytics")
            conn.execute(
                "create view analytics.events_per_org as "
                "select organization_id, count(*) as events from marts.fct_feed_events group by organization_id"
            )
            conn.execute("comment on view analytics.events_per_org is 'feed events per organization'")
            conn.execute(f'grant usage on schema analytics to "{role}"')
            conn.execute(f'grant select on analytics.events_per_org to "{role}"')
        bi = bi_connection(url, role)
        with bi.cursor() as cur:
            before = counts(cur)
        sandbox.advance_days(2)

        reads, stop = Reads(), threading.Event()

        def read_in_a_loop() -> None:
            conn = bi_connection(url, role)  # autocommit: one snapshot per query, as a BI tool's queries
            with conn.cursor() as cur:
                while not stop.is_set():
                    try:
                        reads.counts.append(counts(cur))
                    except psycopg2.Error as exc:
                        reads.errors.append(str(exc).strip())
            conn.close()

        reader = threading.Thread(target=read_in_a_loop)
        reader.start()
        try:
            runs.append(nightly(config, sandbox))
        finally:
            stop.set()
            reader.join(timeout=30)
        with bi.cursor() as cur:
            after = counts(cur)
        bi.close()
        sandbox.advance_days(1)
        runs.append(nightly(replace(config, models_dir=failing_models(base)), sandbox))
        return PgHistory(url, role, runs, before, after, reads, sandbox)


def test_runs_publish_and_a_failing_test_exits_3(pg_history: PgHistory) -> None:
    assert [r.exit_code for r in pg_history.runs] == [EXIT_OK, EXIT_OK, EXIT_TESTS_FAILED], [
        r.result.message for r in pg_history.runs
    ]
    assert "reports.no_appointments_allowed" in pg_history.runs[2].result.message
    assert "__smw" not in pg_history.runs[2].result.message, "messages name the marts as users know them"


def test_readers_never_see_a_gap_or_a_mix_during_the_swap(pg_history: PgHistory) -> None:
    reads = pg_history.reads
    assert reads.errors == []
    assert len(reads.counts) > 20, "the reader should have queried all through the run"
    assert set(reads.counts) <= {pg_history.before_run_2, pg_history.after_run_2}
    assert reads.counts[0] == pg_history.before_run_2 and reads.counts[-1] == pg_history.after_run_2
    assert pg_history.after_run_2[0] > pg_history.before_run_2[0] == 0


def test_a_failing_data_test_keeps_the_published_marts(pg_history: PgHistory) -> None:
    conn = bi_connection(pg_history.url, pg_history.role)
    with conn.cursor() as cur:
        assert counts(cur) == pg_history.after_run_2
    conn.close()
    with parse_target(pg_history.url).connect() as conn:
        assert conn.query("select count(*) from raw.feed_events")[0][0] > pg_history.after_run_2[0]
        schemas = {r[0] for r in conn.query("select nspname from pg_namespace")}
        status = conn.query("select status from meta.runs order by started_at desc limit 1")[0][0]
    assert not [s for s in schemas if "__smw" in s], "no side or old schema is left behind"
    assert status == "tests_failed"


def test_the_reader_role_reads_marts_and_reports_and_nothing_else(pg_history: PgHistory) -> None:
    conn = bi_connection(pg_history.url, pg_history.role)
    with conn.cursor() as cur:
        cur.execute("select count(*) from dim_contacts")  # search_path: marts, reports
        assert cur.fetchone()[0] > 0
        cur.execute("select count(*) from reports.organization_monthly")
        assert cur.fetchone()[0] > 0
        for relation in ("raw.contacts", "raw.deletions", "staging.stg_contacts", "meta.runs", "meta.run_lock"):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(f"select count(*) from {relation}")
        with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
            cur.execute("create table marts.mine (x int)")
    conn.close()


def test_the_grants_and_an_analysts_view_survive_every_swap(pg_history: PgHistory) -> None:
    conn = bi_connection(pg_history.url, pg_history.role)
    with conn.cursor() as cur:
        cur.execute("select sum(events) from analytics.events_per_org")
        assert cur.fetchone()[0] == pg_history.after_run_2[0], "the view reads the new marts"
    conn.close()
    with parse_target(pg_history.url).connect() as conn:
        comment = conn.query("select obj_description('analytics.events_per_org'::regclass, 'pg_class')")[0][0]
    assert comment == "feed events per organization"


def test_grant_reader_refuses_roles_it_must_not_touch(postgres_url: str) -> None:
    with parse_target(postgres_url).connect() as conn:
        with pytest.raises(GrantError, match="the role this command connects as"):
            grant_reader(conn, "postgres")
        with pytest.raises(GrantError, match="1 to 63 characters"):
            grant_reader(conn, "x" * 64)


def test_a_swap_that_queries_keep_out_exits_1_and_keeps_the_marts(postgres_url: str, tmp_path: Path) -> None:
    config = make_config(postgres_url, tmp_path, publish_wait=0.0)
    with Sandbox(api_key=KEY, seed=5, appointments=120, today=TODAY, page_size=5_000) as sandbox:
        assert nightly(config, sandbox).exit_code == EXIT_OK
        bi = psycopg2.connect(postgres_url)  # a BI query part-way through a transaction on the marts
        with bi.cursor() as cur:
            cur.execute("select count(*) from marts.fct_feed_events")
            published_events = cur.fetchone()[0]
        sandbox.advance_days(2)
        ran = nightly(config, sandbox)
        bi.rollback()
        bi.close()
    assert ran.exit_code == EXIT_FAILED
    assert "queries kept reading the marts for 0 s" in ran.result.message
    assert "the previous marts were kept" in ran.result.message
    with parse_target(postgres_url).connect() as conn:
        assert conn.query("select count(*) from raw.feed_events")[0][0] > published_events, "run 2 had new data"
        assert conn.query("select count(*) from marts.fct_feed_events")[0][0] == published_events
        assert conn.query("select status from meta.runs order by started_at desc limit 1")[0][0] == "failed"
        left = [r[0] for r in conn.query("select nspname from pg_namespace where nspname like %s", ("%__smw%",))]
    assert left == [], "the unpublished marts are dropped, not left to take space"
