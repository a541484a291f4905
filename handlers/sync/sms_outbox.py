"""Send the outbox's text messages (a reviewer's one message after a correction) through Twilio's
Messages API, after commit, retrying with backoff; the mail worker runs it beside the emails.

From: the number the person texted (the message's `recipient`); the account: the AccountSid of their
message, as Twilio posted it; the credential: TWILIO_AUTH_TOKEN, the account's auth token, which the
webhook checks signatures with. https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
"""

from __future__ import annotations

import json

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from ..storage import retry_queue
from ..storage.store import Store

COLUMNS = ("id", "address", "body", "attempts", "message_id")


def send_due_sms(store: Store, auth_token: str | None, limit: int = 100) -> dict:
    """Send the text messages due now. Returns counts {"sent", "retry", "failed"}."""
    counts = {"sent": 0, "retry": 0, "failed": 0}
    for row in retry_queue.claim_due(store, limit, columns=COLUMNS, also=" AND outbox.channel = 'sms'"):
        origin = store.connection().execute("SELECT recipient, params FROM messages WHERE id = ?",
                                            (row["message_id"],)).fetchone()
        sender, account = (origin[0], json.loads(origin[1] or "{}").get("AccountSid")) if origin else (None, None)
        if not auth_token:  # waits until it is set
            retry_queue.retry_later(store, row, "TWILIO_AUTH_TOKEN is not set")
            counts["retry"] += 1
            continue
        if not (sender and account):
            retry_queue.give_up(store, row, "the person's message names no Twilio account or number to answer from")
            counts["failed"] += 1
            continue
        try:
            Client(account, auth_token).messages.create(to=row["address"], from_=sender, body=row["body"])
        except TwilioRestException as e:
            # 4xx: Twilio refused this message (an unsubscribed recipient, a bad number); 429 and 5xx may pass later.
            permanent = 400 <= e.status < 500 and e.status != 429
            (retry_queue.give_up if permanent else retry_queue.retry_later)(store, row, f"Twilio {e.status}: {e.msg}")
            counts["failed" if permanent else "retry"] += 1
        except (requests.RequestException, TwilioException) as e:
            retry_queue.retry_later(store, row, f"cannot reach Twilio: {type(e).__name__}")
            counts["retry"] += 1
        else:
            retry_queue.mark_sent(store, row)
            counts["sent"] += 1
    return counts
