"""Every provider webhook the registry declares (handlers/providers/registry.py): inbound email from
SendGrid, Mailgun, Postmark and raw MIME, the providers' event webhooks and Twilio's status callback.
One view serves them all in three steps: authenticate -> parse -> record, with intake deciding.

Each webhook's status contract is declared with it (handlers/providers/webhook.py: Contract), since
the providers retry differently (their package docstrings quote them):
- 200 for anything recorded, recognised as a duplicate, or deliberately ignored (auto-replies, events
  of no concern to consent);
- `bad_credentials` for a wrong secret or signature: 401 where the provider retries it (Mailgun,
  Postmark, SendGrid's events), never 403 to Postmark, which stops for good; 503 to SendGrid's
  Inbound Parse, which retries only 5xx; 403 to Twilio, as its SMS webhook answers;
- 403 for a Mailgun token spent before (a replay);
- `unusable` for a request that can never succeed: 406 to Mailgun (its "do not retry"), 400 elsewhere;
- `unavailable` when the database cannot commit: 503 (Twilio: 500), retried, nothing acknowledged.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from flask import Blueprint, Response, current_app, jsonify, request

from ..core import intake
from ..core.inbound import ProviderError, Replay
from ..core.text import readable
from ..email import reading as email_reading
from ..email.message import Mail
from ..providers import registry
from ..providers.webhook import FORM, JSON, Delivery, Refusal, Unconfirmed, Webhook
from ..storage.store import StoreError
from .context import services
from .event_recording import record_events
from .responses import json_error, log_refusal, refused
from .webhook_log import log_webhook

provider_webhooks = Blueprint("provider_webhooks", __name__)


def serve(provider: str, webhook: Webhook):
    """Authenticate, parse and record one request to `webhook`, answering as its contract says."""
    delivery = delivery_of(provider, webhook)
    refusal = webhook.authentication.check(delivery)
    if refusal:
        return refused_credentials(webhook, refusal)
    nonce = webhook.nonce(delivery.payload) if webhook.nonce else None
    try:
        parsed = webhook.parse(delivery)
    except ProviderError as e:
        if nonce:
            try:
                spend_nonce(provider, nonce, "refused:" + nonce)
            except Replay:  # spent already: the refusal stands either way
                current_app.logger.info("%s webhook: a refused request's token was already spent", provider)
            except StoreError:
                return json_error(webhook.contract.unavailable, "could not record the request; retry")
        return refused(webhook.log_name, webhook.contract.unusable, str(e), getattr(e, "sender", None))
    except Unconfirmed as e:
        try:
            if nonce:
                spend_nonce(provider, nonce, e.nonce_id)
        except Replay as replay:
            return refused(webhook.log_name, 403, str(replay))
        except StoreError:
            return json_error(webhook.contract.unavailable, "could not record the request; retry")
        status = webhook.contract.unavailable if e.retry else webhook.contract.unusable
        return refused(webhook.log_name, status, str(e))
    if isinstance(parsed, Mail):
        return record_mail(parsed, nonce, webhook.contract.unavailable)
    for reason in parsed.skipped:
        current_app.logger.warning("%s event webhook: skipped %s", provider, reason)
    if nonce and not parsed.events:  # nothing to record, but the token is spent all the same
        try:
            spend_nonce(provider, nonce, parsed.nonce_id or f"event:{nonce}")
        except Replay as e:
            return refused(webhook.log_name, 403, str(e))
        except StoreError:
            return json_error(webhook.contract.unavailable, "could not record the request; retry")
    return record_events(parsed.events, parsed.skipped, unavailable=webhook.contract.unavailable)


def delivery_of(provider: str, webhook: Webhook) -> Delivery:
    """The current request as the provider's functions read it (body, URL and lists when first asked)."""
    req = request._get_current_object()
    given = req.authorization
    basic = (given.username or "", given.password or "") if given is not None and given.type == "basic" else None
    return Delivery(partial(payload_of, req, webhook.read), req.content_type or "", req.headers, basic,
                    services().settings, read_url=lambda: req.url,
                    read_lists=lambda: services().keywords.provider_lists.get(provider, {}))


def payload_of(req, read):
    if read == FORM:
        return req.form.to_dict()
    if read == JSON:  # text that could not be stored (a lone surrogate, NUL) as U+FFFD from here on
        return readable(req.get_json(silent=True))
    return read(req.get_data())


def refused_credentials(webhook: Webhook, refusal: Refusal) -> Response:
    status = webhook.contract.bad_credentials
    if webhook.authentication.plain_text:
        log_refusal(webhook.log_name, status, refusal.reason, refusal.sender)
        return Response(f"{refusal.reason}\n", status, mimetype="text/plain")
    response = refused(webhook.log_name, status, refusal.reason, refusal.sender)
    if refusal.challenge:
        response.headers["WWW-Authenticate"] = refusal.challenge
    return response


def spend_nonce(provider: str, nonce: str, provider_id: str) -> None:
    """The signature was good but nothing will be recorded: spend its token all the same, or it could
    carry another body later. Raises Replay if it came before with another request, StoreError (logged)."""
    try:
        services().store.use_nonce(provider, nonce, provider_id)
    except StoreError:
        current_app.logger.exception("%s webhook: could not record a refused request's token", provider)
        raise


def record_mail(mail: Mail, nonce: str | None, unavailable: int):
    """Hand a reply to intake: 200 {"status": "recorded" | "ignored" | "duplicate", "action"} once
    committed; 403 for a replayed nonce; `unavailable` when the database cannot commit."""
    inbound = email_reading.to_inbound(mail, email_reading.listed(services().settings["TRUSTED_AUTHSERV_IDS"]))
    if nonce:
        inbound = replace(inbound, nonce=nonce)
    try:
        recorded = intake.handle(inbound, services().keywords, services().store)
    except Replay as e:
        return refused(inbound.provider, 403, str(e), inbound.address)
    except StoreError:
        current_app.logger.exception("email webhook: could not record message from %s", inbound.provider)
        return json_error(unavailable, "could not record the message; nothing was acknowledged; retry")
    log_webhook(inbound, recorded)
    if recorded.duplicate:
        return jsonify(status="duplicate")
    return jsonify(status="ignored" if inbound.ignored else "recorded",
                   action=recorded.transition.action if recorded.transition else None)


for _provider in registry.PROVIDERS:
    for _webhook in _provider.webhooks:
        provider_webhooks.add_url_rule(_webhook.path, endpoint=_webhook.path.strip("/").replace("/", "_"),
                                       view_func=partial(serve, _provider.name, _webhook), methods=["POST"])
