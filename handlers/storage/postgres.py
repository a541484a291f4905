"""A shared PostgreSQL for several web nodes (DATABASE_URL): psycopg 3 and its connection pool.

Durability: synchronous_commit is on for every connection, so COMMIT returns once the transaction
is in PostgreSQL's write-ahead log on disk, and a webhook is answered only after COMMIT.

Each process opens its own pool when it first needs one (gunicorn forks workers after the master
loaded the app: a pool made before the fork would share its sockets). A request holds one
connection, taken from the pool at its first query and given back when it ends (release); a
connection is checked before it is lent (see _alive), and a dead one replaced at once, so after the
server restarts the first request already gets a working one. While the server is down, every call
raises StoreError within a few seconds.
"""

from __future__ import annotations

import os
import select
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from .database import StoreError
from .dialect import MIGRATION_LOCK, POSTGRES, pyformat
from .schema import MIGRATIONS

T = TypeVar("T")
POOL_SIZE = (2, 12)  # per process: gunicorn's 8 threads, the health check and a bulk job or two
WAIT = 3.0  # seconds to wait for a connection before answering that the database is unavailable
STREAM_ROWS = 2000  # rows per round trip of a long read


class PgConnection:
    """A psycopg connection that takes the store's SQL as written (`?` placeholders) and raises
    StoreError, as the routes expect, for anything the database refuses."""

    __slots__ = ("raw", "location")

    def __init__(self, raw: psycopg.Connection, location: str):
        self.raw, self.location = raw, location

    def execute(self, sql: str, params: tuple | list = ()) -> psycopg.Cursor:
        try:
            return self.raw.execute(pyformat(sql, bool(params)), params or None)
        except psycopg.Error as e:
            raise StoreError(f"database {self.location}: {e}") from e

    def executemany(self, sql: str, rows) -> psycopg.Cursor:
        if isinstance(rows, list) and len(rows) == 1:
            # A webhook's usual one row: psycopg's executemany costs several times an execute.
            return self.execute(sql, rows[0])
        cursor = self.raw.cursor()
        try:
            cursor.executemany(pyformat(sql, True), rows)
        except psycopg.Error as e:
            raise StoreError(f"database {self.location}: {e}") from e
        return cursor


def _configure(conn: psycopg.Connection) -> None:
    # On by default; said here so that a server configured otherwise cannot lose an acknowledged opt-out.
    conn.execute("SET synchronous_commit = on")


def _alive(conn: psycopg.Connection) -> bool:
    """Whether a connection about to be lent still works. A round trip to the server (psycopg_pool's
    check_connection: ~60 us of client CPU here, and the server's share) on every request is avoided
    for a connection given back within RECHECK_AFTER, which is judged by its socket instead: idle, a
    live connection has nothing to read, while a server that ended it (restart, pg_terminate_backend,
    idle timeout) has sent its goodbye or closed it."""
    if conn.closed or conn.broken:
        return False
    returned = _returned_at.get(conn)
    if returned is not None and time.monotonic() - returned < RECHECK_AFTER and not _readable(conn.fileno()):
        return True
    try:
        ConnectionPool.check_connection(conn)
    except psycopg.Error:
        return False
    return True


def _readable(fd: int) -> bool:
    poller = select.poll()  # not select.select: it fails on descriptors above 1023
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


# connection -> when it was last given back
_returned_at: weakref.WeakKeyDictionary[psycopg.Connection, float] = weakref.WeakKeyDictionary()
RECHECK_AFTER = 10.0  # seconds idle after which a connection is checked with a round trip again


class PostgresDatabase:
    """One PostgreSQL database shared by every process and node."""

    dialect = POSTGRES

    def __init__(self, url: str):
        self.url = url
        parts = conninfo_to_dict(url)
        # Never the password: this is shown in logs and on /healthz.
        self.location = (f"postgresql://{parts.get('user', '')}@{parts.get('host', '')}"
                         f"{':' + str(parts['port']) if parts.get('port') else ''}/{parts.get('dbname', '')}")
        self.write_failure: str | None = None
        self._local = threading.local()
        self._pool: ConnectionPool | None = None
        self._pool_pid: int | None = None
        self._pool_lock = threading.Lock()

    # Connections -------------------------------------------------------------------------------

    @property
    def pool(self) -> ConnectionPool:
        if self._pool is None or self._pool_pid != os.getpid():
            with self._pool_lock:
                if self._pool is None or self._pool_pid != os.getpid():
                    self._pool = ConnectionPool(
                        self.url, min_size=POOL_SIZE[0], max_size=POOL_SIZE[1], timeout=WAIT,
                        kwargs={"autocommit": True, "application_name": "optout", "connect_timeout": 5},
                        configure=_configure, open=True,
                        # Give up a failed reconnection after WAIT: the next request starts a fresh
                        # attempt at once, where the pool's own backoff (1 s, 2 s, 4 s ...) would keep
                        # a worker failing for seconds after the server is back.
                        reconnect_timeout=WAIT, name=f"optout-{os.getpid()}")
                    self._pool_pid = os.getpid()
        return self._pool

    def connection(self) -> PgConnection:
        """This thread's connection until release(): taken from the pool (and checked) on first use."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and (self._local.pid != os.getpid() or conn.raw.closed or conn.raw.broken):
            if self._local.pid == os.getpid():
                self.pool.putconn(conn.raw)  # the pool discards a broken one
            conn = None
        if conn is None:
            conn = PgConnection(self._live_connection(), self.location)
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _live_connection(self) -> psycopg.Connection:
        """A working connection from the pool. Dead ones (the server restarted) are closed and given
        back, which makes the pool replace them, and the next is tried at once: psycopg_pool's own
        check waits a second or more between attempts."""
        deadline = time.monotonic() + WAIT
        while True:
            try:
                raw = self.pool.getconn(timeout=max(deadline - time.monotonic(), 0.01))
            except (PoolTimeout, psycopg.Error) as e:
                raise StoreError(f"database {self.location}: no connection within {WAIT:.0f} s: {e}") from e
            if _alive(raw):
                return raw
            raw.close()
            self.pool.putconn(raw)

    def release(self) -> None:
        """Give this thread's connection back to the pool (a request ended)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            if self._local.pid == os.getpid() and self._pool is not None:
                _returned_at[conn.raw] = time.monotonic()
                self._pool.putconn(conn.raw)

    def close(self) -> None:
        self.release()
        if self._pool is not None and self._pool_pid == os.getpid():
            self._pool.close()
        self._pool = None

    # Writes ------------------------------------------------------------------------------------

    def write(self, work: Callable[[PgConnection], T]) -> T:
        """Run `work(conn)` in one transaction and return its result once it is committed.

        Writers run side by side; what must not interleave (one person's decisions, bulk jobs)
        takes the dialect's locks inside `work`. An error in `work` rolls back all of it.
        """
        conn = self.connection()
        try:
            with conn.raw.transaction():
                result = work(conn)
        except StoreError as e:
            self.write_failure = str(e)
            raise
        except psycopg.Error as e:  # COMMIT itself, or the connection lost
            self.write_failure = str(e)
            raise StoreError(f"database {self.location}: {e}") from e
        self.write_failure = None
        return result

    # Reads -------------------------------------------------------------------------------------

    def stream(self, sql: str, params: tuple = ()) -> Iterator[tuple]:
        """The rows of one long read, on a connection of its own, fetched STREAM_ROWS at a time. The query
        runs now, so a database error is raised here, not midway."""
        try:
            raw = self.pool.getconn()
        except (PoolTimeout, psycopg.Error) as e:
            raise StoreError(f"database {self.location}: no connection within {WAIT:.0f} s: {e}") from e
        cursor = raw.cursor()
        try:
            rows = cursor.stream(pyformat(sql, bool(params)), params or None, size=STREAM_ROWS)
            first = next(rows, None)
        except psycopg.Error as e:
            cursor.close()
            self.pool.putconn(raw)
            raise StoreError(f"database {self.location}: {e}") from e

        def all_rows() -> Iterator[tuple]:
            try:
                if first is not None:
                    yield first
                    yield from rows
            finally:
                cursor.close()
                self.pool.putconn(raw)

        return all_rows()

    # Schema and health -------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply pending migrations under an advisory lock, so that nodes starting together apply each
        once (the others wait, then find nothing to do). Returns the names applied."""
        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
                conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
                try:
                    return self._apply_migrations(conn)
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        except psycopg.Error as e:
            raise StoreError(f"database {self.location}: {e}") from e

    @staticmethod
    def _apply_migrations(conn: psycopg.Connection) -> list[str]:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                     "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        applied = {name for (name,) in conn.execute("SELECT name FROM schema_migrations")}
        pending = [(name, statements) for name, statements in MIGRATIONS if name not in applied]
        for name, statements in pending:
            with conn.transaction():
                for statement in statements:
                    conn.execute(POSTGRES.ddl(statement))
                conn.execute("INSERT INTO schema_migrations (name, applied_at) VALUES (%s, %s)",
                             (name, datetime.now(timezone.utc).isoformat()))
        return [name for name, _ in pending]

    def health(self) -> str | None:
        """None when the database takes writes, else why not (for /healthz)."""
        try:
            with self.pool.connection(timeout=WAIT) as conn:
                standby = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
        except (PoolTimeout, psycopg.Error) as e:
            return f"cannot reach PostgreSQL at {self.location}: {e}"
        if standby:
            return f"PostgreSQL at {self.location} is a read-only standby"
        if self.write_failure:
            failed = self.write_failure
            try:
                self.write(lambda conn: conn.execute("SELECT txid_current()"))  # a transaction that gets an id
            except StoreError:
                return f"the last write failed: {failed}"
        return None
