"""``read_ahead``: the next page is made on another thread while the caller holds this one."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from pipelines.serviceminder.download_source import read_ahead


def test_items_come_in_order_and_the_next_is_made_while_the_caller_holds_one() -> None:
    made: list[tuple[int, str]] = []
    numbers = iter(range(3))

    def next_item() -> int | None:
        item = next(numbers, None)
        made.append((item, threading.current_thread().name))
        return item

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ahead") as fetcher:
        seen = []
        for item in read_ahead(next_item, fetcher):
            fetcher.submit(lambda: None).result()  # the queue is drained: the next item has been made by now
            seen.append((item, len(made)))
    assert seen == [(0, 2), (1, 3), (2, 4)]
    assert all(name.startswith("ahead") for _, name in made)


def test_an_error_while_making_the_next_item_is_raised_in_the_caller() -> None:
    class Broken(Exception):
        pass

    calls = iter([1, Broken("the page cannot be read")])

    def next_item() -> int | None:
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    with ThreadPoolExecutor(max_workers=1) as fetcher:
        items = read_ahead(next_item, fetcher)
        assert next(items) == 1
        with pytest.raises(Broken, match="cannot be read"):
            next(items)


def test_closing_early_stops_the_item_in_the_making_and_waits_for_it() -> None:
    stopped = threading.Event()
    finished: list[str] = []

    def next_item() -> str | None:
        if finished:  # the second call: blocks like a download that is still being prepared, until stopped
            stopped.wait(timeout=10)  # only a broken read_ahead waits this long
        finished.append("item")
        return "page"

    with ThreadPoolExecutor(max_workers=1) as fetcher:
        items = read_ahead(next_item, fetcher, stop=stopped.set)
        assert next(items) == "page"
        items.close()  # e.g. another kind failed and dlt closes every resource
        assert stopped.is_set()
        assert finished == ["item", "item"], "the item in the making finished before close returned"
