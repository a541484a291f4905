"""Inbound email webhooks: SendGrid, Mailgun, Postmark and raw MIME. Each route authenticates,
parses into a Mail with its provider's adapter, and hands off to intake.

Status codes follow each provider's retry contract (the providers' docs, quoted in README):
- 200 for anything recorded, recognised as a duplicate, or deliberately ignored (auto-replies).
- 401 when credentials or the signature are wrong: Mailgun retries it for 8 hours and Postmark 10
  times, so a misconfigured secret fixed in time loses nothing. Never 403 to Postmark for that: 403
  makes it stop for good. SendGrid retries only 5xx answers (for 3 days) and drops the rest, so it
  gets 503 for wrong credentials.
- 503 when the database cannot commit: retried, and nothing was acknowledged.
- A request that can never succeed: 406 to Mailgun (its "do not retry"), 400 elsewhere.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import replace

from flask import Blueprint, current_app, jsonify, request

from ..core import intake
from ..core.addresses import masked
from ..core.inbound import ProviderError, Replay
from ..email import reading as email_reading
from ..email.message import Mail
from ..providers import mailgun, mime, postmark, sendgrid
from ..storage.store import StoreError
from .context import services
from .responses import json_error
from .webhook_log import log_webhook

email_webhooks = Blueprint("email_webhooks", __name__, url_prefix="/webhooks/email")

# Mailgun retries for 8 hours, possibly with the first attempt's signature; a token seen before with
# another message is refused whatever its age (handlers/store.py keeps them).
MAILGUN_MAX_AGE = 12 * 3600


def accepted(**body):
    """200 with a JSON body: recorded, a duplicate, or deliberately ignored."""
    return jsonify(body)


def refused(provider: str, status: int, reason: str, sender: str | None = None):
    """The refusal, and its one log line: provider, status, reason, masked sender."""
    current_app.logger.warning("%s webhook refused with %d: %s (sender %s)", provider, status, reason, masked(sender))
    return json_error(status, reason)


def basic_auth_refusal(provider: str, status: int = 401):
    """None when the request carries INBOUND_EMAIL_USER / INBOUND_EMAIL_PASSWORD, else a refusal."""
    settings = services().settings
    user, password = settings["INBOUND_EMAIL_USER"], settings["INBOUND_EMAIL_PASSWORD"]
    if not user or not password:
        return refused(provider, status, "inbound email credentials are not configured on the server "
                                         "(INBOUND_EMAIL_USER, INBOUND_EMAIL_PASSWORD)")
    given = request.authorization
    ok = given is not None and given.type == "basic"
    # As bytes: compare_digest refuses str with characters outside ASCII, which anyone can send.
    ok = hmac.compare_digest(((given.username if ok else "") or "").encode(), user.encode()) & hmac.compare_digest(
        ((given.password if ok else "") or "").encode(), password.encode())
    if not ok:
        response = refused(provider, status, "missing or wrong HTTP Basic credentials")
        response.headers["WWW-Authenticate"] = 'Basic realm="inbound email"'
        return response
    return None


def record(mail: Mail, nonce: str | None = None):
    inbound = email_reading.to_inbound(mail)
    if nonce:
        inbound = replace(inbound, nonce=nonce)
    try:
        recorded = intake.handle(inbound, services().keywords, services().store)
    except Replay as e:
        return refused(inbound.provider, 403, str(e), inbound.address)
    except StoreError:
        current_app.logger.exception("email webhook: could not record message from %s", inbound.provider)
        return json_error(503, "could not record the message; nothing was acknowledged; retry")
    log_webhook(inbound, recorded)
    if recorded.duplicate:
        return accepted(status="duplicate")
    return accepted(status="ignored" if inbound.ignored else "recorded",
                  action=recorded.transition.action if recorded.transition else None)


@email_webhooks.post("/sendgrid")
def sendgrid_inbound():
    refusal = basic_auth_refusal("sendgrid", status=503)  # SendGrid drops anything but 5xx
    if refusal:
        return refusal
    fields = {}
    try:
        # The parts' bytes, not Flask's form: SendGrid posts each in the message's charset (`charsets`).
        fields = sendgrid.form_fields(request.get_data(), request.content_type or "")
        mail = sendgrid.parse(fields)
    except ProviderError as e:
        return refused("sendgrid", 400, str(e), fields.get("from", b"").decode("utf-8", "replace"))
    return record(mail)


@email_webhooks.post("/mailgun")
def mailgun_inbound():
    fields = request.form.to_dict()
    problem = mailgun.verify(services().settings["MAILGUN_SIGNING_KEY"], fields.get("timestamp", ""),
                             fields.get("token", ""), fields.get("signature", ""), now=time.time(),
                             max_age=MAILGUN_MAX_AGE)
    if problem:
        return refused("mailgun", 401, problem, fields.get("from"))
    try:
        mail = mailgun.parse(fields)
    except ProviderError as e:
        try:  # the signature was good: spend its token, or it could carry another body later
            services().store.use_nonce("mailgun", fields["token"], "refused:" + fields["token"])
        except Replay:  # spent already: the refusal stands either way
            current_app.logger.info("mailgun webhook: a refused request's token was already spent")
        except StoreError:
            current_app.logger.exception("mailgun webhook: could not record a refused request's token")
            return json_error(503, "could not record the request; retry")
        return refused("mailgun", 406, str(e), fields.get("from"))  # Mailgun's "rejected, do not retry"
    return record(mail, nonce=fields["token"])


@email_webhooks.post("/postmark")
def postmark_inbound():
    refusal = basic_auth_refusal("postmark")
    if refusal:
        return refusal
    payload = request.get_json(silent=True)
    try:
        mail = postmark.parse(payload)
    except ProviderError as e:
        claimed = payload.get("From") if isinstance(payload, dict) and isinstance(payload.get("From"), str) else None
        return refused("postmark", 400, str(e), claimed)
    return record(mail)


@email_webhooks.post("/mime")
def mime_inbound():
    refusal = basic_auth_refusal("mime")
    if refusal:
        return refusal
    raw = request.get_data()
    if not raw.strip():
        return refused("mime", 400, "expected a raw RFC 5322 message as the request body")
    try:
        mail = mime.parse_mime(raw)
    except ProviderError as e:
        return refused("mime", 400, str(e))
    return record(mail)
