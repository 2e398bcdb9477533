"""A warehouse URL -> a connection and a sqlglot dialect. The only module that knows how to connect to a warehouse.

URLs (SQLAlchemy-like):

- ``duckdb:///data/serviceminder.duckdb``: three slashes, a path relative to the working directory;
- ``duckdb:////srv/warehouse.duckdb``: four slashes, an absolute path;
- ``duckdb:///:memory:``: an in-memory database (tests);
- ``postgresql://user:password@host:5432/dbname`` (also ``postgres://``), handed to libpq as is.

The URL comes from ``--warehouse``, else the ``SMW_WAREHOUSE`` environment variable, else ``DEFAULT_WAREHOUSE``.
A password in a URL never appears in a message or a repr: use ``Target.redacted``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

DEFAULT_WAREHOUSE = "duckdb:///data/serviceminder.duckdb"
WAREHOUSE_ENV = "SMW_WAREHOUSE"

Dialect = Literal["duckdb", "postgres"]


class TargetError(Exception):
    """A warehouse URL that cannot be used, or a connection that failed; the message never holds a password."""


@dataclass(frozen=True)
class Target:
    """A parsed warehouse URL. ``dialect`` is also the sqlglot dialect name."""

    dialect: Dialect
    url: str = field(repr=False)
    redacted: str
    path: Path | None = None  # DuckDB only; None for ``:memory:``

    def __repr__(self) -> str:
        return f"Target({self.dialect}, {self.redacted})"

    def __str__(self) -> str:
        return self.redacted

    def connect(self) -> Connection:
        """Open a connection. DuckDB creates the database file (and its folder) when it is missing."""
        if self.dialect == "duckdb":
            import duckdb

            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                raw = duckdb.connect(str(self.path) if self.path is not None else ":memory:")
            except duckdb.Error as exc:
                raise TargetError(f"cannot open the DuckDB warehouse {self.redacted}: {exc}") from None
            return Connection(self, raw)
        import psycopg2

        try:
            raw = psycopg2.connect(self.url, connect_timeout=10)
        except psycopg2.Error as exc:
            message = _redact(str(exc).strip(), self.url)
            raise TargetError(f"cannot connect to the PostgreSQL warehouse {self.redacted}: {message}") from None
        raw.autocommit = True  # transactions are explicit: Connection.transaction()
        return Connection(self, raw)

    def dlt_destination(self) -> Any:
        """The dlt destination for this warehouse, for loaders that need one."""
        import dlt

        from pipelines.serviceminder.pipeline import duckdb_destination

        if self.dialect == "duckdb":
            if self.path is None:
                raise TargetError("dlt cannot load into an in-memory DuckDB: use a file path in the warehouse URL")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return duckdb_destination(self.path)
        return dlt.destinations.postgres(self.url)


def resolve_url(url: str | None = None) -> str:
    """The warehouse URL to use: the explicit one, else ``$SMW_WAREHOUSE``, else the DuckDB default."""
    return url or os.environ.get(WAREHOUSE_ENV) or DEFAULT_WAREHOUSE


def parse_target(url: str | None = None, *, base_dir: Path | None = None) -> Target:
    """Parse a warehouse URL (see the module docstring). Relative DuckDB paths resolve against ``base_dir`` (cwd)."""
    url = resolve_url(url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "duckdb":
        if parts.netloc:
            raise TargetError(
                f"bad DuckDB warehouse URL {url!r}: use duckdb:///relative/path.duckdb or duckdb:////absolute/path"
            )
        raw_path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not raw_path:
            raise TargetError(f"the DuckDB warehouse URL {url!r} has no file path: use duckdb:///data/warehouse.duckdb")
        if raw_path == ":memory:":
            return Target("duckdb", url, url, None)
        path = Path(raw_path)
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        return Target("duckdb", url, url, path)
    if scheme in ("postgresql", "postgres"):
        if not parts.hostname and not parts.path.strip("/"):
            raise TargetError(f"the PostgreSQL warehouse URL {redact_url(url)!r} names no host or database")
        return Target("postgres", url, redact_url(url), None)
    raise TargetError(
        f"unsupported warehouse URL {redact_url(url)!r}: use duckdb:///path/to/file.duckdb "
        "or postgresql://user:password@host:5432/dbname"
    )


def redact_url(url: str) -> str:
    """``postgresql://u:secret@h/db`` -> ``postgresql://u:***@h/db``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostinfo}"))


def _redact(text: str, url: str) -> str:
    password = urlsplit(url).password
    return text.replace(password, "***") if password else text


class Connection:
    """A small wrapper over a DuckDB or psycopg2 connection, with the same few methods for both.

    Statements outside ``transaction()`` commit on their own. Use one Connection per thread.
    """

    def __init__(self, target: Target, raw: Any) -> None:
        self.target = target
        self._raw = raw
        self._in_transaction = False
        self._lock = threading.Lock()

    @property
    def dialect(self) -> Dialect:
        return self.target.dialect

    @property
    def in_transaction(self) -> bool:
        return self._in_transaction

    def __repr__(self) -> str:
        return f"Connection({self.target.redacted})"

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run one statement. Parameters use ``%s`` placeholders on both warehouses."""
        self._run(sql, params, fetch=False)

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one statement and return all its rows as tuples."""
        return self._run(sql, params, fetch=True)

    def query_with_names(self, sql: str, params: Sequence[Any] | None = None) -> tuple[list[str], list[tuple]]:
        """Like ``query``, also returning the column names."""
        with self._lock:
            if self.dialect == "duckdb":
                cur = self._raw.execute(_duckdb_params(sql, params), params or [])
                return [d[0] for d in cur.description], cur.fetchall()
            with self._raw.cursor() as cur:
                cur.execute(sql, params)
                return [d[0] for d in cur.description], cur.fetchall()

    def _run(self, sql: str, params: Sequence[Any] | None, fetch: bool) -> Any:
        with self._lock:
            if self.dialect == "duckdb":
                cur = self._raw.execute(_duckdb_params(sql, params), params or [])
                return cur.fetchall() if fetch else None
            with self._raw.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if fetch else None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Everything inside commits together, or rolls back when the block raises. Nested blocks join the outer."""
        if self._in_transaction:
            yield self
            return
        self.execute("begin")
        self._in_transaction = True
        try:
            yield self
        except BaseException:
            self._in_transaction = False
            self.execute("rollback")
            raise
        self._in_transaction = False
        self.execute("commit")

    def relation_kind(self, schema: str, name: str) -> Literal["table", "view"] | None:
        """Whether ``schema.name`` exists, and as what."""
        rows = self.query(
            "select table_type from information_schema.tables where table_schema = %s and table_name = %s",
            (schema, name),
        )
        if not rows:
            return None
        return "view" if rows[0][0] == "VIEW" else "table"

    def columns(self, schema: str, name: str) -> list[str]:
        """The column names of a table or view, in order."""
        rows = self.query(
            "select column_name from information_schema.columns where table_schema = %s and table_name = %s "
            "order by ordinal_position",
            (schema, name),
        )
        return [r[0] for r in rows]

    def function_names(self) -> frozenset[str] | None:
        """The functions the server knows (lower case), or None where any function the dialect parses exists."""
        if self.dialect != "postgres":
            return None
        return frozenset(r[0].lower() for r in self.query("select distinct proname from pg_catalog.pg_proc"))

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _duckdb_params(sql: str, params: Sequence[Any] | None) -> str:
    # psycopg2 placeholders (%s) -> DuckDB's (?); our statements never contain a literal %s otherwise
    return sql.replace("%s", "?") if params else sql
