"""Postmark: the inbound webhook of replies (inbound.py) and its spam-complaint and subscription-change
webhooks (events.py), both behind HTTP Basic; the suppressions API (api.py).

Its retry contract: 401 for wrong credentials (retried 10 times, so a secret fixed in time loses
nothing); never 403 for that, which makes Postmark stop for good; 400 for a request that can never
succeed; 503 when the database cannot commit. https://postmarkapp.com/developer/webhooks/inbound-webhook
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from email import message_from_bytes, policy

from ...core.inbound import ProviderError
from ..webhook import (
    EMAIL_BODY,
    EVENT_BODY,
    HTTP_BASIC,
    JSON,
    JSON_TYPES,
    Api,
    Delivery,
    Events,
    Provider,
    Unusable,
    Webhook,
    basic_header,
)
from . import events, inbound
from .api import DEFAULT_STREAM, PostmarkApi


def _parse_inbound(delivery: Delivery):
    payload = delivery.payload
    try:
        return inbound.parse(payload)
    except ProviderError as error:
        claimed = payload.get("From") if isinstance(payload, dict) and isinstance(payload.get("From"), str) else None
        raise Unusable(str(error), claimed) from error


def _parse_events(delivery: Delivery) -> Events:
    event = events.parse(delivery.payload, delivery.lists)
    return Events([event] if event else [])


def _simulated(raw: bytes, settings: Mapping) -> tuple[bytes, dict[str, str]]:
    """Postmark's inbound JSON, its headers but the ones it lifts to the top level."""
    parsed = message_from_bytes(raw, policy=policy.default)
    body = parsed.get_body(("plain",))
    payload = {"From": str(parsed["From"] or ""), "To": str(parsed["To"] or ""),
               "Subject": str(parsed["Subject"] or ""), "MessageID": str(uuid.uuid4()),
               "Date": str(parsed["Date"] or ""), "TextBody": body.get_content() if body else "",
               "Headers": [{"Name": k, "Value": str(v)} for k, v in parsed.items()
                           if k.lower() not in ("from", "to", "subject", "date")]}
    return json.dumps(payload).encode(), {**basic_header(settings), "Content-Type": "application/json"}


PROVIDER = Provider(
    "postmark",
    webhooks=(
        Webhook(path="/webhooks/email/postmark", log_name="postmark", authentication=HTTP_BASIC,
                read=JSON, parse=_parse_inbound, max_body=EMAIL_BODY, content_types=JSON_TYPES, simulate=_simulated),
        Webhook(path="/webhooks/events/postmark", log_name="postmark events", authentication=HTTP_BASIC,
                read=JSON, parse=_parse_events, max_body=EVENT_BODY, content_types=JSON_TYPES),
    ),
    # No account-wide list: a change of no category concerns every mapped stream and the default one.
    api=Api(("POSTMARK_SERVER_TOKEN",), lambda s: PostmarkApi(s["POSTMARK_SERVER_TOKEN"], s["POSTMARK_API_URL"]),
            default_lists=(DEFAULT_STREAM,)),
)
