"""What the providers' HTTP API clients share: one call with a timeout, one error that says whether
trying again later can succeed, and the bounds of a paged listing."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

TIMEOUT = (5, 30)  # seconds to connect, to read: a slow provider delays the worker, never blocks it
# Pages a listing reads at most (flask pull-suppressions --max-pages): 5 to 10 million addresses at
# SendGrid's 500 and Mailgun's 1,000 a page, and an end to a provider that keeps answering full pages.
MAX_PAGES = 10_000


class ApiError(Exception):
    """A provider's API did not do what was asked. permanent: the same request can never succeed."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def call(session: requests.Session, method: str, url: str, missing_ok: bool = False, **kwargs) -> requests.Response:
    """The response of a 2xx answer (or of 404 when `missing_ok`: nothing to remove). Connection
    errors, 429, 5xx and refused credentials (401, 403: fixed by the operator) are worth retrying;
    any other 4xx is not."""
    try:
        response = session.request(method, url, timeout=TIMEOUT, **kwargs)
    except requests.RequestException as error:
        raise ApiError(f"{method} {url}: {type(error).__name__}: {error}") from error
    if response.ok or (missing_ok and response.status_code == 404):
        return response
    status = response.status_code
    permanent = 400 <= status < 500 and status not in (401, 403, 408, 429)
    raise ApiError(f"{method} {url}: {status} {response.text[:300]}", permanent=permanent)


def json_of(response: requests.Response):
    """The answer's JSON; an answer that is not JSON (a proxy's error page) is worth another try."""
    try:
        return response.json()
    except ValueError as error:
        raise ApiError(f"{response.request.method} {response.url}: not JSON: {response.text[:200]!r}") from error


def check_page(number: int, max_pages: int, url: str, base: str) -> None:
    """Raise ApiError before reading page `number` (1 is the first) of a listing at `url` when it is
    past `max_pages`, or not at `base`'s origin: a "next page" link elsewhere would carry our API key."""
    if number > max_pages:
        raise ApiError(f"stopped after {max_pages:,} pages (--max-pages): the provider kept answering full pages",
                       permanent=True)
    given, own = urlsplit(url), urlsplit(base)
    if (given.scheme.lower(), given.netloc.lower()) != (own.scheme.lower(), own.netloc.lower()):
        raise ApiError(f"the next page is at {given.scheme}://{given.netloc}, not at {own.scheme}://{own.netloc}: "
                       "not followed", permanent=True)
