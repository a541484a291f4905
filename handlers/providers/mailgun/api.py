"""Mailgun's unsubscribes API, per sending domain; a tag unsubscribes from that tag only, "*" from all.
https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/unsubscribe

    POST   /v3/{domain}/unsubscribes            form: address=a@example.com, tag=*  -> {"message": "..."}
    DELETE /v3/{domain}/unsubscribes/{address}  [?tag=promos]
    GET    /v3/{domain}/unsubscribes?limit=1000 -> {"items": [{"address": "...", "tags": ["*"],
           "created_at": "Fri, 21 Oct 2011 11:02:55 GMT"}], "paging": {"next": "<url>", ...}}
    GET    /v3/{domain}/events?event=complained&recipient=a@example.com&begin=..&end=..&limit=300
           -> {"items": [{"event": "complained", "id": "...", "timestamp": 1529704976.104692, ...}],
               "paging": {"next": "<url>", ...}}
           https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/events
EU accounts use https://api.eu.mailgun.net (MAILGUN_API_URL). Basic auth: user "api", the API key.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import requests

from ..http_api import MAX_PAGES, call, check_page, json_of

EVERY_TAG = "*"


class MailgunApi:
    name = "mailgun"

    def __init__(self, api_key: str, domain: str, base_url: str, session: requests.Session | None = None):
        self.url = f"{base_url.rstrip('/')}/v3/{quote(domain)}/unsubscribes"
        self.events_url = f"{base_url.rstrip('/')}/v3/{quote(domain)}/events"
        self.session = session or requests.Session()
        self.session.auth = ("api", api_key)

    def suppress(self, address: str, lists: tuple[str, ...] | None) -> str | None:
        for tag in lists if lists is not None else (EVERY_TAG,):
            call(self.session, "POST", self.url, data={"address": address, "tag": tag})
        return None

    def unsuppress(self, address: str, lists: tuple[str, ...] | None) -> str | None:
        url = f"{self.url}/{quote(address, safe='@')}"
        if lists is None:
            call(self.session, "DELETE", url, missing_ok=True)  # every tag's
        for tag in lists or ():
            call(self.session, "DELETE", url, params={"tag": tag}, missing_ok=True)
        return None

    def has_event(self, kind: str, event_id: str, recipient: str, timestamp: float) -> bool:
        """Whether Mailgun's Events API lists that event (its id, kind and recipient) within a minute
        of `timestamp`. Raises ApiError when it cannot be asked."""
        params = {"event": kind, "recipient": recipient, "begin": str(int(timestamp) - 60),
                  "end": str(int(timestamp) + 61), "limit": 300}
        page = json_of(call(self.session, "GET", self.events_url, params=params))
        return any(isinstance(item, dict) and item.get("id") == event_id for item in page.get("items") or [])

    def suppressed(self, lists: tuple[str, ...], max_pages: int = MAX_PAGES) -> Iterator[tuple[str, str | None]]:
        """(address, tag or None for every tag), one row per tag, over every page (at most `max_pages`,
        each at the API's own origin)."""
        url, params, number = self.url, {"limit": 1000}, 0
        while url:
            number += 1
            check_page(number, max_pages, url, self.url)
            page = json_of(call(self.session, "GET", url, params=params))
            items = page.get("items") or []
            for item in items:
                for tag in item.get("tags") or [EVERY_TAG]:
                    yield item.get("address"), None if tag == EVERY_TAG else tag
            url = (page.get("paging") or {}).get("next") if items else None
            params = None  # the next page's URL carries its own query
