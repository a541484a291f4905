"""A PostgreSQL connection as the store uses it: the store's SQL as written (`?` placeholders), sent in as
few round trips as it can, each statement prepared once per connection, the answers read as psycopg
reads them, and anything the database refuses raised as StoreError (handlers/storage/postgres.py's
PostgresDatabase lends them, one per request)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from functools import lru_cache
from typing import Protocol

import psycopg
from psycopg import pq
from psycopg.adapt import Transformer
from psycopg.errors import error_from_result
from psycopg.sql import Literal

from .database import StoreError
from .dialect import pyformat


class Lender(Protocol):
    """What a PgConnection asks of the database that lent it (PostgresDatabase)."""

    prepares: bool  # whether statements are prepared on its connections

    def lost_prepared_statements(self) -> None: ...

    def store_error(self, error: BaseException, what: str = "") -> StoreError: ...


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

    Each round trip costs CPU on both sides: the webhook's seven statements in two trips instead of
    seven cost well under half the client's CPU and a third less of the server's (README, "Benchmark").
    So:
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

    def __init__(self, raw: PooledConnection, database: Lender):
        self.raw, self.database = raw, database
        self.people_locked: frozenset[str] = frozenset()  # whose locks this write holds (PostgresDatabase.lock_people)
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
            # waits for the answer with the GIL released. A psycopg cursor did the same for more of this
            # process's CPU (its non-blocking wait, a cursor and adapters per message: README, "Benchmark").
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
        return self.database.store_error(error)

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
_UNTYPED = (psycopg.errors.IndeterminateDatatype, psycopg.errors.AmbiguousParameter,
            psycopg.errors.AmbiguousFunction)
_PREPARABLE = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "VALUES")  # what PREPARE takes
