"""``make bench``: run every benchmark, print each figure beside its anchor, write bench/results.json.

Select some with ``python -m bench downloads feed``; the default runs them all.
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
from pathlib import Path

from bench.common import Figure

BENCHES = ["downloads", "feed", "models"]
RESULTS = Path(__file__).resolve().parent / "results.json"


def _print(figure: Figure) -> None:
    ratio = f"{figure.ratio:6.2f}x" if figure.ratio is not None else "       "
    anchor = f"{figure.anchor_value:10.2f}" if figure.anchor_value is not None else " " * 10
    print(
        f"{figure.name:<58} {figure.value:10.2f} {figure.unit:<8} | {figure.anchor:<40} {anchor} | {ratio}"
        f" {figure.target}",
        flush=True,
    )


def _from_dict(entry: dict) -> Figure:
    known = {k: entry[k] for k in ("name", "value", "unit", "anchor", "anchor_value", "target") if k in entry}
    return Figure(**known)


def main(argv: list[str]) -> int:
    selected = argv or BENCHES
    figures: list[Figure] = []
    for name in selected:
        module = importlib.import_module(f"bench.bench_{name}")
        print(f"== {name}", flush=True)
        for entry in module.run():
            figure = entry if isinstance(entry, Figure) else _from_dict(entry)
            _print(figure)
            figures.append(figure)
    RESULTS.write_text(
        json.dumps(
            {
                "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "machine": platform.platform(),
                "figures": [f.to_dict() for f in figures],
            },
            indent=2,
        )
    )
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
