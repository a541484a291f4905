"""Deliver the queued consent webhooks (handlers/storage/consent_webhooks.py) after commit, run by the
mail worker, never in a webhook's path: each row POSTed, signed, until its receiver answers 2xx, in
order per person, with backoff (5 s doubling to an hour) for three days. A receiver that is down delays
its rows and never loses them; the same webhook-id goes on every attempt, so it de-duplicates.
"""

from __future__ import annotations

import time

from ..core.consent_webhooks import headers, secret_key
from ..providers import receivers
from ..storage import deliveries
from ..storage.store import Store

ROUNDS = 10  # claims per call at most, so that confirmations and pushes are not kept behind a backlog


def deliver_due(store: Store, secret: str | None, limit: int = 100) -> dict:
    """POST what is due now. Returns counts {"delivered", "retry", "failed"}. Raises ConsentWebhookError
    for a missing or malformed CONSENT_WEBHOOK_SECRET (before claiming anything: the rows wait)."""
    counts = {"delivered": 0, "retry": 0, "failed": 0}
    key = secret_key(secret)
    rows = deliveries.claim_due(store, limit)
    if not rows:
        return counts
    with receivers.session() as session:
        for round_ in range(1, ROUNDS + 1):
            for row in rows:
                body = row["payload"].encode()
                problem = receivers.post(session, row["url"], body,
                                         headers(key, row["webhook_id"], int(time.time()), body))
                if problem is None:
                    deliveries.mark_delivered(store, row)
                    counts["delivered"] += 1
                elif deliveries.retry_later(store, row, problem):
                    counts["retry"] += 1
                else:
                    counts["failed"] += 1
            if round_ == ROUNDS:
                break
            # A delivered row lets the person's next one go: claim again until nothing is due.
            rows = deliveries.claim_due(store, limit)
            if not rows:
                break
    return counts
