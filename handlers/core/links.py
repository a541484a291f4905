"""Unsubscribe-link tokens: signed with UNSUBSCRIBE_SECRET, carrying an address's link id and an
optional category. Nothing is stored per message sent; a token stays valid for MAX_AGE."""

from __future__ import annotations

from datetime import timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

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
