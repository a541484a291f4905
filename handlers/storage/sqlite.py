"""The embedded default: one SQLite file, durable connections, the cross-process write lock, group commit.

Durability: a webhook is answered only once its transaction is on disk. WAL mode; COMMIT itself does
not wait for the disk (synchronous=NORMAL), the writer does, outside the write lock: after COMMIT it
waits until the WAL file has been flushed (fdatasync) by a flush that began after its COMMIT. One
flush at a time runs, for every process writing the file, and covers every commit made before it
began: while it runs, the next transactions commit, and the flush after it covers all of them. So
writers share flushes across processes as well as threads, and the write lock is never held while
the disk works (PostgreSQL's group commit, done with two counters in the lock file: commits made,
commits flushed).

Writers from every worker process take one file lock before BEGIN IMMEDIATE: SQLite's busy handler
sleeps on a fixed schedule instead of waking when the lock frees; queueing on a file lock instead
gave more throughput and a far lower p99 on the webhook benchmark (bench/webhook_load.py; README,
"Benchmark"). Threads of one process that write at the same time
also share one transaction (see Database.write).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from .database import Job, Process, SharedDatabase, StoreError, Writers
from .dialect import SQLITE
from .schema import apply_migrations

T = TypeVar("T")
MIN_FREE_BYTES = 1 << 20  # below this a commit may fail: report unhealthy before it does
# At the start of the writer-lock file, shared by every process through mmap: commits made (written
# under the write lock), and commits known to be on disk (written under the flush lock).
_COUNTERS = struct.Struct("=QQ")


class _Shared:
    """This process's handles on the files beside the database: the write lock, the flush lock and
    the counters."""

    def __init__(self, path: str):
        self.writer = open(path + ".writer-lock", "a+b")
        if os.fstat(self.writer.fileno()).st_size < _COUNTERS.size:
            os.ftruncate(self.writer.fileno(), _COUNTERS.size)  # zeros: nothing committed yet
        self.counters = mmap.mmap(self.writer.fileno(), _COUNTERS.size)
        self.flusher = open(path + ".flush-lock", "a+b")
        self.wal = path + "-wal"

    def committed(self) -> int:
        return _COUNTERS.unpack_from(self.counters)[0]

    def flushed(self) -> int:
        return _COUNTERS.unpack_from(self.counters)[1]

    def count_commit(self) -> int:
        """Number the commit just made (caller holds the write lock)."""
        made = self.committed() + 1
        struct.pack_into("=Q", self.counters, 0, made)
        return made

    def count_flushed(self, upto: int) -> None:
        """Commits up to `upto` are on disk (caller holds the flush lock)."""
        struct.pack_into("=Q", self.counters, 8, upto)


class _Abandoned(Exception):
    """A batch of one job whose work failed: (job, error). Its transaction is rolled back."""


class SqliteConnection(sqlite3.Connection):
    """sqlite3's connection, with the store's execute_later (PostgreSQL's batches statements into
    fewer round trips; in process, there is nothing to save: it runs now)."""

    execute_later = sqlite3.Connection.execute


class SqliteDatabase(SharedDatabase):
    """One SQLite file: a connection per thread, and writes that are on disk when they return."""

    dialect = SQLITE
    driver_error = sqlite3.Error

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.location = path
        self._thread_lock = threading.Lock()
        self._writers = Writers()  # the group commit's (write)
        self._flush_lock = threading.Lock()
        self._open_lock = threading.Lock()
        self._shared_files: _Shared | None = None
        self._pid = None

    # Connections -------------------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (made after fork, never shared across processes)."""
        conn = self._kept()
        if conn is None:
            directory = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(directory, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10,
                                   factory=SqliteConnection)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # and flush() after COMMIT: see the module's text
            conn.execute("PRAGMA foreign_keys = ON")
            # What is deleted or overwritten is zeroed in the file, not left in free space (erasure and
            # retention: README, "Personal data"); scrub() then empties the WAL's older copies.
            conn.execute("PRAGMA secure_delete = ON")
            self._keep(conn)
        return conn

    def close(self) -> None:
        conn = self._forget()
        if conn is not None:
            conn.close()

    def _shared(self) -> _Shared:
        if self._pid != Process.pid:  # opened after fork: flock and mmap are per process
            with self._open_lock:
                if self._pid != Process.pid:
                    self._shared_files, self._pid = _Shared(self.path), Process.pid
        return self._shared_files

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Exclusive across every thread and process writing this file (released on exit or crash)."""
        shared = self._shared()
        with self._thread_lock:
            fcntl.flock(shared.writer, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(shared.writer, fcntl.LOCK_UN)

    @contextmanager
    def transaction(self, committed: list | None = None) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed on leaving the block and on disk before the block's caller
        goes on, rolled back on error. Given `committed`, the commit's number is appended to it and
        the caller flushes (group commit: it hands the write lock on first)."""
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
                number = self._shared().count_commit()
            if committed is None:
                self.flush(number)
            else:
                committed.append(number)
        except sqlite3.Error as e:
            raise self.store_error(e) from e
        except OSError as e:
            raise StoreError(f"database lock beside {self.path}: {e}") from e

    def flush(self, number: int) -> None:
        """Return once commit `number` (and every earlier one, from any process) is on disk.

        A flush that began after the commit covers it: waiting for the flush lock usually means
        another writer's flush is covering this commit, and then there is nothing left to do."""
        shared = self._shared()
        if shared.flushed() >= number:
            return
        try:
            with self._flush_lock:
                fcntl.flock(shared.flusher, fcntl.LOCK_EX)
                try:
                    if shared.flushed() >= number:
                        return
                    upto = shared.committed()  # committed before the flush begins: covered by it
                    try:
                        wal = os.open(shared.wal, os.O_RDONLY)
                    except FileNotFoundError:
                        # The last connection checkpointed the WAL into the database (synced) and removed it.
                        shared.count_flushed(upto)
                        return
                    try:
                        os.fdatasync(wal)
                    finally:
                        os.close(wal)
                    shared.count_flushed(upto)
                finally:
                    fcntl.flock(shared.flusher, fcntl.LOCK_UN)
        except OSError as e:
            raise self.store_error(e, "the write-ahead log could not be flushed to disk: ") from e

    def write(self, work: Callable[[sqlite3.Connection], T], person: str | None = None) -> T:
        """Run `work(conn)` in a write transaction and return its result once it is on disk. (`person`,
        whose decisions the write serialises, matters to PostgreSQL only: here one writer runs at a time.)

        Group commit: threads of one process that write at the same time share one COMMIT (one
        fsync), each in its own SAVEPOINT so that one failing changes nothing for the others. The
        first writer leads; the others queue and wait; when the leader's COMMIT returns, the next
        waiting writer leads the queue that formed meanwhile. With one thread it is one transaction
        per call.
        """
        job = Job(work)
        if self._writers.join(job):
            self._lead()
        return job.outcome()

    def _lead(self) -> None:
        batch = self._writers.take()
        failure = None
        committed: list[int] = []
        try:
            try:
                with self.transaction(committed) as conn:
                    if len(batch) == 1:  # alone: its own transaction, no savepoint to pay for
                        job = batch[0]
                        try:
                            job.value = job.work(conn)
                        except Exception as e:
                            failure = e if isinstance(e, sqlite3.Error) else None
                            raise _Abandoned(job, e) from e
                    for i, job in enumerate(batch if len(batch) > 1 else ()):
                        conn.execute(f"SAVEPOINT job{i}")
                        try:
                            job.value = job.work(conn)
                            conn.execute(f"RELEASE job{i}")
                        except Exception as e:  # this job only: roll back its part, keep the others'
                            conn.execute(f"ROLLBACK TO job{i}")
                            conn.execute(f"RELEASE job{i}")
                            job.error = self._job_error(e)
                            if isinstance(e, sqlite3.Error):
                                failure = e
            finally:
                # The next batch may begin while this one's flush runs.
                self._writers.hand_on()
            self.flush(committed[0])
        except _Abandoned as abandoned:  # the one job failed: rolled back, as its savepoint would be
            job, error = abandoned.args
            job.error = self._job_error(error)
        except Exception as e:
            failure = e
            for job in batch:
                job.error, job.value = e, None
        finally:
            self.write_failure = str(failure) if failure else None
            self._writers.answer(batch)

    def _job_error(self, error: Exception) -> Exception:
        """What a job's caller is raised: the database's own errors as StoreError, as the routes expect."""
        return self.store_error(error) if isinstance(error, sqlite3.Error) else error

    def release(self) -> None:
        """Done with this thread's connection for now (a request ended). SQLite keeps it: opening costs."""

    def migrate(self) -> list[str]:
        """Apply pending migrations; safe when several processes start at once. Returns their names."""
        with self._reporting():
            conn = self.connection()
            with self.writer_lock():
                applied = apply_migrations(conn, self.dialect)
                number = self._shared().count_commit()
        self.flush(number)
        return applied

    def scrub(self, tables: tuple[str, ...], patience: float = 30.0) -> bool:
        """Copy the WAL into the database file (where secure_delete has zeroed what was deleted) and
        truncate it, so that neither file holds the old bytes. A reader still on an older snapshot holds
        the truncation off: each try waits a moment only (writers wait while it does), then lets
        writers in and tries again, for up to `patience` seconds."""
        deadline = time.monotonic() + patience
        with self._reporting("checkpoint: "):
            conn = self.connection()
            previous = conn.execute("PRAGMA busy_timeout").fetchone()[0]
            conn.execute("PRAGMA busy_timeout = 200")
            try:
                while True:
                    busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                    if not busy:
                        return True
                    if time.monotonic() > deadline:
                        return False
                    time.sleep(0.05)
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(previous)}")

    def stream(self, sql: str, params: tuple = ()) -> Iterator[tuple]:
        """The rows of one long read, on a connection of its own that sees one snapshot and holds one row
        at a time. The query runs now, so a database error is raised here, not midway."""
        with self._reporting():
            conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
            conn.execute("PRAGMA query_only = 1")
            cursor = conn.execute(sql, params)

        def rows() -> Iterator[tuple]:
            try:
                yield from cursor
            finally:
                conn.close()

        return rows()

    def _reachable(self) -> str | None:
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
        return None

    @staticmethod
    def _probe(conn) -> None:
        conn.execute(f"PRAGMA user_version = {conn.execute('PRAGMA user_version').fetchone()[0] ^ 1:d}")
