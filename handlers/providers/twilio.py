"""Twilio Programmable Messaging: the inbound SMS webhook (verify the signature, parse into an Inbound;
served by handlers/web/sms_webhook.py) and the status callback of messages we sent, an event webhook
declared here (PROVIDER) like every other provider's.

Sample payload (application/x-www-form-urlencoded), as Twilio documents it:
    MessageSid=SM...&SmsSid=SM...&AccountSid=AC...&MessagingServiceSid=MG...&From=+14155550100
    &To=+14155550199&Body=STOP&NumMedia=0&NumSegments=1&SmsStatus=received&ApiVersion=2010-04-01
    [&OptOutType=STOP]   (Advanced Opt-Out: Twilio has already replied)
    &FromCity=...&FromState=...&FromZip=...&FromCountry=US&ToCountry=US ...&AddOns={...}&ReferralNumMedia=0
An MMS has a MessageSid starting MM and NumMedia, MediaUrl0, MediaContentType0 ... (the Twilio CLI's
webhook plugin's requests: tests/data/providers/twilio_plugin_webhook_*.json).
WhatsApp and RCS come to the same webhook: From=whatsapp:+14155550100 (with ProfileName, the person's
WhatsApp name, and WaId, their WhatsApp id, kept as evidence in the message's params, never logged) or
From=rcs:+14155550100; a tapped button adds ButtonPayload (the payload the template gave it) and
ButtonText (its label); tests/test_whatsapp_rcs.py posts them.
https://www.twilio.com/docs/messaging/guides/webhook-request
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from twilio.request_validator import RequestValidator

from ..core.addresses import InvalidAddress, channel_of, normalise, sms_sender
from ..core.inbound import Inbound, ProviderError, first_value
from ..core.provider_events import ProviderEvent
from .webhook import KIB, Authentication, Contract, Delivery, Events, Provider, Refusal, Unusable, Webhook

# Twilio's Advanced Opt-Out names the action it already took and answered.
_PROVIDER_ACTIONS = {"STOP": "opt_out", "START": "opt_in", "HELP": "help"}


def signed_url(request_url: str, public_base_url: str | None) -> str:
    """The URL Twilio signed: the configured public origin with the request's path, else the URL of the
    request as the client called it."""
    if public_base_url:
        parts, base = urlsplit(request_url), urlsplit(public_base_url.rstrip("/"))
        return urlunsplit((base.scheme, base.netloc, base.path + parts.path, parts.query, ""))
    return request_url


class Form(dict):
    """{name: [values]} as Twilio posted them."""

    def getall(self, name: str) -> list[str]:
        """What RequestValidator reads a parameter's values from (a plain dict's lists it would not)."""
        return self[name]

    def params(self) -> dict[str, str | list[str]]:
        """One value per name, a list only where a name was repeated: what parse() takes."""
        return {name: values[0] if len(values) == 1 else values for name, values in self.items()}


def form(body: bytes) -> Form:
    """The form Twilio posts (application/x-www-form-urlencoded, UTF-8), parsed once for both the
    signature and the message: a value is unquoted only when it has something to unquote, which is
    most of what parsing costs (urllib's parse_qsl unquotes every one)."""
    fields = Form()
    for pair in body.decode("utf-8", "replace").split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        fields.setdefault(name, []).append(value)
    return fields


def verify(auth_token: str | None, url: str, params: Mapping, signature: str | None) -> bool:
    """True when `signature` is Twilio's signature of `url` with `params`."""
    if not auth_token or not signature or not signature.isascii():
        return False  # Twilio's signatures are base64: anything else is no signature (and trips compare_digest)
    validator = RequestValidator(auth_token)
    # The URL exactly as seen is what Twilio signed in practice: one HMAC. validate() computes two
    # (with and without the port), so it is the fallback for the rarer spellings.
    if hmac.compare_digest(validator.compute_signature(url, params), signature):
        return True
    return validator.validate(url, params, signature)


def parse(params: Mapping[str, str], default_region: str) -> Inbound:
    """Turn Twilio's form parameters into an Inbound. Raises ProviderError if one is unusable."""
    sid = first_value(params, "MessageSid") or first_value(params, "SmsMessageSid") or first_value(params, "SmsSid")
    sender = first_value(params, "From")
    if not sid:
        raise ProviderError("no MessageSid in the request")
    if not sender:
        raise ProviderError("no From in the request")
    channel, _ = channel_of(sender)
    try:
        address, unusable = twilio_address(sender, default_region), None
    except InvalidAddress as e:
        # Recorded with its evidence, nothing done and nothing answered: no reply could reach it,
        # and the API could never find it.
        address, unusable = "", f"no usable sender ({e})"
    opt_out_type = (first_value(params, "OptOutType") or "").upper()
    button_text = first_value(params, "ButtonText") or None
    return Inbound(
        channel=channel,
        provider="twilio",
        provider_id=sid,
        address=address,
        recipient=first_value(params, "To"),
        text=button_text or first_value(params, "Body") or "",  # a button's label before any Body
        params=dict(params),
        country=(first_value(params, "FromCountry") or "").upper() or None,
        provider_action=_PROVIDER_ACTIONS.get(opt_out_type),
        ignored=unusable,
        button_payload=first_value(params, "ButtonPayload") or None,
        button_text=button_text,
        service=first_value(params, "MessagingServiceSid") or None,
    )


def twilio_address(raw: str, default_region: str) -> str:
    """The stored form of a Twilio From or To: an SMS sender as sms_sender() reads it; whatsapp:+E164 and
    rcs:+E164 as their E.164 number. Raises InvalidAddress."""
    channel, _ = channel_of(raw)
    return sms_sender(raw, default_region) if channel == "sms" else normalise(channel, raw, default_region)


# Twilio's status callback for a message we sent: MessageSid, MessageStatus (failed, undelivered ...),
# ErrorCode, From, To, AccountSid ... https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
# Error 21610: the recipient has replied STOP to this sender, and Twilio now blocks every message to them;
# since 16 March 2026 on SMS, MMS and RCS alike. https://www.twilio.com/docs/api/errors/21610
UNSUBSCRIBED_RECIPIENT = "21610"
# Error 63014, "Channel message blocked by user action": the WhatsApp recipient blocked the business or
# removed their consent. https://www.twilio.com/docs/api/errors/63014
# Not opt-outs, so not here: 63049 (Meta chose not to deliver a marketing template: US recipients, or an
# engagement limit; https://www.twilio.com/docs/api/errors/63049), 63032 (Meta's 472, the number is in an
# experiment), 63024 (an invalid recipient): https://www.twilio.com/docs/whatsapp/api/error-code-mapping.
# Twilio documents no error code of its own for Meta's "stopped marketing messages"; the person's own
# "Stop promotions" tap reaches the inbound webhook as a button (core/channels.py).
BLOCKED_BY_RECIPIENT = "63014"
# The error codes that are the recipient's opt-out, by the channel of the status callback's To.
OPT_OUT_ERRORS = {"sms": frozenset({UNSUBSCRIBED_RECIPIENT}), "rcs": frozenset({UNSUBSCRIBED_RECIPIENT}),
                  "whatsapp": frozenset({BLOCKED_BY_RECIPIENT})}


def parse_status(params: Mapping[str, str], default_region: str) -> ProviderEvent | None:
    """The opt-out a status callback reports (21610 for SMS and RCS, 63014 for WhatsApp), or None when it
    reports no change of consent."""
    code = (first_value(params, "ErrorCode") or "").strip()
    sid, recipient = first_value(params, "MessageSid") or first_value(params, "SmsSid"), first_value(params, "To")
    channel, _ = channel_of(recipient or "")
    if code not in OPT_OUT_ERRORS[channel]:
        return None
    if not sid or not recipient:
        raise ProviderError(f"a {code} status callback without MessageSid or To")
    try:
        address = twilio_address(recipient, default_region)
    except InvalidAddress as e:
        named = {"sms": "SMS", "rcs": "RCS", "whatsapp": "WhatsApp"}[channel]
        raise ProviderError(f"a {code} status callback whose To is no {named} address: {e}") from e
    return ProviderEvent(channel, "twilio", f"{sid}:{code}", address, "opt_out", code, evidence=dict(params),
                         account=first_value(params, "From") or first_value(params, "MessagingServiceSid") or None)


def signature_problem(settings: Mapping, url: str, fields, signature: str | None) -> str | None:
    """None when `signature` is Twilio's signature of `fields` for `url` (the URL the request was sent
    to, as PUBLIC_BASE_URL says Twilio called it), else the reason, as both Twilio webhooks refuse it."""
    signed = signed_url(url, settings["PUBLIC_BASE_URL"])
    if not verify(settings["TWILIO_AUTH_TOKEN"], signed, fields, signature):
        return f"missing or wrong X-Twilio-Signature (checked against {signed})"
    return None


def _signature_refusal(delivery: Delivery) -> Refusal | None:
    problem = signature_problem(delivery.settings, delivery.url, delivery.payload,
                                delivery.headers.get("X-Twilio-Signature"))
    return Refusal(problem, first_value(delivery.payload, "From")) if problem else None


def _parse_status(delivery: Delivery) -> Events:
    try:
        event = parse_status(delivery.payload.params(), delivery.settings["DEFAULT_REGION"])
    except ProviderError as error:
        raise Unusable(str(error), first_value(delivery.payload, "To")) from error
    return Events([event] if event else [])


# Answered as its SMS webhook answers: a bad signature 403 in plain text, as Twilio's debugger shows it;
# a database that cannot commit 500.
SIGNATURE = Authentication("Twilio signature", ("TWILIO_AUTH_TOKEN",), _signature_refusal, plain_text=True)

PROVIDER = Provider(
    "twilio",
    webhooks=(
        # As the SMS webhook's limits (handlers/web/guards.py): a form of a few parameters.
        Webhook(path="/webhooks/twilio/status", log_name="twilio", authentication=SIGNATURE, read=form,
                parse=_parse_status, max_body=64 * KIB, content_types=("application/x-www-form-urlencoded",),
                contract=Contract(bad_credentials=403, unusable=400, unavailable=500)),
    ),
)
