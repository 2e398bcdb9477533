"""One ``smw run`` per warehouse: an OS-level lock that a killed run gives up by itself.

- DuckDB: ``flock`` on ``<warehouse file>.lock`` beside the database. The kernel drops the lock when the process
  dies, however it dies.
- PostgreSQL: ``pg_try_advisory_lock`` on a connection held open for the whole run; the server drops it when that
  connection ends.

The holder (run id, pid, host, start time) is written down when the lock is taken: in the lock file, or in
``meta.run_lock`` on PostgreSQL. A run that finishes clears it. So when a run gets the lock and still finds a holder
written down, that holder was killed before it could clean up: the lock is *stale*, and it is taken over and
reported (``Lock.stale``). When the lock is really held, ``LockHeld`` names the holder.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from warehouse.target import Connection, Target

# pg_try_advisory_lock key: "smwrun" in ASCII. Advisory locks are scoped to the current database.
PG_LOCK_KEY = 0x736D7772756E
LOCK_TABLE = "meta.run_lock"
BUSY_RETRIES, BUSY_PAUSE = 20, 0.05  # a lock that stays taken for a second is another run's


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) the lock."""

    run_id: str
    pid: int
    host: str
    started_at: str  # ISO, UTC

    def describe(self) -> str:
        return f"run {self.run_id} (pid {self.pid} on {self.host}, started {self.started_at} UTC)"

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        try:
            data = json.loads(text)
            return cls(str(data["run_id"]), int(data["pid"]), str(data["host"]), str(data["started_at"]))
        except (ValueError, KeyError, TypeError):
            return None


def this_process(run_id: str, started_at: datetime) -> Holder:
    return Holder(run_id, os.getpid(), socket.gethostname(), started_at.isoformat(timespec="seconds"))


class LockHeld(Exception):
    """Another run holds the lock on this warehouse."""

    def __init__(self, warehouse: str, holder: Holder | None) -> None:
        who = holder.describe() if holder else "another smw run (its details could not be read)"
        super().__init__(
            f"{who} holds the lock on {warehouse}; this run did nothing. Wait for it to finish, "
            "or schedule runs further apart"
        )
        self.holder = holder


class Lock(Protocol):
    stale: Holder | None  # a holder left behind by a killed run, taken over when this lock was acquired

    def release(self) -> None: ...


def acquire(target: Target, holder: Holder, *, lock_path: Path | None = None) -> Lock:
    """Take the run lock for ``target`` or raise ``LockHeld``. Release it with ``release()``."""
    if target.dialect == "duckdb":
        path = lock_path or default_lock_path(target)
        return FileLock.acquire(path, holder, warehouse=target.redacted)
    return PostgresLock.acquire(target, holder)


def default_lock_path(target: Target) -> Path:
    if target.path is None:
        raise ValueError("an in-memory DuckDB warehouse cannot be locked or loaded: use a file path")
    return target.path.with_name(target.path.name + ".lock")


def read_holder(target: Target, *, lock_path: Path | None = None) -> tuple[bool, Holder | None]:
    """(is the lock held right now, the holder written down) — for ``smw status``; never takes the lock for long."""
    if target.dialect == "duckdb":
        path = lock_path or default_lock_path(target)
        if not path.exists():
            return False, None
        with open(path, "a+") as handle:
            handle.seek(0)
            holder = Holder.parse(handle.read())
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True, holder
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False, holder
    with target.connect() as conn:
        held = conn.query(
            "select count(*) from pg_locks where locktype = 'advisory' and database = "
            "(select oid from pg_database where datname = current_database()) "
            "and ((classid::bigint << 32) | objid::bigint) = %s and granted",
            (PG_LOCK_KEY,),
        )[0][0]
        return bool(held), _pg_holder(conn)


class FileLock:
    """``flock`` on a lock file; the holder is the file's content (JSON), emptied on release."""

    def __init__(self, path: Path, handle: Any, stale: Holder | None) -> None:
        self.path = path
        self._handle = handle
        self.stale = stale

    @classmethod
    def acquire(cls, path: Path, holder: Holder, *, warehouse: str | None = None) -> FileLock:
        path.parent.mkdir(parents=True, exist_ok=True)
        # never truncate on open: the content says who holds it, or who died holding it
        handle = open(path, "a+")  # noqa: SIM115 - kept open for the whole run
        for attempt in range(BUSY_RETRIES + 1):
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                # `smw status` holds it shared for an instant; a run holds it for minutes
                if attempt == BUSY_RETRIES:
                    handle.seek(0)
                    current = Holder.parse(handle.read())
                    handle.close()
                    raise LockHeld(warehouse or str(path), current) from None
                time.sleep(BUSY_PAUSE)
        handle.seek(0)
        left = handle.read().strip()
        stale = Holder.parse(left) if left else None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(asdict(holder)))
        handle.flush()
        os.fsync(handle.fileno())
        return cls(path, handle, stale)

    def release(self) -> None:
        if self._handle.closed:
            return
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.flush()
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()


class PostgresLock:
    """``pg_try_advisory_lock`` on a dedicated connection; the holder is the one row of ``meta.run_lock``."""

    def __init__(self, conn: Connection, stale: Holder | None) -> None:
        self._conn = conn
        self.stale = stale

    @classmethod
    def acquire(cls, target: Target, holder: Holder) -> PostgresLock:
        conn = target.connect()
        try:
            got = conn.query("select pg_try_advisory_lock(%s)", (PG_LOCK_KEY,))[0][0]
            if not got:
                current = _pg_holder(conn)
                raise LockHeld(target.redacted, current)
            conn.execute("create schema if not exists meta")
            conn.execute(
                f"create table if not exists {LOCK_TABLE} (id integer primary key, run_id text not null, "
                "pid integer not null, host text not null, started_at text not null)"
            )
            stale = _pg_holder(conn)
            with conn.transaction():
                conn.execute(f"delete from {LOCK_TABLE}")
                conn.execute(
                    f"insert into {LOCK_TABLE} values (1, %s, %s, %s, %s)",
                    (holder.run_id, holder.pid, holder.host, holder.started_at),
                )
        except BaseException:
            conn.close()
            raise
        return cls(conn, stale)

    def release(self) -> None:
        try:
            self._conn.execute(f"delete from {LOCK_TABLE}")
            self._conn.execute("select pg_advisory_unlock(%s)", (PG_LOCK_KEY,))
        finally:
            self._conn.close()  # ending the session releases the advisory lock in any case


def _pg_holder(conn: Connection) -> Holder | None:
    if conn.relation_kind("meta", "run_lock") is None:
        return None
    rows = conn.query(f"select run_id, pid, host, started_at from {LOCK_TABLE} where id = 1")
    if not rows:
        return None
    run_id, pid, host, started_at = rows[0]
    return Holder(str(run_id), int(pid), str(host), str(started_at))
