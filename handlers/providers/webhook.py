"""What a provider declares: its webhooks (path, authentication, how the body is read, parser, body
limits, status contract) and the API client its settings configure. Each provider's package declares
one `Provider` in its __init__.py; handlers/providers/registry.py lists them; one view in
handlers/web/provider_webhooks.py serves every webhook as authenticate -> parse -> record.
Plain data and functions: no Flask here; the web layer reads the request into a `Delivery`.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..core.inbound import ProviderError
from ..core.provider_events import ProviderEvent
from ..email.message import Mail

KIB, MIB = 1024, 1024 * 1024
# The largest bodies. A reply comes whole with its attachments (SendGrid: up to 30 MB). An event
# webhook: SendGrid batches many events in one array; a Postmark spam complaint may carry the abuse
# report's dump. A few MiB is far above either and far below harm.
EMAIL_BODY, EVENT_BODY = 40 * MIB, 10 * MIB

# How a webhook's body is read: Flask's form, the JSON (None when it is none), or any function of the
# body's bytes (RAW: the bytes themselves).
FORM, JSON = "form", "json"


def RAW(body: bytes) -> bytes:
    return body


# Content types a webhook accepts, as the providers post them.
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
JSON_TYPES = ("application/json",)

@dataclass
class Delivery:
    """One webhook request as a provider's functions see it. What costs something to read (the body,
    the URL, the keyword table's lists) is read when first asked for, so a request refused on its HTTP
    Basic credentials is refused before its body is read."""

    read: Callable[[], Any]  # the payload, as the webhook's `read` says
    content_type: str
    headers: Mapping[str, str]
    basic: tuple[str, str] | None  # the HTTP Basic (user, password) given, if any
    settings: Mapping[str, str | None]
    read_url: Callable[[], str]
    read_lists: Callable[[], Mapping[str, str]] = dict

    @cached_property
    def payload(self) -> Any:
        """bytes, {name: value}, the JSON (None for none), or what the webhook's own reading made of the body."""
        return self.read()

    @cached_property
    def url(self) -> str:
        """The URL as the client called it (behind TRUSTED_PROXIES, as the proxy says)."""
        return self.read_url()

    @cached_property
    def lists(self) -> Mapping[str, str]:
        """This provider's lists in the keyword table (groups, tags, streams) -> category."""
        return self.read_lists()


@dataclass(frozen=True)
class Refusal:
    """Why authentication failed; the sender the request claims, for the masked log line; and the
    WWW-Authenticate challenge to answer with, if any."""

    reason: str
    sender: str | None = None
    challenge: str | None = None


class Unusable(ProviderError):
    """A request that can never succeed, and the sender it claims (for the masked log line)."""

    def __init__(self, message: str, sender: str | None = None):
        super().__init__(message)
        self.sender = sender


class Unconfirmed(Exception):
    """An event the provider's own API does not confirm. Its token is spent under the event's id (so
    that the provider's retry of it passes and nothing else can use it); `retry`: answered as
    `unavailable`, since the API may not list it yet, else as `unusable`."""

    def __init__(self, message: str, nonce_id: str, retry: bool):
        super().__init__(message)
        self.nonce_id, self.retry = nonce_id, retry


@dataclass(frozen=True)
class Events:
    """What an event webhook (or a raw message that is a spam report) carries: the consent events,
    why any were skipped, and, when there is none, the id the request's nonce is spent under."""

    events: list[ProviderEvent]
    skipped: list[str] = ()
    nonce_id: str | None = None


@dataclass(frozen=True)
class Authentication:
    name: str
    settings: tuple[str, ...]  # what it needs: while one is unset, every request is refused
    check: Callable[[Delivery], Refusal | None]
    plain_text: bool = False  # refusals as text/plain (Twilio's debugger shows them), else JSON


@dataclass(frozen=True)
class Contract:
    """The status of each answer that is not 200, as the provider's retries want it. 200 is for what is
    recorded, a duplicate or deliberately ignored; a replayed nonce is 403 for every provider."""

    bad_credentials: int = 401  # retried (Mailgun for 8 hours, Postmark 10 times): a secret fixed in time loses nothing
    unusable: int = 400  # the same request can never succeed
    unavailable: int = 503  # the database cannot commit: a retry can succeed


@dataclass(frozen=True)
class Webhook:
    path: str
    log_name: str  # as its refusals' log lines name it ("sendgrid", "mailgun events")
    authentication: Authentication
    read: str | Callable[[bytes], Any]  # FORM, JSON or a function of the body's bytes
    # A reply to hand to intake (a Mail) or consent events to record; raises ProviderError (Unusable, to
    # name the sender) for a request that can never succeed.
    parse: Callable[[Delivery], Mail | Events]
    max_body: int
    content_types: tuple[str, ...] | None  # None: any
    contract: Contract = Contract()
    # A token each request may spend only once (Mailgun's), read from the payload: a request with a good
    # signature spends it even when nothing is recorded, or it could carry another body later.
    nonce: Callable[[Any], str | None] | None = None
    # An email reply (raw RFC 5322 bytes) as this provider posts it, signed with our own settings:
    # (body, headers) for `flask simulate-email`.
    simulate: Callable[[bytes, Mapping], tuple[bytes, dict[str, str]]] | None = None


@dataclass(frozen=True)
class Api:
    """The provider's suppression API client: made when every one of `settings` is set."""

    settings: tuple[str, ...]
    make: Callable[[Mapping], Any]  # settings -> a client (handlers/sync/clients.py: Client)
    # The lists a change of no category concerns besides every mapped one; None: the account-wide list.
    default_lists: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Provider:
    name: str
    webhooks: tuple[Webhook, ...] = ()
    api: Api | None = None


def _basic_refusal(delivery: Delivery, password_setting: str = "INBOUND_EMAIL_PASSWORD") -> Refusal | None:
    user, password = delivery.settings["INBOUND_EMAIL_USER"], delivery.settings[password_setting]
    if not user or not password:
        return Refusal("inbound email credentials are not configured on the server "
                       "(INBOUND_EMAIL_USER, INBOUND_EMAIL_PASSWORD)")
    given_user, given_password = delivery.basic or ("", "")
    # As bytes: compare_digest refuses str with characters outside ASCII, which anyone can send.
    ok = hmac.compare_digest(given_user.encode(), user.encode()) & hmac.compare_digest(
        given_password.encode(), password.encode())
    if not ok:
        return Refusal("missing or wrong HTTP Basic credentials", challenge='Basic realm="inbound email"')
    return None


HTTP_BASIC = Authentication("HTTP Basic", ("INBOUND_EMAIL_USER", "INBOUND_EMAIL_PASSWORD"), _basic_refusal)


def on_feedback_credential(delivery: Delivery) -> bool:
    """Whether the request came with FEEDBACK_LOOP_PASSWORD, the MIME webhook's second password."""
    return bool(delivery.settings.get("FEEDBACK_LOOP_PASSWORD")) and \
        _basic_refusal(delivery, "FEEDBACK_LOOP_PASSWORD") is None


def _basic_or_feedback_refusal(delivery: Delivery) -> Refusal | None:
    return None if on_feedback_credential(delivery) else _basic_refusal(delivery)


# HTTP Basic with either INBOUND_EMAIL_PASSWORD or FEEDBACK_LOOP_PASSWORD (the MIME webhook's).
HTTP_BASIC_OR_FEEDBACK = Authentication("HTTP Basic", ("INBOUND_EMAIL_USER", "INBOUND_EMAIL_PASSWORD"),
                                        _basic_or_feedback_refusal)


def basic_header(settings: Mapping) -> dict[str, str]:
    """The Authorization header HTTP_BASIC accepts under `settings` (for simulated requests)."""
    pair = f"{settings['INBOUND_EMAIL_USER'] or ''}:{settings['INBOUND_EMAIL_PASSWORD'] or ''}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
