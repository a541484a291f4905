"""SendGrid Event Webhook (a JSON array of events): verify its signature, parse the events that
change consent into ProviderEvents.

Signed Event Webhook: SendGrid signs timestamp + raw body with ECDSA P-256 / SHA-256 and sends the
base64 DER signature in X-Twilio-Email-Event-Webhook-Signature, the timestamp in
X-Twilio-Email-Event-Webhook-Timestamp; the public key (Mail Settings > Event Webhook > Signature
Verification) is base64 DER, without PEM lines.
https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features

Events as documented (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event):
    {"email": "example@test.com", "timestamp": 1513299569, "event": "group_unsubscribe",
     "sg_event_id": "...", "sg_message_id": "...", "asm_group_id": 10, "ip": "...", "useragent": "..."}
unsubscribe and spamreport stop everything; group_unsubscribe / group_resubscribe concern the
category mapped to asm_group_id. Other events (delivered, open, bounce ...) change no consent.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from ...core.addresses import InvalidAddress, normalise_email
from ...core.inbound import ProviderError
from ...core.provider_events import OPT_IN, OPT_OUT, ProviderEvent, category_for
from ...core.text import readable

_ACTIONS = {"unsubscribe": OPT_OUT, "spamreport": OPT_OUT, "group_unsubscribe": OPT_OUT,
            "group_resubscribe": OPT_IN}


# How old a signed request may be. SendGrid retries a failed delivery for up to 72 hours, and its
# documentation does not say it signs each retry anew: the window keeps those and refuses what is
# older or dated ahead (a request is idempotent on its events' sg_event_id within it).
MAX_AGE, FUTURE_SKEW = 73 * 3600, 300


def verify(public_key: str | None, body: bytes, signature: str | None, timestamp: str | None,
           now: float | None = None) -> str | None:
    """None when `signature` is SendGrid's signature of timestamp + body under `public_key` and the
    timestamp is within MAX_AGE before `now` (default: the clock) and FUTURE_SKEW after; else why not."""
    if not public_key:
        return "no SendGrid event public key configured"
    if not signature or not timestamp:
        return "missing signature headers"
    try:
        key = load_der_public_key(base64.b64decode(public_key.strip()))
    except (ValueError, binascii.Error, TypeError):
        return "SENDGRID_EVENT_PUBLIC_KEY is not a base64 DER public key"
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return "SENDGRID_EVENT_PUBLIC_KEY is not an elliptic-curve key"
    try:
        key.verify(base64.b64decode(signature), timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, binascii.Error):
        return "bad signature"
    now = time.time() if now is None else now
    # Digits only: float() would let "nan" through every comparison.
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12 or now - int(timestamp) > MAX_AGE:
        return "stale timestamp"
    if int(timestamp) - now > FUTURE_SKEW:
        return "timestamp in the future"
    return None


def parse(body: bytes, groups: Mapping[str, str]) -> tuple[list[ProviderEvent], list[str]]:
    """(the consent events in the batch, why each unusable one was skipped); `groups` maps
    asm_group_id (as text) to a category. Raises ProviderError when the body is no event array."""
    try:
        events = readable(json.loads(body))  # a lone surrogate in a useragent must not lose the batch
    except ValueError as error:
        raise ProviderError(f"the body is not JSON: {error}") from error
    if not isinstance(events, list):
        raise ProviderError("the body is not a JSON array of events")
    found, problems = [], []
    for number, event in enumerate(events):
        if not isinstance(event, Mapping) or not isinstance(event.get("event"), str) or event["event"] not in _ACTIONS:
            continue
        kind, action = event["event"], _ACTIONS[event["event"]]
        event_id, email = event.get("sg_event_id"), event.get("email")
        if not isinstance(event_id, str) or not event_id or not isinstance(email, str):
            problems.append(f"event {number} ({kind}): no sg_event_id or email")
            continue
        try:
            address = normalise_email(email)
        except InvalidAddress as error:
            problems.append(f"event {number} ({kind}): {error}")
            continue
        categories, flagged = (), False
        if kind.startswith("group_"):
            scope = category_for(groups, [event["asm_group_id"]] if "asm_group_id" in event else [], action)
            if scope is None:
                continue  # a resubscribe to a group that is no category of ours
            categories, flagged = scope
        group = event.get("asm_group_id")
        found.append(ProviderEvent("email", "sendgrid", event_id, address, action, kind, categories, flagged,
                                   complaint=kind == "spamreport", evidence=dict(event),
                                   account=str(group) if isinstance(group, (int, str)) and group != "" else None))
    return found, problems
