"""Brands: the organisations one deployment sends for (keywords.yaml `brands:`), which one a message was
sent to, and how far an opt-out reaches. Pure: no Flask, no database.

A brand is stored by its key, except the first brand, stored as '' (FIRST): every row written before
brands existed belongs to it, and a file without `brands:` has only that one. So an operator who adds
`brands:` to a running service keeps every recorded opt-out with the brand they list first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from .decision import OPT_OUT, Decision
from .text import words

FIRST = ""  # how the first brand is stored
SCOPES = ("brand", "everything")  # opt_out_scope: one STOP reaches its brand, or every brand
# The words that reach every brand whatever opt_out_scope says, unless the file names its own
# (every_brand_words); each must also be a stop word of some language to be understood at all.
EVERY_BRAND_WORDS = ("stopall", "stop all")
KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")  # brand keys: in URLs, CLI options and JSON as written


@dataclass(frozen=True)
class Brand:
    key: str  # as in keywords.yaml; what the API and CLI call it
    stored: str  # in the database: FIRST for the first brand, else the key
    name: str  # replaces {brand} in its replies
    help_contact: str  # replaces {help}
    senders: tuple[str, ...] = ()  # its phone numbers (E.164) and Twilio Messaging Service SIDs
    email: tuple[str, ...] = ()  # the addresses people reply to, or whole domains (lower case)
    provider_accounts: tuple[str, ...] = ()  # Postmark message streams, SendGrid group ids ... (lower case)
    # Its own SMS replies where the file's do not suit it: language -> reply kind -> template.
    replies: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Brands:
    """Every brand of the file, first brand first; empty for a file without `brands:`."""

    brands: tuple[Brand, ...] = ()
    opt_out_scope: str = "brand"
    every_brand_words: frozenset[tuple[str, ...]] = field(
        default_factory=lambda: frozenset(tuple(words(w)) for w in EVERY_BRAND_WORDS))

    @property
    def stored_keys(self) -> tuple[str, ...]:
        """How each brand is stored; (FIRST,) without brands."""
        return tuple(b.stored for b in self.brands) or (FIRST,)

    def by_key(self, key: str | None) -> Brand | None:
        """The brand the API or CLI names; None for no name. KeyError for a name that is no brand."""
        if key is None:
            return None
        for brand in self.brands:
            if brand.key == key:
                return brand
        raise KeyError(key)

    def knows(self, key: str | None) -> bool:
        """Whether `key` is None (no brand asked) or one of the brands."""
        return key is None or any(b.key == key for b in self.brands)

    def stored_key(self, key: str | None) -> str | None:
        """The stored key of the brand named `key` (None: no brand asked, every brand counts)."""
        brand = self.by_key(key)
        return None if brand is None else brand.stored

    def by_stored(self, stored: str) -> Brand | None:
        return next((b for b in self.brands if b.stored == stored), None)

    def key_of(self, stored: str) -> str | None:
        """What the API calls a stored brand (None without brands)."""
        brand = self.by_stored(stored)
        return brand.key if brand else (stored or None)

    def resolve(self, channel: str, recipient: str | None, service: str | None) -> tuple[str, bool]:
        """(stored brand, known) of a message sent to `recipient` (our number or address) or through
        `service` (a Twilio Messaging Service, a Postmark message stream, a SendGrid unsubscribe group).
        A message to no known sender is the first brand's, known=False (it is flagged for review);
        without brands every message is FIRST's and known."""
        if not self.brands:
            return FIRST, True
        wanted = {_plain(v) for v in (recipient, service) if v}
        if channel == "email" and recipient and "@" in recipient:
            # Its domain and each parent (news@mg.acme.example is acme.example's too).
            labels = recipient.rsplit("@", 1)[1].lower().split(".")
            wanted.update(".".join(labels[i:]) for i in range(len(labels) - 1))
        for brand in self.brands:
            own = brand.senders + brand.email + brand.provider_accounts
            if wanted & {_plain(v) for v in own}:
                return brand.stored, True
        return self.brands[0].stored, False

    def reach(self, decision: Decision, own: str) -> tuple[str, ...]:
        """The stored brands a decision taken for brand `own` changes: every brand for an opt-out under
        `opt_out_scope: everything` or in one of every_brand_words (STOPALL), else `own` alone."""
        if decision.action == OPT_OUT and (self.opt_out_scope == "everything" or self.names_every_brand(decision)):
            return tuple(dict.fromkeys((own, *self.stored_keys)))
        return (own,)

    def names_every_brand(self, decision: Decision) -> bool:
        return bool(decision.matched) and tuple(words(decision.matched)) in self.every_brand_words


def _plain(value: str) -> str:
    """A sender as compared: lower case, without spaces or the punctuation of a written phone number, nor
    the channel Twilio writes before one ("whatsapp:+14155550100" is the number's)."""
    value = value.strip()
    scheme, colon, number = value.partition(":")
    if colon and scheme.isalpha() and number.lstrip().startswith("+"):
        value = number
    return re.sub(r"[\s().-]", "", value).lower() if value.startswith("+") else value.lower()
