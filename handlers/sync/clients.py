"""The provider API clients the settings configure, and which of a provider's lists a change concerns."""

from __future__ import annotations

from typing import Protocol

from ..core.keywords import KeywordTable
from ..providers.mailgun_api import MailgunApi
from ..providers.postmark_api import DEFAULT_STREAM, PostmarkApi
from ..providers.sendgrid_api import SendGridApi

PROVIDERS = ("sendgrid", "mailgun", "postmark")


class Client(Protocol):
    name: str

    def suppress(self, address: str, lists: tuple[str, ...] | None) -> str | None: ...

    def unsuppress(self, address: str, lists: tuple[str, ...] | None) -> str | None: ...

    def suppressed(self, lists: tuple[str, ...]): ...


def configured(settings: dict) -> tuple[str, ...]:
    """The providers whose API credentials are set: each gets every change of email consent."""
    wanted = {"sendgrid": settings.get("SENDGRID_API_KEY"),
              "mailgun": settings.get("MAILGUN_API_KEY") and settings.get("MAILGUN_DOMAIN"),
              "postmark": settings.get("POSTMARK_SERVER_TOKEN")}
    return tuple(name for name in PROVIDERS if wanted[name])


def make_clients(settings: dict) -> dict[str, Client]:
    clients: dict[str, Client] = {}
    for name in configured(settings):
        if name == "sendgrid":
            clients[name] = SendGridApi(settings["SENDGRID_API_KEY"], settings["SENDGRID_API_URL"])
        elif name == "mailgun":
            clients[name] = MailgunApi(settings["MAILGUN_API_KEY"], settings["MAILGUN_DOMAIN"],
                                       settings["MAILGUN_API_URL"])
        else:
            clients[name] = PostmarkApi(settings["POSTMARK_SERVER_TOKEN"], settings["POSTMARK_API_URL"])
    return clients


def lists_for(provider: str, categories: tuple[str, ...], table: KeywordTable) -> tuple[str, ...] | None:
    """The provider's lists a change of `categories` concerns: None for its account-wide list
    (SendGrid global unsubscribes, Mailgun's every-tag unsubscribe); a category with no list of this
    provider concerns none. Postmark has no account-wide list: everything is every mapped stream
    and its default one."""
    if categories:
        return table.lists_of(provider, categories)
    if provider == "postmark":
        return tuple(dict.fromkeys((*table.lists_of(provider, ()), DEFAULT_STREAM)))
    return None
