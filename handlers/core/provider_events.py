"""What a provider tells us it did (an unsubscribe, a spam complaint, a re-subscribe): one shape for
every provider's event webhook, and how such an event is recorded like a message: an Inbound with a
decision already made, the provider's action set so that nobody is answered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .decision import NONE, OPT_IN, OPT_OUT, Decision
from .inbound import Inbound


@dataclass(frozen=True)
class ProviderEvent:
    channel: str  # "sms" or "email"
    provider: str  # twilio | sendgrid | mailgun | postmark | mime
    event_id: str  # the provider's id of the event: the de-duplication key
    address: str  # whose consent it is, normalised
    action: str  # opt_out | opt_in, or none: recorded (flagged for review), changing nothing
    kind: str  # the provider's name for it: unsubscribe, spamreport, complained, 21610 ...
    categories: tuple[str, ...] = ()  # empty: everything
    flagged: bool = False  # recorded as asked, but a person should look (an unmapped list)
    complaint: bool = False  # a spam complaint: never send this person a confirmation
    synced: bool = True  # the provider's own list already holds it: not pushed back to that provider
    evidence: Mapping[str, object] = field(default_factory=dict)  # the event as the provider sent it
    nonce: str | None = None  # a one-time value of the provider's signature (Mailgun token)
    # The provider's sending account the event came through (a Postmark message stream, a SendGrid group),
    # which keywords.yaml `brands: ... accounts:` may name as a brand's: whose opt-out it is (core/brands.py).
    account: str | None = None


# The rule recorded for a complaint; the store sends no confirmation to an address with one on record.
COMPLAINT_RULE = "provider_complaint"

# Hard bounces, one rule everywhere (README, "Hard bounces"): a hard bounce says an address takes no
# mail, not that a person chose anything, so it is never recorded as an opt-out (or an opt-in): not from
# an event webhook, not from `pull-suppressions`, not from `import-suppressions`. The provider keeps
# the address suppressed on its side, where it belongs. The providers' names for one:
HARD_BOUNCES = frozenset({
    "HardBounce",  # Postmark: a Bounce's Type, a suppression's SuppressionReason
    "bounce",  # SendGrid: an Event Webhook event; Mailgun: a bounces list
    "failed",  # Mailgun: an event (severity permanent or temporary alike)
})


def is_hard_bounce(reason: object) -> bool:
    """Whether a provider's event or suppression reason is a hard bounce (see HARD_BOUNCES)."""
    return isinstance(reason, str) and reason in HARD_BOUNCES


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
        service=event.account,
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


__all__ = ["ProviderEvent", "as_inbound", "category_for", "is_hard_bounce", "COMPLAINT_RULE", "HARD_BOUNCES", "NONE",
           "OPT_IN", "OPT_OUT"]
