"""Answers every blueprint gives alike: a JSON error, a provider's refusal, 429 with Retry-After, our
pages' security headers, and Strict-Transport-Security on every answer of an https service."""

from __future__ import annotations

from flask import Response, current_app, jsonify

from ..core.addresses import masked
from .context import services

# A year, as browsers' preload lists ask; not includeSubDomains: the business's other hosts are not ours to bind.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"


def json_error(status: int, message: str, **extra) -> Response:
    """{"error": message, ...extra} with that status."""
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response


def refused(provider: str, status: int, reason: str, sender: str | None = None) -> Response:
    """A provider's request refused, as JSON, with its one log line."""
    log_refusal(provider, status, reason, sender)
    return json_error(status, reason)


def log_refusal(provider: str, status: int, reason: str, sender: str | None) -> None:
    """The one log line of every refusal: provider, status, reason, masked sender."""
    current_app.logger.warning("%s webhook refused with %d: %s (sender %s)", provider, status, reason, masked(sender))


def rate_limited(response: Response, retry_after: int) -> Response:
    """`response` as a 429 that tells the client how many seconds to wait."""
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response


def page_headers(response: Response, style_nonce: str, img_origin: str | None = None) -> Response:
    """Security headers of our HTML pages: no scripts, one nonce-tagged style, images only from
    `img_origin` (a brand's logo) if given, no framing, no referrer (an unsubscribe token is a key: it
    must never reach another site), no caching."""
    images = f"img-src {img_origin}; " if img_origin else ""
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{style_nonce}'; {images}form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def strict_transport_security(response: Response) -> Response:
    """With an https PUBLIC_BASE_URL, browsers that have seen us once come back over https only
    (RFC 6797: they ignore it over plain http, so it is sent whatever the scheme TLS ended at)."""
    if (services().settings.get("PUBLIC_BASE_URL") or "").lower().startswith("https://"):
        response.headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY
    return response
