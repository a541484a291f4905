"""Canonical forms of the addresses we store and compare: E.164 phone numbers, lower-case email."""

from __future__ import annotations

import re

import phonenumbers

# The one list of channels: every route, command and page that names a channel takes one of these.
# WhatsApp and RCS reach us through Twilio's SMS webhook, their senders written whatsapp:+E164 and
# rcs:+E164; each is stored as its E.164 number (how their consent relates to SMS': core/channels.py).
CHANNELS = ("sms", "email", "whatsapp", "rcs")
PHONE_CHANNELS = ("sms", "whatsapp", "rcs")  # replied to with replies.sms, as TwiML
# The prefix Twilio writes before a WhatsApp or RCS address (From, To), by channel.
CHANNEL_PREFIXES = {"whatsapp": "whatsapp:", "rcs": "rcs:"}
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# An addr-spec we can act on and write into a header: RFC 5322's dot-atom local part (letters of any
# script allowed, as RFC 6531 does) and a domain of at least two labels. Quoted local parts,
# comments, IP literals, whitespace, controls and separators (\x0b, \x1c, \x85, U+2028 ...) are not.
_ATOM = r"[\w!#$%&'*+/=?^`{|}~-]+"
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
_EMAIL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*\.[^\W\d_]{{2,63}}")
_ANGLE = re.compile(r"<([^<>]*)>")
_SHORT_CODE = re.compile(r"[0-9]{3,8}")
_ALPHANUMERIC_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 ]{0,9}[A-Za-z0-9])?")
_COMMENT = re.compile(r"\s*\([^()<>]*\)$")


# Strings already in the form normalise() returns, checked without parsing (lower-case email only);
# anything with a control character or an unpaired surrogate is left to normalise(), which refuses it.
_PLAIN = "[^@\\sA-Z<>(),;:\"\\[\\]\x00-\x1f\x7f\ud800-\udfff]+"
CANONICAL = {
    "sms": _E164.fullmatch,
    "email": re.compile(rf"{_PLAIN}@{_PLAIN}\.{_PLAIN}").fullmatch,
    "whatsapp": _E164.fullmatch,
    "rcs": _E164.fullmatch,
}


class InvalidAddress(ValueError):
    """The text is not an address of that channel; the message says why, for the API's `invalid` list."""


def normalise_phone(raw: str, region: str = "US") -> str:
    """E.164 ("+14155550100") from any way people write a number; national numbers use `region`."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidAddress("empty phone number")
    text = raw.strip()
    if _E164.fullmatch(text):
        return text  # already canonical: the common case, and 20x cheaper than parsing
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as e:
        raise InvalidAddress(f"not a phone number: {e}") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidAddress("not a possible phone number (wrong length for its country)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def sms_sender(raw: str, region: str = "US") -> str:
    """The form an SMS sender is stored and looked up in: E.164 for a phone number; a short code (3 to 8
    digits) or an alphanumeric sender ID (up to 11 letters, digits and spaces) as sent, since neither
    has an E.164 form. Raises InvalidAddress for anything else (a redacted "+1", a formula)."""
    try:
        return normalise_phone(raw, region)
    except InvalidAddress as not_a_number:
        text = raw.strip() if isinstance(raw, str) else ""
        if _SHORT_CODE.fullmatch(text) or (_ALPHANUMERIC_ID.fullmatch(text) and not text.isdigit()):
            return text
        raise not_a_number


def channel_of(raw: str) -> tuple[str, str]:
    """(channel, the rest) of a Twilio address: ("whatsapp", "+1...") for whatsapp:+1..., ("rcs", ...) for
    rcs:..., ("sms", raw) for anything else."""
    text = raw.strip() if isinstance(raw, str) else ""
    for channel, prefix in CHANNEL_PREFIXES.items():
        if text[:len(prefix)].lower() == prefix:
            return channel, text[len(prefix):]
    return "sms", raw


def normalise_email(raw: str) -> str:
    """The address in lower case; raises InvalidAddress for anything but a plain addr-spec."""
    if not isinstance(raw, str) or len(raw) > 320 or not _EMAIL.fullmatch(raw.strip()):
        raise InvalidAddress("not an email address")
    return raw.strip().lower()


def mailbox(header_value: str) -> str:
    """The addr-spec of a From (or To) header's mailbox, normalised; raises InvalidAddress.

    With angle brackets, the address is the last <...> (a display name, decoded or not, may hold
    anything, "Bcc: thief@..." included, and never names the mailbox); without, the whole value
    must be one addr-spec. Anything else (no address, several, a malformed one) is unusable.
    """
    value = _COMMENT.sub("", (header_value or "").strip())  # "pat@example.org (Pat Doe)", an old form
    if "<" in value or ">" in value:
        found = _ANGLE.findall(value)
        if not found or not value.endswith(">"):
            raise InvalidAddress("no address in angle brackets at the end of the header")
        value = found[-1]
    return normalise_email(value)


def normalise(channel: str, raw: str, region: str = "US") -> str:
    if channel == "sms":
        return sms_sender(raw, region)
    if channel == "email":
        return normalise_email(raw)
    if channel in CHANNEL_PREFIXES:
        # A WhatsApp or RCS address is a phone number (no short codes or sender IDs), with or without
        # its prefix: the API takes "whatsapp:+1..." as readily as "+1...".
        written, number = channel_of(raw)
        if written not in (channel, "sms"):
            raise InvalidAddress(f"a {written} address, not a {channel} one")
        return normalise_phone(number, region)
    raise InvalidAddress(f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}")


def masked_on_page(address: str) -> str:
    """An address as its preferences page shows it: p•••@example.org, +1•••••••0100; enough for the
    person to recognise, not to harvest from a link that was passed on. Only the person (or whoever
    holds their link) sees it; masked(), for logs that many read, shows less."""
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}•••@{domain}"
    return address[:2] + "•" * max(len(address) - 6, 0) + address[-4:]


def masked(raw: str | None) -> str:
    """An address as a log may show it: +•••23 (the last two digits: a billion numbers of one country
    share them), p•••@e•••.org (the first letters and the top-level domain: who is not said, nor
    where). Enough to follow one conversation through a log, not to find the person. Any other text
    (a sender we could not read) shows only its length."""
    text = (raw or "").strip()
    if not text:
        return "(none)"
    channel, rest = channel_of(text)
    if channel != "sms":  # whatsapp:+•••00: which channel helps follow a conversation; the number does not
        return CHANNEL_PREFIXES[channel] + masked(rest)
    found = _ANGLE.findall(text)
    email = (found[-1] if found else text).strip()
    if "@" in email and " " not in email:
        local, _, domain = email.rpartition("@")
        name, dot, top = domain.rpartition(".")
        return f"{local[:1]}•••@{name[:1]}•••{dot}{top[-20:]}" if dot else f"{local[:1]}•••@{domain[:1]}•••"
    digits = text.removeprefix("+")
    if _E164.fullmatch(text) or (text.isdigit() and 3 <= len(text) <= 15):
        return text[:len(text) - len(digits)] + "•••" + (digits[-2:] if len(digits) > 4 else "")
    return f"({len(text)} characters)"
