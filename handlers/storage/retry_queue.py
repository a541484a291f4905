"""The retry queues' queries: rows waiting to be sent, claimed by one worker at a time, retried with
backoff, given up on for good. Three tables are such queues, with the same queue columns (attempts,
next_attempt_at, claimed_until, sent_at, failed_at, last_error): `outbox`, the confirmation emails
(sent over SMTP by handlers/email/outbox.py), `provider_pushes` (handlers/storage/pushes.py) and
`consent_webhooks` (handlers/storage/deliveries.py); `table` names the queue.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .store import Store, now

CLAIM = timedelta(minutes=2)  # a worker that died mid-send frees its rows after this
BACKOFF_FIRST, BACKOFF_MAX = 30, 3600  # seconds: 30 s, 1 min, 2 min ... capped at 1 h


OUTBOX_COLUMNS = ("id", "address", "subject", "body", "in_reply_to", "attempts")


def claim_due(store: Store, limit: int, table: str = "outbox", columns: tuple[str, ...] = OUTBOX_COLUMNS,
              also: str = "") -> list[dict]:
    """Up to `limit` rows due now, claimed for CLAIM so that no other worker sends them meanwhile;
    `also`: a further condition on the row (its columns named `{table}.column`).

    On PostgreSQL, workers claiming at the same moment skip each other's rows (FOR UPDATE SKIP
    LOCKED) rather than wait; on SQLite one writer at a time does the same.
    """
    stamp = now()
    until = (datetime.now(timezone.utc) + CLAIM).isoformat(timespec="microseconds")

    def work(conn):
        rows = conn.execute(
            f"SELECT {', '.join(columns)} FROM {table} "
            "WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ? "
            f"AND (claimed_until IS NULL OR claimed_until < ?){also} ORDER BY id LIMIT ?{store.dialect.claim_lock}",
            (stamp, stamp, limit)).fetchall()
        conn.executemany(f"UPDATE {table} SET claimed_until = ? WHERE id = ?", [(until, r[0]) for r in rows])
        return [dict(zip(columns, r, strict=True)) for r in rows]

    return store.write(work)


def retry_later(store: Store, row: dict, error: str, table: str = "outbox", first: int = BACKOFF_FIRST) -> None:
    """Release the row for another attempt after a backoff that doubles with each attempt (from `first` s)."""
    later = next_attempt(row["attempts"], first).isoformat(timespec="microseconds")
    _mark(store, row["id"], f"UPDATE {table} SET attempts = attempts + 1, next_attempt_at = ?, claimed_until = NULL, "
                         "last_error = ? WHERE id = ?", (later, error))


def next_attempt(attempts: int, first: int = BACKOFF_FIRST) -> datetime:
    """When a row tried `attempts` times before this failure is tried again."""
    return datetime.now(timezone.utc) + timedelta(seconds=min(first * 2 ** attempts, BACKOFF_MAX))


def give_up(store: Store, row: dict, error: str, table: str = "outbox") -> None:
    """The server refused the row for good: never try it again."""
    _mark(store, row["id"], f"UPDATE {table} SET attempts = attempts + 1, failed_at = ?, claimed_until = NULL, "
                         "last_error = ? WHERE id = ?", (now(), error))


def mark_sent(store: Store, row: dict, table: str = "outbox", note: str | None = None) -> None:
    """Done; `note` keeps what the receiver said when it accepted with a reservation. A confirmation
    email keeps no body once sent (README, Personal data)."""
    sent_body = ", body = ''" if table == "outbox" else ""
    _mark(store, row["id"], f"UPDATE {table} SET sent_at = ?, claimed_until = NULL, last_error = ?{sent_body} "
                            "WHERE id = ?", (now(), note))


def _mark(store: Store, row_id: int, sql: str, values: tuple) -> None:
    store.write(lambda conn: conn.execute(sql, (*values, row_id)))



# The dashboard's view of the queues (/admin/outbox, /admin/deliveries) and their depths (metrics).
QUEUES = {"confirmations": "outbox", "pushes": "provider_pushes", "consent_webhooks": "consent_webhooks"}
STATUSES = ("pending", "failed", "sent")
STATUS_WHERE = {"pending": "sent_at IS NULL AND failed_at IS NULL", "failed": "failed_at IS NOT NULL",
                "sent": "sent_at IS NOT NULL"}


def counts(store: Store, table: str) -> dict[str, int]:
    """{pending, failed, sent}: how many rows of the queue `table` are in each state (one scan)."""
    row = store.connection().execute(
        "SELECT " + ", ".join(f"COALESCE(SUM(CASE WHEN {STATUS_WHERE[s]} THEN 1 ELSE 0 END), 0)" for s in STATUSES)
        + f" FROM {table}").fetchone()
    return dict(zip(STATUSES, (int(n) for n in row), strict=True))


def depths(store: Store) -> dict[str, dict[str, int]]:
    """Every queue's counts by state: {confirmations|pushes|consent_webhooks: {pending, failed, sent}}."""
    return {name: counts(store, table) for name, table in QUEUES.items()}


def retry_now(store: Store, row_id: int, table: str = "outbox") -> bool:
    """Make a row not yet sent due now, a given-up one included; False when there is no such row or it
    was sent meanwhile."""
    stamp = now()

    def work(conn):
        return conn.execute(f"UPDATE {table} SET next_attempt_at = ?, failed_at = NULL, claimed_until = NULL "
                            "WHERE id = ? AND sent_at IS NULL RETURNING id", (stamp, row_id)).fetchall()

    return bool(store.write(work))


# The queues as the metrics name them (optout_queue_depth{queue}: handlers/web/metrics.py, docs/monitoring).
METRIC_NAMES = {"confirmations": "confirmation_emails", "pushes": "provider_pushes",
                "consent_webhooks": "consent_webhooks"}


def pending_counts(store: Store) -> dict[str, int]:
    """{queue as the metrics name it: rows waiting to be sent, neither sent nor given up}, in one statement.
    Only the waiting rows, which each queue's partial index holds: a scrape comes every few seconds, and
    the sent rows, which depths() also counts for the pages, grow without end."""
    sql = " UNION ALL ".join(f"SELECT '{METRIC_NAMES[name]}', count(*) FROM {table} WHERE {STATUS_WHERE['pending']}"
                             for name, table in QUEUES.items())
    return {name: int(n) for name, n in store.connection().execute(sql).fetchall()}
