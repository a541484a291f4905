"""What both databases share: their error, and how a location names one. The store's data lives in one
SQLite file (the embedded default, handlers/storage/sqlite.py) or a shared PostgreSQL for several web
nodes (handlers/storage/postgres.py); Store opens the one its location names. Both offer the same calls:

- connection(): this thread's connection, for reads (`conn.execute(sql, params)` with ? placeholders);
- write(work, person=None): run work(conn) in one transaction, committed durably before it returns
  (writes for a person, the webhook's, share transactions with others of the process: group commit);
- stream(sql, params): the rows of one long read, one at a time;
- migrate(), health(), release() (a request ended), close(); dialect: what their SQL does differently.
"""

from __future__ import annotations

import threading


class StoreError(Exception):
    """The database could not do what was asked; nothing was committed. A retry may succeed."""


def is_postgres_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def sqlite_path(location: str) -> str:
    """The file of a SQLite location: a plain path, or a URL as SQLAlchemy writes them
    (sqlite:///relative/path, sqlite:////absolute/path)."""
    return location.removeprefix("sqlite:///") if location.startswith("sqlite:///") else location


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
