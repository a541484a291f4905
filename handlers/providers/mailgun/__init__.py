"""Mailgun: a route's forward() of replies (inbound.py), its event webhooks (events.py), both signed
with the HTTP webhook signing key (inbound.verify); its unsubscribes API (api.py).

Its retry contract: 401 for a bad signature (retried for 8 hours, so a key fixed in time loses
nothing), 406 for a request that can never succeed (Mailgun's "rejected, do not retry"), 503 when the
database cannot commit. Each signature's token is spent once, on either route, even by a request that
records nothing.

Mailgun signs only timestamp + token, not the event: a signature seen by anyone else (a `delivered`
webhook sent to another tool) could carry a forged complaint. So with MAILGUN_API_KEY and
MAILGUN_DOMAIN set, an opt-out event is recorded only once Mailgun's Events API lists its id.
https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhooks
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from email import message_from_bytes, policy
from urllib.parse import urlencode

from ...core.inbound import ProviderError
from ...core.provider_events import ProviderEvent
from ..http_api import ApiError
from ..webhook import (
    EMAIL_BODY,
    EVENT_BODY,
    FORM,
    FORM_TYPES,
    JSON,
    JSON_TYPES,
    Api,
    Authentication,
    Contract,
    Delivery,
    Events,
    Provider,
    Refusal,
    Unconfirmed,
    Unusable,
    Webhook,
)
from . import events, inbound
from .api import MailgunApi


def _hmac(signature_of: Callable[[object], tuple[str, str, str]], sender_of: Callable[[object], str | None]):
    """Mailgun's HMAC, read from the payload by `signature_of` as (timestamp, token, signature)."""

    def check(delivery: Delivery) -> Refusal | None:
        timestamp, token, signature = signature_of(delivery.payload)
        problem = inbound.verify(delivery.settings["MAILGUN_SIGNING_KEY"], timestamp, token, signature,
                                 now=time.time(), max_age=inbound.MAX_AGE)
        return Refusal(problem, sender_of(delivery.payload)) if problem else None

    return Authentication("Mailgun HMAC", ("MAILGUN_SIGNING_KEY",), check)


def _form_signature(fields: Mapping) -> tuple[str, str, str]:
    return tuple(fields.get(name, "") for name in ("timestamp", "token", "signature"))


def _parse_inbound(delivery: Delivery):
    try:
        return inbound.parse(delivery.payload)
    except ProviderError as error:
        raise Unusable(str(error), delivery.payload.get("from")) from error


def _parse_events(delivery: Delivery) -> Events:
    event = events.parse(delivery.payload, delivery.lists)
    if event is not None:
        _confirm(event, delivery)
        return Events([event])
    # An event that changes no consent: nothing to record, but its token is spent.
    data = delivery.payload.get("event-data") or {}
    return Events([], nonce_id=f"event:{data.get('id') or events.signature_fields(delivery.payload)[1]}")


# Mailgun's Events API may list an event some time after its webhook: until then a retry can succeed.
CONFIRM_WINDOW = 3600


def _confirm(event: ProviderEvent, delivery: Delivery) -> None:
    """Raise Unconfirmed unless Mailgun's Events API lists `event` (when its API is configured)."""
    settings = delivery.settings
    if not (settings["MAILGUN_API_KEY"] and settings["MAILGUN_DOMAIN"]):
        return
    data = delivery.payload["event-data"]
    timestamp = data.get("timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)) or timestamp != timestamp:
        raise Unconfirmed(f"{event.kind} event without a timestamp", f"event:{event.event_id}", retry=False)
    api = MailgunApi(settings["MAILGUN_API_KEY"], settings["MAILGUN_DOMAIN"], settings["MAILGUN_API_URL"])
    try:
        found = api.has_event(event.kind, event.event_id, data["recipient"], float(timestamp))
    except ApiError as error:
        # Its text is not logged: the request named the person.
        raise Unconfirmed("could not ask Mailgun's Events API; retry", f"event:{event.event_id}",
                          retry=True) from error
    if not found:
        recent = abs(time.time() - float(timestamp)) < CONFIRM_WINDOW
        raise Unconfirmed(f"Mailgun's Events API does not list this {event.kind} event", f"event:{event.event_id}",
                          retry=recent)


def _simulated(raw: bytes, settings: Mapping) -> tuple[bytes, dict[str, str]]:
    """A route's forward() to a URL ending in mime (body-mime), signed."""
    parsed = message_from_bytes(raw, policy=policy.default)
    timestamp, token = str(int(time.time())), secrets.token_hex(25)
    fields = {"recipient": str(parsed["To"] or ""), "sender": str(parsed["From"] or ""),
              "subject": str(parsed["Subject"] or ""), "body-mime": raw.decode("utf-8", "replace"),
              "timestamp": timestamp, "token": token,
              "signature": inbound.sign(settings["MAILGUN_SIGNING_KEY"] or "", timestamp, token)}
    return urlencode(fields).encode(), {"Content-Type": "application/x-www-form-urlencoded"}


CONTRACT = Contract(bad_credentials=401, unusable=406, unavailable=503)

PROVIDER = Provider(
    "mailgun",
    webhooks=(
        Webhook(path="/webhooks/email/mailgun", log_name="mailgun",
                authentication=_hmac(_form_signature, lambda fields: fields.get("from")),
                read=FORM, parse=_parse_inbound, max_body=EMAIL_BODY, content_types=FORM_TYPES, contract=CONTRACT,
                nonce=lambda fields: fields["token"], simulate=_simulated),
        Webhook(path="/webhooks/events/mailgun", log_name="mailgun events",
                authentication=_hmac(events.signature_fields, lambda payload: None),
                read=JSON, parse=_parse_events, max_body=EVENT_BODY, content_types=JSON_TYPES, contract=CONTRACT,
                nonce=lambda payload: events.signature_fields(payload)[1]),
    ),
    api=Api(("MAILGUN_API_KEY", "MAILGUN_DOMAIN"),
            lambda s: MailgunApi(s["MAILGUN_API_KEY"], s["MAILGUN_DOMAIN"], s["MAILGUN_API_URL"])),
)
