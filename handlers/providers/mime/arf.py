"""Spam complaints as mailbox providers send them (ARF, RFC 5965), posted raw to /webhooks/email/mime.

    Content-Type: multipart/report; report-type=feedback-report; boundary="..."
    1. text/plain: a human-readable note
    2. message/feedback-report: Feedback-Type: abuse, User-Agent, Version: 1, Original-Mail-From,
       Original-Rcpt-To: <the person who complained>, Arrival-Date, Source-IP ...
    3. message/rfc822 (the whole message complained of) or text/rfc822-headers (its header)
https://www.rfc-editor.org/rfc/rfc5965#section-2
The people are every Original-Rcpt-To line (RFC 5965 allows several), else the To of the enclosed
message. Some feedback loops redact them (RFC 6590: "redacted@example.net", "xxxxxxxx@example.net"):
a report that names nobody but such a placeholder opts no one out; it is recorded flagged for review.
"""

from __future__ import annotations

import email
import hashlib
import re
from email import policy
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses

from ...core.addresses import InvalidAddress, normalise_email
from ...core.inbound import ProviderError
from ...core.provider_events import NONE, OPT_OUT, ProviderEvent

# The local part of an address a feedback loop redacted (RFC 6590 leaves the form to it): "redacted",
# "[redacted]", or a run of one masking character ("xxxxxxxx", "********").
_REDACTED = re.compile(r"^(.*redacted.*|x+|\*+|#+|-+)$", re.IGNORECASE)


def is_feedback_report(raw: bytes) -> bool:
    """True when the message is an ARF report (cheap: the top-level Content-Type only)."""
    message = email.message_from_bytes(raw, policy=policy.compat32, _class=Message)
    return (message.get_content_type() == "multipart/report"
            and (message.get_param("report-type") or "").lower() == "feedback-report")


def feedback_report_events(raw: bytes) -> list[ProviderEvent]:
    """The opt-outs an ARF report stands for, one per person it names; one flagged event, opting no one
    out, when it names only redacted placeholders. Raises ProviderError when it names no recipient."""
    message = email.message_from_bytes(raw, policy=policy.compat32)
    report, original, recipients = {}, None, []
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/feedback-report":
            report = _fields(part)
            recipients = _all(part, "original-rcpt-to")
        elif kind in ("message/rfc822", "text/rfc822-headers") and original is None:
            original = _fields(part)
    lines = recipients or [(original or {}).get("to") or ""]
    # A redacted line is set aside before parsing: "[redacted]@example.net" is no address to the parser.
    placeholders = [line.strip("<> ").lower() for line in lines if redacted(line)]
    addresses = [a for _, a in getaddresses([line for line in lines if not redacted(line)]) if a]
    if not addresses and not placeholders:
        raise ProviderError("a feedback report without Original-Rcpt-To or an enclosed To")
    try:
        people = list(dict.fromkeys(normalise_email(a) for a in addresses if not redacted(a)))
    except InvalidAddress as error:
        raise ProviderError(f"feedback report: {error}") from error
    event_id = (message.get("Message-ID") or "").strip() or "sha256:" + hashlib.sha256(raw).hexdigest()
    evidence = {"feedback_type": report.get("feedback-type"), "user_agent": report.get("user-agent"),
                "reporting_mta": report.get("reporting-mta"), "arrival_date": report.get("arrival-date"),
                "original_mail_from": report.get("original-mail-from"), "from": message.get("From"),
                "original_message_id": (original or {}).get("message-id"), "size": len(raw)}
    evidence = {k: v for k, v in evidence.items() if v}
    if not people:  # only placeholders: nobody can be opted out; a person should look at the report
        return [ProviderEvent("email", "mime", f"arf:{event_id}", (placeholders or addresses)[0].lower(), NONE,
                              "feedback-report-redacted", flagged=True, synced=False, evidence=evidence)]
    return [ProviderEvent("email", "mime", f"arf:{event_id}" + (f":{n}" if n else ""), address, OPT_OUT,
                          "feedback-report", complaint=True, synced=False, evidence=evidence)
            for n, address in enumerate(people)]


def redacted(address: str) -> bool:
    """Whether a feedback loop redacted the address's local part (it names nobody)."""
    return bool(_REDACTED.match(address.strip().strip("<>").rpartition("@")[0].strip("[] ")))


def _all(part: Message, name: str) -> list[str]:
    """Every value of one header field of a report part (`name` in lower case)."""
    return [str(value).strip() for key, value in _block(part).items() if key.lower() == name]


def _block(part: Message) -> Message:
    """The header block of a report part."""
    payload = part.get_payload()
    if isinstance(payload, list):  # the email package parsed message/* into a message of its own
        return payload[0] if payload else Message()
    text = part.get_payload(decode=True) or b""
    return HeaderParser().parsestr(text.decode("utf-8", "replace"))


def _fields(part: Message) -> dict[str, str]:
    """The header fields of a report part, lower-case names, first of each."""
    fields: dict[str, str] = {}
    for name, value in _block(part).items():
        fields.setdefault(name.lower(), str(value).strip())
    return fields
