"""flask backup: a consistent copy of the live SQLite database, by SQLite's online backup API.

The copy is taken in one step (sqlite3.Connection.backup with every page at once), inside one read
transaction: it is the database as of one commit, every opt-out acknowledged before it began included,
while webhooks go on being written (WAL mode lets a reader and the writer work side by side). It is
written beside PATH, checked (PRAGMA integrity_check), flushed to disk, and only then renamed to PATH,
so PATH is never a half-written copy. PostgreSQL has its own tools (pg_dump, point-in-time recovery).
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass

from .database import is_postgres_url, sqlite_path

BUSY_TIMEOUT = 60  # seconds a step may wait on the database's own locks (a checkpoint, a recovery)


class BackupError(Exception):
    """The backup was not taken; the message says why and what to do."""


@dataclass(frozen=True)
class Backup:
    path: str
    size: int  # bytes
    seconds: float
    opted_out: int  # consent rows marking an opt-out, as a first look that the copy holds them


def backup_database(location: str, target: str, overwrite: bool = False) -> Backup:
    """Copy the SQLite database at `location` to the file `target`; BackupError when it cannot be done."""
    if is_postgres_url(location):
        raise BackupError("flask backup copies a SQLite database; DATABASE_URL is PostgreSQL: back it up with "
                          "pg_dump (or the server's point-in-time recovery), see the README's \"Backups\"")
    source = sqlite_path(location)
    if not os.path.isfile(source):
        raise BackupError(f"no database at {source}")
    if os.path.exists(target):
        if os.path.samefile(source, target):
            raise BackupError(f"{target} is the database itself; name another file")
        if not overwrite:
            raise BackupError(f"{target} exists; name a new file, or give --overwrite to replace it")
    partial = f"{target}.partial-{os.getpid()}"
    started = time.monotonic()
    try:
        _copy(source, partial)
        _sync(partial)
        os.replace(partial, target)
        _sync(os.path.dirname(os.path.abspath(target)))
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    seconds = time.monotonic() - started
    copy = sqlite3.connect(target)
    try:
        opted_out = copy.execute("SELECT count(*) FROM consent WHERE status = 'out'").fetchone()[0]
    finally:
        copy.close()
    return Backup(target, os.path.getsize(target), seconds, opted_out)


def _copy(source: str, partial: str) -> None:
    reader = sqlite3.connect(source, timeout=BUSY_TIMEOUT)
    copy = sqlite3.connect(partial)
    try:
        reader.backup(copy)  # pages=-1: all at once, one read transaction, so one consistent moment
        # The copy is one self-contained file (no -wal beside it), whatever mode the database runs in.
        copy.execute("PRAGMA journal_mode = DELETE")
        problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"the copy failed PRAGMA integrity_check: {'; '.join(problems[:5])}")
    except sqlite3.Error as e:
        raise BackupError(f"could not copy {source}: {e}") from e
    finally:
        copy.close()
        reader.close()


def _sync(path: str) -> None:
    """Flush a file's (or a folder's entries') writes to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
