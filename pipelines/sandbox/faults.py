"""Fault injection for the sandbox: which requests get a 429, a 5xx, a dropped connection or a truncated body.

Rates are shares of requests, drawn from a ``random.Random(seed)``, so a given request sequence always meets the
same faults. ``script(...)`` forces the next outcomes in order, regardless of the rates, for deterministic tests.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass, field

OK = "ok"
TRUNCATE = "truncate"
DROP = "drop"
RATE_LIMITED = "429"
RATE_LIMITED_RETRY_AFTER = "429-retry-after"
SERVER_ERRORS = ("500", "502", "503", "504")
OUTCOMES = frozenset({OK, TRUNCATE, DROP, RATE_LIMITED, RATE_LIMITED_RETRY_AFTER, *SERVER_ERRORS})


@dataclass
class Faults:
    """What goes wrong, and how often. Shares are of all requests; ``rate_truncate`` only hits CSV bodies.

    A scripted ``"truncate"`` that reaches the head of the script waits there for the next successful CSV
    ``getdownload``; other requests are answered normally meanwhile (and draw nothing from the rates). While a
    script is pending, no rate-based fault is drawn.
    """

    rate_429: float = 0.0  # half with Retry-After, half without
    rate_5xx: float = 0.0  # 500/502/503/504, evenly
    rate_drop: float = 0.0  # connection closed without a response
    rate_truncate: float = 0.0  # getdownload body cut off mid-line (cleanly terminated, short body)
    slow_ready_polls: int = 0  # extra not-ready status polls on top of the prep delay
    seed: int = 0
    retry_after: int = 1  # seconds sent in Retry-After (keep small: clients really sleep that long outside tests)
    _script: deque[str] = field(default_factory=deque, init=False, repr=False, compare=False)
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._check_rates()

    def script(self, *outcomes: str) -> None:
        """Force the next responses, in order: "429", "429-retry-after", "500", "502", "503", "504", "drop",
        "truncate", "ok". Replaces whatever was still scripted; ``script()`` with nothing clears the script."""
        unknown = [o for o in outcomes if o not in OUTCOMES]
        if unknown:
            raise ValueError(f"unknown fault outcome(s) {unknown}; use some of {sorted(OUTCOMES)}")
        with self._lock:
            self._script = deque(outcomes)

    def decide(self, truncatable: bool) -> str:
        """The outcome for one request. ``truncatable``: the answer would be a CSV body (a ready getdownload)."""
        with self._lock:
            if self._script:
                if self._script[0] == TRUNCATE and not truncatable:
                    return OK
                return self._script.popleft()
            self._check_rates()
            # Always two draws per request, so the sequence does not depend on which branch was taken.
            u, v = self._rng.random(), self._rng.random()
        edge = self.rate_429
        if u < edge:
            return RATE_LIMITED_RETRY_AFTER if v < 0.5 else RATE_LIMITED
        edge += self.rate_5xx
        if u < edge:
            return SERVER_ERRORS[min(int(v * len(SERVER_ERRORS)), len(SERVER_ERRORS) - 1)]
        edge += self.rate_drop
        if u < edge:
            return DROP
        edge += self.rate_truncate
        if u < edge and truncatable:
            return TRUNCATE
        return OK

    def _check_rates(self) -> None:
        rates = {
            "rate_429": self.rate_429,
            "rate_5xx": self.rate_5xx,
            "rate_drop": self.rate_drop,
            "rate_truncate": self.rate_truncate,
        }
        bad = [name for name, rate in rates.items() if not 0.0 <= rate <= 1.0]
        if bad:
            raise ValueError(f"fault rates must be between 0 and 1; fix {', '.join(bad)}")
        if sum(rates.values()) > 1.0 + 1e-9:
            raise ValueError("fault rates add up to more than 1; lower some of them")
        if self.slow_ready_polls < 0:
            raise ValueError("slow_ready_polls must be 0 or more")
