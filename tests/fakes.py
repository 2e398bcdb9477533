"""Test doubles for time: a clock whose sleep advances it instantly, so no test waits for real time."""

from __future__ import annotations

import threading


class FakeClock:
    """A monotonic clock shared by the client (``sleep``) and the sandbox (``now``).

    ``sleep(s)`` returns at once and moves the clock forward by ``s``; ``slept`` records every call so tests can
    check backoff and ``Retry-After`` handling.
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self._now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
