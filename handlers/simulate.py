"""Requests shaped as each provider sends them, signed or authenticated with this service's own
settings, so that `flask simulate-sms` and `flask simulate-email` try a running service without a
Twilio or email provider account. Only builds requests; the CLI posts them."""

from __future__ import annotations

import email.policy
import mimetypes
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, localtime
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from .core.addresses import CHANNEL_PREFIXES, PHONE_CHANNELS
from .providers import registry

EMAIL_PROVIDERS = tuple(registry.simulated())  # mime, sendgrid, mailgun, postmark
SMS_CHANNELS = PHONE_CHANNELS  # what `flask simulate-sms --channel` takes: sms, whatsapp, rcs


@dataclass(frozen=True)
class SimulatedRequest:
    url: str
    body: bytes
    headers: dict[str, str]


def sms(base_url: str, auth_token: str, body: str, sender: str, to: str = "+14155550199", channel: str = "sms",
        button: str | None = None, country: str | None = None, media: tuple[str, ...] = ()) -> SimulatedRequest:
    """A Twilio inbound-SMS webhook (its documented form parameters), signed with X-Twilio-Signature; for
    `channel` whatsapp or rcs, the same webhook from whatsapp:+... or rcs:+... (WhatsApp's ProfileName and
    WaId too); with `button`, a tapped button: its payload, BODY its text; with FromCountry when
    `country` is given, and an MMS (MessageSid MM..., NumMedia, MediaUrlN, MediaContentTypeN) when
    `media` URLs are."""
    url = base_url.rstrip("/") + "/webhooks/twilio/sms"
    sid = ("MM" if media else "SM") + uuid.uuid4().hex
    prefix = CHANNEL_PREFIXES.get(channel, "")
    sender, to = (prefix + a.removeprefix(prefix) for a in (sender, to))
    params = {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32,
              "From": sender, "To": to, "Body": body, "NumMedia": str(len(media)), "NumSegments": "1",
              "SmsStatus": "received", "ApiVersion": "2010-04-01"}
    if channel == "whatsapp":
        params.update({"ProfileName": "Simulated Person", "WaId": sender.removeprefix(prefix).lstrip("+")})
    if button:
        params.update({"ButtonPayload": button, "ButtonText": body})
    if country:
        params["FromCountry"] = country.upper()
    for n, media_url in enumerate(media):
        params[f"MediaUrl{n}"] = media_url
        params[f"MediaContentType{n}"] = mimetypes.guess_type(media_url)[0] or "image/jpeg"
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


def settings_needed(provider: str) -> tuple[str, ...]:
    """The settings the service needs to accept `provider`'s simulated reply (its webhook's authentication)."""
    return registry.simulated()[provider].authentication.settings


def email_reply(provider: str, base_url: str, raw: bytes, settings: dict) -> SimulatedRequest:
    """The raw message `raw` as `provider` posts it, as its webhook declares (handlers/providers/): MIME
    body, SendGrid's raw mode, a Mailgun route's forward() to a URL ending in mime (body-mime, signed),
    or Postmark's inbound JSON."""
    webhook = registry.simulated().get(provider)
    if webhook is None:
        raise ValueError(f"unknown provider {provider!r}; use one of {', '.join(EMAIL_PROVIDERS)}")
    body, headers = webhook.simulate(raw, settings)
    return SimulatedRequest(base_url.rstrip("/") + webhook.path, body, headers)
