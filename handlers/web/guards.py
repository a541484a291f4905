"""What each kind of request may be: its size and its content type. A request outside them gets a
clear 413 or 415 before anything is read or recorded; errors under /api/v1 are JSON."""

from __future__ import annotations

import io

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_options_header

from ..providers import registry
from .responses import json_error

KIB, MIB = 1024, 1024 * 1024
# Form fields of an email webhook: a reply's HTML part alone can be far above werkzeug's default
# 500 kB per field (a Mailgun post lost its opt-out that way), and Mailgun posts every MIME header
# and attachment as a field of its own. The route's own size limit bounds them all.
EMAIL_FORM_PARTS = 10_000

# (path prefix, largest body, content types accepted for POST). The first matching prefix wins.
LIMITS = (
    # Twilio: at most 1,600 characters of text plus parameters and up to 10 media URLs.
    ("/webhooks/twilio/", 64 * KIB, ("application/x-www-form-urlencoded",)),
    # Every provider webhook as its provider declares it (email, events, Twilio's status callback).
    *registry.limits(),
    # An imported list: a million addresses of CSV is about 40 MB.
    ("/api/v1/suppressions/import", 128 * MIB, ("text/csv", "text/plain")),
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
    """Flask's before_request: the request's refusal (refusal()), answered as refuse() answers it."""
    # The request object once, not through its proxy each time: this runs before every request.
    req = request._get_current_object()
    req.max_content_length, _ = limits_for(req.path)
    if req.path.startswith("/webhooks/email/"):
        req.max_form_memory_size, req.max_form_parts = req.max_content_length, EMAIL_FORM_PARTS
    chunked = req.headers.get("Transfer-Encoding") == "chunked"
    found = refusal(req.path, req.method, req.content_length, req.headers.get("Content-Type", ""), chunked=chunked)
    if not found and chunked and over_limit(req.environ, req.max_content_length):
        found = 413, f"the request body is larger than {req.max_content_length // KIB} KiB, the most {req.path} accepts"
    return refuse(*found) if found else None


def over_limit(environ, size: int) -> bool:
    """Whether a chunked body (de-chunked by the server) is larger than `size`: read up to one byte
    more, and kept for the route to read, since werkzeug would cut it at the limit without a word.
    Only where the server ends the stream at the body's end (wsgi.input_terminated, as gunicorn
    does); elsewhere werkzeug reads no chunked body at all."""
    if not environ.get("wsgi.input_terminated"):
        return False
    body = environ["wsgi.input"].read(size + 1)
    environ["wsgi.input"] = io.BytesIO(body)
    return len(body) > size


def refusal(path: str, method: str, content_length: int | None, content_type: str,
            chunked: bool) -> tuple[int, str] | None:
    """(413 or 415, message) for a request LIMITS refuse, from its path, method, Content-Length (as
    werkzeug reads it), Content-Type header and whether its body is chunked; None for one they allow."""
    size, types = limits_for(path)
    if content_length is not None and content_length > size:
        return 413, f"the request body is larger than {size // KIB} KiB, the most {path} accepts"
    if method == "POST" and (content_length or chunked) and types is not None:
        mimetype = parse_options_header(content_type)[0].lower()  # request.mimetype, as werkzeug reads it
        if mimetype not in types:
            return 415, f"{path} accepts {' or '.join(types)}, not {mimetype or 'no content type'}"
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
