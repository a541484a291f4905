"""Postmark webhooks (one JSON object per event, RecordType names it) into ProviderEvents.

As Postmark documents them (https://postmarkapp.com/developer/webhooks/spam-complaint-webhook,
https://postmarkapp.com/developer/webhooks/subscription-change-webhook):
    {"RecordType": "SpamComplaint", "MessageStream": "outbound", "ID": 42, "Type": "SpamComplaint",
     "TypeCode": 512, "MessageID": "00000000-...", "Email": "john@example.com", "BouncedAt": "...", ...}
    {"RecordType": "SubscriptionChange", "MessageID": "883953f4-...", "ServerID": 123456,
     "MessageStream": "outbound", "ChangedAt": "2020-02-01T10:53:34.416071Z", "Recipient": "john@example.com",
     "Origin": "Recipient", "SuppressSending": true, "SuppressionReason": "ManualSuppression", "Tag": "..."}
A SpamComplaint stops everything. A SubscriptionChange suppressing sending stops the category mapped
to its stream (else everything); one lifting it re-subscribes only when the person did it (Origin:
Recipient). A suppression for a hard bounce is no one's choice and changes no consent.
Postmark gives a SubscriptionChange no id of its own: recipient, stream, time and direction make one.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...core.addresses import InvalidAddress, normalise_email
from ...core.inbound import ProviderError
from ...core.provider_events import OPT_IN, OPT_OUT, ProviderEvent, category_for

_NOT_A_CHOICE = {"HardBounce"}


def parse(payload, streams: Mapping[str, str]) -> ProviderEvent | None:
    """The consent event in the payload, or None when it changes no consent; `streams` maps a message
    stream id to a category. Raises ProviderError for a payload Postmark would not send."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("RecordType"), str):
        raise ProviderError("no RecordType: not a Postmark webhook")
    kind = payload["RecordType"]
    stream = payload.get("MessageStream")
    if kind == "SpamComplaint":
        email, event_id, action, categories, flagged = payload.get("Email"), payload.get("ID"), OPT_OUT, (), False
    elif kind == "SubscriptionChange":
        suppress = payload.get("SuppressSending")
        if not isinstance(suppress, bool):
            raise ProviderError("SubscriptionChange without a true/false SuppressSending")
        if str(payload.get("SuppressionReason")) in _NOT_A_CHOICE:
            return None
        action = OPT_OUT if suppress else OPT_IN
        if action == OPT_IN and payload.get("Origin") != "Recipient":
            return None  # lifted by the sender's staff, not by the person
        scope = category_for(streams, [stream] if isinstance(stream, str) else [], action)
        if scope is None:
            return None
        categories, flagged = scope
        flagged = False  # a stream is a kind of mail, not a list the person chose: everything is meant
        email = payload.get("Recipient")
        event_id = f"{email}|{stream}|{payload.get('ChangedAt')}|{action}"
    else:
        return None
    if not isinstance(email, str) or event_id in (None, ""):
        raise ProviderError(f"a {kind} without the address or id it is about")
    try:
        address = normalise_email(email)
    except InvalidAddress as error:
        raise ProviderError(f"{kind}: {error}") from error
    return ProviderEvent("email", "postmark", f"{kind}:{event_id}", address, action, kind, categories, flagged,
                         complaint=kind == "SpamComplaint", evidence=dict(payload))
