"""Canonical forms of the addresses we store and compare: E.164 phone numbers, lower-case email."""

from __future__ import annotations

import re

import phonenumbers

CHANNELS = ("sms", "email")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# An addr-spec we can act on and write into a header: RFC 5322's dot-atom local part (letters of any
# script allowed, as RFC 6531 does) and a domain of at least two labels. Quoted local parts,
# comments, IP literals, whitespace, controls and separators (\x0b, \x1c, \x85, U+2028 ...) are not.
_ATOM = r"[\w!#$%&'*+/=?^`{|}~-]+"
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
_EMAIL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*\.[^\W\d_]{{2,63}}")
_ANGLE = re.compile(r"<([^<>]*)>")
_COMMENT = re.compile(r"\s*\([^()<>]*\)$")


# Strings already in the form normalise() returns, checked without parsing (lower-case email only).
CANONICAL = {
    "sms": _E164.fullmatch,
    "email": re.compile(r"[^@\sA-Z<>(),;:\"\[\]]+@[^@\sA-Z<>(),;:\"\[\]]+\.[^@\sA-Z<>(),;:\"\[\]]+").fullmatch,
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
        return normalise_phone(raw, region)
    if channel == "email":
        return normalise_email(raw)
    raise InvalidAddress(f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}")


def masked(address: str | None) -> str:
    """The address as logs may show it: +1415555••23, p•••@example.org; never enough to contact anyone."""
    if not address:
        return "-"
    if "@" in address:
        local, _, domain = address.rpartition("@")
        return f"{local[:1]}•••@{domain}"
    keep = max(len(address) - 4, 2)
    return address[:min(keep, 8)] + "••" + address[-2:] if len(address) > 6 else "••••"
