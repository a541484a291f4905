"""SENTRY_DSN: unhandled errors reported to Sentry (or a Sentry-compatible GlitchTip), with no address
and no person's words in the report.

Two layers. What the SDK collects is cut at the source (data_collection): no request bodies, cookies,
query strings, user or IP, local variables or SQL parameters. Then scrub() goes over every string
left in the event before it is sent (before_send): an email address or a phone number becomes its
masked form (handlers/core/addresses.py: the log's own), and anything quoted ('...' or "..."), which
is how Python's errors show the value they choked on (int('STOP')), becomes '•••'.
"""

from __future__ import annotations

import re

import sentry_sdk

from ..core.addresses import masked

EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)*")
PHONE = re.compile(r"\+?\d[\d ()./-]{5,}\d")
QUOTED = re.compile(r"""'[^'\n]*'|"[^"\n]*\"""")
TOKEN_PATH = re.compile(r"/u/[^/?#\s]+")  # an unsubscribe link's token stands for its person
KEPT_HEADERS = ("content-type", "content-length", "user-agent")

# What the SDK may collect at all (sentry-sdk's data_collection option).
DATA_COLLECTION = {
    "user_info": False,
    "cookies": {"mode": "off"},
    "http_headers": {"request": {"mode": "allowlist", "terms": list(KEPT_HEADERS)}},
    "http_bodies": [],
    "url_query_params": {"mode": "off"},
    "database_query_data": False,
    "stack_frame_variables": False,
}


def start_error_reports(dsn: str | None) -> None:
    """Report unhandled errors (and ERROR log lines) to `dsn`; nothing when unset."""
    if not dsn:
        return
    sentry_sdk.init(dsn=dsn, data_collection=DATA_COLLECTION, before_send=scrub_event,
                    before_breadcrumb=scrub_breadcrumb, traces_sample_rate=None, max_request_body_size="never")


def scrub_event(event: dict, hint=None) -> dict:
    """The event with the fields that can hold what a request or an error carried scrubbed: the error
    values, the message, the breadcrumbs, the extra data and the request (method, URL, a few headers)."""
    for error in (event.get("exception") or {}).get("values") or []:
        if isinstance(error.get("value"), str):
            error["value"] = scrub_text(error["value"])
        for frame in (error.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    for key in ("message", "logentry", "extra"):
        if key in event:
            event[key] = scrub(event[key])
    crumbs = event.get("breadcrumbs")
    if isinstance(crumbs, dict):
        crumbs["values"] = [scrub_breadcrumb(crumb) for crumb in crumbs.get("values") or []]
    elif isinstance(crumbs, list):
        event["breadcrumbs"] = [scrub_breadcrumb(crumb) for crumb in crumbs]
    request = event.get("request")
    if isinstance(request, dict):
        headers = {k: v for k, v in (request.get("headers") or {}).items() if k.lower() in KEPT_HEADERS}
        event["request"] = {"method": request.get("method"), "url": scrub_text(str(request.get("url", ""))),
                            "headers": headers}
    event.pop("user", None)
    return event


def scrub_breadcrumb(breadcrumb: dict, hint=None) -> dict:
    for key in ("message", "data"):
        if key in breadcrumb:
            breadcrumb[key] = scrub(breadcrumb[key])
    return breadcrumb


def scrub(value):
    """`value` (JSON-like data) with every string in it passed through scrub_text."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {key: scrub(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(item) for item in value]
    return value


def scrub_text(text: str) -> str:
    """Quoted values removed, unsubscribe tokens hidden, email addresses and phone numbers masked."""
    text = QUOTED.sub("'•••'", text)
    text = TOKEN_PATH.sub("/u/•••", text)
    text = EMAIL.sub(lambda m: masked(m.group()), text)
    return PHONE.sub(lambda m: masked(re.sub(r"[^\d+]", "", m.group())), text)
