"""The consent webhook queue's deliveries: claimed in order per person and receiver, retried for three
days, listed for the dashboard, made due again ("retry now"), replayed (flask replay-consent-webhooks).
handlers/sync/consent_webhooks.py sends them; they are queued by handlers/storage/consent_webhooks.py.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from ..core.consent_webhooks import ConsentChange, shown_url
from . import retry_queue
from .consent_webhooks import TABLE, queue
from .store import Store, dict_rows, now

COLUMNS = ("id", "url", "webhook_id", "payload", "created_at", "attempts")
RETRY_FIRST = 5  # seconds: 5 s, 10 s, 20 s ... capped at an hour (retry_queue.BACKOFF_MAX)
KEEP_TRYING = timedelta(days=3)
# A row waits for every earlier undelivered row of the same person to the same receiver: in order per person.
IN_ORDER = (f" AND NOT EXISTS (SELECT 1 FROM {TABLE} earlier WHERE earlier.url = {TABLE}.url "
            f"AND earlier.person = {TABLE}.person AND earlier.id < {TABLE}.id "
            "AND earlier.sent_at IS NULL AND earlier.failed_at IS NULL)")
STATUSES = retry_queue.STATUSES
_WHERE = retry_queue.STATUS_WHERE


def claim_due(store: Store, limit: int) -> list[dict]:
    """Rows due now whose person has nothing earlier undelivered to that receiver."""
    return retry_queue.claim_due(store, limit, TABLE, COLUMNS, also=IN_ORDER)


def retry_later(store: Store, row: dict, error: str) -> bool:
    """Another attempt after the backoff, or, past three days since it was queued, given up. Returns
    whether it will be tried again."""
    created = datetime.fromisoformat(row["created_at"])
    if retry_queue.next_attempt(row["attempts"], RETRY_FIRST) > created + KEEP_TRYING:
        retry_queue.give_up(store, row, f"no 2xx in {KEEP_TRYING.days} days; last: {error}", TABLE)
        return False
    retry_queue.retry_later(store, row, error, TABLE, RETRY_FIRST)
    return True


def mark_delivered(store: Store, row: dict) -> None:
    retry_queue.mark_sent(store, row, TABLE)


def retry_now(store: Store, row_id: int) -> bool:
    """Make an undelivered row due now (a failed one is tried for three more days). False when there is
    no such row, or it was delivered."""
    stamp = now()

    def work(conn):
        return conn.execute(f"UPDATE {TABLE} SET next_attempt_at = ?, failed_at = NULL, claimed_until = NULL, "
                            "created_at = CASE WHEN failed_at IS NULL THEN created_at ELSE ? END "
                            "WHERE id = ? AND sent_at IS NULL RETURNING id", (stamp, stamp, row_id)).fetchall()

    return bool(store.write(work))


def counts(store: Store) -> dict[str, int]:
    """{pending, failed, sent}: how many rows are in each state."""
    return retry_queue.counts(store, TABLE)


def listing(store: Store, status: str, limit: int = 100) -> list[dict]:
    """The rows in `status` (pending, failed or sent), oldest first for pending, newest first otherwise;
    each with its URL (without a query), webhook id, type, person, attempts, next try and last error."""
    order = "id" if status == "pending" else "id DESC"
    rows = dict_rows(store.connection().execute(
        f"SELECT id, url, webhook_id, person, payload, created_at, attempts, next_attempt_at, sent_at, failed_at, "
        f"last_error FROM {TABLE} WHERE {_WHERE[status]} ORDER BY {order} LIMIT ?", (limit,)))
    for row in rows:
        row["url"] = shown_url(row["url"])
        row["type"] = json.loads(row.pop("payload"))["type"]
    return rows


def replay(store: Store, urls: tuple[str, ...], since: str, chunk: int = 5000) -> int:
    """Queue again, for every receiver in `urls`, each change of consent recorded since `since` (ISO
    date or time), in the order recorded, with the webhook id it was first sent with (receivers that
    have it already drop it). A change already waiting for a receiver is not queued twice. Returns the
    rows queued."""
    if not urls:
        return 0
    queued, after = 0, 0
    while True:
        def work(conn, after=after):
            events = conn.execute(
                "SELECT e.id, e.channel, e.address, e.action, e.categories, e.created_at, e.source, e.message_id, "
                "m.rule FROM events e LEFT JOIN messages m ON m.id = e.message_id "
                "WHERE e.created_at >= ? AND e.changed = 1 AND e.id > ? ORDER BY e.id LIMIT ?",
                (since, after, chunk)).fetchall()
            if not events:
                return 0, None
            first, last = events[0][0], events[-1][0]
            known = dict(conn.execute(f"SELECT event_id, webhook_id FROM {TABLE} WHERE event_id BETWEEN ? AND ?",
                                      (first, last)).fetchall())
            waiting = set(conn.execute(f"SELECT url, event_id FROM {TABLE} WHERE event_id BETWEEN ? AND ? AND "
                                       f"{_WHERE['pending']}", (first, last)).fetchall())
            count = 0
            for url in urls:
                changes = [ConsentChange(channel, address, action, tuple(json.loads(categories)), created, source,
                                         rule, message_id, event_id)
                           for event_id, channel, address, action, categories, created, source, message_id, rule
                           in events if (url, event_id) not in waiting]
                count += queue(conn, (url,), changes, known)
            return count, last

        count, after = store.write(work)
        queued += count
        if after is None:
            return queued


def since_of(value: str) -> str:
    """A --since DATE (2026-03-01, or a full ISO time) as the stored form it is compared with."""
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).isoformat(timespec="microseconds")
