"""Provider webhooks. Each route verifies, parses, hands off to intake, and translates the outcome."""

from __future__ import annotations

from functools import lru_cache

from flask import Blueprint, Response, current_app, request
from twilio.twiml.messaging_response import MessagingResponse

from ..core import intake
from ..core.addresses import masked
from ..core.inbound import ProviderError
from ..providers import twilio
from ..storage.store import StoreError
from .context import services
from .webhook_log import log_webhook

webhooks = Blueprint("webhooks", __name__)


@webhooks.post("/webhooks/twilio/sms")
def twilio_inbound_sms():
    settings = services().settings
    # request.url is what the client called: behind TRUSTED_PROXIES, as the proxy says (ProxyFix).
    urls = twilio.signed_urls(request.url, settings["PUBLIC_BASE_URL"])
    if not twilio.verify(settings["TWILIO_AUTH_TOKEN"], urls, request.form,
                         request.headers.get("X-Twilio-Signature")):
        return refused(403, f"missing or wrong X-Twilio-Signature (checked against {', '.join(urls)})")
    params = {k: v[0] if len(v) == 1 else v for k, v in request.form.lists()}
    try:
        inbound = twilio.parse(params, settings["DEFAULT_REGION"])
    except ProviderError as e:
        return refused(400, str(e))
    try:
        recorded = intake.handle(inbound, services().keywords, services().store)
    except StoreError:
        # Not recorded, so not acknowledged: Twilio logs error 11200 and uses the fallback URL.
        current_app.logger.exception("twilio sms: could not record message %s", inbound.provider_id)
        return Response("could not record the message; nothing was acknowledged\n", 500, mimetype="text/plain")
    log_webhook(inbound, recorded)
    return Response(twiml(recorded.reply), mimetype="application/xml")


def refused(status: int, reason: str):
    """The refusal, and its one log line: provider, status, reason, masked sender."""
    current_app.logger.warning("twilio webhook refused with %d: %s (sender %s)", status, reason,
                               masked(request.form.get("From")))
    return Response(f"{reason}\n", status, mimetype="text/plain")


@lru_cache(maxsize=4096)
def twiml(reply: str | None) -> str:
    """<Response><Message>reply</Message></Response>, or <Response/> for no reply. Replies come from
    a few templates, so each is built once (building TwiML was 7% of a webhook's CPU)."""
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return str(response)
