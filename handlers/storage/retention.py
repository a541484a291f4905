"""Retention (GDPR Art. 5(1)(e)): after MESSAGE_RETENTION_DAYS an inbound message keeps only what proves
its decision (time, channel, address, decision, matched keyword or label, provider message id, our
reply); its text, HTML, headers and provider parameters go. A confirmation email keeps no body once
sent. Consent events and state are never pruned: they are what suppression needs.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from ..core.personal_data import retention_cutoff
from .erasure import deleted

BATCH = 5000  # message ids per transaction: a webhook waits for one batch at most, not for the whole prune
PRUNED_TABLES = ("messages", "outbox")
_PRUNE_MESSAGES = ("UPDATE messages SET body = '', params = '{}', recipient = NULL "
                   "WHERE id > ? AND id <= ? AND received_at < ? "
                   "AND (body <> '' OR params <> '{}' OR recipient IS NOT NULL)")
# A row still waiting to be sent keeps its body until it is sent or given up.
_PRUNE_OUTBOX = ("UPDATE outbox SET body = '', in_reply_to = NULL, last_error = NULL "
                 "WHERE created_at < ? AND (sent_at IS NOT NULL OR failed_at IS NOT NULL) "
                 "AND (body <> '' OR in_reply_to IS NOT NULL OR last_error IS NOT NULL)")


def prune(store, days: int, now: datetime | None = None) -> dict:
    """Remove the text and evidence of messages received more than `days` days ago (0: all of them) and
    what is left of sent confirmation emails; then scrub the files (Database.scrub). Returns
    {"messages": rows pruned, "confirmations": rows pruned, "cutoff", "physically_removed"}."""
    cutoff = retention_cutoff(now or datetime.now(timezone.utc), days)
    last = store.connection().execute("SELECT max(id) FROM messages WHERE received_at < ?", (cutoff,)).fetchone()[0]
    messages = 0
    for start in range(0, last or 0, BATCH):
        messages += store.write(lambda conn, start=start: deleted(conn, _PRUNE_MESSAGES,
                                                                  (start, start + BATCH, cutoff)))
    confirmations = store.write(lambda conn: deleted(conn, _PRUNE_OUTBOX, (cutoff,)))
    scrubbed = store.db.scrub(PRUNED_TABLES) if messages or confirmations else True
    return {"messages": messages, "confirmations": confirmations, "cutoff": cutoff, "physically_removed": scrubbed}


class DailyPrune:
    """The mail worker's retention step: prune once at start, then once a day; a failed prune is tried
    again an hour later. (Several workers prune the same rows harmlessly: what was pruned is skipped.)"""

    interval, retry = 24 * 3600.0, 3600.0

    def __init__(self, store, days: int, clock=time.monotonic):
        self.store, self.days, self.clock = store, days, clock
        self.due = clock()

    def __call__(self) -> dict | None:
        """Prune if a day has passed since the last prune; its counts, or None when it was not due."""
        if self.clock() < self.due:
            return None
        self.due = self.clock() + self.retry
        counts = prune(self.store, self.days)
        self.due = self.clock() + self.interval
        return counts
