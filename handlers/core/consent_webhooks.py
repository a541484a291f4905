"""Consent webhooks out: what a change of consent looks like to the systems that subscribed to it
(CONSENT_WEBHOOK_URLS), and how each POST is signed. Pure: no Flask, no SQL, no network.

Signed as the Standard Webhooks specification says (https://www.standardwebhooks.com/, spec/standard-webhooks.md):
the secret is written `whsec_` + base64 of its bytes; each request carries `webhook-id` (the same on
every attempt, so that receivers de-duplicate by it), `webhook-timestamp` (Unix seconds of this attempt)
and `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`.

The body, one change:
    {"type": "consent.opt_out", "timestamp": "2026-03-01T17:05:00.000000+00:00",
     "data": {"channel": "sms", "address": "+14155550100", "address_withheld": false, "scope": "all",
              "categories": [], "action": "opt_out", "time": "2026-03-01T17:05:00.000000+00:00",
              "source": "keyword", "recorded_by": "sms:twilio", "message_id": 12, "event_id": 40}}
With brands (keywords.yaml `brands:`), data also has "brand": "acme", the brand whose consent changed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from .decision import OPT_IN, OPT_OUT
from .provider_events import COMPLAINT_RULE

SECRET_PREFIX = "whsec_"
SUPPRESSED = "suppressed"  # an erasure: the address is gone, what it must not be sent stays (issue 24)
ACTIONS = (OPT_OUT, OPT_IN, SUPPRESSED)
# Where a change came from, as a receiver needs to know it.
KEYWORD, LINK, PROVIDER_EVENT, OPERATOR = "keyword", "link", "provider_event", "operator"


class ConsentWebhookError(ValueError):
    """CONSENT_WEBHOOK_URLS or CONSENT_WEBHOOK_SECRET cannot be used; the message says how to write them."""


@dataclass(frozen=True)
class ConsentChange:
    channel: str  # sms | email
    address: str | None  # None: withheld (erased)
    action: str  # opt_out | opt_in | suppressed
    categories: tuple[str, ...]  # empty: everything
    time: str  # when it was recorded (ISO 8601, UTC)
    recorded_by: str  # events.source: sms:twilio, email:web, review:admin, import:plain ...
    rule: str | None = None  # the decision's rule, which tells a provider's event from a person's words
    message_id: int | None = None  # the inbound message it was decided from
    event_id: int | None = None
    brand: str | None = None  # the brand's key (keywords.yaml `brands:`); None without brands


def source_of(recorded_by: str, rule: str | None) -> str:
    """keyword, link, provider_event or operator: the one reading of events.source (and the message's
    rule) that both a new change and a replay use."""
    kind, _, name = recorded_by.partition(":")
    if kind in ("review", "import", "erasure", "operator"):
        return OPERATOR
    if kind == "pull" or (rule or "").startswith("provider_event:") or rule == COMPLAINT_RULE:
        return PROVIDER_EVENT
    if name == "web":
        return LINK
    return KEYWORD


def payload(change: ConsentChange) -> bytes:
    """The JSON body of one change, as it is signed and sent on every attempt."""
    data = {
        "channel": change.channel,
        "address": change.address,
        "address_withheld": change.address is None,
        "scope": "category" if change.categories else "all",
        "categories": list(change.categories),
        "action": change.action,
        "time": change.time,
        "source": source_of(change.recorded_by, change.rule),
        "recorded_by": change.recorded_by,
        "message_id": change.message_id,
        "event_id": change.event_id,
    }
    if change.brand is not None:  # only with brands: without, the body is what it always was
        data["brand"] = change.brand
    body = {"type": f"consent.{change.action}", "timestamp": change.time, "data": data}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def new_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def secret_key(secret: str | None) -> bytes:
    """The HMAC key of CONSENT_WEBHOOK_SECRET (`whsec_` + base64). Raises ConsentWebhookError."""
    if not secret or not secret.startswith(SECRET_PREFIX):
        raise ConsentWebhookError("CONSENT_WEBHOOK_SECRET must be whsec_ followed by base64 of 24 to 64 random bytes "
                                  "(python -c \"import base64,os;print('whsec_'+base64.b64encode(os.urandom(32))"
                                  ".decode())\")")
    try:
        encoded = secret.removeprefix(SECRET_PREFIX)
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)  # padding is optional
    except (binascii.Error, ValueError) as e:
        raise ConsentWebhookError(f"CONSENT_WEBHOOK_SECRET: the part after whsec_ is not base64 ({e})") from e
    if not 24 <= len(key) <= 64:  # the specification's bounds
        raise ConsentWebhookError(f"CONSENT_WEBHOOK_SECRET holds {len(key)} bytes; use 24 to 64")
    return key


def signature(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of id.timestamp.body>`."""
    signed = webhook_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(key, webhook_id, timestamp, body)}


def urls_of(value: str | None) -> tuple[str, ...]:
    """CONSENT_WEBHOOK_URLS (comma-separated) as a tuple; raises ConsentWebhookError for one that is no
    http(s) URL."""
    urls = tuple(dict.fromkeys(u.strip() for u in (value or "").split(",") if u.strip()))
    for url in urls:
        if not url.startswith(("https://", "http://")):
            raise ConsentWebhookError(f"CONSENT_WEBHOOK_URLS: {url[:40]!r} is not an http(s) URL")
    return urls


def shown_url(url: str) -> str:
    """A receiver's URL as logs and pages show it: without credentials or a query, which may hold its secrets."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"
