"""Send the outbox's text messages (a reviewer's one message after a correction) through Twilio's
Messages API (handlers/providers/twilio_messages.py), after commit, retrying with backoff; the mail
worker runs it beside the emails.

From: the number the person texted (the message's `recipient`); the account: the AccountSid of their
message, as Twilio posted it; the credential: TWILIO_AUTH_TOKEN, the account's auth token, which the
webhook checks signatures with.
"""

from __future__ import annotations

from ..core.addresses import CHANNEL_PREFIXES, PHONE_CHANNELS
from ..providers.http_api import ApiError
from ..providers.twilio_messages import send_text
from ..storage import retry_queue
from ..storage.messages import answered_on
from ..storage.store import Store

COLUMNS = ("id", "channel", "address", "body", "attempts", "message_id")


def send_due_sms(store: Store, auth_token: str | None, limit: int = 100) -> dict:
    """Send the text messages due now. Returns counts {"sent", "retry", "failed"}."""
    counts = {"sent": 0, "retry": 0, "failed": 0}
    phones = ", ".join(f"'{channel}'" for channel in PHONE_CHANNELS)
    for row in retry_queue.claim_due(store, limit, columns=COLUMNS, also=f" AND outbox.channel IN ({phones})"):
        sender, account = answered_on(store, row["message_id"])
        if not auth_token:  # waits until it is set
            retry_queue.retry_later(store, row, "TWILIO_AUTH_TOKEN is not set")
            counts["retry"] += 1
            continue
        if not (sender and account):
            retry_queue.give_up(store, row, "the person's message names no Twilio account or number to answer from")
            counts["failed"] += 1
            continue
        try:
            # On the channel the person wrote on: whatsapp:+1..., rcs:+1... (the sender, their message's To, has it).
            to = CHANNEL_PREFIXES.get(row["channel"], "") + row["address"]
            send_text(account, auth_token, sender, to, row["body"])
        except ApiError as e:
            (retry_queue.give_up if e.permanent else retry_queue.retry_later)(store, row, str(e))
            counts["failed" if e.permanent else "retry"] += 1
        else:
            retry_queue.mark_sent(store, row)
            counts["sent"] += 1
    return counts
