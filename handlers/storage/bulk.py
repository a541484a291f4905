"""What the bulk jobs (import, backfill) share: reading keys in batches, and the error for a file that
is not what it was given for. (Their transaction's settings are the dialect's: Dialect.bulk.)"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

Progress = Callable[[int], None]  # called with the number of bytes read since the last call
BATCH = 500  # keys per `IN (...)`: well under SQLite's limit on variables


class TransferError(ValueError):
    """A file that cannot be read as what it was given for; the message says what is wrong."""


def text_stream(raw: BinaryIO) -> io.TextIOWrapper:
    # utf-8-sig: spreadsheet exports often start with a byte-order mark. newline="": the csv module's.
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


def in_batches(conn, sql: str, fixed: tuple, keys: Iterable[str]) -> Iterator[tuple]:
    """Rows of `sql` (with `{marks}` for the placeholders of an IN list) for every key, 500 at a time."""
    keys = list(keys)
    for i in range(0, len(keys), BATCH):
        chunk = keys[i:i + BATCH]
        yield from conn.execute(sql.format(marks=",".join("?" * len(chunk))), (*fixed, *chunk))


def select_for(conn, sql: str, params: tuple, column: str, keys: set[str],
                table_rows: int) -> Iterator[tuple]:
    """Rows of `sql` whose first column is one of `keys`; `{keys}` in sql marks where the test goes.

    A table with at most four rows per key is read once and filtered here; a larger one is looked up,
    500 keys at a time. (A backfill into a young database reads little; into an old one, looks up.)
    """
    if table_rows <= 4 * len(keys):
        return (row for row in conn.execute(sql.format(keys=""), params) if row[0] in keys)
    return in_batches(conn, sql.format(keys=f"AND {column} IN ({{marks}})"), params, keys)
