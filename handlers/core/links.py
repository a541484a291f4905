"""Unsubscribe-link tokens: signed with UNSUBSCRIBE_SECRET, carrying an address's link id and an
optional category. Nothing is stored per message sent; a token stays valid for MAX_AGE."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from .addresses import CHANNELS, InvalidAddress, normalise

# Gmail and Yahoo honour a link for days, CAN-SPAM asks 30 days, CASL 60: give a year and a month.
MAX_AGE = timedelta(days=400)
_SALT = "optout.unsubscribe-link"


class BadLink(Exception):
    """The token was not made by this service (tampered, wrong secret) or is too old."""


def mint(secret: str, link_id: str, category: str | None = None) -> str:
    return URLSafeTimedSerializer(secret, salt=_SALT).dumps([link_id, category])


def read(secret: str, token: str, max_age: timedelta = MAX_AGE) -> tuple[str, str | None]:
    """(link id, category or None) from a token; raises BadLink."""
    try:
        link_id, category = URLSafeTimedSerializer(secret, salt=_SALT).loads(
            token, max_age=max_age.total_seconds())
    except SignatureExpired:
        raise BadLink("the link is too old") from None
    except (BadSignature, ValueError, TypeError):
        raise BadLink("the link was not made by this service or was changed") from None
    if not isinstance(link_id, str) or not (category is None or isinstance(category, str)):
        raise BadLink("the link was not made by this service or was changed")
    return link_id, category


def made_at(secret: str, token: str) -> datetime:
    """When a token that read() accepted was made (UTC, to the second)."""
    return URLSafeTimedSerializer(secret, salt=_SALT).loads(token, return_timestamp=True)[1]


def links_for(channel: str | None, address: str | None, category: str | None, base_url: str, *, secret: str,
              region: str, categories: tuple[str, ...], link_id: Callable[[str, str], str]) -> dict:
    """The unsubscribe URL of an address and the exact headers to put in an email (RFC 8058).

    `link_id(channel, address)` gives the address's link id (Store.link_id). Raises ValueError for a
    wrong channel, address or category, LookupError when there is no `secret` (UNSUBSCRIBE_SECRET)."""
    if not secret:
        raise LookupError("UNSUBSCRIBE_SECRET is not set on the server")
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {', '.join(CHANNELS)}")
    try:
        address = normalise(channel, address or "", region)
    except InvalidAddress as e:
        raise ValueError(f"address: {e}") from None
    if category and category not in categories:
        raise ValueError(f"unknown category {category!r}; known: {', '.join(categories)}")
    token = mint(secret, link_id(channel, address), category or None)
    url = f"{base_url.rstrip('/')}/u/{token}"
    return {"url": url, "list_unsubscribe": f"<{url}>", "list_unsubscribe_post": "List-Unsubscribe=One-Click"}


def page_link_maker(secret: str | None, base_url: str | None, region: str,
                    link_id: Callable[[str, str, str], str]) -> Callable[[str, str], str] | None:
    """(email address, brand as stored) -> the link to its preference page for that brand's messages, for
    the confirmation emails; None without UNSUBSCRIBE_SECRET and PUBLIC_BASE_URL (a link to 127.0.0.1
    would be no use to anyone). `link_id(channel, address, brand)`: Store.link_id."""
    if not (secret and base_url):
        return None

    def page_link(address: str, brand: str) -> str:
        return links_for("email", address, None, base_url, secret=secret, region=region, categories=(),
                         link_id=lambda channel, found: link_id(channel, found, brand))["url"]

    return page_link
