"""Provider webhooks. Each route verifies, parses, hands off to intake, and translates the outcome."""

from __future__ import annotations

import io
import re
from functools import lru_cache

from flask import Blueprint, Response, current_app, request
from twilio.twiml.messaging_response import MessagingResponse
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wsgi import get_host

from ..core import intake
from ..core.inbound import ProviderError, first_value
from ..providers import twilio
from ..storage.store import StoreError
from . import guards
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
    ProxyFix)."""
    req = request._get_current_object()
    return plain_url(req.environ) or req.url


def plain_url(environ) -> str | None:
    """request.url of `environ`, when its root path, path and query hold nothing to quote or decode
    (as webhook URLs do), built directly: werkzeug's general route through quoting and IRI decoding
    cost as much as the HMAC. None for any other URL."""
    root, path = environ.get("SCRIPT_NAME", ""), environ.get("PATH_INFO", "")
    query = environ.get("QUERY_STRING", "").encode("latin-1")
    if not (_PLAIN_PATH.fullmatch(root) and _PLAIN_PATH.fullmatch(path) and _PLAIN_QUERY.fullmatch(query)):
        return None
    url = f"{environ['wsgi.url_scheme']}://{get_host(environ)}{root.rstrip('/')}/{path.lstrip('/')}"
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
    status, body, mimetype = recorded_answer(inbound)
    return Response(body, status, mimetype=mimetype)


def recorded_answer(inbound) -> tuple[int, str, str]:
    """Record `inbound`; then (status, body, mimetype) of the answer Twilio gets, only after the commit."""
    try:
        recorded = intake.handle(inbound, services().keywords, services().store)
    except StoreError:
        # Not recorded, so not acknowledged: Twilio logs error 11200 and uses the fallback URL.
        current_app.logger.exception("twilio sms: could not record message %s", inbound.provider_id)
        return 500, "could not record the message; nothing was acknowledged\n", "text/plain"
    log_webhook(inbound, recorded)
    return 200, twiml(recorded.reply), "application/xml"


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


class DirectSmsWebhook:
    """WSGI middleware that serves a plain Twilio SMS webhook (POST /webhooks/twilio/sms, a form within
    the size limit, a valid signature, a usable message) without Flask's per-request machinery: the
    request and app context objects, URL matching, hooks and response objects cost a third of the
    webhook's CPU (one webhook in one process, its log line to stderr: 369 - 453 us through Flask,
    282 - 301 us here).

    It does what the route does, with the same functions, and nothing else: any request it does not
    plainly serve (another path or method, a body the guards would refuse, a bad signature, an
    unusable message, an error it does not expect) goes on to Flask with its body, and Flask answers
    it exactly as before.
    """

    PATH = "/webhooks/twilio/sms"
    FORM = "application/x-www-form-urlencoded"

    def __init__(self, app, flask_wsgi):
        self.app, self.flask_wsgi = app, flask_wsgi
        self.size, _ = guards.limits_for(self.PATH)
        self.services = app.extensions["optout"]

    def __call__(self, environ, start_response):
        if (environ.get("PATH_INFO") != self.PATH or environ.get("REQUEST_METHOD") != "POST"
                or environ.get("SCRIPT_NAME") or "HTTP_TRANSFER_ENCODING" in environ
                or environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != self.FORM):
            return self.flask_wsgi(environ, start_response)
        length = environ.get("CONTENT_LENGTH", "")
        if not length.isdigit() or not 0 < int(length) <= self.size:
            return self.flask_wsgi(environ, start_response)
        body = environ["wsgi.input"].read(int(length))
        url = plain_url(environ)
        if len(body) != int(length) or url is None:
            return self._to_flask(environ, start_response, body)
        settings = self.services.settings
        try:
            fields = twilio.form(body)
            url = twilio.signed_url(url, settings["PUBLIC_BASE_URL"])
            if not twilio.verify(settings["TWILIO_AUTH_TOKEN"], url, fields, environ.get("HTTP_X_TWILIO_SIGNATURE")):
                return self._to_flask(environ, start_response, body)  # the route refuses it, and logs why
            inbound = twilio.parse(fields.params(), settings["DEFAULT_REGION"])
        except Exception:  # noqa: BLE001 - a ProviderError (400), or anything else: the route answers it
            return self._to_flask(environ, start_response, body)
        with self.app.app_context():  # leaving it gives the store's connection back (create_app's teardown)
            try:
                status, text, mimetype = recorded_answer(inbound)
            except Exception as e:  # noqa: BLE001 - answered as Flask answers any route's error
                with self.app.request_context(environ):
                    response = self.app.handle_exception(e)
                return response(environ, start_response)
        answer = text.encode()
        start_response(f"{status} {HTTP_STATUS_CODES[status].upper()}",
                       [("Content-Type", f"{mimetype}; charset=utf-8"), ("Content-Length", str(len(answer)))])
        return [answer]

    def _to_flask(self, environ, start_response, body: bytes):
        environ["wsgi.input"] = io.BytesIO(body)
        return self.flask_wsgi(environ, start_response)
