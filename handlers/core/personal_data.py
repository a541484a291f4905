"""What is kept of a person, why and for how long: the retention cut-off, what an erasure keeps (a keyed
digest per scope the person opted out of), and the digest itself. Pure functions; the SQL that applies
them is handlers/storage/erasure.py and handlers/storage/retention.py.

Why a keyed digest: the EDPB holds that a plain hash of a guessable identifier (a phone number, an
email address) is still personal data, as anyone can hash every number and compare; an HMAC under a
key only the business holds (ERASURE_KEY) cannot be reversed that way, and still recognises the same
address when it comes back (ICO direct-marketing guidance: keep objectors on a suppression list).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta

from .consent import OUT

DEFAULT_RETENTION_DAYS = 90
MIN_KEY_LENGTH = 16


class ErasureKeyError(ValueError):
    """ERASURE_KEY is missing, too short, or not the key the stored erasures were made with."""


def checked_key(key: str | None) -> str:
    """ERASURE_KEY, or ErasureKeyError saying why it cannot be used."""
    if not key:
        raise ErasureKeyError("ERASURE_KEY is not set: an erased person could not be kept suppressed, so "
                              "nothing is erased (README, Personal data)")
    if len(key) < MIN_KEY_LENGTH:
        raise ErasureKeyError(f"ERASURE_KEY must be at least {MIN_KEY_LENGTH} characters (a random one: "
                              "python -c 'import secrets; print(secrets.token_hex(32))')")
    return key


def address_digest(key: str, channel: str, address: str) -> str:
    """HMAC-SHA256 of a canonical address (and its channel) under ERASURE_KEY, in hex."""
    return hmac.new(key.encode(), f"{channel}\n{address}".encode(), hashlib.sha256).hexdigest()


class Digester:
    """address_digest for one key and channel, many times: HMAC as RFC 2104 builds it, from SHA-256 states
    keyed once, so that each address costs two SHA-256 blocks and nothing more (the hmac module's own
    objects cost three times as much: a million addresses checked in about a second, not three)."""

    def __init__(self, key: str, channel: str):
        block = key.encode()
        if len(block) > 64:  # RFC 2104: a key longer than the hash's block is hashed first
            block = hashlib.sha256(block).digest()
        block = block.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block) + f"{channel}\n".encode())
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def __call__(self, address: str) -> str:
        inner = self._inner.copy()
        inner.update(address.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


def key_fingerprint(key: str) -> str:
    """Which key made a digest, without revealing it: recorded with each erasure, so that a changed
    ERASURE_KEY (every erased person would be contactable again) is refused, not used."""
    return hmac.new(key.encode(), b"optout erasure key fingerprint", hashlib.sha256).hexdigest()[:16]


def kept_scopes(state: Mapping[str, str]) -> list[str]:
    """The scopes an erasure keeps suppressed: every one the person opted out of. A category they opted
    back in to is not kept: after erasure, opted out of everything means opted out of all of it."""
    return sorted(scope for scope, status in state.items() if status == OUT)


def erased_state(scopes: list[str]) -> dict[str, str]:
    """The consent state an erased person's suppression entries stand for."""
    return {scope: OUT for scope in scopes}


def retention_days(value: str | int | None) -> int:
    """MESSAGE_RETENTION_DAYS as a number of days (0 or more); a clear error for anything else."""
    text = str(DEFAULT_RETENTION_DAYS if value is None else value).strip()
    if not text.isdecimal():
        raise ValueError(f"MESSAGE_RETENTION_DAYS must be a whole number of days (0 or more), not {text!r}")
    return int(text)


def retention_cutoff(now: datetime, days: int) -> str:
    """The received_at before which a message's text and evidence go (ISO, as stored)."""
    return (now - timedelta(days=days)).isoformat(timespec="microseconds")


def what_is_kept(days: int) -> list[dict]:
    """What the service keeps about a person, why and for how long: the access export's last part (GDPR
    Art. 15(1)(a), (c), (d)), in the words of the README's "Personal data"."""
    return [
        {"what": "your phone number or email address, and each decision made on your messages (time, channel, "
                 "decision, the keyword or label matched, the provider's message id)",
         "why": "to honour your opt-out and prove it was honoured (legal obligation and legitimate interest)",
         "how_long": "as long as the business keeps its suppression list; erasure removes it"},
        {"what": "the text of your messages, their HTML and headers, and every parameter the provider sent",
         "why": "to show an operator why a message was read as it was, and to answer disputes",
         "how_long": f"{days} days (MESSAGE_RETENTION_DAYS), then removed"},
        {"what": "each change of your consent and your current choice per category",
         "why": "to stop the business's tools from sending what you refused",
         "how_long": "as long as the business keeps its suppression list; erasure keeps only a keyed digest"},
        {"what": "confirmation emails sent to you",
         "why": "to confirm a change once (required by carriers and mailbox providers)",
         "how_long": "the address and time only; the body is not kept once sent"},
        {"what": "after an erasure: a keyed digest of your address (HMAC-SHA256) per category you opted out of",
         "why": "so that you are never contacted again in what you refused (ICO: keep objectors suppressed)",
         "how_long": "until you opt in again by your own act"},
    ]
