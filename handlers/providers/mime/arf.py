"""Spam complaints as mailbox providers send them (ARF, RFC 5965), posted raw to /webhooks/email/mime.

    Content-Type: multipart/report; report-type=feedback-report; boundary="..."
    1. text/plain: a human-readable note
    2. message/feedback-report: Feedback-Type: abuse, User-Agent, Version: 1, Original-Mail-From,
       Original-Rcpt-To: <the person who complained>, Arrival-Date, Source-IP ...
    3. message/rfc822 (the whole message complained of) or text/rfc822-headers (its header)
https://www.rfc-editor.org/rfc/rfc5965#section-2
The person is Original-Rcpt-To, else the To of the enclosed message.
"""

from __future__ import annotations

import email
import hashlib
from email import policy
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses

from ...core.addresses import InvalidAddress, normalise_email
from ...core.inbound import ProviderError
from ...core.provider_events import OPT_OUT, ProviderEvent


def is_feedback_report(raw: bytes) -> bool:
    """True when the message is an ARF report (cheap: the top-level Content-Type only)."""
    message = email.message_from_bytes(raw, policy=policy.compat32, _class=Message)
    return (message.get_content_type() == "multipart/report"
            and (message.get_param("report-type") or "").lower() == "feedback-report")


def parse_feedback_report(raw: bytes) -> ProviderEvent:
    """The opt-out an ARF report stands for. Raises ProviderError when it names no recipient."""
    message = email.message_from_bytes(raw, policy=policy.compat32)
    report, original = {}, None
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/feedback-report":
            report = _fields(part)
        elif kind in ("message/rfc822", "text/rfc822-headers") and original is None:
            original = _fields(part)
    recipient = report.get("original-rcpt-to") or (original or {}).get("to") or ""
    addresses = [a for _, a in getaddresses([recipient]) if a]
    if not addresses:
        raise ProviderError("a feedback report without Original-Rcpt-To or an enclosed To")
    try:
        address = normalise_email(addresses[0])
    except InvalidAddress as error:
        raise ProviderError(f"feedback report: {error}") from error
    event_id = (message.get("Message-ID") or "").strip() or "sha256:" + hashlib.sha256(raw).hexdigest()
    evidence = {"feedback_type": report.get("feedback-type"), "user_agent": report.get("user-agent"),
                "reporting_mta": report.get("reporting-mta"), "arrival_date": report.get("arrival-date"),
                "original_mail_from": report.get("original-mail-from"), "from": message.get("From"),
                "original_message_id": (original or {}).get("message-id"), "size": len(raw)}
    return ProviderEvent("email", "mime", f"arf:{event_id}", address, OPT_OUT, "feedback-report",
                         complaint=True, synced=False, evidence={k: v for k, v in evidence.items() if v})


def _fields(part: Message) -> dict[str, str]:
    """The header fields of a report part, lower-case names, first of each."""
    payload = part.get_payload()
    if isinstance(payload, list):  # the email package parsed message/* into a message of its own
        block = payload[0] if payload else Message()
    else:
        text = part.get_payload(decode=True) or b""
        block = HeaderParser().parsestr(text.decode("utf-8", "replace"))
    fields: dict[str, str] = {}
    for name, value in block.items():
        fields.setdefault(name.lower(), str(value).strip())
    return fields
