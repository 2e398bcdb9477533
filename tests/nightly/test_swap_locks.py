"""The PostgreSQL swap against BI queries that are part-way through reading the marts.

Renaming a schema locks none of its tables, so the swap locks them itself. These tests hold a reader's
transaction open at the awkward moments and check that no statement mixes old and new marts, that a reader is
never cancelled as a deadlock, and that a swap that cannot get in gives up cleanly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from warehouse.models import Project
from warehouse.publish import PublishError, side_schema, swap_schemas
from warehouse.target import parse_target

pytestmark = pytest.mark.postgres
EMPTY_PROJECT = Project(Path("."), {}, {})
OLD, NEW = 1, 2  # rows in each published table before and after the swap


@pytest.fixture
def published(postgres_url: str) -> Iterator[str]:
    """``marts.events`` and ``reports.months`` with one row each, and side schemas with two rows each."""
    with parse_target(postgres_url).connect() as conn:
        for schema, table in (("marts", "events"), ("reports", "months")):
            for name, rows in ((schema, OLD), (side_schema(schema), NEW)):
                conn.execute(f"create schema {name}")
                conn.execute(f"create table {name}.{table} as select generate_series(1, {rows}) as id")
    yield postgres_url


@pytest.fixture
def swap_waiting(caplog: pytest.LogCaptureFixture) -> Iterator[threading.Event]:
    """Set once the swap has found the marts in use and started waiting for them."""
    waiting = threading.Event()

    class Signal(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "waiting for queries" in record.getMessage():
                waiting.set()

    handler = Signal()
    logger = logging.getLogger("warehouse.publish")
    logger.addHandler(handler)
    caplog.set_level(logging.INFO, logger="warehouse.publish")
    yield waiting
    logger.removeHandler(handler)


class SwapInThread:
    def __init__(self, url: str, **kwargs: object) -> None:
        self.error: BaseException | None = None
        self._url, self._kwargs = url, kwargs
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with parse_target(self._url).connect() as conn:
                swap_schemas(conn, EMPTY_PROJECT, token="t", **self._kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc

    def join(self) -> None:
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the swap did not finish"


def reader(url: str) -> psycopg2.extensions.connection:
    return psycopg2.connect(url)  # not autocommit: the reader's transaction stays open between statements


def count(conn: psycopg2.extensions.connection, relation: str) -> int:
    with conn.cursor() as cur:
        cur.execute(f"select count(*) from {relation}")
        return cur.fetchone()[0]


def test_a_reader_part_way_through_the_marts_finishes_on_the_old_ones(
    published: str, swap_waiting: threading.Event
) -> None:
    bi = reader(published)
    assert count(bi, "marts.events") == OLD
    swap = SwapInThread(published)
    assert swap_waiting.wait(timeout=30), "the swap should wait for the reader instead of renaming under it"
    assert count(bi, "reports.months") == OLD, "one reader's statements must not mix old and new marts"
    bi.commit()
    swap.join()
    assert swap.error is None
    assert (count(bi, "marts.events"), count(bi, "reports.months")) == (NEW, NEW)
    bi.close()


def test_a_reader_waiting_on_the_swap_is_not_cancelled_as_a_deadlock(
    published: str, swap_waiting: threading.Event
) -> None:
    # The reader holds the table the swap locks last and then asks for the one it locks first: a lock cycle that
    # PostgreSQL breaks after deadlock_timeout (1 s) by cancelling one side. The swap must back off before then.
    bi = reader(published)
    assert count(bi, "reports.months") == OLD
    swap = SwapInThread(published)
    assert swap_waiting.wait(timeout=30)
    for _ in range(5):  # each read may meet a fresh try of the swap holding marts.events
        assert count(bi, "marts.events") == OLD
    bi.commit()
    swap.join()
    assert swap.error is None
    assert (count(bi, "marts.events"), count(bi, "reports.months")) == (NEW, NEW)
    bi.close()


def test_a_swap_that_cannot_get_in_keeps_the_previous_marts(published: str) -> None:
    bi = reader(published)
    assert count(bi, "marts.events") == OLD
    with parse_target(published).connect() as conn:
        with pytest.raises(PublishError, match="queries kept reading the marts .* the previous marts were kept"):
            swap_schemas(conn, EMPTY_PROJECT, token="t", wait_seconds=0)
        assert not conn.in_transaction
        schemas = {r[0] for r in conn.query("select nspname from pg_namespace")}
    bi.commit()
    assert (count(bi, "marts.events"), count(bi, "reports.months")) == (OLD, OLD)
    assert {"marts__smw_next", "reports__smw_next"} <= schemas, "the new marts are left for the run to discard"
    bi.close()


def test_nothing_to_lock_on_a_first_publish(postgres_url: str) -> None:
    with parse_target(postgres_url).connect() as conn:
        for schema in ("marts", "reports"):
            conn.execute(f"create schema {side_schema(schema)}")
            conn.execute(f"create table {side_schema(schema)}.t as select 1 as id")
        published = swap_schemas(conn, EMPTY_PROJECT, token="t")
    assert published.tables == {"marts.t": 1, "reports.t": 1}
