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

import hashlib
import logging
import os
import select
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from functools import lru_cache
from typing import TypeVar

import psycopg
from psycopg import pq
from psycopg.adapt import Transformer
from psycopg.conninfo import conninfo_to_dict
from psycopg.errors import error_from_result
from psycopg.sql import Literal
from psycopg_pool import ConnectionPool, PoolTimeout

from .database import Job, StoreError, Writers
from .dialect import MIGRATION_LOCK, POSTGRES, pyformat
from .schema import MIGRATIONS

T = TypeVar("T")
log = logging.getLogger(__name__)
POOL_SIZE = (2, 12)  # per process: gunicorn's 8 threads, the health check and a bulk job or two
WAIT = 3.0  # seconds to wait for a connection before answering that the database is unavailable
STREAM_ROWS = 2000  # rows per round trip of a long read


class PooledConnection(psycopg.Connection):
    """A pooled psycopg connection and what the store remembers about it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The store's SQL -> how PgConnection sends it on this connection: the text before, between and
        # after its values ("EXECUTE name(", ", " ... ")" once prepared here, else the statement's own).
        self.statements: dict[str, tuple[bytes, ...]] = {}
        self.returned_at: float | None = None  # when it was last given back to the pool
        self._escaping = pq.Escaping(self.pgconn)

    def literal(self, value) -> bytes:
        """`value` as an SQL literal, quoted by libpq (PQescapeLiteral) for this connection. Plain
        values are done here: psycopg's general adaptation (sql.Literal) costs several times more,
        and a webhook quotes about thirty."""
        kind = type(value)
        if kind is str:
            if "\x00" in value:  # libpq would end the text there
                raise psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
            return self._escaping.escape_literal(value.encode())
        if kind is int:
            return b"%d" % value if value >= 0 else b"(%d)" % value
        if value is None:
            return b"NULL"
        return Literal(value).as_bytes(self)


@lru_cache(maxsize=4096)
def _statement_name(sql: str) -> str:
    return "optout_" + hashlib.blake2b(sql.encode(), digest_size=8).hexdigest()


@lru_cache(maxsize=4096)
def _pieces(sql: str) -> tuple[bytes, ...]:
    """The statement itself around its values (they are quoted into its text)."""
    return tuple(piece.encode() for piece in sql.split("?"))


def _numbered(sql: str) -> str:
    """`?` placeholders as PREPARE's $1, $2 ... (the store's SQL has no `?` in its string literals:
    dialect.pyformat)."""
    parts = sql.split("?")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


class Rows:
    """The rows of a statement's answer, read as a psycopg cursor reads them (its loaders for each column's
    type: int, text, json ...): fetchone, fetchall, iteration, description."""

    __slots__ = ("_result", "_conn", "_load", "_next", "_count")

    def __init__(self, result: pq.abc.PGresult, conn: psycopg.Connection):
        self._result, self._conn, self._next, self._count = result, conn, 0, result.ntuples
        self._load: Transformer | None = None  # made on the first row read: most answers have none

    def _loader(self) -> Transformer:
        if self._load is None:
            self._load = Transformer(self._conn)
            self._load.set_pgresult(self._result)
        return self._load

    @property
    def description(self) -> list[tuple] | None:
        """(name, type oid, None ...) per column, as DB-API's description; None for a statement without rows."""
        result = self._result
        if result.status != pq.ExecStatus.TUPLES_OK:
            return None
        return [(result.fname(i).decode(), result.ftype(i), None, None, None, None, None)
                for i in range(result.nfields)]

    def fetchone(self) -> tuple | None:
        if self._next >= self._count:
            return None
        self._next += 1
        return self._loader().load_row(self._next - 1, tuple)

    def fetchall(self) -> list[tuple]:
        rows = self._loader().load_rows(self._next, self._count, tuple) if self._next < self._count else []
        self._next = self._count
        return rows

    def __iter__(self) -> Iterator[tuple]:
        while self._next < self._count:
            yield self.fetchone()


class PgConnection:
    """A psycopg connection that takes the store's SQL as written (`?` placeholders), raises StoreError,
    as the routes expect, for anything the database refuses, and sends a write's statements in as few
    round trips as it can.

    Each round trip costs CPU on both sides. The webhook's seven statements, one trip each, measured
    ~500 us of this process's CPU and ~510 us of the server's per webhook; sent as below, in two trips,
    ~190 and ~320 us (3,000 webhooks in one process, PostgreSQL 15 on the same 2 cores). So:
    - inside a write, BEGIN and the statements whose results nobody reads (execute_later, and
      executemany of a few rows) wait, and go in one message with the next statement whose result is
      read, or with COMMIT. Their errors surface then, and still roll the whole transaction back;
    - each statement is prepared once per connection (PREPARE: the server parses and plans it once)
      and sent as EXECUTE with its values quoted (PooledConnection.literal), several statements per
      message. A statement with more than MAX_PREPARED_VALUES values (the IN lists of bulk reads, a
      new text for each length) is sent as itself, its values quoted the same way.
    psycopg's own automatic preparing is off for these connections (but in a large executemany): after
    a ROLLBACK it sees, it deallocates every prepared statement of the connection, ours included.
    """

    __slots__ = ("raw", "database", "people_locked", "_waiting")

    def __init__(self, raw: PooledConnection, database: PostgresDatabase):
        self.raw, self.database = raw, database
        self.people_locked: frozenset[str] = frozenset()  # whose locks this write holds (dialect.lock_people)
        self._waiting: list[tuple[str, tuple | list | None]] | None = None  # None: not inside a write

    def execute(self, sql: str, params: tuple | list = ()) -> Rows:
        """Run `sql` (and whatever waits to be sent) now; the answer holds `sql`'s rows."""
        statements = [(sql, params)]
        if self._waiting:
            statements[:0] = self._waiting
            self._waiting = []
        return self._send(statements)

    def execute_later(self, sql: str, params: tuple | list = ()) -> None:
        """Run `sql` with the next statement sent (inside a write; outside one, now). Nothing of its
        result can be read: it is for the writes whose only answer is success."""
        if self._waiting is None:
            self._send([(sql, params)])
        else:
            self._waiting.append((sql, params))

    def executemany(self, sql: str, rows) -> None:
        """`sql` once per row. Inside a write, up to LATER_ROWS rows wait like execute_later; more go
        now, by psycopg's executemany (after whatever waits)."""
        rows = rows if isinstance(rows, list) else list(rows)
        if self._waiting is not None and len(rows) <= LATER_ROWS:
            self._waiting.extend((sql, row) for row in rows)
            return
        if self._waiting:
            self._send(self._waiting)
            self._waiting = []
        # psycopg prepares it for these rows (a bulk job's thousands: parsed and planned once, not per
        # row). Only here: its automatic preparing stays off otherwise (see the class's text).
        self.raw.prepare_threshold = 0 if self.database.prepares else None
        try:
            self.raw.cursor().executemany(pyformat(sql, True), rows)
        except psycopg.Error as e:
            raise self._failed(e) from e
        finally:
            self.raw.prepare_threshold = None

    # A write's transaction (PostgresDatabase.write) --------------------------------------------

    def begin(self) -> None:
        self._waiting = [_BEGIN]

    def commit(self) -> None:
        waiting, self._waiting = self._waiting, None
        self.people_locked = frozenset()
        if waiting != [_BEGIN]:  # a write that sent nothing has nothing to commit
            self._send([*waiting, _COMMIT])

    def rollback(self) -> None:
        self._waiting = None
        self.people_locked = frozenset()
        if not self.raw.closed and self.raw.info.transaction_status != pq.TransactionStatus.IDLE:
            try:
                self.raw.execute("ROLLBACK")
            except psycopg.Error:
                self.raw.close()  # lost midway: the server rolls back, and the pool replaces a closed one

    # Sending -----------------------------------------------------------------------------------

    def _send(self, statements: list[tuple[str, tuple | list | None]]) -> Rows:
        """One message to the server with every statement; the answer holds the last one's rows."""
        raw = self.raw
        try:
            texts: list[bytes] = []
            for sql, params in statements:
                if params is None:  # BEGIN, COMMIT
                    texts.append(sql.encode())
                    continue
                if self.database.prepares:
                    pieces = raw.statements.get(sql) or self._prepare(sql, len(params))
                else:
                    pieces = _pieces(sql)
                text = [pieces[0]]
                for value, piece in zip(params, pieces[1:], strict=True):
                    text.append(raw.literal(value))
                    text.append(piece)
                texts.append(b"".join(text))
            # libpq's PQexec: the simple protocol, which takes several statements in one message, and
            # waits for the answer with the GIL released. A psycopg cursor did the same for ~60 us more
            # of this process's CPU per webhook (its non-blocking wait, a cursor and adapters per message).
            result = raw.pgconn.exec_(b"; ".join(texts))
            if result.status not in _ANSWERED:
                raise error_from_result(result, encoding=raw.info.encoding)
        except psycopg.Error as e:
            raise self._failed(e) from e
        return Rows(result, raw)

    def _failed(self, error: psycopg.Error) -> StoreError:
        if isinstance(error, psycopg.errors.InvalidSqlStatementName):
            # Something deallocated our prepared statements: the pool replaces a closed connection, and
            # the new one prepares them afresh (or none, if it keeps happening: PostgresDatabase.prepares).
            self.raw.close()
            self.database.lost_prepared_statements()
        return StoreError(f"database {self.database.location}: {error}")

    def _prepare(self, sql: str, count: int) -> tuple[bytes, ...]:
        """How `sql` with `count` values is sent on this connection, from now on: the pieces that go
        before, between and after its values (prepared here on first use, if it can be)."""
        pieces = self.raw.statements[sql] = self._prepared(sql, count) or _pieces(sql)
        return pieces

    def _prepared(self, sql: str, count: int) -> tuple[bytes, ...] | None:
        if count > MAX_PREPARED_VALUES or not sql.lstrip()[:7].upper().startswith(_PREPARABLE):
            return None
        name = _statement_name(sql)
        prepare = f"PREPARE {name} AS {_numbered(sql)}"
        inside = self.raw.info.transaction_status != pq.TransactionStatus.IDLE
        try:
            # Inside a transaction, a failed PREPARE would fail the transaction: a savepoint keeps it.
            self.raw.execute(f"SAVEPOINT optout_prepare; {prepare}; RELEASE optout_prepare" if inside else prepare)
        except _UNTYPED:
            # A value whose type the statement alone does not tell (PREPARE must know them all, where
            # a quoted value is typed where it stands): sent as itself, every time.
            if inside:
                self.raw.execute("ROLLBACK TO optout_prepare; RELEASE optout_prepare")
            return None
        except psycopg.Error as e:  # wrong in itself (a missing table ...): as sending it would say
            raise self._failed(e) from e
        if not count:
            return (f"EXECUTE {name}".encode(),)
        return (f"EXECUTE {name}(".encode(), *[b", "] * (count - 1), b")")


_ANSWERED = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)
_BEGIN, _COMMIT = ("BEGIN", None), ("COMMIT", None)
LATER_ROWS = 16  # executemany of at most this many rows inside a write waits, like execute_later
MAX_PREPARED_VALUES = 64
LOST_BEFORE_UNPREPARED = 2
BATCH = 8  # jobs per group commit at most (gunicorn's threads per worker)
_UNTYPED = (psycopg.errors.IndeterminateDatatype, psycopg.errors.AmbiguousParameter,
            psycopg.errors.AmbiguousFunction)
_PREPARABLE = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "VALUES")  # what PREPARE takes


def _configure(conn: psycopg.Connection) -> None:
    # On by default; said here so that a server configured otherwise cannot lose an acknowledged opt-out.
    conn.execute("SET synchronous_commit = on")


def _alive(conn: PooledConnection) -> bool:
    """Whether a connection about to be lent still works. A round trip to the server (psycopg_pool's
    check_connection: ~60 us of client CPU here, and the server's share) on every request is avoided
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
        # Statements are prepared once per connection (PgConnection), unless the server keeps losing
        # them: a pooler in transaction mode (PgBouncer, Supavisor) between us and PostgreSQL hands
        # each transaction another server connection, where our prepared statements do not exist.
        self.prepares = True
        self._statements_lost = 0
        self._local = threading.local()
        self._pool: ConnectionPool | None = None
        self._pool_pid: int | None = None
        self._pool_lock = threading.Lock()
        self._writers = Writers()  # the group commit's (write)

    # Connections -------------------------------------------------------------------------------

    @property
    def pool(self) -> ConnectionPool:
        if self._pool is None or self._pool_pid != os.getpid():
            with self._pool_lock:
                if self._pool is None or self._pool_pid != os.getpid():
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
            conn = PgConnection(self._live_connection(), self)
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
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            if self._local.pid == os.getpid() and self._pool is not None:
                conn.raw.returned_at = time.monotonic()
                self._pool.putconn(conn.raw)

    def close(self) -> None:
        self.release()
        if self._pool is not None and self._pool_pid == os.getpid():
            self._pool.close()
        self._pool = None

    # Writes ------------------------------------------------------------------------------------

    def write(self, work: Callable[[PgConnection], T], person: str | None = None) -> T:
        """Run `work(conn)` in one transaction and return its result once it is committed.

        Writers run side by side; what must not interleave (one person's decisions, bulk jobs)
        takes the dialect's locks inside `work`. An error in `work` rolls back all of it.

        Group commit, for writes that decide for one `person` (the webhook's): threads of one process
        that write at the same time share one transaction, as on SQLite. The first leads: it takes the
        locks of every person in its batch (in one order: dialect.lock_people), runs each job's work
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
            raise StoreError(f"database {self.location}: {e}") from e
        self.write_failure = None
        return result

    def _lead(self) -> None:
        batch = self._writers.take(BATCH)
        committing = False
        leader: PgConnection | None = None

        def run_all(conn: PgConnection) -> None:
            self.dialect.lock_people(conn, [job.person for job in batch])
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
