"""What a provider tells us it did (an unsubscribe, a spam complaint, a re-subscribe): one shape for
every provider's event webhook, and how such an event is recorded like a message: an Inbound with a
decision already made, the provider's action set so that nobody is answered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .decision import OPT_IN, OPT_OUT, Decision
from .inbound import Inbound


@dataclass(frozen=True)
class ProviderEvent:
    channel: str  # "sms" or "email"
    provider: str  # twilio | sendgrid | mailgun | postmark | mime
    event_id: str  # the provider's id of the event: the de-duplication key
    address: str  # whose consent it is, normalised
    action: str  # opt_out | opt_in
    kind: str  # the provider's name for it: unsubscribe, spamreport, complained, 21610 ...
    categories: tuple[str, ...] = ()  # empty: everything
    flagged: bool = False  # recorded as asked, but a person should look (an unmapped list)
    complaint: bool = False  # a spam complaint: never send this person a confirmation
    synced: bool = True  # the provider's own list already holds it: not pushed back to that provider
    evidence: Mapping[str, object] = field(default_factory=dict)  # the event as the provider sent it
    nonce: str | None = None  # a one-time value of the provider's signature (Mailgun token)


# The rule recorded for a complaint; the store sends no confirmation to an address with one on record.
COMPLAINT_RULE = "provider_complaint"


def as_inbound(event: ProviderEvent) -> tuple[Inbound, Decision]:
    """The Inbound and Decision that record `event` through intake.handle, with no reply of any kind."""
    inbound = Inbound(
        channel=event.channel,
        provider=event.provider,
        provider_id=f"event:{event.event_id}",
        address=event.address,
        recipient=None,
        text="",
        params={"event": event.kind, **event.evidence},
        provider_action=event.action,
        nonce=event.nonce,
        synced_from=event.provider if event.synced else None,
    )
    rule = COMPLAINT_RULE if event.complaint else f"provider_event:{event.kind}"
    return inbound, Decision(event.action, rule, event.categories, matched=event.kind, flagged=event.flagged)


def category_for(lists: Mapping[str, str], keys, action: str) -> tuple[tuple[str, ...], bool] | None:
    """(categories, flagged) for an event about provider lists `keys` (group ids, tags, streams) given
    the category each mapped list belongs to. An opt-out of an unmapped list stops everything,
    flagged; an opt-in counts only for a mapped list (None: ignore it)."""
    mapped = tuple(dict.fromkeys(lists[str(k)] for k in keys if str(k) in lists))
    if mapped:
        return mapped, False
    if action == OPT_IN:
        return None
    return (), bool(keys)


__all__ = ["ProviderEvent", "as_inbound", "category_for", "COMPLAINT_RULE", "OPT_IN", "OPT_OUT"]
