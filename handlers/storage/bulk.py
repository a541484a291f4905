"""What the bulk jobs (import, backfill) share: reading keys in batches, and the error for a file that
is not what it was given for. (Their transaction's settings are the dialect's: Dialect.bulk.)"""

from __future__ import annotations

import codecs
import collections
import csv
import io
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

Progress = Callable[[int], None]  # called with the number of bytes read since the last call
BATCH = 500  # keys per `IN (...)`: well under SQLite's limit on variables
# A quoted field may hold line breaks, an address never does: a quote still open this many lines on
# is one that is never closed, and reading goes on at the line after the one that opened it.
MAX_ROW_LINES = 20
_FIELD_LIMIT = csv.field_size_limit()  # 128 KiB unless someone changed it


class TransferError(ValueError):
    """A file that cannot be read as what it was given for; the message says what is wrong."""


# Byte-order marks, longest first (UTF-32's little-endian mark begins with UTF-16's).
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def text_stream(raw: BinaryIO) -> io.TextIOWrapper:
    """The file as text: UTF-8 unless a byte-order mark says UTF-16 or UTF-32 (Excel's "Unicode text"
    is UTF-16). A byte that is not of the encoding reads as U+FFFD, so its line is reported, not lost.
    Raises TransferError for UTF-16 without a mark, which would otherwise read as nothing usable."""
    if not hasattr(raw, "peek") and not raw.seekable():
        raw = io.BufferedReader(raw)  # a request's body: peek at its mark through a buffer
    head = _head(raw)
    encoding = next((name for bom, name in _BOMS if head.startswith(bom)), "utf-8")
    if encoding == "utf-8" and len(head) >= 2 and (head[0] == 0) != (head[1] == 0):
        raise TransferError("the file looks like UTF-16 without a byte-order mark: save it as UTF-8 "
                            "(or as UTF-16 with its mark)")
    # newline="": the csv module's.
    return io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")


def _head(raw: BinaryIO) -> bytes:
    """The first 4 bytes, left to be read again."""
    if hasattr(raw, "peek"):
        return raw.peek(4)[:4]
    position = raw.tell()
    head = raw.read(4)
    raw.seek(position)
    return head


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


def csv_rows(lines: Iterator[str], first: int) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """(line number, row, None) for each CSV row of `lines` (numbered from `first`), or (line number,
    None, why) for a line that starts no readable row: a field over the csv module's 128 KiB, or a
    quote never closed (which would otherwise swallow the rest of the file). No line is lost silently."""
    pending: collections.deque[str] = collections.deque()  # lines taken to look ahead, to be read again

    def take() -> str | None:
        return pending.popleft() if pending else next(lines, None)

    number = first
    while (line := take()) is not None:
        if '"' not in line and len(line) <= _FIELD_LIMIT:
            yield number, line.rstrip("\r\n").split(","), None  # what csv makes of it, four times faster
            number += 1
            continue
        record = [line]
        while _quote_open(record) and len(record) < MAX_ROW_LINES and (more := take()) is not None:
            record.append(more)
        if _quote_open(record):
            pending.extendleft(reversed(record[1:]))
            yield number, None, "a quote that is never closed"
            number += 1
            continue
        try:
            yield number, next(csv.reader(["".join(record)]), []), None
        except csv.Error as error:
            yield number, None, ("a field longer than 128 KiB" if "field limit" in str(error) else f"not CSV: {error}")
        number += len(record)


def _quote_open(record: list[str]) -> bool:
    """Whether the lines end inside a quoted field (a quote opens a field only at its start, as csv reads it)."""
    text = "".join(record)
    quoted, at_start, i = False, True, 0
    while i < len(text):
        char = text[i]
        if quoted:
            if char == '"':
                if text[i + 1:i + 2] == '"':
                    i += 1
                else:
                    quoted = False
        elif char == '"' and at_start:
            quoted = True
        at_start = not quoted and char in ",\r\n"
        i += 1
    return quoted
