"""Canonical forms of the addresses we store and compare: E.164 phone numbers, lower-case email."""

from __future__ import annotations

import re

import phonenumbers

CHANNELS = ("sms", "email")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_EMAIL = re.compile(r"[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+\.[^@\s<>(),;:\"\[\]]+")


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
    if not isinstance(raw, str) or not _EMAIL.fullmatch(raw.strip()):
        raise InvalidAddress("not an email address")
    return raw.strip().lower()


def normalise(channel: str, raw: str, region: str = "US") -> str:
    if channel == "sms":
        return normalise_phone(raw, region)
    if channel == "email":
        return normalise_email(raw)
    raise InvalidAddress(f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}")
