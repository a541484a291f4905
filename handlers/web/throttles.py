"""Throttles against floods and token guessing: at most so many events per key in a window.

Guesses at a token are counted in the database (shared_throttle, credential_failures), so the limit
holds however many workers and nodes answer; floods of page requests are counted per process
(app_throttle), which costs no write per request.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import threading
import time

from flask import current_app

from ..storage.sessions import server_secret
from ..storage.throttles import SharedThrottle
from .context import services


class Throttle:
    """At most `limit` events per key in `window` seconds, in this process (a guard against floods,
    not an accounting: each gunicorn worker counts on its own)."""

    def __init__(self, limit: int, window: float):
        self.limit, self.window = limit, window
        self._events: dict[str, collections.deque] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Count one event for `key`; False when it is over the limit."""
        now = time.monotonic()
        with self._lock:
            if len(self._events) > 10_000:  # forget idle keys rather than grow without bound
                self._events = {k: q for k, q in self._events.items() if q and now - q[-1] < self.window}
            events = self._events.setdefault(key, collections.deque())
            while events and now - events[0] >= self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            return True

    def full(self, key: str) -> bool:
        """Whether `key` is at its limit now (without counting an event)."""
        now = time.monotonic()
        with self._lock:
            events = self._events.get(key)
            return bool(events) and sum(1 for t in events if now - t < self.window) >= self.limit


def app_throttle(name: str, limit: int, window: float) -> Throttle:
    """The app's own throttle of that name (each app, and each worker process, counts on its own)."""
    kept = current_app.extensions.setdefault("optout.throttles", {})
    if name not in kept:
        kept[name] = Throttle(limit, window)
    return kept[name]


def shared_throttle(name: str, limit: int, window: float) -> SharedThrottle:
    """A throttle counted in the app's database: one count across every process and node."""
    return SharedThrottle(services().store, name, limit, window)


class CredentialFailures:
    """Wrong credentials, counted per client and per credential tried.

    A client over its limit is refused its further wrong tries; a credential over its own limit is
    refused from every client, right or wrong. A correct credential is never refused for the failures
    of others: when TRUSTED_PROXIES does not match the deployment every caller looks like one client,
    and a stranger's wrong tries must not lock the sending tools out. Credentials are counted by a
    keyed digest, never kept as given.
    """

    def __init__(self, name: str, limit: int, window: float, key: str):
        self.clients = shared_throttle(name, limit, window)
        self.credentials = shared_throttle(f"{name}_per_credential", limit, window)
        self._key = key.encode()

    def refused(self, client: str, credential: str, correct: bool) -> bool:
        """Whether to answer 429 without looking further: the credential's own failures reached the
        limit, or it is wrong and its client's failures did."""
        if self.credentials.full(self._digest(credential)):
            return True
        return not correct and self.clients.full(client)

    def count(self, client: str, credential: str) -> None:
        """One wrong try of `credential` by `client`."""
        self.clients.allow(client)
        self.credentials.allow(self._digest(credential))

    def _digest(self, credential: str) -> str:
        return hmac.new(self._key, credential.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]


def throttle_key() -> str:
    """What keys the digests of credentials tried: ADMIN_TOKEN, or (API keys and operators without it) a
    secret the database keeps for this (handlers/storage/sessions.py)."""
    token = services().settings.get("ADMIN_TOKEN")
    if token:
        return token
    kept = current_app.extensions.get("optout.throttle_key")
    if kept is None:
        kept = current_app.extensions["optout.throttle_key"] = server_secret(services().store, "throttles")
    return kept


def credential_failures(name: str, limit: int, window: float, key: str) -> CredentialFailures:
    """Wrong credentials counted in the app's database, per client and per credential (keyed by `key`)."""
    return CredentialFailures(name, limit, window, key)
