"""SendGrid: the Inbound Parse webhook of replies (inbound.py), behind HTTP Basic; the signed Event
Webhook (events.py, ECDSA); the suppressions API (api.py).

Its retry contract: SendGrid retries only 5xx answers (for 3 days) and drops the rest, so wrong
credentials get 503 from the Inbound Parse webhook, where a fixed secret then loses nothing; 400 for a
request that can never succeed; 503 when the database cannot commit.
https://www.twilio.com/docs/sendgrid/for-developers/parsing-email/setting-up-the-inbound-parse-webhook
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from email import message_from_bytes, policy
from urllib.parse import urlencode

from ...core.inbound import ProviderError
from ..webhook import (
    EMAIL_BODY,
    EVENT_BODY,
    FORM_TYPES,
    HTTP_BASIC,
    JSON_TYPES,
    RAW,
    Api,
    Authentication,
    Contract,
    Delivery,
    Events,
    Provider,
    Refusal,
    Unusable,
    Webhook,
    basic_header,
)
from . import events, inbound
from .api import SendGridApi


def _parse_inbound(delivery: Delivery):
    fields = {}
    try:
        # The parts' bytes, not Flask's form: SendGrid posts each in the message's charset (`charsets`).
        fields = inbound.form_fields(delivery.payload, delivery.content_type)
        return inbound.parse(fields)
    except ProviderError as error:
        raise Unusable(str(error), fields.get("from", b"").decode("utf-8", "replace")) from error


def _signature_refusal(delivery: Delivery) -> Refusal | None:
    problem = events.verify(delivery.settings["SENDGRID_EVENT_PUBLIC_KEY"], delivery.payload,
                            delivery.headers.get("X-Twilio-Email-Event-Webhook-Signature"),
                            delivery.headers.get("X-Twilio-Email-Event-Webhook-Timestamp"))
    return Refusal(problem) if problem else None


def _parse_events(delivery: Delivery) -> Events:
    found, skipped = events.parse(delivery.payload, delivery.lists)
    return Events(found, skipped)


def _simulated(raw: bytes, settings: Mapping) -> tuple[bytes, dict[str, str]]:
    """Inbound Parse in raw mode: the whole message in `email`."""
    parsed = message_from_bytes(raw, policy=policy.default)
    fields = {"email": raw.decode("utf-8", "replace"), "from": str(parsed["From"] or ""),
              "to": str(parsed["To"] or ""), "subject": str(parsed["Subject"] or ""),
              "charsets": json.dumps({"email": "utf-8"})}
    return urlencode(fields).encode(), {**basic_header(settings), "Content-Type": "application/x-www-form-urlencoded"}


SIGNED_EVENTS = Authentication("SendGrid ECDSA", ("SENDGRID_EVENT_PUBLIC_KEY",), _signature_refusal)

PROVIDER = Provider(
    "sendgrid",
    webhooks=(
        Webhook(path="/webhooks/email/sendgrid", log_name="sendgrid", authentication=HTTP_BASIC,
                read=RAW, parse=_parse_inbound, max_body=EMAIL_BODY, content_types=FORM_TYPES,
                contract=Contract(bad_credentials=503), simulate=_simulated),
        Webhook(path="/webhooks/events/sendgrid", log_name="sendgrid events", authentication=SIGNED_EVENTS,
                read=RAW, parse=_parse_events, max_body=EVENT_BODY, content_types=JSON_TYPES),
    ),
    api=Api(("SENDGRID_API_KEY",), lambda s: SendGridApi(s["SENDGRID_API_KEY"], s["SENDGRID_API_URL"])),
)
