"""The one shape every provider adapter turns its payload into."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .text import readable


@dataclass(frozen=True)
class Inbound:
    channel: str  # one of core/addresses.py CHANNELS: "sms", "email", "whatsapp", "rcs"
    provider: str  # "twilio", ...
    provider_id: str  # the provider's message id: the de-duplication key
    address: str  # the sender, normalised (E.164 for phones, lower-case for email)
    recipient: str | None  # our number or address it was sent to
    text: str  # the reply as the person wrote it
    params: Mapping[str, object] = field(default_factory=dict)  # everything the provider sent
    country: str | None = None  # ISO 3166 region of the sender, when known: a hint to their language
    provider_action: str | None = None  # the provider already acted and replied: opt_out, opt_in, help
    # WhatsApp and RCS: the button the person tapped (Twilio's ButtonPayload and ButtonText), if any
    button_payload: str | None = None
    button_text: str | None = None
    # Email only:
    message_id: str | None = None  # the reply's Message-ID, for In-Reply-To of our confirmation
    subject: str | None = None  # with reply prefixes (Re:, AW: ...) as received
    ignored: str | None = None  # why this is no person's reply (auto-reply, bounce ...): recorded, not acted on
    sender_verified: bool = False  # SPF or DKIM passed for the sender's own domain
    nonce: str | None = None  # a one-time value of the provider's signature (Mailgun token): replay guard
    synced_from: str | None = None  # the provider whose own list already holds this change: not pushed back
    # Brands (keywords.yaml `brands:`): the provider's sending service the message came through (a Twilio
    # Messaging Service SID, a Postmark message stream, a SendGrid unsubscribe group), which with
    # `recipient` tells whose it is; and the brand, as stored, once known (core/brands.py).
    service: str | None = None
    brand: str | None = None

    def __post_init__(self):
        # A NUL means nothing in a text or mail header, and PostgreSQL cannot store one in text; an
        # unpaired surrogate (JSON's "\ud800") neither database can: a message holding one would be
        # refused at every retry, its opt-out lost. Each is kept as U+FFFD, the mark for a character
        # that could not be read, on both databases (core/text.py readable()).
        for name in _TEXTS:
            value = getattr(self, name)
            if value:
                object.__setattr__(self, name, readable(value))


_TEXTS = ("provider_id", "address", "recipient", "text", "message_id", "subject", "ignored", "nonce", "button_payload",
          "button_text")


class Replay(Exception):
    """A one-time value seen before with another message: a captured request sent again."""


class ProviderError(Exception):
    """A request an adapter cannot use: a retry of the same request cannot succeed (what can, a
    database that cannot commit, is a StoreError)."""


def first_value(fields: Mapping, name: str):
    """A provider field's value; the first one if it was sent more than once."""
    value = fields.get(name)
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return value
