"""A local stand-in for serviceminder: a deterministic synthetic brand served over loopback HTTP.

Imported only by the tests, the benchmarks, the demo and ``smw sandbox``. Names are loaded on first use, so that
importing ``pipelines.sandbox.command`` (which ``smw --help`` does) does not generate or import anything heavy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.sandbox.brand import Brand, Deletion
    from pipelines.sandbox.csv_format import render_csv
    from pipelines.sandbox.faults import Faults
    from pipelines.sandbox.feed_queue import FeedQueue
    from pipelines.sandbox.server import Sandbox, Truth

_EXPORTS = {
    "Sandbox": "server",
    "Truth": "server",
    "Faults": "faults",
    "FeedQueue": "feed_queue",
    "Brand": "brand",
    "Deletion": "brand",
    "render_csv": "csv_format",
}

__all__ = ["Brand", "Deletion", "Faults", "FeedQueue", "Sandbox", "Truth", "render_csv"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
