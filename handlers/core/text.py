"""Turning a message into comparable words, and measuring how an SMS reply will be encoded."""

from __future__ import annotations

import math
import re
import unicodedata

_NOT_A_WORD = re.compile(r"[\W_]+")


# NUL (PostgreSQL cannot store it in text) and unpaired UTF-16 surrogates (JSON's "\ud800": neither
# database nor UTF-8 can hold one), each the mark of a character that could not be read.
_UNREADABLE = re.compile("[\x00\ud800-\udfff]")


def readable(value):
    """`value` (text, or JSON as parsed: lists, objects, numbers) with every NUL and unpaired surrogate
    turned into U+FFFD, and NaN and the infinities (which Python's JSON reads) into the text of their
    names, so that whatever a request brought can be stored, logged and answered as JSON. Anything
    else is returned as it is."""
    if isinstance(value, str):
        return _UNREADABLE.sub("\ufffd", value) if _UNREADABLE.search(value) else value
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list):
        return [readable(item) for item in value]
    if isinstance(value, dict):
        return {readable(key): readable(item) for key, item in value.items()}
    return value


def words(text: str) -> tuple[str, ...]:
    """The message as lower-case words without accents, punctuation, emoji or quotes.

    "Arrêt!!", " ARRET " and "arrêt." all become ("arret",); "opt-out" becomes ("opt", "out") and
    "m'envoyez" becomes ("m", "envoyez"): apostrophes and hyphens separate words.
    """
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    bare = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return tuple(_NOT_A_WORD.sub(" ", bare).split())


# GSM 03.38: the basic character set, and the extension table whose characters cost two septets.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
GSM7_SEGMENT = 160
UCS2_SEGMENT = 70

# Characters that force UCS-2 although a GSM-7 spelling says the same thing.
GSM7_LOOKALIKES = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"',
    "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u00a0": " ", "\u202f": " ", "\u00ab": '"',
    "\u00bb": '"',
}


def sms_encoding(text: str) -> tuple[str, int]:
    """("GSM-7", septets) when every character is in GSM-7, else ("UCS-2", UTF-16 code units)."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        return "GSM-7", sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
    return "UCS-2", len(text.encode("utf-16-le")) // 2


def sms_segments(text: str) -> int:
    """How many SMS segments the text takes (153 / 67 per segment once it is split)."""
    encoding, length = sms_encoding(text)
    single, split = (GSM7_SEGMENT, 153) if encoding == "GSM-7" else (UCS2_SEGMENT, 67)
    return 1 if length <= single else -(-length // split)


_REPLY_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|vs|tr|rif|r|antw|res|enc|ref|réf)\.?\s*(\[\d+\])?\s*:\s*)+",
                           re.IGNORECASE)


def bare_subject(subject: str | None) -> str:
    """The subject without reply and forward prefixes (Re:, AW:, Réf. :, Fwd: ...)."""
    return _REPLY_PREFIX.sub("", subject or "").strip()
