"""Mailgun event webhooks (JSON: {"signature": {...}, "event-data": {...}}) into ProviderEvents.

As Mailgun documents them (https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhooks):
    {"signature": {"timestamp": "1529006854", "token": "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0",
                   "signature": "d2271d12299f6592d9d44cd9d250f0704e4674c30d79d07c47a66f95ce71cf55"},
     "event-data": {"event": "unsubscribed", "id": "Ase7i2zsRYeDXztHGENqRA", "timestamp": 1521243339.873676,
                    "recipient": "alice@example.com", "tags": ["my_tag_1"], "domain": {"name": "mg.acme.example"},
                    ...}}
(https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhook-payloads: "domain" names the
sending domain.)
The signature is the HMAC of the inbound routes (handlers/providers/mailgun/inbound.py verify()); its token is
used once. unsubscribed (a category when one of its tags is mapped) and complained are opt-outs;
other events change no consent.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...core.addresses import InvalidAddress, normalise_email
from ...core.inbound import ProviderError
from ...core.provider_events import OPT_OUT, ProviderEvent, category_for

KINDS = ("unsubscribed", "complained")


def signature_fields(payload) -> tuple[str, str, str]:
    """(timestamp, token, signature) of the payload, empty strings where missing."""
    signature = payload.get("signature") if isinstance(payload, Mapping) else None
    signature = signature if isinstance(signature, Mapping) else {}
    return tuple(str(signature.get(name) or "") for name in ("timestamp", "token", "signature"))


def parse(payload, tags: Mapping[str, str]) -> ProviderEvent | None:
    """The consent event in the payload, or None for an event that changes no consent; `tags` maps a
    Mailgun tag to a category. Raises ProviderError for a payload that is no Mailgun event."""
    data = payload.get("event-data") if isinstance(payload, Mapping) else None
    if not isinstance(data, Mapping):
        raise ProviderError("no event-data object: not a Mailgun event webhook")
    kind = data.get("event")
    if not isinstance(kind, str) or kind not in KINDS:
        return None
    event_id, recipient = data.get("id"), data.get("recipient")
    if not isinstance(event_id, str) or not event_id or not isinstance(recipient, str):
        raise ProviderError(f"a {kind} event without id or recipient")
    try:
        address = normalise_email(recipient)
    except InvalidAddress as error:
        raise ProviderError(f"{kind} event: {error}") from error
    categories, flagged = (), False
    if kind == "unsubscribed":
        event_tags = data.get("tags") if isinstance(data.get("tags"), list) else []
        # An unsubscribe from a tag we do not map stops everything, flagged; without tags it is
        # Mailgun's domain-wide unsubscribe, which it is.
        categories, flagged = category_for(tags, event_tags, OPT_OUT)
    # The sending domain ("domain": {"name": "mg.acme.example"}; absent from older payloads): whose opt-out
    # it is when keywords.yaml lists it under a brand's accounts.
    domain = data.get("domain").get("name") if isinstance(data.get("domain"), Mapping) else None
    return ProviderEvent("email", "mailgun", event_id, address, OPT_OUT, kind, categories, flagged,
                         complaint=kind == "complained", evidence=dict(data),
                         nonce=signature_fields(payload)[1] or None,
                         account=domain if isinstance(domain, str) and domain else None)
