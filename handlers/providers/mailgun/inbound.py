"""Mailgun route forward() to a URL (form-encoded, or multipart/form-data with attachments): verify the
signature, parse into a Mail.

Sample payload, fully parsed format (tests/data/email/mailgun_route.json):
    recipient=news@mg.acme.example   sender=lucia.garcia@correo.example   (the SMTP envelope)
    from=Lucía García <lucia.garcia@correo.example>   subject=RE: ...
    body-plain=...   body-html=...   stripped-text=...   stripped-signature=...   stripped-html=...
    message-headers=[["Received", "..."], ["X-Mailgun-Spf", "Pass"], ..., ["Message-Id", "<...>"]]
    timestamp=1740996300   token=<50 random characters>   signature=<hex HMAC-SHA256>
    [attachment-count, attachment-1 ..., content-id-map]   plus every MIME header as its own field
A route URL ending in "mime" gets `body-mime` (the raw message) and only recipient, sender,
timestamp, token and signature beside it (tests/data/providers/mailgun_anymail_body_mime.json).
Header names come Mailgun-cased (Message-Id, Mime-Version); message-headers may be missing or broken:
it costs only itself. (A store() route with notify posts a message-url instead: not a forward().)
https://documentation.mailgun.com/docs/mailgun/user-manual/receive-forward-store/receive-http
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping

from ...core.inbound import ProviderError, first_value
from ...core.text import readable
from ...email.headers import (
    address,
    decode_words,
    envelope_address,
    every,
    first,
    mime_type,
    only,
    sender_address,
)
from ...email.message import Mail
from ..mime.inbound import parse_mime

# Mailgun retries for 8 hours, possibly with the first attempt's signature; a token seen before with
# another message is refused whatever its age (handlers/storage/store.py keeps them).
MAX_AGE = 12 * 3600
# A timestamp ahead of our clock by more than this was not made by Mailgun now: refused (a signature
# dated tomorrow would otherwise stay fresh for a day and a half).
FUTURE_SKEW = 300

_DKIM_D = re.compile(r"(?:^|;)\s*d\s*=\s*([^;\s]+)")


def verify(signing_key: str | None, timestamp: str, token: str, signature: str, now: float,
           max_age: float = 900) -> str | None:
    """None when `signature` is Mailgun's hex HMAC-SHA256 of timestamp+token under the HTTP webhook
    signing key and the timestamp is at most max_age seconds old and FUTURE_SKEW ahead; else why not.

    Replays inside that window pass: remember the tokens seen for max_age to refuse them.
    https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks
    """
    if not signing_key:
        return "no signing key configured"
    if not (timestamp and token and signature):
        return "bad signature"
    if not hmac.compare_digest(sign(signing_key, timestamp, token).encode(),
                               signature.strip().lower().encode("utf-8", "replace")):
        return "bad signature"
    # Digits only: float() would let "nan" through every comparison.
    if not re.fullmatch(r"\d{1,12}", timestamp) or now - int(timestamp) > max_age:
        return "stale timestamp"
    if int(timestamp) - now > FUTURE_SKEW:
        return "timestamp in the future"
    return None


def sign(signing_key: str, timestamp: str, token: str) -> str:
    """Mailgun's signature: the hex HMAC-SHA256 of timestamp + token under the signing key."""
    return hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def parse(fields: Mapping[str, str]) -> Mail:
    """Turn Mailgun's form fields into a Mail. Raises ProviderError if unusable."""
    raw, problems = first_value(fields, "body-mime"), []
    if raw is not None:
        mail = parse_mime(raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw, provider="mailgun")
        headers, text, html, content_type = mail.headers, mail.text, mail.html, mail.content_type
    else:
        headers, problems = _message_headers(first_value(fields, "message-headers"))
        text, html = first_value(fields, "body-plain") or None, first_value(fields, "body-html") or None
        content_type = mime_type(first(headers, "Content-Type"))
    sender = sender_address(first_value(fields, "from")) or sender_address(first(headers, "From"))
    if not sender:
        raise ProviderError("no from in the Mailgun post")
    envelope_sender = first_value(fields, "sender")
    spf, dkim_domains = _authentication(headers)
    return Mail(
        provider="mailgun",
        headers=headers,
        sender=sender,
        envelope_from=None if envelope_sender is None else envelope_address(envelope_sender),
        recipient=address(first_value(fields, "recipient")) or address(first(headers, "To")) or None,
        subject=first_value(fields, "subject") or first(headers, "Subject") or "",
        text=text,
        html=html,
        content_type=content_type,
        stripped_text=first_value(fields, "stripped-text") or None,
        spf=spf,
        dkim_pass_domains=dkim_domains,
        evidence={name: first_value(fields, name) for name in ("timestamp", "token", "attachment-count")
                  if first_value(fields, name) is not None}
        | {name: value for name in ("X-Mailgun-Sflag", "X-Mailgun-Sscore", "X-Mailgun-Spf",
                                    "X-Mailgun-Dkim-Check-Result") if (value := first(headers, name))}
        | ({"problems": problems} if problems else {}),
    )


def _message_headers(value: str | None) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """The [name, value] pairs of message-headers that are such pairs, and what was wrong with the rest:
    a broken field costs only itself (from, body-plain and stripped-text are separate fields)."""
    if value is None:
        return (), ["no message-headers field"]
    try:
        pairs = readable(json.loads(value))
    except (ValueError, RecursionError) as error:
        return (), [f"message-headers is not JSON ({error}): ignored"]
    if not isinstance(pairs, list):
        return (), [f"message-headers is a JSON {type(pairs).__name__}, not a list of [name, value] pairs: ignored"]
    good = [pair for pair in pairs
            if isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair)]
    problems = [f"{len(pairs) - len(good)} message-headers entries are not [name, value] pairs: ignored"] \
        if len(good) < len(pairs) else []
    return tuple((name, decode_words(text)) for name, text in good), problems


def _authentication(headers) -> tuple[str | None, tuple[str, ...]]:
    """Mailgun's own verdicts (X-Mailgun-Spf, X-Mailgun-Dkim-Check-Result), each only when it appears
    once (two: the sender wrote one). Its DKIM verdict names no domain: we name the signer only when
    there is exactly one DKIM-Signature, so a pass is never credited to the wrong domain."""
    mailgun_spf, verdict = only(headers, "X-Mailgun-Spf"), only(headers, "X-Mailgun-Dkim-Check-Result")
    signatures = [match.group(1).lower() for value in every(headers, "DKIM-Signature")
                  if (match := _DKIM_D.search(value))]
    dkim_passed = (verdict or "").strip().lower() == "pass" and len(signatures) == 1
    return (mailgun_spf.strip().lower() if mailgun_spf else None), (signatures[0],) if dkim_passed else ()

