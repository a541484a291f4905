"""The systems that subscribed to consent webhooks (CONSENT_WEBHOOK_URLS): one signed POST to one of them.

Their contract is the Standard Webhooks one: a 2xx acknowledges the webhook-id; anything else (another
status, a refused connection, a timeout) means "send it again later", whatever the status says.
"""

from __future__ import annotations

import requests

from ..core.consent_webhooks import shown_url

TIMEOUT = (5, 15)  # seconds to connect, to read: a slow receiver delays the worker, never blocks it


def session() -> requests.Session:
    """A connection pool for one round of deliveries."""
    return requests.Session()


def post(session: requests.Session, url: str, body: bytes, headers: dict[str, str]) -> str | None:
    """POST `body`; None when the receiver answered 2xx, else what went wrong (for last_error: the URL
    without its credentials or query, which may hold the receiver's secrets)."""
    where = shown_url(url)
    try:
        response = session.post(url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as error:
        return f"{where}: {type(error).__name__}"
    if 200 <= response.status_code < 300:
        return None
    return f"{where}: {response.status_code} {response.reason or ''}".strip()
