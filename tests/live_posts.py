"""Deliveries to a running server (conftest.serve) as the providers make them, and its /metrics read
back with prometheus-client's own parser."""

import base64
import urllib.parse
import urllib.request

from conftest import AUTH_TOKEN, twilio_params
from prometheus_client.parser import text_string_to_metric_families
from service import DELIVERY_TIMEOUT
from twilio.request_validator import RequestValidator

INBOUND_USER, INBOUND_PASSWORD = "inbound", "inbound-secret"
EMAIL_SETTINGS = {"INBOUND_EMAIL_USER": INBOUND_USER, "INBOUND_EMAIL_PASSWORD": INBOUND_PASSWORD}


def post_sms(base: str, sender: str, text: str = "STOP", token: str = AUTH_TOKEN) -> int:
    """A Twilio inbound SMS, signed with the SDK's RequestValidator; the HTTP status."""
    url = f"{base}/webhooks/twilio/sms"
    params = twilio_params(text, sender=sender)
    request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), headers={
        "X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)})
    return _status(request)


def post_mime(base: str, sender: str, text: str, message_id: str) -> int:
    """A raw MIME reply to the MIME webhook, with the HTTP Basic credentials of EMAIL_SETTINGS."""
    raw = (f"From: {sender}\r\nTo: news@acme.example\r\nSubject: Re: Spring sale\r\n"
           f"Message-ID: <{message_id}@example.org>\r\n\r\n{text}\r\n").encode()
    basic = base64.b64encode(f"{INBOUND_USER}:{INBOUND_PASSWORD}".encode()).decode()
    request = urllib.request.Request(f"{base}/webhooks/email/mime", data=raw, headers={
        "Content-Type": "message/rfc822", "Authorization": f"Basic {basic}"})
    return _status(request)


def _status(request) -> int:
    try:
        with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def scrape(base: str, token: str | None = None) -> dict[str, list]:
    """GET /metrics: {sample name: [(labels, value), ...]}."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(f"{base}/metrics", headers=headers),
                                timeout=DELIVERY_TIMEOUT) as response:
        return samples(response.read().decode())


def samples(text: str) -> dict[str, list]:
    found: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found
