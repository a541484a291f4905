"""The keyword table every worker and node serves, kept in the database: the last keywords.yaml that read
well (its content and sha256) and when it is served from; and, per serving process, which table it serves
and what is wrong with the file on its disk (the dashboard's "Keyword table" section).

handlers/services.py decides when to save and when to switch; this module only reads and writes the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .store import Store, dict_rows, now

CURRENT = "current"
SEEN_RECENTLY = timedelta(minutes=2)  # a process that reported within this is listed as serving
FORGET_AFTER = timedelta(days=1)  # a process not heard of for this long (restarted, gone) is forgotten


@dataclass(frozen=True)
class SharedTable:
    checksum: str
    content: bytes
    source: str
    saved_at: str
    serve_from: str


def current(store: Store) -> SharedTable | None:
    """The table every worker serves, or None before any was saved."""
    row = store.connection().execute(
        "SELECT checksum, content, source, saved_at, serve_from FROM keyword_tables WHERE name = ?",
        (CURRENT,)).fetchone()
    if row is None:
        return None
    return SharedTable(row[0], row[1].encode("utf-8"), row[2], row[3], row[4])


def current_checksum(store: Store) -> tuple[str, str] | None:
    """(checksum, serve_from) of the current table: what a worker asks every second."""
    row = store.connection().execute("SELECT checksum, serve_from FROM keyword_tables WHERE name = ?",
                                     (CURRENT,)).fetchone()
    return (row[0], row[1]) if row else None


def save(store: Store, content: bytes, checksum: str, source: str, serve_from: str) -> None:
    """Make `content` (a file that read well) the table every worker serves from `serve_from`; the same
    content saved again (another worker saw the same edit) keeps its first moment."""
    def work(conn):
        conn.execute("INSERT INTO keyword_tables (name, checksum, content, source, saved_at, serve_from) "
                     "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET checksum = excluded.checksum, "
                     "content = excluded.content, source = excluded.source, saved_at = excluded.saved_at, "
                     "serve_from = excluded.serve_from WHERE keyword_tables.checksum <> excluded.checksum",
                     (CURRENT, checksum, content.decode("utf-8"), source, now(), serve_from))

    store.write(work)


def report_served(store: Store, server: str, checksum: str, file_error: str | None) -> None:
    """Note that `server` serves `checksum` (and what is wrong with its file, if anything); forget
    processes long gone."""
    stamp = datetime.now(timezone.utc)

    def work(conn):
        conn.execute("INSERT INTO keyword_servers (server, checksum, file_error, seen_at) VALUES (?, ?, ?, ?) "
                     "ON CONFLICT (server) DO UPDATE SET checksum = excluded.checksum, "
                     "file_error = excluded.file_error, seen_at = excluded.seen_at",
                     (server, checksum, file_error, stamp.isoformat(timespec="microseconds")))
        conn.execute("DELETE FROM keyword_servers WHERE seen_at < ?",
                     ((stamp - FORGET_AFTER).isoformat(timespec="microseconds"),))

    store.write(work)


def servers(store: Store) -> list[dict]:
    """The processes that reported in the last two minutes: server, checksum, file_error, seen_at."""
    since = (datetime.now(timezone.utc) - SEEN_RECENTLY).isoformat(timespec="microseconds")
    return dict_rows(store.connection().execute(
        "SELECT server, checksum, file_error, seen_at FROM keyword_servers WHERE seen_at >= ? ORDER BY server",
        (since,)))
