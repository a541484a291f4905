"""The embedded default: one SQLite file, durable connections, the cross-process write lock, group commit.

Durability: WAL with synchronous=FULL, so COMMIT returns only once the transaction is on disk; a
webhook is answered after COMMIT. Writers from every worker process take one file lock before
BEGIN IMMEDIATE: SQLite's busy handler sleeps on a fixed schedule instead of waking when the lock
frees; queueing on a file lock instead measured +30% throughput and a far lower p99 on this
project's webhook benchmark (bench/webhook_load.py, 16 connections, 2 cores).
Threads of one process that write at the same time share one COMMIT (see Database.write).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import sqlite_utils
from sqlite_utils.migrations import Migrations

from .database import StoreError
from .dialect import SQLITE
from .schema import MIGRATIONS

T = TypeVar("T")
MIN_FREE_BYTES = 1 << 20  # below this a commit may fail: report unhealthy before it does


class _Job:
    """One caller's part of a group commit."""

    def __init__(self, work):
        self.work = work
        self.done = threading.Event()
        self.lead = False  # woken to lead the next batch rather than with a result
        self.value = None
        self.error: BaseException | None = None

    def outcome(self):
        if isinstance(self.error, StoreError):
            raise StoreError(str(self.error)) from self.error
        if self.error is not None:
            raise self.error
        return self.value


def _sqlite_migrations() -> Migrations:
    """schema.MIGRATIONS as sqlite-utils migrations (named as they always were, so old files stay current)."""
    migrations = Migrations("optout")
    for name, statements in MIGRATIONS:
        def apply(db: sqlite_utils.Database, statements=statements) -> None:
            for statement in statements:
                db.execute(SQLITE.ddl(statement))
        migrations(name=name)(apply)
    return migrations


migrations = _sqlite_migrations()


class SqliteDatabase:
    """One SQLite file: a connection per thread, and writes that are on disk when they return."""

    dialect = SQLITE

    def __init__(self, path: str):
        self.path = path
        self.location = path
        self.write_failure: str | None = None  # the last write's error, until a write succeeds again
        self._local = threading.local()
        self._thread_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Job] = []
        self._leading = False
        self._lock_file = None
        self._pid = None

    # Connections -------------------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (made after fork, never shared across processes)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            directory = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(directory, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Exclusive across every thread and process writing this file (released on exit or crash)."""
        if self._pid != os.getpid():
            self._lock_file = open(self.path + ".writer-lock", "a+b")
            self._pid = os.getpid()
        with self._thread_lock:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed to disk on leaving the block, rolled back on error."""
        try:
            conn = self.connection()
            with self.writer_lock():
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as e:
            raise StoreError(f"database {self.path}: {e}") from e
        except OSError as e:
            raise StoreError(f"database lock beside {self.path}: {e}") from e

    def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work(conn)` in a write transaction and return its result once it is on disk.

        Group commit: threads of one process that write at the same time share one COMMIT (one
        fsync), each in its own SAVEPOINT so that one failing changes nothing for the others. The
        first writer leads; the others queue and wait; when the leader's COMMIT returns, the next
        waiting writer leads the queue that formed meanwhile. With one thread it is one transaction
        per call.
        """
        job = _Job(work)
        with self._queue_lock:
            self._queue.append(job)
            lead = not self._leading
            self._leading = True
        if not lead:
            job.done.wait()
            if not job.lead:
                return job.outcome()
        self._lead()
        return job.outcome()

    def _lead(self) -> None:
        with self._queue_lock:
            batch, self._queue = self._queue, []
        failure = None
        try:
            with self.transaction() as conn:
                for i, job in enumerate(batch):
                    conn.execute(f"SAVEPOINT job{i}")
                    try:
                        job.value = job.work(conn)
                        conn.execute(f"RELEASE job{i}")
                    except Exception as e:  # this job only: roll back its part, keep the others'
                        conn.execute(f"ROLLBACK TO job{i}")
                        conn.execute(f"RELEASE job{i}")
                        if isinstance(e, sqlite3.Error):
                            failure = e
                            job.error = StoreError(f"database {self.path}: {e}")
                        else:
                            job.error = e
        except Exception as e:
            failure = e
            for job in batch:
                job.error, job.value = e, None
        finally:
            self.write_failure = str(failure) if failure else None
            with self._queue_lock:
                if self._queue:
                    self._queue[0].lead = True
                    self._queue[0].done.set()
                else:
                    self._leading = False
            for job in batch:
                job.done.set()

    def release(self) -> None:
        """Done with this thread's connection for now (a request ended). SQLite keeps it: opening costs."""

    def migrate(self) -> list[str]:
        """Apply pending migrations; safe when several processes start at once. Returns their names."""
        conn = self.connection()
        with self.writer_lock():
            db = sqlite_utils.Database(conn)
            pending = [m.name for m in migrations.pending(db)]
            migrations.apply(db)
        return pending

    def stream(self, sql: str, params: tuple = ()) -> Iterator[tuple]:
        """The rows of one long read, on a connection of its own that sees one snapshot and holds one row
        at a time. The query runs now, so a database error is raised here, not midway."""
        try:
            conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
            conn.execute("PRAGMA query_only = 1")
            cursor = conn.execute(sql, params)
        except sqlite3.Error as e:
            raise StoreError(f"database {self.path}: {e}") from e

        def rows() -> Iterator[tuple]:
            try:
                yield from cursor
            finally:
                conn.close()

        return rows()

    def health(self) -> str | None:
        """None when the database can be read and written, else why not (for /healthz)."""
        try:
            self.connection().execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as e:
            return f"cannot read the database: {e}"
        try:
            disk = os.statvfs(os.path.dirname(os.path.abspath(self.path)))
        except OSError as e:
            return f"cannot look at the database's disk: {e}"
        if disk.f_flag & os.ST_RDONLY:
            return "the database's file system is read-only"
        free = disk.f_bavail * disk.f_frsize
        if free < MIN_FREE_BYTES:
            return f"the database's disk is full ({free // 1024} KiB free)"
        if self.write_failure:
            # Try a real commit: if the fault has gone, this clears it (recovery needs no restart).
            failed = self.write_failure
            try:
                self.write(lambda conn: conn.execute(
                    f"PRAGMA user_version = {conn.execute('PRAGMA user_version').fetchone()[0] ^ 1:d}"))
            except Exception:  # noqa: BLE001 - any failure here means: still unhealthy
                return f"the last write failed: {failed}"
            if self.write_failure:
                return f"the last write failed: {self.write_failure}"
        return None
