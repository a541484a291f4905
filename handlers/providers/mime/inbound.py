"""Raw MIME email (RFC 5322 bytes, as Amazon SES stores it or SendGrid's raw mode posts it) into a
Mail. A raw message carries no verdict of a provider's own: its sender is believed only through the
Authentication-Results of our own receiving servers (handlers/email/reading.py).

Sample input (tests/data/email/reply_gmail.eml, shortened):
    Return-Path: <marie.dupont@gmail.com>
    Received-SPF: pass (mx1.acme.example: domain of marie.dupont@gmail.com designates ...) ...
    Authentication-Results: mx1.acme.example; dkim=pass header.d=gmail.com header.s=20230601 ...
    From: Marie Dupont <marie.dupont@gmail.com>
    Subject: =?UTF-8?Q?Re=3A_Nouveaut=C3=A9s_de_printemps?=
    Message-ID: <CAH7vQ2k...@mail.gmail.com>
    Content-Type: multipart/alternative; boundary="00000000000087c3a1062f5d2b11"
"""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

from ...core.inbound import ProviderError
from ...email.headers import (
    LINE_BREAKS,
    address,
    decode_bytes,
    envelope_address,
    first,
    header_pairs,
    sender_address,
)
from ...email.message import Mail


def parse_mime(raw: bytes, provider: str = "mime") -> Mail:
    """Parse one whole message into a Mail. Raises ProviderError for what is no email."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise ProviderError(f"a MIME message must be bytes, not {type(raw).__name__}")
    raw = bytes(raw)
    if not raw.strip():
        raise ProviderError("the MIME message is empty")
    try:
        message = email.message_from_bytes(raw, policy=policy.default)
        headers = header_pairs(message)
        if not headers:
            raise ProviderError("not an email message: no header before the body")
        return_path = first(headers, "Return-Path")
        return Mail(
            provider=provider,
            headers=headers,
            sender=sender_address(first(headers, "From")),
            envelope_from=None if return_path is None else envelope_address(return_path),
            recipient=(address(first(headers, "Delivered-To")) or address(first(headers, "X-Original-To"))
                       or address(first(headers, "To")) or None),
            subject=first(headers, "Subject") or "",
            text=_body(message, "plain"),
            html=_body(message, "html"),
            content_type=message.get_content_type(),
            evidence=_evidence(message, len(raw)),
        )
    except ProviderError:
        raise
    except Exception as error:  # the email package's corners: a clear, permanent refusal instead of a 500
        raise ProviderError(f"unreadable MIME message: {type(error).__name__}: {error}") from error


def _body(message: EmailMessage, subtype: str) -> str | None:
    """The message's own text/<subtype> body: get_body skips attachments and walks
    multipart/alternative, mixed, related and report (whose first part is the human-readable one)."""
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    payload = part.get_payload(decode=True)  # undoes base64/quoted-printable, leniently
    if payload is None:
        return None
    # Line ends as the other providers give them (and as reply parsers expect): \n.
    return LINE_BREAKS.sub("\n", decode_bytes(payload, part.get_content_charset()))


def _evidence(message: EmailMessage, size: int) -> dict[str, object]:
    defects = sorted({type(d).__name__ for part in message.walk() for d in part.defects})
    return {"size": size, **({"defects": defects} if defects else {})}
