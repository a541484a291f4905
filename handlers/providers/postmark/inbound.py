"""Postmark inbound webhook (one JSON object per message) into a Mail.

Sample payload, as Postmark documents it (tests/data/email/postmark_inbound.json):
    {"FromName": "Giulia Rossi", "MessageStream": "inbound", "From": "giulia.rossi@posta.example",
     "FromFull": {"Email": "giulia.rossi@posta.example", "Name": "Giulia Rossi", "MailboxHash": ""},
     "To": "...", "ToFull": [{"Email": "reply+c7d2e9@inbound.acme.example", "Name": "", "MailboxHash": "c7d2e9"}],
     "Cc": "", "CcFull": [], "Bcc": "", "BccFull": [], "OriginalRecipient": "reply+c7d2e9@inbound.acme.example",
     "Subject": "R: ...", "MessageID": "5f3b8a1e-...", "ReplyTo": "", "MailboxHash": "c7d2e9",
     "Date": "Mon, 3 Mar 2025 11:20:31 +0100", "TextBody": "...", "HtmlBody": "...",
     "StrippedTextReply": "...", "Tag": "", "Headers": [{"Name": "Return-Path", "Value": "<...>"}, ...],
     "Attachments": []}
With "Include raw email content" on, `RawEmail` holds the whole message too (LF line ends); it is
read when the parsed fields are missing. https://postmarkapp.com/developer/webhooks/inbound-webhook

Postmark's payloads today leave From, To, Cc, Subject, Date and Content-Type out of Headers (its 2011
example still had them). We put the first five back from the top-level fields, so header() answers
alike for every provider; the MIME type is not sent at all, so content_type is inferred from the parts
and marked so in evidence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from ...core.inbound import ProviderError
from ...email.headers import (
    address,
    decode_words,
    envelope_address,
    first,
    mime_type,
    only,
    sender_address,
    spf_word,
)
from ...email.message import Mail
from ..mime.inbound import parse_mime

_LIFTED = (("From", "From"), ("To", "To"), ("Cc", "Cc"), ("Subject", "Subject"), ("Date", "Date"))
_ENVELOPE_FROM = re.compile(r'envelope-from\s*=\s*"?<?([^";>\s]*)')


def parse(payload: Mapping) -> Mail:
    """Turn Postmark's JSON into a Mail. Raises ProviderError if unusable."""
    if not isinstance(payload, Mapping):
        raise ProviderError("the Postmark payload is not a JSON object")
    raw = _text(payload.get("RawEmail"))
    if raw and not (_text(payload.get("From")) or isinstance(payload.get("FromFull"), Mapping)):
        # "Include raw email content" on, and the parsed fields missing: the whole message is here.
        mail = parse_mime(raw.encode("utf-8", "surrogateescape"), provider="postmark")
        return replace(mail, provider_id=_text(payload.get("MessageID")) or mail.provider_id,
                       evidence={**mail.evidence, "raw_email_only": True})
    from_full = payload.get("FromFull") if isinstance(payload.get("FromFull"), Mapping) else {}
    sender = _text(from_full.get("Email")).strip() or sender_address(_text(payload.get("From")))
    if not sender:
        raise ProviderError("no From in the Postmark payload")
    headers, problems = _headers(payload.get("Headers"))
    headers += tuple((name, _text(payload.get(key))) for name, key in _LIFTED
                     if _text(payload.get(key)) and first(headers, name) is None)
    # Postmark's own verdicts: its Received-SPF and its SpamAssassin tests, each believed only when the
    # sender wrote no header of that name besides (the receiving servers' Authentication-Results are
    # read under TRUSTED_AUTHSERV_IDS, email/reading.py).
    spf, dkim_domains = spf_word(only(headers, "Received-SPF")), ()
    if _spamassassin_tests(headers) & {"DKIM_VALID_AU"}:
        # Postmark reports no DKIM verdict of its own; SpamAssassin's DKIM_VALID_AU is "a valid
        # signature from the author's domain", i.e. from the From address's domain.
        dkim_domains = (sender.rpartition("@")[2].lower(),)
    content_type = first(headers, "Content-Type")
    to_full = payload.get("ToFull") if isinstance(payload.get("ToFull"), list) else []
    return Mail(
        provider="postmark",
        headers=headers,
        sender=sender,
        envelope_from=_envelope_from(headers),
        recipient=(_text(payload.get("OriginalRecipient"))
                   or next((_text(to.get("Email")) for to in to_full if isinstance(to, Mapping)), "")
                   or address(_text(payload.get("To"))) or None),
        subject=_text(payload.get("Subject")),
        text=_text(payload.get("TextBody")) or None,
        html=_text(payload.get("HtmlBody")) or None,
        content_type=mime_type(content_type) if content_type else _inferred_type(payload),
        provider_id=_text(payload.get("MessageID")) or None,
        stripped_text=_text(payload.get("StrippedTextReply")) or None,
        spf=spf,
        dkim_pass_domains=dkim_domains,
        evidence={key: payload[key] for key in ("MessageStream", "MailboxHash", "OriginalRecipient", "Tag")
                  if _text(payload.get(key))}
        | {name: value for name in ("X-Spam-Status", "X-Spam-Score") if (value := first(headers, name))}
        | {"attachments": len(attachments) if isinstance(attachments := payload.get("Attachments"), list) else 0}
        | ({} if content_type else {"content_type_inferred": True})
        | ({"problems": problems} if problems else {}),
    )


def _headers(value) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """The headers that are {Name, Value} objects, and what was wrong with the others: one odd entry
    must not cost the message (its sender and text are elsewhere in the payload)."""
    if value is None:
        return (), []
    if not isinstance(value, list):
        return (), [f"Headers is a {type(value).__name__}, not a list: ignored"]
    good = [h for h in value if isinstance(h, Mapping) and isinstance(h.get("Name"), str)
            and isinstance(h.get("Value"), str)]
    problems = [f"{len(value) - len(good)} Headers entries are not {{Name, Value}} strings: ignored"] \
        if len(good) < len(value) else []
    return tuple((h["Name"], decode_words(h["Value"])) for h in good), problems


def _envelope_from(headers) -> str | None:
    """Return-Path when Postmark lists it, else the envelope-from its SPF check names; None if neither."""
    return_path = first(headers, "Return-Path")
    if return_path is not None:
        return envelope_address(return_path)
    match = _ENVELOPE_FROM.search(first(headers, "Received-SPF") or "")
    return None if match is None else match.group(1)


def _spamassassin_tests(headers) -> set[str]:
    tests = only(headers, "X-Spam-Tests")
    return {t.strip() for t in tests.split(",")} if tests else set()


def _inferred_type(payload: Mapping) -> str:
    if payload.get("Attachments"):
        return "multipart/mixed"
    if payload.get("HtmlBody") and payload.get("TextBody"):
        return "multipart/alternative"
    return "text/html" if payload.get("HtmlBody") else "text/plain"


def _text(value) -> str:
    return value if isinstance(value, str) else ""
