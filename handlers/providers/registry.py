"""Every provider, in one tuple. Adding one is its own package under handlers/providers/ (declaring its
`PROVIDER`), one line here, and its tests: the webhook routes, their body limits (handlers/web/guards.py),
the API clients (handlers/sync/clients.py) and `flask simulate-email` all read this list."""

from __future__ import annotations

from . import mailgun, mime, postmark, sendgrid, twilio
from .webhook import Provider, Webhook

PROVIDERS: tuple[Provider, ...] = (
    mime.PROVIDER,
    sendgrid.PROVIDER,
    mailgun.PROVIDER,
    postmark.PROVIDER,
    twilio.PROVIDER,
)

WEBHOOKS: tuple[Webhook, ...] = tuple(webhook for provider in PROVIDERS for webhook in provider.webhooks)


def provider(name: str) -> Provider:
    """The provider of that name; KeyError for none."""
    for each in PROVIDERS:
        if each.name == name:
            return each
    raise KeyError(name)


def with_api() -> tuple[Provider, ...]:
    """The providers with a suppression API, in the registry's order."""
    return tuple(each for each in PROVIDERS if each.api is not None)


def simulated() -> dict[str, Webhook]:
    """{provider: its inbound email webhook} that `flask simulate-email` can post to, in the registry's order."""
    return {each.name: webhook for each in PROVIDERS for webhook in each.webhooks if webhook.simulate is not None}


def limits() -> tuple[tuple[str, int, tuple[str, ...] | None], ...]:
    """(path, largest body, content types accepted) of every webhook: handlers/web/guards.py's rows."""
    return tuple((webhook.path, webhook.max_body, webhook.content_types) for webhook in WEBHOOKS)
