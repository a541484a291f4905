"""An inbound email as every email provider adapter (SendGrid, Mailgun, Postmark, raw MIME) delivers
it, before it is read: the adapters fill this in; handlers/email/reading.py turns it into an Inbound."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mail:
    provider: str  # sendgrid | mailgun | postmark | mime
    headers: tuple[tuple[str, str], ...]  # every header of the message, in order, decoded to text
    sender: str  # the From mailbox, normalised; as written when it names none we can use; "" when absent
    envelope_from: str | None  # SMTP MAIL FROM / Return-Path; "" for the null sender <>; None if unknown
    recipient: str | None  # the address it was sent to (ours)
    subject: str
    text: str | None  # the text/plain body
    html: str | None  # the text/html body
    content_type: str  # the message's top-level MIME type, e.g. "multipart/report"
    provider_id: str | None = None  # the provider's own id for the message (Postmark MessageID)
    stripped_text: str | None = None  # the provider's own guess at the new reply (not trusted alone)
    # The delivering provider's own verdicts (SendGrid's SPF and dkim fields, Mailgun's X-Mailgun-Spf,
    # Postmark's Received-SPF), never a header the sender could have written; the receiving servers'
    # Authentication-Results are read from `headers` under TRUSTED_AUTHSERV_IDS (email/reading.py).
    spf: str | None = None  # SPF verdict for the envelope sender: pass, fail, softfail, neutral, none ...
    dkim_pass_domains: tuple[str, ...] = ()  # domains whose DKIM signature verified
    evidence: Mapping[str, object] = field(default_factory=dict)  # provider fields kept with the record

    def header(self, name: str) -> str | None:
        """The first header of that name (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)
