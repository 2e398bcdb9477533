"""`smw build`, `smw test`, `smw models` and `smw docs`: output, exit codes, one clear error line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.warehouse.conftest import ModelWriter
from tests.warehouse.helpers import model_file
from tests.warehouse.raw_data import FIXTURE_MODELS, create_raw
from warehouse.cli import main
from warehouse.target import parse_target


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path}/w.duckdb"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_models_lists_the_build_order(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "models", "--models-dir", str(FIXTURE_MODELS))
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"5 models in build order ({FIXTURE_MODELS}):"
    assert lines[1].split() == ["1", "staging.stg_contacts", "view", "<-", "raw.contacts"]
    assert lines[4].split() == [
        "4",
        "marts.dim_contacts",
        "table",
        "<-",
        "marts.fct_appointments,",
        "staging.stg_contacts",
    ]
    code, out, _ = run(capsys, "models", "--models-dir", str(FIXTURE_MODELS), "--select", "marts.dim_contacts")
    assert code == 0 and out.splitlines()[0].startswith("1 models")


def test_build_then_test_then_a_failing_test(capsys: pytest.CaptureFixture[str], url: str) -> None:
    with parse_target(url).connect() as conn:
        create_raw(conn)
    code, out, err = run(capsys, "build", "--models-dir", str(FIXTURE_MODELS), "--warehouse", url)
    assert (code, err) == (0, "")
    assert "5/5 OK" in out and out.splitlines()[-1].startswith("5 built in ")
    assert "marts.fct_appointments" in out and "8 rows" in out

    code, out, err = run(capsys, "test", "--models-dir", str(FIXTURE_MODELS), "--warehouse", url, "-s", "marts.*")
    assert (code, err) == (0, "")
    assert out.splitlines()[-1].startswith("10 passed, 0 warnings, 0 failed on duckdb:")

    with parse_target(url).connect() as conn:
        conn.execute("insert into raw.appointments values (300, 10, 1, 'Completed', '2024-06-01 10:00', 30, -1)")
        conn.execute("insert into marts.dim_contacts (contact_id, segment) values (1, 'vip')")
    code, out, err = run(capsys, "build", "--models-dir", str(FIXTURE_MODELS), "--warehouse", url)
    assert code == 3
    assert err.strip() == (
        "error: a blocking data test failed, the previous versions were kept: "
        "marts.fct_appointments: expression(subtotal >= 0) failed on 1 row, e.g. appointment_id=300"
    )
    assert "FAIL   marts.fct_appointments" in out and "SKIP   marts.dim_contacts" in out

    code, out, err = run(capsys, "test", "--models-dir", str(FIXTURE_MODELS), "--warehouse", url)
    assert code == 3
    assert "FAIL  marts.dim_contacts                       grain unique(contact_id)" in out
    assert "accepted_values(segment) failed on 1 row, e.g. contact_id=1, segment='vip'" in out
    assert err.startswith("error: a blocking data test failed: marts.dim_contacts: grain unique(contact_id)")
    assert len(err.strip().splitlines()) == 1


def test_build_errors_exit_1_with_one_line(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, out, err = run(capsys, "build", "--models-dir", str(FIXTURE_MODELS), "--warehouse", url)
    assert code == 1
    assert err.strip().splitlines() == [
        "error: staging.stg_contacts reads raw.contacts, which does not exist in the warehouse: load it first "
        f"(smw run) or fix the table name in {FIXTURE_MODELS / 'staging' / 'stg_contacts.sql'}"
    ]
    assert "0 built, 2 failed, 3 skipped" in out


def test_project_problems_and_bad_urls(capsys: pytest.CaptureFixture[str], write_models: ModelWriter) -> None:
    root = write_models({"s/a.sql": "select 1", "s/b.sql": model_file("select id from s.nope")})
    code, out, err = run(capsys, "build", "--models-dir", str(root), "--warehouse", "duckdb:///:memory:")
    assert code == 1 and out == ""
    assert err.startswith("error: 2 problems in the SQL models:\n")
    assert f"{root / 's' / 'a.sql'}:1: a model file must start with a /* ... */ header" in err
    code, _, err = run(capsys, "models", "--models-dir", str(root / "missing"))
    assert code == 1 and "no such folder of SQL models" in err
    code, _, err = run(capsys, "build", "--models-dir", str(FIXTURE_MODELS), "--warehouse", "mysql://u:pw1234@h/d")
    assert code == 1 and "unsupported warehouse URL 'mysql://u:***@h/d'" in err and "pw1234" not in err
    code, _, err = run(capsys, "build", "--models-dir", str(FIXTURE_MODELS), "--select", "nope.*")
    assert code == 1 and "'nope.*' matches no model" in err


def test_warehouse_comes_from_the_environment(
    capsys: pytest.CaptureFixture[str], url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with parse_target(url).connect() as conn:
        create_raw(conn)
    monkeypatch.setenv("SMW_WAREHOUSE", url)
    code, out, _ = run(capsys, "build", "--models-dir", str(FIXTURE_MODELS), "-s", "staging.*")
    assert code == 0 and out.splitlines()[-1].endswith(f"on {url}")


def test_postgres_password_stays_out_of_the_output(capsys: pytest.CaptureFixture[str], postgres_url: str) -> None:
    url = postgres_url.replace("postgres:postgres@", "postgres:Pw-0f-the-day@")
    code, out, err = run(capsys, "build", "--models-dir", str(FIXTURE_MODELS), "--warehouse", url)
    assert code == 1
    assert "Pw-0f-the-day" not in out + err
    assert "postgres:***@127.0.0.1" in out


def test_docs_writes_the_page(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "docs", "--models-dir", str(FIXTURE_MODELS), "--out", str(tmp_path / "docs"))
    assert (code, err) == (0, "")
    assert out.strip() == f"wrote the catalog of 5 models to {tmp_path / 'docs' / 'index.html'}"
    assert (tmp_path / "docs" / "index.html").stat().st_size > 10_000
