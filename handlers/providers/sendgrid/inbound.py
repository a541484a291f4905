"""SendGrid Inbound Parse webhook (multipart/form-data), parsed or raw mode, into a Mail.

Sample payload, parsed mode (the default), as SendGrid posts it (tests/data/email/sendgrid_parsed.json):
    headers=<the raw header block>   from=Marie Dupont <marie.dupont@gmail.com>   to=news@acme.example
    subject=Re: ...   text=...   html=...   sender_ip=209.85.218.44   SPF=pass   dkim={@gmail.com : pass}
    envelope={"to":["news@parse.acme.example"],"from":"marie.dupont@gmail.com"}
    charsets={"to":"UTF-8","from":"UTF-8","subject":"cp850","text":"windows-1252","html":"iso-8859-1"}
             (per field, in the message's own charsets; may name fields not posted, e.g. "cc")
    attachments=0   [attachment-info, attachment1 ...]   [spam_score, spam_report]
Raw mode ("POST the raw, full MIME message") sends `email`, the whole message, in place of headers,
text, html and attachments (tests/data/email/sendgrid_raw.json); from, to, subject, envelope, SPF, dkim
and the spam fields still come beside it. Published samples: tests/data/providers/sendgrid_*.
https://www.twilio.com/docs/sendgrid/for-developers/parsing-email/setting-up-the-inbound-parse-webhook

Character sets: SendGrid posts `text`, `html`, `subject`, `from` ... in the message's own charset and
names it only in `charsets`, not in the form part. Flask decodes every part as UTF-8, which is right
for UTF-8 mail (nearly all of it) and irreparably wrong for the rest ("Arrêt" in windows-1252 becomes
"Arr\ufffdt"). So the route hands over the parts' bytes (form_fields) and each is decoded here with
its declared charset. Values may also come as str decoded as latin-1 (form_encoding="latin-1":
lossless, re-encoded and decoded with the declared charset), or str as Flask gives it (taken as is).
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import replace

from ...core.inbound import ProviderError, first_value
from ...core.text import readable
from ...email.headers import (
    address,
    decode_bytes,
    envelope_address,
    first,
    mime_type,
    parse_header_block,
    sender_address,
    spf_word,
)
from ...email.message import Mail
from ..mime.inbound import parse_mime

_DKIM_RESULT = re.compile(r"@?([A-Za-z0-9][A-Za-z0-9.-]*)\s*:\s*([A-Za-z]+)")
_LATIN_1 = {"latin-1", "latin1", "iso-8859-1", "iso8859-1"}


def form_fields(body: bytes, content_type: str) -> dict[str, bytes]:
    """The parts of a multipart/form-data body as {name: bytes}, undecoded (the first of a repeated name).
    Raises ProviderError for a body that is no form."""
    if not content_type.lower().startswith("multipart/form-data"):
        # SendGrid only posts multipart; a urlencoded form is percent-encoded bytes, taken the same way.
        pairs = urllib.parse.parse_qsl(body.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
        return {name: value.encode("latin-1") for name, value in reversed(pairs)}
    message = email.message_from_bytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body,
                                       policy=email.policy.compat32)
    if not message.is_multipart():
        raise ProviderError("the multipart/form-data body has no parts")
    fields: dict[str, bytes] = {}
    for part in message.get_payload():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, tuple):  # RFC 2231 name*=...
            name = email.utils.collapse_rfc2231_value(name)
        if name and name not in fields:
            fields[name] = part.get_payload(decode=True) or b""
    return fields


def parse(fields: Mapping[str, str | bytes], form_encoding: str = "utf-8") -> Mail:
    """Turn SendGrid's form fields into a Mail. Raises ProviderError if unusable."""
    problems: list[str] = []
    charsets = _json(fields, "charsets", dict, problems) or {}
    envelope = _json(fields, "envelope", dict, problems) or {}
    text = _Decoder(fields, charsets, form_encoding)
    if first_value(fields, "email") is not None:
        mail = parse_mime(text.raw("email"), provider="sendgrid")
    elif first_value(fields, "headers") is not None:
        mail = _parsed_mode(text)
    else:
        raise ProviderError("neither `headers` nor `email`: not a SendGrid Inbound Parse post")
    if not mail.sender:
        raise ProviderError("no From in the SendGrid post")

    # SendGrid's own verdicts, in fields of their own: the message's headers are the sender's to write.
    spf, dkim_domains = None, ()
    if first_value(fields, "SPF") is not None:
        spf = spf_word(text("SPF"))
    if first_value(fields, "dkim") is not None:
        dkim_domains = tuple(dict.fromkeys(
            domain.lower() for domain, result in _DKIM_RESULT.findall(text("dkim") or "") if result.lower() == "pass"))
    envelope_to, envelope_from = envelope.get("to") or [], envelope.get("from")
    return replace(
        mail,
        provider="sendgrid",
        envelope_from=envelope_address(envelope_from) if isinstance(envelope_from, str) else mail.envelope_from,
        recipient=str(envelope_to[0]) if isinstance(envelope_to, list) and envelope_to else mail.recipient,
        spf=spf,
        dkim_pass_domains=dkim_domains,
        evidence={**mail.evidence, **{name: text(name) for name in ("sender_ip", "spam_score", "SPF", "dkim")
                                      if first_value(fields, name) is not None},
                  **({"envelope": envelope} if envelope else {}), **({"charsets": charsets} if charsets else {}),
                  **({"problems": problems} if problems else {})},
    )


def _parsed_mode(text: _Decoder) -> Mail:
    # Subject and From come from the header block: it keeps RFC 2047 words, so they decode right
    # whatever the charset; the separate fields are the fallback.
    headers = parse_header_block(text("headers") or "")
    return Mail(
        provider="sendgrid",
        headers=headers,
        sender=sender_address(first(headers, "From")) or sender_address(text("from")),
        envelope_from=None,
        recipient=address(first(headers, "To")) or address(text("to")) or None,
        subject=first(headers, "Subject") or text("subject") or "",
        text=text("text"),
        html=text("html"),
        content_type=mime_type(first(headers, "Content-Type")),
    )


class _Decoder:
    """Form values as text, each in the charset SendGrid declared for it (see the module docstring)."""

    def __init__(self, fields: Mapping, charsets: Mapping, form_encoding: str):
        self.fields, self.charsets = fields, charsets
        self.latin_1 = form_encoding.lower() in _LATIN_1

    def __call__(self, name: str) -> str | None:
        value = first_value(self.fields, name)
        if value is None or (isinstance(value, str) and not self.latin_1):
            return value
        return decode_bytes(self._bytes(value), str(self.charsets.get(name) or "utf-8"))

    def raw(self, name: str) -> bytes:
        """A field's original bytes, as near as the route left them (the raw message)."""
        value = first_value(self.fields, name)
        return self._bytes(value) if self.latin_1 or not isinstance(value, str) else value.encode("utf-8")

    def _bytes(self, value: str | bytes) -> bytes:
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        return value.encode("latin-1", errors="replace")


def _json(fields: Mapping, name: str, kind: type, problems: list[str]):
    """A JSON field's value, or None (and a line in `problems`) when it is not JSON of that kind: the
    message is read without it (charsets then default to UTF-8; the envelope to the headers)."""
    value = first_value(fields, name)
    if value is None or value == "":
        return None
    try:
        parsed = readable(json.loads(value))
    except (ValueError, RecursionError) as error:
        problems.append(f"`{name}` is not JSON ({error}): ignored")
        return None
    if not isinstance(parsed, kind):
        problems.append(f"`{name}` is a JSON {type(parsed).__name__}, not a {kind.__name__}: ignored")
        return None
    return parsed

