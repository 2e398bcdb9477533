"""The brand's event feed as the sandbox keeps it: an ordered queue with monotonically growing event Ids.

Fetching does not remove events; clearing removes every event whose Id is <= the given Id; serviceminder may purge
events that nobody cleared (``purge_oldest``). Thread-safe: the HTTP handler threads and the tests share it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

FIRST_EVENT_ID = 4_870_001  # 7 digits, like the ids serviceminder's documented example shows


class FeedQueue:
    def __init__(self, first_id: int = FIRST_EVENT_ID) -> None:
        self._events: deque[dict[str, Any]] = deque()
        self._next_id = first_id
        self._lock = threading.Lock()
        self._after_fetch: list[Callable[[], None]] = []

    def enqueue(self, payloads: Iterable[dict[str, Any]]) -> list[int]:
        """Append events (payloads without ``Id``); returns the Ids given to them, in order."""
        ids = []
        with self._lock:
            for payload in payloads:
                event = {"Id": self._next_id, **{k: v for k, v in payload.items() if k != "Id"}}
                self._events.append(event)
                ids.append(self._next_id)
                self._next_id += 1
        return ids

    def pending(self) -> list[dict[str, Any]]:
        """Copies of every event still in the queue, oldest first."""
        with self._lock:
            return [dict(e) for e in self._events]

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def fetch(self, count: int, clear_through: int | None = None) -> list[dict[str, Any]]:
        """Clear through ``clear_through`` first (when given), then return copies of the oldest ``count`` events."""
        with self._lock:
            if clear_through is not None:
                self._clear_locked(clear_through)
            return [dict(e) for _, e in zip(range(count), self._events, strict=False)]

    def clear(self, through: int) -> int:
        """Remove every event whose Id is <= ``through``; returns how many were removed."""
        with self._lock:
            return self._clear_locked(through)

    def purge_oldest(self, n: int) -> int:
        """Drop the ``n`` oldest events, fetched or not, as serviceminder may do with uncleared events."""
        with self._lock:
            removed = 0
            while self._events and removed < n:
                self._events.popleft()
                removed += 1
            return removed

    def on_next_fetch(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once, right after the next fetch response is built (before it is sent)."""
        with self._lock:
            self._after_fetch.append(callback)

    def run_after_fetch_callbacks(self) -> None:
        """Called by the server once a fetch response is built; callbacks run outside the lock."""
        with self._lock:
            callbacks, self._after_fetch = self._after_fetch, []
        for callback in callbacks:
            callback()

    def _clear_locked(self, through: int) -> int:
        removed = 0
        # Ids ascend along the deque, so everything to clear sits at its head.
        while self._events and self._events[0]["Id"] <= through:
            self._events.popleft()
            removed += 1
        return removed
