"""Postmark's suppressions API, per message stream.
https://postmarkapp.com/developer/api/suppressions-api

    POST /message-streams/{stream}/suppressions         {"Suppressions": [{"EmailAddress": "..."}]}
    POST /message-streams/{stream}/suppressions/delete  {"Suppressions": [{"EmailAddress": "..."}]}
         -> {"Suppressions": [{"EmailAddress": "...", "Status": "Deleted" | "Failed", "Message": ...}]}
    GET  /message-streams/{stream}/suppressions/dump    -> {"Suppressions": [{"EmailAddress": "...",
         "SuppressionReason": "ManualSuppression", "Origin": "Recipient", "CreatedAt": "..."}]}
Postmark refuses to lift some suppressions (a spam complaint's): that answer is kept as a note.
"""

from __future__ import annotations

from collections.abc import Iterator

import requests

from ...core.provider_events import is_hard_bounce
from ..http_api import MAX_PAGES, call, json_of

DEFAULT_STREAM = "outbound"  # every Postmark server's transactional stream


class PostmarkApi:
    name = "postmark"

    def __init__(self, server_token: str, base_url: str, session: requests.Session | None = None):
        self.base = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers.update({"X-Postmark-Server-Token": server_token, "Accept": "application/json"})

    def suppress(self, address: str, lists: tuple[str, ...] | None) -> str | None:
        return self._change(address, lists, "")

    def unsuppress(self, address: str, lists: tuple[str, ...] | None) -> str | None:
        return self._change(address, lists, "/delete")

    def _change(self, address: str, lists, suffix: str) -> str | None:
        notes = []
        for stream in lists or (DEFAULT_STREAM,):
            answer = json_of(call(self.session, "POST", f"{self.base}/message-streams/{stream}/suppressions{suffix}",
                          json={"Suppressions": [{"EmailAddress": address}]}))
            notes += [f"{stream}: {row.get('Message') or row.get('Status')}" for row in answer.get("Suppressions") or []
                      if row.get("Status") == "Failed"]
        return "; ".join(notes) or None

    def suppressed(self, lists: tuple[str, ...], max_pages: int = MAX_PAGES) -> Iterator[tuple[str, str | None]]:
        """(address, stream) of every suppression a person chose (not hard bounces). One dump per
        stream, at our own base URL: there are no pages to follow or to count."""
        for stream in dict.fromkeys((*lists, DEFAULT_STREAM)):
            dump = json_of(call(self.session, "GET", f"{self.base}/message-streams/{stream}/suppressions/dump"))
            for row in dump.get("Suppressions") or []:
                if not is_hard_bounce(row.get("SuppressionReason")):
                    yield row.get("EmailAddress"), stream
