"""Small helpers for writing model files in tests."""

from __future__ import annotations

from textwrap import dedent


def model_file(select: str, *, grain: str = "id", materialized: str = "table", extra: str = "") -> str:
    """A model file with a minimal header; ``extra`` is more YAML (already indented at column 0)."""
    header = f"description: A test model.\nmaterialized: {materialized}\ngrain: [{grain}]\n{dedent(extra).strip()}"
    return f"/*\n{header.strip()}\n*/\n{dedent(select).strip()}\n"
