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

import logging
import os
import select
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from .database import Job, Process, SharedDatabase, StoreError, Writers
from .dialect import POSTGRES, pyformat
from .pg_connection import PgConnection, PooledConnection
from .schema import apply_migrations

T = TypeVar("T")
log = logging.getLogger(__name__)
POOL_SIZE = (2, 12)  # per process: gunicorn's 8 threads, the health check and a bulk job or two
WAIT = 3.0  # seconds to wait for a connection before answering that the database is unavailable
STREAM_ROWS = 2000  # rows per round trip of a long read
LOST_BEFORE_UNPREPARED = 2
BATCH = 8  # jobs per group commit at most (gunicorn's threads per worker)
# Advisory lock keys: any 64-bit numbers no other lock of ours uses. A person's lock is keyed by a hash
# of their lock_key, so a collision only makes two people wait for each other briefly (or, between two
# group commits, which take locks sorted by lock_key, not by hash, in a circle until PostgreSQL ends
# one after deadlock_timeout and its webhooks run again alone).
MIGRATION_LOCK = 0x6F70746F7574_01  # "optout" 01
BULK_LOCK = 0x6F70746F7574_02


def _configure(conn: psycopg.Connection) -> None:
    # On by default; said here so that a server configured otherwise cannot lose an acknowledged opt-out.
    conn.execute("SET synchronous_commit = on")


def _alive(conn: PooledConnection) -> bool:
    """Whether a connection about to be lent still works. A round trip to the server (psycopg_pool's
    check_connection, and the server's share) on every request is avoided
    for a connection given back within RECHECK_AFTER, which is judged by its socket instead: idle, a
    live connection has nothing to read, while a server that ended it (restart, pg_terminate_backend,
    idle timeout) has sent its goodbye or closed it."""
    if conn.closed or conn.broken:
        return False
    returned = conn.returned_at
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


RECHECK_AFTER = 10.0  # seconds idle after which a connection is checked with a round trip again


class PostgresDatabase(SharedDatabase):
    """One PostgreSQL database shared by every process and node.

    Locks: SQLite has one writer at a time, so a person's messages are decided one after another; here
    writers run side by side, so a transaction that reads and then writes a person's state first takes
    that person's advisory lock (lock_person). Bulk jobs (import, backfill, copy), which read and write
    many people's states at once, take an exclusive lock that every such transaction shares
    (lock_everyone), which is what SQLite's single writer gives for free."""

    dialect = POSTGRES
    driver_error = psycopg.Error

    def __init__(self, url: str):
        super().__init__()
        self.url = url
        parts = conninfo_to_dict(url)
        # Never the password: this is shown in logs and on /healthz.
        self.location = (f"postgresql://{parts.get('user', '')}@{parts.get('host', '')}"
                         f"{':' + str(parts['port']) if parts.get('port') else ''}/{parts.get('dbname', '')}")
        # Statements are prepared once per connection (PgConnection), unless the server keeps losing
        # them: a pooler in transaction mode (PgBouncer, Supavisor) between us and PostgreSQL hands
        # each transaction another server connection, where our prepared statements do not exist.
        self.prepares = True
        self._statements_lost = 0
        self._pool: ConnectionPool | None = None
        self._pool_pid: int | None = None
        self._pool_lock = threading.Lock()
        self._writers = Writers()  # the group commit's (write)

    # Connections -------------------------------------------------------------------------------

    @property
    def pool(self) -> ConnectionPool:
        if self._pool is None or self._pool_pid != Process.pid:
            with self._pool_lock:
                if self._pool is None or self._pool_pid != Process.pid:
                    self._pool = ConnectionPool(
                        self.url, min_size=POOL_SIZE[0], max_size=POOL_SIZE[1], timeout=WAIT,
                        connection_class=PooledConnection,
                        kwargs={"autocommit": True, "application_name": "optout", "connect_timeout": 5,
                                "prepare_threshold": None},  # PgConnection prepares (and says why)
                        configure=_configure, open=True,
                        # Give up a failed reconnection after WAIT: the next request starts a fresh
                        # attempt at once, where the pool's own backoff (1 s, 2 s, 4 s ...) would keep
                        # a worker failing for seconds after the server is back.
                        reconnect_timeout=WAIT, name=f"optout-{os.getpid()}")
                    self._pool_pid = Process.pid
        return self._pool

    def connection(self) -> PgConnection:
        """This thread's connection until release(): taken from the pool (and checked) on first use."""
        conn = self._kept()
        if conn is not None and (conn.raw.closed or conn.raw.broken):
            self.pool.putconn(self._forget().raw)  # the pool discards a broken one
            conn = None
        if conn is None:
            conn = PgConnection(self._live_connection(), self)
            self._keep(conn)
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
                raise self.store_error(e, f"no connection within {WAIT:.0f} s: ") from e
            if _alive(raw):
                return raw
            raw.close()
            self.pool.putconn(raw)

    def lost_prepared_statements(self) -> None:
        """A connection's prepared statements were gone: once may be an operator's DEALLOCATE; twice,
        and statements are sent unprepared from then on (the server parses and plans each one)."""
        self._statements_lost += 1
        if self._statements_lost >= LOST_BEFORE_UNPREPARED and self.prepares:
            self.prepares = False
            log.warning("PostgreSQL at %s lost this process's prepared statements %d times: a pooler in "
                        "transaction mode between us and the server, probably; statements are sent "
                        "unprepared from now on (more work for the server)", self.location, self._statements_lost)

    def release(self) -> None:
        """Give this thread's connection back to the pool (a request ended)."""
        conn = self._forget()
        if conn is not None and self._pool is not None:
            conn.raw.returned_at = time.monotonic()
            self._pool.putconn(conn.raw)

    def close(self) -> None:
        self.release()
        if self._pool is not None and self._pool_pid == Process.pid:
            self._pool.close()
        self._pool = None

    # Writes ------------------------------------------------------------------------------------

    def write(self, work: Callable[[PgConnection], T], person: str | None = None) -> T:
        """Run `work(conn)` in one transaction and return its result once it is committed.

        Writers run side by side; what must not interleave (one person's decisions, bulk jobs)
        takes its lock inside `work` (lock_person, lock_everyone). An error in `work` rolls back all of it.

        Group commit, for writes that decide for one `person` (the webhook's): threads of one process
        that write at the same time share one transaction, as on SQLite. The first leads: it takes the
        locks of every person in its batch (in one order: lock_people), runs each job's work
        in turn, hands the lead to the first writer that queued meanwhile, and commits; the next batch
        runs while this one's COMMIT waits for the disk. Each job's writes go with the next job's read,
        so a batch of n costs n + 1 round trips, one BEGIN and one COMMIT (a WAL flush), where alone
        each costs two round trips and a COMMIT of its own. If one job fails, the batch is rolled back
        and each job runs again alone, so that only the failing one fails.
        """
        if person is None:
            return self._transaction(work)
        job = Job(work, person)
        if self._writers.join(job):
            self._lead()
        return job.outcome()

    def _transaction(self, work: Callable[[PgConnection], T], before_commit: Callable[[], None] | None = None) -> T:
        conn = self.connection()
        try:
            conn.begin()
            try:
                result = work(conn)
                if before_commit is not None:
                    before_commit()
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        except StoreError as e:
            self.write_failure = str(e)
            raise
        except psycopg.Error as e:  # COMMIT itself, or the connection lost
            self.write_failure = str(e)
            raise self.store_error(e) from e
        self.write_failure = None
        return result

    def _lead(self) -> None:
        batch = self._writers.take(BATCH)
        committing = False
        leader: PgConnection | None = None

        def run_all(conn: PgConnection) -> None:
            self.lock_people(conn, [job.person for job in batch])
            for job in batch:
                job.value = job.work(conn)

        def hand_on() -> None:  # every job's work is done: the next batch may run while this one commits
            nonlocal committing
            committing = True
            self._writers.hand_on()

        try:
            try:
                leader = self.connection()
                self._transaction(run_all, before_commit=hand_on)
            finally:
                if not committing:
                    self._writers.hand_on()
        except BaseException as e:
            # Rolled back. Each job runs again alone (only the one at fault fails then), unless the batch's
            # fault was not one job's: its COMMIT, the database out of reach, the process ending.
            if (committing or len(batch) == 1 or leader is None or leader.raw.broken
                    or not isinstance(e, Exception)):
                for job in batch:
                    job.error, job.value = e, None
            else:
                for job in batch:
                    try:
                        job.error, job.value = None, self._transaction(job.work)
                    except Exception as alone:
                        job.error, job.value = alone, None
        finally:
            self._writers.answer(batch)

    # Reads -------------------------------------------------------------------------------------

    def stream(self, sql: str, params: tuple = ()) -> Iterator[tuple]:
        """The rows of one long read, on a connection of its own, fetched STREAM_ROWS at a time. The query
        runs now, so a database error is raised here, not midway."""
        try:
            raw = self.pool.getconn()
        except (PoolTimeout, psycopg.Error) as e:
            raise self.store_error(e, f"no connection within {WAIT:.0f} s: ") from e
        cursor = raw.cursor()
        try:
            rows = cursor.stream(pyformat(sql, bool(params)), params or None, size=STREAM_ROWS)
            first = next(rows, None)
        except psycopg.Error as e:
            cursor.close()
            self.pool.putconn(raw)
            raise self.store_error(e) from e

        def all_rows() -> Iterator[tuple]:
            try:
                if first is not None:
                    yield first
                    yield from rows
            finally:
                cursor.close()
                self.pool.putconn(raw)

        return all_rows()

    # Locks ---------------------------------------------------------------------------------------

    def lock_person(self, conn: PgConnection, key: str) -> None:
        if key not in conn.people_locked:  # else a group commit took it (write)
            self.lock_people(conn, [key])

    @staticmethod
    def lock_people(conn: PgConnection, keys: list[str]) -> None:
        """Every one of `keys`' locks, for one transaction that decides for all of them. Taken in one
        order (sorted) by every process and node, so that two such transactions never wait for each other
        in a circle. Sent with the statement after it: the locks are held before that statement reads."""
        keys = sorted(set(keys))  # two messages of one person in a batch: one lock
        conn.execute_later("SELECT pg_advisory_xact_lock_shared(?)"
                           + ", pg_advisory_xact_lock(hashtextextended(?, 0))" * len(keys), (BULK_LOCK, *keys))
        conn.people_locked = frozenset(keys)

    def lock_everyone(self, conn: PgConnection) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(?)", (BULK_LOCK,))

    def scrub(self, tables: tuple[str, ...]) -> bool:
        """VACUUM the tables: the deleted rows' versions are removed from them and their indexes, so no
        query, snapshot or index can reach them. Their bytes may stay in the freed space of a page until
        it is reused, and in WAL segments, archives and backups until they expire (README, Personal data)."""
        with self._reporting("vacuum: "), self.pool.connection(timeout=WAIT) as raw:
            raw.execute(f"VACUUM {', '.join(tables)}")  # outside a transaction: the pool's are autocommit
        return True

    # Schema and health -------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply pending migrations under an advisory lock, so that nodes starting together apply each
        once (the others wait, then find nothing to do). Returns the names applied."""
        with self._reporting(), PooledConnection.connect(self.url, autocommit=True, connect_timeout=10,
                                                         prepare_threshold=None) as raw:
            conn = PgConnection(raw, self)
            conn.execute("SELECT pg_advisory_lock(?)", (MIGRATION_LOCK,))
            try:
                return apply_migrations(conn, self.dialect)
            finally:
                conn.execute("SELECT pg_advisory_unlock(?)", (MIGRATION_LOCK,))

    def _reachable(self) -> str | None:
        try:
            with self.pool.connection(timeout=WAIT) as conn:
                standby = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
        except (PoolTimeout, psycopg.Error) as e:
            return f"cannot reach PostgreSQL at {self.location}: {e}"
        if standby:
            return f"PostgreSQL at {self.location} is a read-only standby"
        return None

    @staticmethod
    def _probe(conn: PgConnection) -> None:
        conn.execute("SELECT txid_current()")  # a transaction that gets an id
