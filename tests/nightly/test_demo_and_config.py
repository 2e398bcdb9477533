"""``make demo`` (run in-process on a small brand) and how ``smw run`` finds its settings and paths."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from tests.nightly.conftest import MODELS_DIR
from warehouse.demo import demo_config, reset, run_demo
from warehouse.run_config import ConfigError, load_run_config


def test_the_demo_runs_twice_and_says_where_everything_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    assert run_demo(Path("data"), appointments=150, models_dir=MODELS_DIR, out=out, err=err, log_format="text") == 0
    text = out.getvalue()
    assert "== first run: everything, in full" in text and "== 2 days later: incremental run" in text
    assert text.count("success in ") == 2
    for expected in ("rows per mart", "marts.fct_invoices", "reports.organization_monthly", "deletions found: ",
                     "last run's timings: pending", "data/demo_marts.duckdb", "data/docs/index.html",
                     "smw status --warehouse duckdb:///data/demo.duckdb"):  # fmt: skip
        assert expected in text, expected
    assert (tmp_path / "data" / "demo_marts.duckdb").exists() and (tmp_path / "data" / "docs" / "index.html").exists()
    assert not re.search(r"demo-[0-9a-f]{24}", text + err.getvalue()), "the demo's key is never printed"

    # a second demo starts afresh (a new sandbox is a new brand): nothing of this one may be left to resume from
    config = demo_config(Path("data"), MODELS_DIR)
    reset(config)
    assert not config.target.path.exists() and not config.publish_path.exists()
    assert not config.pipelines_dir.exists()


def test_everything_lives_beside_the_duckdb_warehouse(tmp_path: Path) -> None:
    config = load_run_config("duckdb:///data/serviceminder.duckdb", base_dir=tmp_path)
    data = tmp_path / "data"
    assert config.target.path == data / "serviceminder.duckdb"
    assert config.lock_path == data / "serviceminder.duckdb.lock"
    assert config.pipelines_dir == data / "pipelines" / "serviceminder"
    assert config.publish_path == data / "serviceminder_marts.duckdb"
    assert config.docs_dir == data / "docs"
    assert config.models_dir == tmp_path / "sql_models"
    assert config.full_refresh_days == 7 and config.event_count == 500 and config.max_events is None


def test_postgres_keeps_its_working_folder_under_data(tmp_path: Path) -> None:
    config = load_run_config("postgresql://u:secret@db.example:6543/brand", base_dir=tmp_path)
    assert config.pipelines_dir == tmp_path / "data" / "pipelines" / "db.example_6543_brand"
    assert config.publish_path is None and config.lock_path is None
    assert "secret" not in repr(config.target)


def test_settings_come_from_dlt_config_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NIGHTLY__FULL_REFRESH_DAYS", "14")
    monkeypatch.setenv("NIGHTLY__PIPELINES_DIR", "/srv/smw/state")
    monkeypatch.setenv("NIGHTLY__PUBLISH_PATH", "bi/marts.duckdb")
    monkeypatch.setenv("NIGHTLY__POLL_INTERVAL", "2.5")
    monkeypatch.setenv("NIGHTLY__MAX_EVENTS", "10000")
    monkeypatch.setenv("NIGHTLY__PUBLISH_WAIT", "300")
    monkeypatch.setenv("SOURCES__SERVICEMINDER__RETRY_ATTEMPTS", "3")
    monkeypatch.setenv("SOURCES__SERVICEMINDER__ORG_LEVEL", "true")
    monkeypatch.setenv("SOURCES__SERVICEMINDER__USER_ID", "42")
    monkeypatch.setenv("SMW_WAREHOUSE", "duckdb:///w/other.duckdb")
    config = load_run_config(base_dir=tmp_path)
    assert config.target.path == tmp_path / "w" / "other.duckdb"
    assert config.full_refresh_days == 14
    assert config.pipelines_dir == Path("/srv/smw/state")
    assert config.publish_path == tmp_path / "bi" / "marts.duckdb"
    assert config.downloads.poll_interval == 2.5 and config.max_events == 10_000
    assert config.retry.max_attempts == 3
    assert config.org_level is True and config.user_id == "42"
    assert config.publish_wait == 300.0


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("NIGHTLY__FULL_REFRESH_DAYS", "-2", "must be 0 (never by schedule) or more days"),
        ("NIGHTLY__POLL_INTERVAL", "0", "nightly.poll_interval (env NIGHTLY__POLL_INTERVAL) must be more than 0"),
        ("NIGHTLY__EVENT_COUNT", "lots", "nightly.event_count (env NIGHTLY__EVENT_COUNT) is not a valid int"),
        ("NIGHTLY__PUBLISH_WAIT", "-1", "nightly.publish_wait (env NIGHTLY__PUBLISH_WAIT) must be 0 or more"),
    ],
)
def test_bad_settings_are_named(
    name: str, value: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_run_config("duckdb:///w.duckdb", base_dir=tmp_path)


def test_kind_names_can_be_corrected_in_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__SERVICEMINDER__KIND_TOKENS", '{"invoice_lines": "branding-invoice-lines"}')
    config = load_run_config("duckdb:///w.duckdb", base_dir=tmp_path)
    tokens = {kind.key: kind.brand_token for kind in config.kinds}
    assert tokens["invoice_lines"] == "branding-invoice-lines"
    assert tokens["contacts"] == "branding-contacts"

    monkeypatch.setenv("SOURCES__SERVICEMINDER__KIND_TOKENS", '{"widgets": "branding-widgets"}')
    with pytest.raises(ConfigError, match="unknown kind.*widgets"):
        load_run_config("duckdb:///w.duckdb", base_dir=tmp_path)


def test_an_in_memory_warehouse_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a DuckDB file"):
        load_run_config("duckdb:///:memory:", base_dir=tmp_path)


def test_grant_reader_on_duckdb_points_to_the_published_copy(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from warehouse.cli import main

    assert main(["grant-reader", "bi", "--warehouse", f"duckdb:///{tmp_path}/w.duckdb"]) == 1
    err = capsys.readouterr().err
    assert "grant-reader is for PostgreSQL warehouses" in err and "published read-only copy" in err
    assert main(["grant-reader", "bi", "--password-env", "SMW_TEST_NO_SUCH_VAR"]) == 2
    assert "SMW_TEST_NO_SUCH_VAR is not set" in capsys.readouterr().err
