"""SendGrid's suppression API: global unsubscribes and unsubscribe-group suppressions.
https://www.twilio.com/docs/sendgrid/api-reference/suppressions-global-suppressions
https://www.twilio.com/docs/sendgrid/api-reference/suppressions-suppressions
https://www.twilio.com/docs/sendgrid/api-reference/suppressions-unsubscribes/retrieve-all-global-suppressions

    POST   /v3/asm/suppressions/global                 {"recipient_emails": ["a@example.com"]}
    DELETE /v3/asm/suppressions/global/{email}
    POST   /v3/asm/groups/{group_id}/suppressions      {"recipient_emails": ["a@example.com"]}
    DELETE /v3/asm/groups/{group_id}/suppressions/{email}
    GET    /v3/suppression/unsubscribes?limit=500&offset=0   [{"created": 1443651141, "email": "..."}]
    GET    /v3/asm/groups/{group_id}/suppressions            ["a@example.com", ...]
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import requests

from ..http_api import MAX_PAGES, call, check_page, json_of

PAGE = 500


class SendGridApi:
    name = "sendgrid"

    def __init__(self, api_key: str, base_url: str, session: requests.Session | None = None):
        self.base = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers["Authorization"] = f"Bearer {api_key}"

    def suppress(self, address: str, lists: tuple[str, ...] | None) -> str | None:
        """Suppress `address` globally (lists None) or in those unsubscribe groups."""
        body = {"recipient_emails": [address]}
        for path in self._paths(lists):
            call(self.session, "POST", f"{self.base}{path}", json=body)
        return None

    def unsuppress(self, address: str, lists: tuple[str, ...] | None) -> str | None:
        """Lift the global suppression (lists None) or those groups'."""
        for path in self._paths(lists):
            call(self.session, "DELETE", f"{self.base}{path}/{quote(address, safe='@')}", missing_ok=True)
        return None

    def _paths(self, lists) -> list[str]:
        if lists is None:
            return ["/v3/asm/suppressions/global"]
        return [f"/v3/asm/groups/{int(group)}/suppressions" for group in lists]

    def suppressed(self, lists: tuple[str, ...], max_pages: int = MAX_PAGES) -> Iterator[tuple[str, str | None]]:
        """(address, group id or None for the global list) of every unsubscribe SendGrid holds (at most
        `max_pages` pages of the global list)."""
        offset, url = 0, f"{self.base}/v3/suppression/unsubscribes"
        while True:
            check_page(offset // PAGE + 1, max_pages, url, self.base)
            page = json_of(call(self.session, "GET", url, params={"limit": PAGE, "offset": offset}))
            for row in page:
                yield row.get("email"), None
            if len(page) < PAGE:
                break
            offset += PAGE
        for group in lists:
            for email in json_of(call(self.session, "GET", f"{self.base}/v3/asm/groups/{int(group)}/suppressions")):
                yield email, str(group)
