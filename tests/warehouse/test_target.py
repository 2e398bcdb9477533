"""Warehouse URLs, redaction, and the connection wrapper on both warehouses."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from warehouse.target import DEFAULT_WAREHOUSE, Connection, Target, TargetError, parse_target, redact_url


def test_duckdb_urls(tmp_path: Path) -> None:
    relative = parse_target("duckdb:///data/x.duckdb", base_dir=tmp_path)
    assert relative.dialect == "duckdb"
    assert relative.path == tmp_path / "data" / "x.duckdb"
    absolute = parse_target("duckdb:////srv/w/x.duckdb", base_dir=tmp_path)
    assert absolute.path == Path("/srv/w/x.duckdb")
    assert parse_target("duckdb:///:memory:").path is None


def test_default_and_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SMW_WAREHOUSE", raising=False)
    assert parse_target(None, base_dir=tmp_path).path == tmp_path / "data" / "serviceminder.duckdb"
    assert DEFAULT_WAREHOUSE == "duckdb:///data/serviceminder.duckdb"
    monkeypatch.setenv("SMW_WAREHOUSE", "postgresql://u:p@h/db")
    assert parse_target(None).dialect == "postgres"
    assert parse_target("duckdb:///:memory:").dialect == "duckdb"  # an explicit URL wins


def test_default_duckdb_creates_its_folder(tmp_path: Path) -> None:
    target = parse_target("duckdb:///data/deep/w.duckdb", base_dir=tmp_path)
    with target.connect() as conn:
        assert conn.query("select 42") == [(42,)]
    assert (tmp_path / "data" / "deep" / "w.duckdb").exists()


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgres_urls_are_redacted(scheme: str) -> None:
    target = parse_target(f"{scheme}://smw:s3cret-pw@db.example:6543/wh?sslmode=require")
    assert target.dialect == "postgres"
    assert target.redacted == f"{scheme}://smw:***@db.example:6543/wh?sslmode=require"
    for text in (repr(target), str(target), f"{target}", repr([target])):
        assert "s3cret-pw" not in text


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://u:topsecret@h/db", "unsupported warehouse URL 'mysql://u:***@h/db'"),
        ("duckdb://host/x.duckdb", "use duckdb:///relative/path.duckdb"),
        ("duckdb:///", "has no file path"),
        ("postgresql://", "names no host or database"),
    ],
)
def test_bad_urls(url: str, fragment: str) -> None:
    with pytest.raises(TargetError) as caught:
        parse_target(url)
    assert fragment in str(caught.value)
    assert "topsecret" not in str(caught.value)


def test_redact_url_without_password() -> None:
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert redact_url("postgresql://u:p%40ss@h/db") == "postgresql://u:***@h/db"


def test_failed_connection_names_the_target_without_the_password() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = parse_target(f"postgresql://postgres:hunter2-secret@127.0.0.1:{port}/nope")
    with pytest.raises(TargetError) as caught:
        target.connect()
    message = str(caught.value)
    assert message.startswith(f"cannot connect to the PostgreSQL warehouse postgresql://postgres:***@127.0.0.1:{port}")
    assert "hunter2-secret" not in message
    assert caught.value.__suppress_context__  # the driver's own traceback is not shown with it


def test_connection_basics(conn: Connection, target: Target) -> None:
    assert conn.dialect == target.dialect
    if conn.dialect == "postgres":
        assert "postgres:***@" in repr(conn)
    conn.execute("create schema s")
    conn.execute("create table s.t (id bigint, name text)")
    conn.execute("insert into s.t values (%s, %s), (%s, %s)", (1, "a%b", 2, None))
    assert conn.query("select id, name from s.t order by id") == [(1, "a%b"), (2, None)]
    names, rows = conn.query_with_names("select id as the_id from s.t where name like 'a%'")
    assert (names, rows) == (["the_id"], [(1,)])
    assert conn.relation_kind("s", "t") == "table"
    conn.execute("create view s.v as select id from s.t")
    assert conn.relation_kind("s", "v") == "view"
    assert conn.relation_kind("s", "nope") is None
    assert conn.columns("s", "t") == ["id", "name"]


def test_transaction_commits_or_rolls_back(conn: Connection) -> None:
    conn.execute("create table keep (id integer)")
    with conn.transaction():
        conn.execute("insert into keep values (1)")
        with conn.transaction():  # nested blocks join the outer one
            conn.execute("insert into keep values (2)")
    with pytest.raises(RuntimeError), conn.transaction():
        conn.execute("insert into keep values (3)")
        conn.execute("create table gone (id integer)")
        raise RuntimeError("boom")
    assert conn.query("select id from keep order by id") == [(1,), (2,)]
    assert conn.relation_kind("main" if conn.dialect == "duckdb" else "public", "gone") is None
    assert not conn.in_transaction


def test_function_names(conn: Connection) -> None:
    names = conn.function_names()
    if conn.dialect == "duckdb":
        assert names is None
    else:
        assert names is not None and {"date_trunc", "to_char", "generate_series"} <= names
        assert "arg_max" not in names
