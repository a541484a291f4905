"""What the providers' HTTP API clients share: one call with a timeout, and one error that says
whether trying again later can succeed."""

from __future__ import annotations

import requests

TIMEOUT = (5, 30)  # seconds to connect, to read: a slow provider delays the worker, never blocks it


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
