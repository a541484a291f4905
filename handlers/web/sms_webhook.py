"""Provider webhooks. Each route verifies, parses, hands off to intake, and translates the outcome."""

from __future__ import annotations

import re
from functools import lru_cache

from flask import Blueprint, Response, current_app, request
from twilio.twiml.messaging_response import MessagingResponse

from ..core import intake
from ..core.inbound import ProviderError, first_value
from ..providers import twilio
from ..storage.store import StoreError
from .context import services
from .responses import log_refusal
from .webhook_log import log_webhook

webhooks = Blueprint("webhooks", __name__)


def twilio_refusal(fields) -> Response | None:
    """None when the request carries Twilio's signature of `fields` for the URL it was sent to, else a 403."""
    settings = services().settings
    url = twilio.signed_url(called_url(), settings["PUBLIC_BASE_URL"])
    if not twilio.verify(settings["TWILIO_AUTH_TOKEN"], url, fields, request.headers.get("X-Twilio-Signature")):
        return refused(403, f"missing or wrong X-Twilio-Signature (checked against {url})", fields)
    return None


# What werkzeug's quoting leaves as it is (and its IRI decoding too, with no % to decode).
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/._~!$&'()*+,;=:@-]*")
_PLAIN_QUERY = re.compile(rb"[A-Za-z0-9/._~!$&'()*+,;=:@?-]*")


def called_url() -> str:
    """request.url: the URL as the client called it (behind TRUSTED_PROXIES, as the proxy says:
    ProxyFix). Built here when the path and query hold nothing to quote or decode, as webhook URLs
    do: werkzeug's general route through quoting and IRI decoding cost as much as the HMAC."""
    req = request._get_current_object()
    root, path, query = req.root_path, req.path, req.query_string
    if not (_PLAIN_PATH.fullmatch(root) and _PLAIN_PATH.fullmatch(path) and _PLAIN_QUERY.fullmatch(query)):
        return req.url
    url = f"{req.scheme}://{req.host}{root.rstrip('/')}/{path.lstrip('/')}"
    return f"{url}?{query.decode('ascii')}" if query else url


@webhooks.post("/webhooks/twilio/sms")
def twilio_inbound_sms():
    settings = services().settings
    fields = twilio.form(request.get_data())  # once, for the signature and the message
    refusal = twilio_refusal(fields)
    if refusal:
        return refusal
    try:
        inbound = twilio.parse(fields.params(), settings["DEFAULT_REGION"])
    except ProviderError as e:
        return refused(400, str(e), fields)
    try:
        recorded = intake.handle(inbound, services().keywords, services().store)
    except StoreError:
        # Not recorded, so not acknowledged: Twilio logs error 11200 and uses the fallback URL.
        current_app.logger.exception("twilio sms: could not record message %s", inbound.provider_id)
        return Response("could not record the message; nothing was acknowledged\n", 500, mimetype="text/plain")
    log_webhook(inbound, recorded)
    return Response(twiml(recorded.reply), mimetype="application/xml")


def refused(status: int, reason: str, fields):
    """The refusal, in plain text as Twilio's debugger shows it, and its one log line."""
    log_refusal("twilio", status, reason, first_value(fields, "From"))
    return Response(f"{reason}\n", status, mimetype="text/plain")


@lru_cache(maxsize=4096)
def twiml(reply: str | None) -> str:
    """<Response><Message>reply</Message></Response>, or <Response/> for no reply. Replies come from
    a few templates, so each is built once (building TwiML was 7% of a webhook's CPU)."""
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return str(response)
