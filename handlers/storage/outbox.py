"""The outbox's queries: confirmation emails waiting to be sent, claimed by one worker at a time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .database import Database
from .store import now

CLAIM = timedelta(minutes=2)  # a worker that died mid-send frees its rows after this
BACKOFF_FIRST, BACKOFF_MAX = 30, 3600  # seconds: 30 s, 1 min, 2 min ... capped at 1 h


def claim_due(db: Database, limit: int) -> list[dict]:
    """Up to `limit` rows due now, claimed for CLAIM so that no other worker sends them meanwhile."""
    stamp = now()
    until = (datetime.now(timezone.utc) + CLAIM).isoformat(timespec="microseconds")

    def work(conn):
        rows = conn.execute(
            "SELECT id, address, subject, body, in_reply_to, attempts FROM outbox "
            "WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ? "
            "AND (claimed_until IS NULL OR claimed_until < ?) ORDER BY id LIMIT ?", (stamp, stamp, limit)).fetchall()
        conn.executemany("UPDATE outbox SET claimed_until = ? WHERE id = ?", [(until, r[0]) for r in rows])
        keys = ("id", "address", "subject", "body", "in_reply_to", "attempts")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    return db.write(work)


def retry_later(db: Database, row: dict, error: str) -> None:
    """Release the row for another attempt after a backoff that doubles with each attempt."""
    delay = min(BACKOFF_FIRST * 2 ** row["attempts"], BACKOFF_MAX)
    later = (datetime.now(timezone.utc) + timedelta(seconds=delay)).isoformat(timespec="microseconds")
    _mark(db, row["id"], "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, claimed_until = NULL, "
                         "last_error = ? WHERE id = ?", (later, error))


def give_up(db: Database, row: dict, error: str) -> None:
    """The server refused the row for good: never try it again."""
    _mark(db, row["id"], "UPDATE outbox SET attempts = attempts + 1, failed_at = ?, claimed_until = NULL, "
                         "last_error = ? WHERE id = ?", (now(), error))


def mark_sent(db: Database, row: dict) -> None:
    _mark(db, row["id"], "UPDATE outbox SET sent_at = ?, claimed_until = NULL, last_error = NULL WHERE id = ?",
          (now(),))


def _mark(db: Database, row_id: int, sql: str, values: tuple) -> None:
    db.write(lambda conn: conn.execute(sql, (*values, row_id)))

