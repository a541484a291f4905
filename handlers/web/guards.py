"""What each kind of request may be: its size and its content type. A request outside them gets a
clear 413 or 415 before anything is read or recorded; errors under /api/v1 are JSON."""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from ..providers import registry
from .responses import json_error

KIB, MIB = 1024, 1024 * 1024

# (path prefix, largest body, content types accepted for POST). The first matching prefix wins.
LIMITS = (
    # Twilio: at most 1,600 characters of text plus parameters and up to 10 media URLs.
    ("/webhooks/twilio/", 64 * KIB, ("application/x-www-form-urlencoded",)),
    # Every provider webhook as its provider declares it (email, events, Twilio's status callback).
    *registry.limits(),
    # A million addresses of check: about 20 MB of JSON.
    ("/api/v1/", 64 * MIB, ("application/json",)),
    ("/u/", 16 * KIB, ("application/x-www-form-urlencoded", "multipart/form-data")),
    ("/admin", 64 * KIB, ("application/x-www-form-urlencoded", "multipart/form-data")),
    ("/", 64 * KIB, None),
)


def register(app: Flask) -> None:
    app.before_request(check_request)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(RecursionError, too_deep)


def limits_for(path: str) -> tuple[int, tuple[str, ...] | None]:
    for prefix, size, types in LIMITS:
        if path.startswith(prefix):
            return size, types
    raise AssertionError("LIMITS ends with '/', which every path starts with")


def check_request():
    # The request object once, not through its proxy each time: this runs before every request.
    req = request._get_current_object()
    size, types = limits_for(req.path)
    req.max_content_length = size
    length = req.content_length
    if length is not None and length > size:
        return refuse(413, f"the request body is larger than {size // KIB} KiB, the most {req.path} accepts")
    has_body = bool(length) or req.headers.get("Transfer-Encoding") == "chunked"
    if req.method == "POST" and has_body and types is not None and req.mimetype not in types:
        return refuse(415, f"{req.path} accepts {' or '.join(types)}, not {req.mimetype or 'no content type'}")
    return None


def http_error(error: HTTPException):
    """Every HTTP error as a short message (JSON under /api/v1 and for JSON clients), never a trace."""
    return refuse(error.code or 500, error.description or error.name)


def too_deep(error: RecursionError):
    """JSON (or anything parsed from a request) nested deeper than Python recurses: the client's doing."""
    return refuse(400, "the request body is nested too deeply to read")


def refuse(code: int, message: str):
    if request.path.startswith(("/api/", "/webhooks/email/", "/webhooks/events/")):
        return json_error(code, message)
    return Response(message + "\n", code, mimetype="text/plain")
