"""The provider API clients the settings configure, and which of a provider's lists a change concerns."""

from __future__ import annotations

from typing import Protocol

from ..core.keywords import KeywordTable
from ..providers import registry

PROVIDERS = tuple(provider.name for provider in registry.with_api())


class Client(Protocol):
    name: str

    def suppress(self, address: str, lists: tuple[str, ...] | None) -> str | None: ...

    def unsuppress(self, address: str, lists: tuple[str, ...] | None) -> str | None: ...

    def suppressed(self, lists: tuple[str, ...], max_pages: int): ...


def configured(settings: dict) -> tuple[str, ...]:
    """The providers whose API credentials are set: each gets every change of email consent."""
    return tuple(provider.name for provider in registry.with_api()
                 if all(settings.get(name) for name in provider.api.settings))


def make_clients(settings: dict) -> dict[str, Client]:
    return {name: registry.provider(name).api.make(settings) for name in configured(settings)}


def lists_for(provider: str, categories: tuple[str, ...], table: KeywordTable) -> tuple[str, ...] | None:
    """The provider's lists a change of `categories` concerns: None for its account-wide list
    (SendGrid global unsubscribes, Mailgun's every-tag unsubscribe); a category with no list of this
    provider concerns none. A provider with no account-wide list (Postmark) declares the lists that
    stand for everything: every mapped one and those (its default stream)."""
    if categories:
        return table.lists_of(provider, categories)
    defaults = registry.provider(provider).api.default_lists
    if defaults is None:
        return None
    return tuple(dict.fromkeys((*table.lists_of(provider, ()), *defaults)))
