"""Twilio Programmable Messaging inbound webhook: verify the signature, parse into an Inbound.

Sample payload (application/x-www-form-urlencoded), as Twilio documents it:
    MessageSid=SM...&SmsSid=SM...&AccountSid=AC...&MessagingServiceSid=MG...&From=+14155550100
    &To=+14155550199&Body=STOP&NumMedia=0&NumSegments=1&SmsStatus=received&ApiVersion=2010-04-01
    [&OptOutType=STOP]   (Advanced Opt-Out: Twilio has already replied)
https://www.twilio.com/docs/messaging/guides/webhook-request
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

from twilio.request_validator import RequestValidator

from ..core.addresses import InvalidAddress, sms_sender
from ..core.inbound import Inbound, ProviderError, first_value

# Twilio's Advanced Opt-Out names the action it already took and answered.
_PROVIDER_ACTIONS = {"STOP": "opt_out", "START": "opt_in", "HELP": "help"}


def signed_urls(request_url: str, public_base_url: str | None) -> list[str]:
    """The URL Twilio signed: the configured public origin with the request's path, else the URL of the
    request as the client called it."""
    if public_base_url:
        parts, base = urlsplit(request_url), urlsplit(public_base_url.rstrip("/"))
        return [urlunsplit((base.scheme, base.netloc, base.path + parts.path, parts.query, ""))]
    return [request_url]


def verify(auth_token: str | None, urls: Iterable[str], params: Mapping, signature: str | None) -> bool:
    """True when `signature` is Twilio's signature of one of `urls` with `params`."""
    if not auth_token or not signature or not signature.isascii():
        return False  # Twilio's signatures are base64: anything else is no signature (and trips compare_digest)
    validator = RequestValidator(auth_token)
    # The URL exactly as seen is what Twilio signed in practice: one HMAC. validate() computes two
    # (with and without the port), so it is the fallback for the rarer spellings.
    if any(hmac.compare_digest(validator.compute_signature(url, params), signature) for url in urls):
        return True
    return any(validator.validate(url, params, signature) for url in urls)


def parse(params: Mapping[str, str], default_region: str) -> Inbound:
    """Turn Twilio's form parameters into an Inbound. Raises ProviderError if one is unusable."""
    sid = first_value(params, "MessageSid") or first_value(params, "SmsMessageSid") or first_value(params, "SmsSid")
    sender = first_value(params, "From")
    if not sid:
        raise ProviderError("no MessageSid in the request")
    if not sender:
        raise ProviderError("no From in the request")
    try:
        address, unusable = sms_sender(sender, default_region), None
    except InvalidAddress as e:
        # Recorded with its evidence, nothing done and nothing answered: no reply could reach it,
        # and the API could never find it.
        address, unusable = "", f"no usable sender ({e})"
    opt_out_type = (first_value(params, "OptOutType") or "").upper()
    return Inbound(
        channel="sms",
        provider="twilio",
        provider_id=sid,
        address=address,
        recipient=first_value(params, "To"),
        text=first_value(params, "Body") or "",
        params=dict(params),
        country=(first_value(params, "FromCountry") or "").upper() or None,
        provider_action=_PROVIDER_ACTIONS.get(opt_out_type),
        ignored=unusable,
    )

