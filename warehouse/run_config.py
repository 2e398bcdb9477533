"""Settings of ``smw run``: dlt configuration (``.dlt/config.toml``, ``.dlt/secrets.toml``, env vars) and the warehouse.

Everything a nightly run keeps on disk lives beside the warehouse, so the job is self-contained and two warehouses
never share state. For ``duckdb:///data/serviceminder.duckdb``:

- ``data/serviceminder.duckdb.lock``: the run lock;
- ``data/pipelines/serviceminder/``: dlt's working folder (state, schemas, pending load packages);
- ``data/serviceminder_marts.duckdb``: the published read-only copy BI tools open;
- ``data/docs/index.html``: the model catalog.

For PostgreSQL, dlt's working folder is ``data/pipelines/<host>_<port>_<database>/`` and the catalog ``data/docs``,
relative to the working directory. Each can be set in ``[nightly]`` (env ``NIGHTLY__<NAME>``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pipelines.serviceminder.client import RetryPolicy
from pipelines.serviceminder.download_source import DEFAULT_OVERLAP_DAYS
from pipelines.serviceminder.downloads import DownloadSettings
from pipelines.serviceminder.kinds import ALL_KINDS, DEFAULT_EVENT_COUNT, Kind, with_token_overrides
from warehouse.publish import SWAP_WAIT_SECONDS
from warehouse.target import Target, parse_target

DEFAULT_FULL_REFRESH_DAYS = 7
DEFAULT_MODELS_DIR = "sql_models"
T = TypeVar("T")


class ConfigError(Exception):
    """A setting that cannot be used; the message names it."""


@dataclass(frozen=True)
class RunConfig:
    target: Target
    models_dir: Path
    pipelines_dir: Path
    docs_dir: Path
    publish_path: Path | None  # DuckDB: the published copy; None on PostgreSQL (marts are swapped in place)
    lock_path: Path | None  # DuckDB: the lock file; None on PostgreSQL (advisory lock)
    full_refresh_days: int = DEFAULT_FULL_REFRESH_DAYS  # 0: only when asked or when the feed found a gap
    overlap_days: int = DEFAULT_OVERLAP_DAYS
    event_count: int = DEFAULT_EVENT_COUNT
    max_events: int | None = None
    downloads: DownloadSettings = field(default_factory=DownloadSettings)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 60.0
    org_level: bool = False
    user_id: str | None = None
    path_overrides: dict[str, str] = field(default_factory=dict)
    kinds: tuple[Kind, ...] = ALL_KINDS  # with [sources.serviceminder.kind_tokens] applied
    publish_wait: float = SWAP_WAIT_SECONDS  # PostgreSQL: seconds the swap waits for queries reading the marts


def load_run_config(
    warehouse: str | None = None, *, models_dir: str | Path | None = None, base_dir: Path | None = None
) -> RunConfig:
    """Read the settings; ``warehouse`` is ``--warehouse`` (else ``$SMW_WAREHOUSE``, else the DuckDB default)."""
    base = base_dir or Path.cwd()
    target = parse_target(warehouse, base_dir=base)
    if target.dialect == "duckdb" and target.path is None:
        raise ConfigError("smw run needs a DuckDB file, not :memory: (dlt loads into a file): fix --warehouse")
    data_dir = target.path.parent if target.path is not None else base / "data"
    stem = target.path.stem if target.path is not None else _pg_label(target.url)

    def path(key: str, default: Path) -> Path:
        value = _get(f"nightly.{key}", str)
        if not value:
            return default
        p = Path(value).expanduser()
        return p if p.is_absolute() else base / p

    full_refresh_days = _get("nightly.full_refresh_days", int, DEFAULT_FULL_REFRESH_DAYS)
    if full_refresh_days < 0:
        raise ConfigError("nightly.full_refresh_days must be 0 (never by schedule) or more days")
    max_events = _get("nightly.max_events", int, 0)
    publish_wait = _get("nightly.publish_wait", float, SWAP_WAIT_SECONDS)
    if publish_wait < 0:
        raise ConfigError(
            f"the setting nightly.publish_wait (env NIGHTLY__PUBLISH_WAIT) must be 0 or more; it is {publish_wait}"
        )
    downloads = DownloadSettings(
        max_in_flight=_positive("nightly.max_in_flight", int, DownloadSettings.max_in_flight),
        poll_interval=_positive("nightly.poll_interval", float, DownloadSettings.poll_interval),
        ready_timeout=_positive("nightly.ready_timeout", float, DownloadSettings.ready_timeout),
    )
    retry = RetryPolicy(
        max_attempts=_positive("sources.serviceminder.retry_attempts", int, RetryPolicy.max_attempts),
        base_delay=_positive("sources.serviceminder.retry_base_delay", float, RetryPolicy.base_delay),
        max_delay=_positive("sources.serviceminder.retry_max_delay", float, RetryPolicy.max_delay),
        max_retry_after=_positive("sources.serviceminder.max_retry_after", float, RetryPolicy.max_retry_after),
    )
    org_level = _get("sources.serviceminder.org_level", bool, False)
    user_id = _get("sources.serviceminder.user_id", str)
    paths = _get("sources.serviceminder.paths", dict) or {}
    tokens = _get("sources.serviceminder.kind_tokens", dict) or {}
    try:
        kinds = with_token_overrides(ALL_KINDS, {str(k): str(v) for k, v in dict(tokens).items()})
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return RunConfig(
        target=target,
        models_dir=Path(models_dir) if models_dir else path("models_dir", base / DEFAULT_MODELS_DIR),
        pipelines_dir=path("pipelines_dir", data_dir / "pipelines" / stem),
        docs_dir=path("docs_dir", data_dir / "docs"),
        publish_path=(
            path("publish_path", target.path.with_name(f"{stem}_marts.duckdb")) if target.path is not None else None
        ),
        lock_path=target.path.with_name(target.path.name + ".lock") if target.path is not None else None,
        full_refresh_days=full_refresh_days,
        overlap_days=_get("nightly.overlap_days", int, DEFAULT_OVERLAP_DAYS),
        event_count=_positive("nightly.event_count", int, DEFAULT_EVENT_COUNT),
        max_events=max_events or None,
        downloads=downloads,
        retry=retry,
        timeout=_positive("sources.serviceminder.timeout", float, 60.0),
        org_level=bool(org_level),
        user_id=str(user_id) if user_id else None,
        path_overrides={str(k): str(v) for k, v in dict(paths).items()},
        kinds=kinds,
        publish_wait=publish_wait,
    )


def _pg_label(url: str) -> str:
    parts = urlsplit(url)
    database = parts.path.strip("/") or "postgres"
    return f"{parts.hostname or 'localhost'}_{parts.port or 5432}_{database}"


def _get(key: str, kind: type[T], default: Any = None) -> Any:
    import dlt
    from dlt.common.configuration.exceptions import ConfigValueCannotBeCoercedException

    try:
        value = dlt.config.get(key, kind)
    except ConfigValueCannotBeCoercedException:
        env = key.upper().replace(".", "__")
        raise ConfigError(
            f"the setting {key} (env {env}) is not a valid {kind.__name__}: fix it in .dlt/config.toml or the "
            "environment"
        ) from None
    return default if value is None else value


def _positive(key: str, kind: type[T], default: Any) -> Any:
    value = _get(key, kind, default)
    if value <= 0:
        env = key.upper().replace(".", "__")
        raise ConfigError(f"the setting {key} (env {env}) must be more than 0; it is {value}")
    return value
