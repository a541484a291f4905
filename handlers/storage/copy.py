"""Copy a whole database, every table with its history, from SQLite to PostgreSQL or back
(flask copy-database), so that a business can move without losing an opt-out or its evidence."""

from __future__ import annotations

from collections.abc import Callable

from .bulk import TransferError
from .store import Store

# Every table, parents before the rows that refer to them.
TABLES = ("messages", "events", "consent", "outbox", "nonces", "links", "reviews", "throttle_events",
          "admin_sessions", "provider_pushes", "erased_suppressions", "erasures", "operators", "api_keys",
          "audit_log", "server_secrets", "consent_webhooks", "keyword_tables", "keyword_servers")
# Their ids are copied as they are; new rows continue after.
WITH_IDS = ("messages", "events", "outbox", "provider_pushes", "erasures", "api_keys", "audit_log", "consent_webhooks")
_CHUNK = 5000


def counts(store: Store) -> dict[str, int]:
    conn = store.connection()
    return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}


def copy_database(source: Store, target: Store, overwrite: bool = False,
                  progress: Callable[[str, int], None] | None = None) -> tuple[dict[str, int], dict[str, int]]:
    """Copy every row of `source` into `target` in one transaction; return the row counts of both after.

    Both are migrated first. A target that holds rows is refused (TransferError) unless `overwrite`,
    which empties it inside the same transaction: if the copy fails, the target keeps what it had.
    """
    source.migrate()
    target.migrate()
    held = {table: n for table, n in counts(target).items() if n}
    if held and not overwrite:
        raise TransferError("the target already holds data (" + ", ".join(f"{n:,} {t}" for t, n in held.items())
                            + "); copy into an empty database, or pass --overwrite to replace it")

    def work(conn) -> None:
        target.db.lock_everyone(conn)
        for table in reversed(TABLES):
            conn.execute(f"DELETE FROM {table}")
        for table in TABLES:
            columns = [c[0] for c in source.connection().execute(f"SELECT * FROM {table} LIMIT 0").description]
            insert = (f"INSERT INTO {table} ({', '.join(columns)}) "
                      f"VALUES ({', '.join('?' * len(columns))})")
            order = "id" if table in WITH_IDS else ", ".join(columns[:2])
            chunk: list[tuple] = []
            for row in source.stream(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"):
                chunk.append(tuple(row))
                if len(chunk) == _CHUNK:
                    conn.executemany(insert, chunk)
                    if progress:
                        progress(table, len(chunk))
                    chunk = []
            if chunk:
                conn.executemany(insert, chunk)
                if progress:
                    progress(table, len(chunk))
            if table in WITH_IDS:
                target.dialect.ids_copied(conn, table)

    target.write(work)
    return counts(source), counts(target)
