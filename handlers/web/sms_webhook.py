"""Twilio's SMS webhook: answer() decides it (verify, parse, hand off to intake, translate the outcome),
and two adapters serve it: Flask's route and DirectSmsWebhook, the same answer without Flask's
per-request machinery."""

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
from .context import services as current_services
from .metrics import ROUTE
from .responses import log_refusal
from .webhook_log import log_webhook

webhooks = Blueprint("webhooks", __name__)

Answer = tuple[int, str, str]  # (status, body, mimetype): what Twilio is answered, by either adapter


def answer(body: bytes, url: str, signature: str | None, services) -> Answer:
    """The answer to one Twilio SMS webhook, from its body, the URL it was called at and its
    X-Twilio-Signature: the message recorded (200, TwiML, only after the commit), or refused (403 wrong
    signature, 400 unusable message, 500 store error) with its one log line. `services` is the app's
    (settings, keyword table, store); the log lines need its app context."""
    fields = twilio.form(body)  # once, for the signature and the message
    refusal = signature_refusal(fields, url, signature, services.settings)
    if refusal:
        return refusal
    try:
        inbound = twilio.parse(fields.params(), services.settings["DEFAULT_REGION"])
    except ProviderError as e:
        return refusal_answer(400, str(e), fields)
    return recorded_answer(inbound, services)


def signature_refusal(fields, url: str, signature: str | None, settings) -> Answer | None:
    """None when the request carries Twilio's signature, else the 403 and its log line."""
    problem = twilio.signature_problem(settings, url, fields, signature)
    return refusal_answer(403, problem, fields) if problem else None


# What werkzeug's quoting leaves as it is (and its IRI decoding too, with no % to decode).
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/._~!$&'()*+,;=:@-]*")
_PLAIN_QUERY = re.compile(rb"[A-Za-z0-9/._~!$&'()*+,;=:@?-]*")
# A Content-Length of plain digits: werkzeug reads the same number. It reads other spellings (spaces,
# a sign) its own way, so DirectSmsWebhook leaves those to it.
_DIGITS = re.compile(r"[0-9]+")


def called_url() -> str:
    """The URL as the client called it (behind TRUSTED_PROXIES, as the proxy says: ProxyFix), its
    query string as sent: Twilio signs `?n=%C3%A9` as written, where request.url would decode it."""
    req = request._get_current_object()
    query = req.environ.get("QUERY_STRING", "")
    return plain_url(req.environ) or (f"{req.base_url}?{query}" if query else req.base_url)


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
    """Flask's adapter of answer(): what DirectSmsWebhook does not serve itself comes here."""
    return as_response(*answer(request.get_data(), called_url(), request.headers.get("X-Twilio-Signature"),
                            current_services()))


def as_response(status: int, body: str, mimetype: str) -> Response:
    return Response(body, status, mimetype=mimetype)


def recorded_answer(inbound, services) -> Answer:
    """Record `inbound`; then the answer Twilio gets, only after the commit."""
    try:
        recorded = intake.handle(inbound, services.keywords, services.store)
    except StoreError:
        # Not recorded, so not acknowledged: Twilio logs error 11200 and uses the fallback URL.
        current_app.logger.exception("twilio sms: could not record message %s", inbound.provider_id)
        return 500, "could not record the message; nothing was acknowledged\n", "text/plain"
    log_webhook(inbound, recorded)
    return 200, twiml(recorded.reply), "application/xml"


def refusal_answer(status: int, reason: str, fields) -> Answer:
    """The refusal, in plain text as Twilio's debugger shows it, and its one log line."""
    log_refusal("twilio", status, reason, first_value(fields, "From"))
    return plain_text(status, reason)


def plain_text(status: int, message: str) -> Answer:
    return status, f"{message}\n", "text/plain"


@lru_cache(maxsize=4096)
def twiml(reply: str | None) -> str:
    """<Response><Message>reply</Message></Response>, or <Response/> for no reply. Replies come from
    a few templates, so each is built once (building TwiML was a noticeable share of a webhook's CPU)."""
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return str(response)


class DirectSmsWebhook:
    """WSGI middleware: the WSGI adapter of the guards' refusal() and answer(), serving POST
    /webhooks/twilio/sms without Flask's per-request machinery (the request and app context objects,
    URL matching, hooks and response objects cost a third of the webhook's CPU: README, "Benchmark").

    It answers what the route would, through the same functions, so the two cannot drift: a body the
    guards refuse (413, 415), a wrong signature (403), an unusable message (400), a store error (500)
    or the recorded message's TwiML. It hands on to Flask, with the body when it has read it, only
    what it cannot read plainly: another path or method, a mount point (SCRIPT_NAME), a
    Transfer-Encoding, a Content-Length werkzeug would read its own way, a URL that needs werkzeug's
    quoting (plain_url), a body shorter than its Content-Length. An error it does not expect is
    answered as Flask answers any route's error.
    """

    PATH = "/webhooks/twilio/sms"

    def __init__(self, app, flask_wsgi):
        self.app, self.flask_wsgi = app, flask_wsgi
        self.services = app.extensions["optout"]

    def __call__(self, environ, start_response):
        length = environ.get("CONTENT_LENGTH", "")
        if (environ.get("PATH_INFO") != self.PATH or environ.get("REQUEST_METHOD") != "POST"
                or environ.get("SCRIPT_NAME") or "HTTP_TRANSFER_ENCODING" in environ
                or not _DIGITS.fullmatch(length)):
            return self.flask_wsgi(environ, start_response)
        length = int(length)
        environ[ROUTE] = self.PATH
        refusal = guards.refusal(self.PATH, "POST", length, environ.get("CONTENT_TYPE", ""), chunked=False)
        if refusal:
            return self._respond(start_response, *plain_text(*refusal))  # unread, as Flask leaves it
        url = plain_url(environ)
        if url is None:
            return self.flask_wsgi(environ, start_response)
        body = environ["wsgi.input"].read(length)
        if len(body) != length:
            environ["wsgi.input"] = io.BytesIO(body)
            return self.flask_wsgi(environ, start_response)
        with self.app.app_context():  # leaving it gives the store's connection back (create_app's teardown)
            try:
                found = answer(body, url, environ.get("HTTP_X_TWILIO_SIGNATURE"), self.services)
            except Exception as e:  # noqa: BLE001 - answered as Flask answers any route's error
                with self.app.request_context(environ):
                    error = self.app.handle_exception(e)
                return error(environ, start_response)
        return self._respond(start_response, *found)

    @staticmethod
    def _respond(start_response, status: int, text: str, mimetype: str):
        body = text.encode()
        start_response(f"{status} {HTTP_STATUS_CODES[status].upper()}",
                       [("Content-Type", f"{mimetype}; charset=utf-8"), ("Content-Length", str(len(body)))])
        return [body]
