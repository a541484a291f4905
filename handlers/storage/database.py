"""What both databases are: the Database protocol, their error, how a location names one, and what they do
alike. The store's data lives in one SQLite file (the embedded default, handlers/storage/sqlite.py) or a
shared PostgreSQL for several web nodes (handlers/storage/postgres.py); Store opens the one its location
names. How a write reaches the disk (group commit, locks, pools) is each database's own; what their SQL
does differently is handlers/storage/dialect.py.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, runtime_checkable

from .dialect import Dialect

T = TypeVar("T")


class StoreError(Exception):
    """The database could not do what was asked; nothing was committed. A retry may succeed."""


@runtime_checkable
class Database(Protocol):
    """The calls the store makes of a database (SqliteDatabase, PostgresDatabase)."""

    dialect: Dialect  # what its SQL does differently
    location: str  # where it is, for logs and /healthz (never a password)

    def connection(self) -> Any:
        """This thread's connection, for reads (`conn.execute(sql, params)` with ? placeholders)."""

    def write(self, work: Callable[[Any], T], person: str | None = None) -> T:
        """Run work(conn) in one transaction, committed durably before it returns. Writes for a `person`
        (a lock_key: the webhook's) share transactions with others of the process: group commit."""

    def lock_person(self, conn, key: str) -> None:
        """Inside a write: serialise the transactions that decide for `key` (a lock_key)."""

    def lock_everyone(self, conn) -> None:
        """Inside a write: hold off every person's decisions until this (bulk) transaction ends."""

    def stream(self, sql: str, params: tuple = ()) -> Iterator[tuple]:
        """The rows of one long read, one at a time; a database error is raised here, not midway."""

    def migrate(self) -> list[str]:
        """Apply the pending migrations (schema.apply_migrations), once however many processes start
        together; returns their names."""

    def scrub(self, tables: tuple[str, ...]) -> bool:
        """After rows of `tables` were deleted or blanked: make their bytes unreachable in the database's
        files (erasure, retention). True when done, False when readers held it off (the next try does it)."""

    def health(self) -> str | None:
        """None when the database takes writes, else why not (for /healthz)."""

    def release(self) -> None:
        """A request ended: done with this thread's connection for now."""

    def close(self) -> None:
        """Done with this thread's connection for good."""


def lock_key(channel: str, address: str) -> str:
    """The key of the lock that serialises one person's decisions (Database.write's `person`, lock_person)."""
    return f"{channel}:{address}"


def is_postgres_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def sqlite_path(location: str) -> str:
    """The file of a SQLite location: a plain path, or a URL as SQLAlchemy writes them
    (sqlite:///relative/path, sqlite:////absolute/path)."""
    return location.removeprefix("sqlite:///") if location.startswith("sqlite:///") else location


class Process:
    """This process's id, renewed in a forked child: os.getpid() is a system call, asked several
    times a write."""

    pid = os.getpid()


os.register_at_fork(after_in_child=lambda: setattr(Process, "pid", os.getpid()))


class SharedDatabase:
    """What both databases do alike: each thread's connection kept for this process (gunicorn forks
    workers after the app was loaded: a connection made before the fork is never used after it), the
    driver's errors raised as StoreError, and the health check. A database gives `driver_error` (its
    driver's base exception), `_reachable()` and `_probe(conn)`."""

    dialect: Dialect
    location: str
    driver_error: type[Exception] = Exception

    def __init__(self):
        self.write_failure: str | None = None  # the last write's error, until a write succeeds again
        self._local = threading.local()

    # This thread's connection -------------------------------------------------------------------

    def _kept(self):
        """This thread's connection, if it made one in this process."""
        local = self._local
        conn = getattr(local, "conn", None)
        return conn if conn is not None and local.pid == Process.pid else None

    def _keep(self, conn) -> None:
        self._local.conn, self._local.pid = conn, Process.pid

    def _forget(self):
        """This thread's connection no longer kept: returned if this process made it, else None."""
        conn = self._kept()
        self._local.conn = None
        return conn

    # Errors ---------------------------------------------------------------------------------------

    def store_error(self, error: BaseException, what: str = "") -> StoreError:
        return StoreError(f"database {self.location}: {what}{error}")

    @contextmanager
    def _reporting(self, what: str = "") -> Iterator[None]:
        """The driver's errors in the block raised as StoreError (as the routes expect)."""
        try:
            yield
        except self.driver_error as e:
            raise self.store_error(e, what) from e

    # Locks (SQLite: its one writer already serialises every write) -------------------------------

    def lock_person(self, conn, key: str) -> None:
        """Serialise transactions that decide for `key` (SQLite: its one writer already does)."""

    def lock_everyone(self, conn) -> None:
        """Hold off every person's decisions until this (bulk) transaction ends (SQLite: as above)."""

    # Health -------------------------------------------------------------------------------------

    def health(self) -> str | None:
        """None when the database can be read and written, else why not (for /healthz)."""
        problem = self._reachable()
        if problem or not self.write_failure:
            return problem
        # Try a real commit: if the fault has gone, this clears it (recovery needs no restart).
        failed = self.write_failure
        try:
            self.write(self._probe)
        except Exception:  # noqa: BLE001 - any failure here means: still unhealthy
            return f"the last write failed: {failed}"
        if self.write_failure:  # another write of the same group commit failed meanwhile
            return f"the last write failed: {self.write_failure}"
        return None

    def _reachable(self) -> str | None:
        """None when the database answers and could take writes, else why not."""
        raise NotImplementedError

    def _probe(self, conn) -> None:
        """A write that changes nothing anyone reads, to see whether writes work again."""
        raise NotImplementedError


class Job:
    """One caller's part of a group commit (both databases' write)."""

    def __init__(self, work, person: str | None = None):
        self.work = work
        self.person = person
        # Released once, to wake the caller: to lead the next batch, or with its result. A held lock
        # is a cheaper signal than an Event (no Condition to notify).
        self.done = threading.Lock()
        self.done.acquire()
        self.lead = False  # woken to lead the next batch rather than with a result
        self.value = None
        self.error: BaseException | None = None

    def outcome(self):
        if isinstance(self.error, StoreError):
            raise StoreError(str(self.error)) from self.error
        if self.error is not None:
            raise self.error
        return self.value


class Writers:
    """The writers of one process waiting to be part of a group commit, and which of them leads it.

    The first writer leads; the others queue and wait; when the leader's batch no longer needs the
    lead, the next waiting writer leads the queue that formed meanwhile (both databases' write)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._queue: list[Job] = []
        self._leading = False

    def join(self, job: Job) -> bool:
        """Queue `job` and wait: True when its caller is to lead a batch, False when it is done."""
        with self._lock:
            self._queue.append(job)
            lead = not self._leading
            self._leading = True
        if lead:
            return True
        job.done.acquire()
        return job.lead

    def take(self, limit: int | None = None) -> list[Job]:
        """The leader's batch: the first `limit` queued (every one, without a limit)."""
        with self._lock:
            taken = len(self._queue) if limit is None else limit
            batch, self._queue = self._queue[:taken], self._queue[taken:]
        return batch

    def hand_on(self) -> None:
        """Wake the first writer that queued meanwhile to lead the next batch, or stop leading."""
        with self._lock:
            if self._queue:
                self._queue[0].lead = True
                self._queue[0].done.release()
            else:
                self._leading = False

    @staticmethod
    def answer(batch: list[Job]) -> None:
        """Wake each job's caller with its outcome (but one woken to lead: it returns by itself)."""
        for job in batch:
            if not job.lead:
                job.done.release()
