"""Requests shaped as each provider sends them, signed or authenticated with this service's own
settings, so that `flask simulate-sms` and `flask simulate-email` try a running service without a
Twilio or email provider account. Only builds requests; the CLI posts them."""

from __future__ import annotations

import base64
import email.policy
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, localtime
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

EMAIL_PROVIDERS = ("mime", "sendgrid", "mailgun", "postmark")


@dataclass(frozen=True)
class SimulatedRequest:
    url: str
    body: bytes
    headers: dict[str, str]


def sms(base_url: str, auth_token: str, body: str, sender: str, to: str = "+14155550199") -> SimulatedRequest:
    """A Twilio inbound-SMS webhook (its documented form parameters), signed with X-Twilio-Signature."""
    url = base_url.rstrip("/") + "/webhooks/twilio/sms"
    sid = "SM" + uuid.uuid4().hex
    params = {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32,
              "From": sender, "To": to, "Body": body, "NumMedia": "0", "NumSegments": "1",
              "SmsStatus": "received", "ApiVersion": "2010-04-01"}
    signature = RequestValidator(auth_token).compute_signature(url, params)
    return SimulatedRequest(url, urlencode(params).encode(), {
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})


def reply_message(text: str, sender: str, to: str = "news@acme.example") -> bytes:
    """A plain-text reply as a mail client writes it (RFC 5322), with its own Message-ID."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"], message["To"], message["Subject"] = sender, to, "Re: our latest news"
    message["Date"] = format_datetime(localtime())
    message["Message-ID"] = f"<{uuid.uuid4().hex}@simulated.invalid>"
    message.set_content(text)
    return message.as_bytes()


def email_reply(provider: str, base_url: str, raw: bytes, settings: dict) -> SimulatedRequest:
    """The raw message `raw` as `provider` posts it: MIME body, SendGrid's raw mode, a Mailgun route's
    forward() to a URL ending in mime (body-mime, signed), or Postmark's inbound JSON."""
    url = f"{base_url.rstrip('/')}/webhooks/email/{provider}"
    basic = base64.b64encode(f"{settings['INBOUND_EMAIL_USER'] or ''}:{settings['INBOUND_EMAIL_PASSWORD'] or ''}"
                             .encode()).decode()
    auth = {"Authorization": f"Basic {basic}"}
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    if provider == "mime":
        return SimulatedRequest(url, raw, {**auth, "Content-Type": "message/rfc822"})
    if provider == "sendgrid":
        fields = {"email": raw.decode("utf-8", "replace"), "from": str(parsed["From"] or ""),
                  "to": str(parsed["To"] or ""), "subject": str(parsed["Subject"] or ""),
                  "charsets": json.dumps({"email": "utf-8"})}
        return SimulatedRequest(url, urlencode(fields).encode(),
                                {**auth, "Content-Type": "application/x-www-form-urlencoded"})
    if provider == "mailgun":
        timestamp, token = str(int(time.time())), secrets.token_hex(25)
        key = (settings["MAILGUN_SIGNING_KEY"] or "").encode()
        fields = {"recipient": str(parsed["To"] or ""), "sender": str(parsed["From"] or ""),
                  "subject": str(parsed["Subject"] or ""), "body-mime": raw.decode("utf-8", "replace"),
                  "timestamp": timestamp, "token": token,
                  "signature": hmac.new(key, (timestamp + token).encode(), hashlib.sha256).hexdigest()}
        return SimulatedRequest(url, urlencode(fields).encode(), {"Content-Type": "application/x-www-form-urlencoded"})
    if provider == "postmark":
        body = parsed.get_body(("plain",))
        payload = {"From": str(parsed["From"] or ""), "To": str(parsed["To"] or ""),
                   "Subject": str(parsed["Subject"] or ""), "MessageID": str(uuid.uuid4()),
                   "Date": str(parsed["Date"] or ""), "TextBody": body.get_content() if body else "",
                   "Headers": [{"Name": k, "Value": str(v)} for k, v in parsed.items()
                               if k.lower() not in ("from", "to", "subject", "date")]}
        return SimulatedRequest(url, json.dumps(payload).encode(), {**auth, "Content-Type": "application/json"})
    raise ValueError(f"unknown provider {provider!r}; use one of {', '.join(EMAIL_PROVIDERS)}")
