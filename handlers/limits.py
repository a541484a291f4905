"""What each kind of request may be: its size and its content type. A request outside them gets a
clear 413 or 415 before anything is read or recorded; errors under /api/v1 are JSON."""

from __future__ import annotations

import collections
import threading
import time

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

KIB, MIB = 1024, 1024 * 1024

# (path prefix, largest body, content types accepted for POST). The first matching prefix wins.
LIMITS = (
    # Twilio: at most 1,600 characters of text plus parameters and up to 10 media URLs.
    ("/webhooks/twilio/", 64 * KIB, ("application/x-www-form-urlencoded",)),
    # SendGrid and Mailgun post the whole message with attachments (SendGrid: up to 30 MB).
    ("/webhooks/email/sendgrid", 40 * MIB, ("multipart/form-data", "application/x-www-form-urlencoded")),
    ("/webhooks/email/mailgun", 40 * MIB, ("multipart/form-data", "application/x-www-form-urlencoded")),
    ("/webhooks/email/postmark", 40 * MIB, ("application/json",)),
    ("/webhooks/email/mime", 40 * MIB, None),  # raw RFC 5322, whatever the pipe calls it
    # A million addresses of check: about 20 MB of JSON.
    ("/api/v1/", 64 * MIB, ("application/json",)),
    ("/u/", 16 * KIB, ("application/x-www-form-urlencoded", "multipart/form-data")),
    ("/admin", 64 * KIB, ("application/x-www-form-urlencoded", "multipart/form-data")),
    ("/", 64 * KIB, None),
)


def register(app: Flask) -> None:
    app.before_request(check_request)
    app.register_error_handler(HTTPException, http_error)


def limits_for(path: str) -> tuple[int, tuple[str, ...] | None]:
    return next((size, types) for prefix, size, types in LIMITS if path.startswith(prefix))


def check_request():
    size, types = limits_for(request.path)
    request.max_content_length = size
    if request.content_length is not None and request.content_length > size:
        return refuse(413, f"the request body is larger than {size // KIB} KiB, the most {request.path} accepts")
    has_body = bool(request.content_length) or request.headers.get("Transfer-Encoding") == "chunked"
    if request.method == "POST" and has_body and types is not None and request.mimetype not in types:
        return refuse(415, f"{request.path} accepts {' or '.join(types)}, not {request.mimetype or 'no content type'}")
    return None


def http_error(error: HTTPException):
    """Every HTTP error as a short message (JSON under /api/v1 and for JSON clients), never a trace."""
    return refuse(error.code or 500, error.description or error.name)


def refuse(code: int, message: str):
    if request.path.startswith(("/api/", "/webhooks/email/")):
        response = jsonify({"error": message})
    else:
        response = Response(message + "\n", mimetype="text/plain")
    response.status_code = code
    return response


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
    from flask import current_app
    kept = current_app.extensions.setdefault("optout.throttles", {})
    if name not in kept:
        kept[name] = Throttle(limit, window)
    return kept[name]


def page_headers(response: Response, style_nonce: str) -> Response:
    """Security headers of our HTML pages: no scripts, one nonce-tagged style, no framing, no
    referrer (an unsubscribe token is a key: it must never reach another site), no caching."""
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{style_nonce}'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response
