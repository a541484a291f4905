"""Postmark webhooks (one JSON object per event, RecordType names it) into ProviderEvents.

As Postmark documents them (https://postmarkapp.com/developer/webhooks/spam-complaint-webhook,
https://postmarkapp.com/developer/webhooks/subscription-change-webhook):
    {"RecordType": "SpamComplaint", "MessageStream": "outbound", "ID": 42, "Type": "SpamComplaint",
     "TypeCode": 512, "MessageID": "00000000-...", "Email": "john@example.com", "BouncedAt": "...", ...}
    {"RecordType": "SubscriptionChange", "MessageID": "883953f4-...", "ServerID": 123456,
     "MessageStream": "outbound", "ChangedAt": "2020-02-01T10:53:34.416071Z", "Recipient": "john@example.com",
     "Origin": "Recipient", "SuppressSending": true, "SuppressionReason": "ManualSuppression", "Tag": "..."}
    {"RecordType": "Bounce", "MessageStream": "outbound", "ID": 4323372036854775807, "Type": "Unsubscribe",
     "TypeCode": 16, "Name": "Unsubscribe request", "MessageID": "883953f4-...", "Email": "john@example.com",
     "BouncedAt": "2019-11-05T16:33:54.9070259Z", "Inactive": true, ...}
    (https://postmarkapp.com/developer/webhooks/bounce-webhook; the types: /developer/api/bounce-api)
A SpamComplaint stops everything. A SubscriptionChange suppressing sending, or a Bounce of Type
Unsubscribe (TypeCode 16: the person asked to be removed, and Postmark reports it as a bounce), stops
the category mapped to its stream, else everything; a SubscriptionChange lifting it re-subscribes only
when the person did it (Origin: Recipient), to the mapped category, else to everything: the mirror of
what the unsubscribe on that stream recorded. A hard bounce (or any other bounce type) is no one's
choice and changes no consent (provider_events.HARD_BOUNCES).
Postmark gives a SubscriptionChange no id of its own: recipient, stream, time and direction make one.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...core.addresses import InvalidAddress, normalise_email
from ...core.inbound import ProviderError
from ...core.provider_events import OPT_IN, OPT_OUT, ProviderEvent, category_for, is_hard_bounce

UNSUBSCRIBE_BOUNCE = 16  # Bounce TypeCode "Unsubscribe": a person's removal request


def parse(payload, streams: Mapping[str, str]) -> ProviderEvent | None:
    """The consent event in the payload, or None when it changes no consent; `streams` maps a message
    stream id to a category. Raises ProviderError for a payload Postmark would not send."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("RecordType"), str):
        raise ProviderError("no RecordType: not a Postmark webhook")
    kind = payload["RecordType"]
    stream = payload.get("MessageStream")
    if kind == "SpamComplaint":
        email, event_id, action, categories = payload.get("Email"), payload.get("ID"), OPT_OUT, ()
    elif kind == "Bounce":
        if payload.get("TypeCode") != UNSUBSCRIBE_BOUNCE and payload.get("Type") != "Unsubscribe":
            return None  # a hard bounce, a soft one, an auto-reply ...: no one's choice
        email, event_id, action = payload.get("Email"), payload.get("ID"), OPT_OUT
        categories = _stream_scope(streams, stream, action)
    elif kind == "SubscriptionChange":
        suppress = payload.get("SuppressSending")
        if not isinstance(suppress, bool):
            raise ProviderError("SubscriptionChange without a true/false SuppressSending")
        if is_hard_bounce(payload.get("SuppressionReason")):
            return None
        action = OPT_OUT if suppress else OPT_IN
        if action == OPT_IN and payload.get("Origin") != "Recipient":
            return None  # lifted by the sender's staff, not by the person
        categories = _stream_scope(streams, stream, action)
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
    name = "Unsubscribe" if kind == "Bounce" else kind
    return ProviderEvent("email", "postmark", f"{kind}:{event_id}", address, action, name, categories,
                         complaint=kind == "SpamComplaint", evidence=dict(payload),
                         account=stream if isinstance(stream, str) else None)


def _stream_scope(streams: Mapping[str, str], stream, action: str) -> tuple[str, ...]:
    """The categories a change on message stream `stream` concerns: the one mapped to it, else everything,
    in both directions (a stream is a kind of mail, not a list the person chose: no review is needed)."""
    scope = category_for(streams, [stream] if isinstance(stream, str) else [], action)
    return scope[0] if scope is not None else ()
