"""The Outbox page's rows (/admin/outbox): confirmation emails waiting for SMTP and changes waiting to
reach the providers (SendGrid, Mailgun, Postmark), sent, or given up on with the error. The queue
queries (claim, retry, counts) are handlers/storage/retry_queue.py's."""

from __future__ import annotations

import json

from .retry_queue import STATUS_WHERE
from .store import Store, dict_rows

# The columns each queue shows beside the queue columns: what it is, and to whom.
_SHOWN = {"confirmations": ("outbox", "channel, address, subject, message_id"),
          "pushes": ("provider_pushes", "provider, address, action, categories")}
QUEUE_COLUMNS = "created_at, attempts, next_attempt_at, sent_at, failed_at, last_error"


def listing(store: Store, queue: str, status: str, limit: int = 100) -> list[dict]:
    """The rows of `queue` (confirmations or pushes) in `status`: pending oldest first (the order they
    go in), sent and failed newest first."""
    table, columns = _SHOWN[queue]
    order = "id" if status == "pending" else "id DESC"
    rows = dict_rows(store.connection().execute(
        f"SELECT id, {columns}, {QUEUE_COLUMNS} FROM {table} WHERE {STATUS_WHERE[status]} ORDER BY {order} LIMIT ?",
        (limit,)))
    for row in rows:
        if "categories" in row:
            row["categories"] = tuple(json.loads(row["categories"]))
    return rows
