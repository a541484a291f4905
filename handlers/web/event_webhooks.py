"""Provider event webhooks: what the providers did for us (unsubscribes, spam complaints, Twilio's
21610) becomes an opt-out here. Each route authenticates, parses with its provider's module and
records the events; status codes follow each provider's retry contract (README, "Provider events"):
- 200 for events recorded, recognised as duplicates, or of no concern to consent;
- 401 for wrong credentials or signature where the provider retries (SendGrid, Mailgun, Postmark),
  so a secret fixed in time loses nothing; 403 to Twilio, as its SMS webhook answers;
- 503 (Twilio: 500) when the database cannot commit: a retry can succeed;
- 406 to Mailgun (its "do not retry") and 400 elsewhere for a request that can never succeed.
"""

from __future__ import annotations

import time

from flask import Blueprint, current_app, request

from ..core.inbound import ProviderError, Replay, first_value
from ..providers import mailgun, mailgun_events, postmark_events, sendgrid_events, twilio
from ..storage.store import StoreError
from .context import services
from .email_webhooks import MAILGUN_MAX_AGE, basic_auth_refusal, spend_mailgun_token
from .event_recording import record_events
from .responses import json_error, refused
from .sms_webhook import twilio_refusal

event_webhooks = Blueprint("event_webhooks", __name__)


def lists(provider: str):
    return services().keywords.provider_lists.get(provider, {})


@event_webhooks.post("/webhooks/twilio/status")
def twilio_status():
    fields = twilio.form(request.get_data())
    refusal = twilio_refusal(fields)
    if refusal:
        return refusal
    try:
        event = twilio.parse_status(fields.params(), services().settings["DEFAULT_REGION"])
    except ProviderError as e:
        return refused("twilio", 400, str(e), first_value(fields, "To"))
    return record_events([event] if event else [], unavailable=500)


@event_webhooks.post("/webhooks/events/sendgrid")
def sendgrid_events_webhook():
    body = request.get_data()
    problem = sendgrid_events.verify(services().settings["SENDGRID_EVENT_PUBLIC_KEY"], body,
                                     request.headers.get("X-Twilio-Email-Event-Webhook-Signature"),
                                     request.headers.get("X-Twilio-Email-Event-Webhook-Timestamp"))
    if problem:
        return refused("sendgrid events", 401, problem)
    try:
        events, skipped = sendgrid_events.parse(body, lists("sendgrid"))
    except ProviderError as e:
        return refused("sendgrid events", 400, str(e))
    for reason in skipped:
        current_app.logger.warning("sendgrid event webhook: skipped %s", reason)
    return record_events(events, skipped)


@event_webhooks.post("/webhooks/events/mailgun")
def mailgun_events_webhook():
    payload = request.get_json(silent=True)
    timestamp, token, signature = mailgun_events.signature_fields(payload)
    problem = mailgun.verify(services().settings["MAILGUN_SIGNING_KEY"], timestamp, token, signature,
                             now=time.time(), max_age=MAILGUN_MAX_AGE)
    if problem:
        return refused("mailgun events", 401, problem)
    try:
        event = mailgun_events.parse(payload, lists("mailgun"))
    except ProviderError as e:
        try:
            spend_mailgun_token(token, "refused:" + token)
        except Replay:
            pass  # spent already: the refusal stands either way
        except StoreError:
            return json_error(503, "could not record the request; retry")
        return refused("mailgun events", 406, str(e))  # Mailgun's "rejected, do not retry"
    if event is None:  # an event that changes no consent: nothing to record, but its token is spent
        data = payload.get("event-data") or {}
        try:
            spend_mailgun_token(token, f"event:{data.get('id') or token}")
        except Replay as e:
            return refused("mailgun events", 403, str(e))
        except StoreError:
            return json_error(503, "could not record the request; retry")
    return record_events([event] if event else [])


@event_webhooks.post("/webhooks/events/postmark")
def postmark_events_webhook():
    refusal = basic_auth_refusal("postmark events")
    if refusal:
        return refusal
    try:
        event = postmark_events.parse(request.get_json(silent=True), lists("postmark"))
    except ProviderError as e:
        return refused("postmark events", 400, str(e))
    return record_events([event] if event else [])
