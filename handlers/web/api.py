"""The API for the business's sending tools: /api/v1 behind a bearer token, and /healthz.

The token is an API key (flask add-api-key NAME --scope check|read|write) or ADMIN_TOKEN, which may do
everything; each route declares the permission it needs (handlers/web/access.py), and a key whose scope
lacks it gets 403.
"""

from __future__ import annotations

import hmac
import json

from flask import Blueprint, Response, current_app, g, jsonify, request

from ..core import credentials, links
from ..core.access import BUILT_IN_ADMIN
from ..core.addresses import CANONICAL, CHANNELS, InvalidAddress, normalise
from ..core.brands import FIRST
from ..core.consent import EVERYTHING, suppressed
from ..core.personal_data import ErasureKeyError, retention_days
from ..core.text import readable
from ..storage import export, imports, operators
from ..storage.bulk import TransferError
from ..storage.erasure import erase
from ..storage.person_export import person_export
from ..storage.store import StoreError
from .access import Actor, audit, permitted, requires
from .context import services
from .responses import json_error, rate_limited
from .throttles import credential_failures, throttle_key

api = Blueprint("api", __name__, url_prefix="/api/v1")
health = Blueprint("health", __name__)



@api.before_request
def require_api_key():
    """401 without a live key (or ADMIN_TOKEN) as bearer token; 403 when its scope lacks the route's permission."""
    failures = credential_failures("api_token_failures", limit=30, window=60, key=throttle_key())
    client = request.remote_addr or ""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    given = given.strip() if scheme.lower() == "bearer" else ""
    g.actor = bearer(given)
    if failures.refused(client, given, g.actor is not None):
        return rate_limited(json_error(429, "too many requests with a wrong token; wait a minute"), 60)
    if g.actor is None:
        failures.count(client, given)
        closed = "" if services().settings["ADMIN_TOKEN"] else "; ADMIN_TOKEN is not set: closed but to API keys"
        response = json_error(401, f"missing, wrong or revoked bearer token (Authorization: Bearer <API key>){closed}")
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    if not permitted(g.actor):
        return json_error(403, f"this key's scope ({g.actor.scope}) does not allow this; "
                               "read adds contacts and exports, write adds imports and erasures")
    return None


def bearer(given: str) -> Actor | None:
    """The caller a bearer token names: a live API key, or ADMIN_TOKEN (the built-in admin)."""
    if not given:
        return None
    expected = services().settings["ADMIN_TOKEN"]
    if expected and hmac.compare_digest(given.encode(), expected.encode()):
        return Actor(BUILT_IN_ADMIN, role="admin")
    key = operators.key_by_digest(services().store, credentials.key_digest(given))
    return Actor(f"key:{key['name']}", scope=key["scope"]) if key else None


@api.errorhandler(StoreError)
def store_unavailable(e):
    current_app.logger.exception("api: database error")
    return json_error(503, "the database is unavailable; try again")


@api.post("/suppressions/check")
@requires("check")
def check_suppressions():
    """{"channel", "addresses": [...], "category"?, "brand"?} -> {"suppressed", "allowed", "invalid"}: by that
    brand, or without one by any brand (keywords.yaml `brands:`)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return json_error(400, 'expected a JSON object like {"channel": "sms", "addresses": ["+14155550100"]}')
    channel, addresses, category = body.get("channel"), body.get("addresses"), body.get("category")
    if channel not in CHANNELS:
        return json_error(400, f"channel must be one of {', '.join(CHANNELS)}")
    if not isinstance(addresses, list):
        return json_error(400, "addresses must be a list of strings")
    known = services().keywords.categories
    if category is not None and category not in known:
        return json_error(400, f"unknown category {category!r}; known: {', '.join(known)}")
    brand = stored_brand(body.get("brand"))
    if isinstance(brand, Response):
        return brand

    region = services().settings["DEFAULT_REGION"]
    canonical = CANONICAL[channel]  # most lists are already canonical: skip parsing those
    normalised, invalid, seen = [], [], set()
    for raw in addresses:
        if type(raw) is str and canonical(raw):
            address = raw
        else:
            try:
                address = normalise(channel, raw, region)
            except InvalidAddress as e:
                # As JSON can say it: a lone surrogate or NUL as U+FFFD, NaN as the text "NaN".
                invalid.append({"address": readable(raw), "error": str(e)})
                continue
        if address not in seen:
            seen.add(address)
            normalised.append(address)
    blocked = services().store.suppressed_among(channel, seen, category, brand)
    body = {
        "suppressed": [a for a in normalised if a in blocked],
        "allowed": [a for a in normalised if a not in blocked],
        "invalid": invalid,
    }
    # json.dumps straight away: a million addresses is 15 MB, and jsonify's pretty-printing costs.
    return Response(json.dumps(body, separators=(",", ":")), mimetype="application/json")


@api.get("/suppressions")
@requires("export")
def export_suppressions():
    """?channel=sms|email&category=...&brand=...&format=csv|json -> every suppressed address, streamed as it
    is read."""
    channel, category = request.args.get("channel") or None, request.args.get("category") or None
    fmt = request.args.get("format") or "csv"
    if channel is not None and channel not in CHANNELS:
        return json_error(400, f"channel must be one of {', '.join(CHANNELS)}")
    known = services().keywords.categories
    if category is not None and category not in known:
        return json_error(400, f"unknown category {category!r}; known: {', '.join(known)}")
    if fmt not in export.EXPORT_FORMATS:
        return json_error(400, f"format must be one of {', '.join(export.EXPORT_FORMATS)}")
    brand = stored_brand(request.args.get("brand") or None)
    if isinstance(brand, Response):
        return brand
    rows = export.suppressions(services().store, channel, category, brand)
    audit("export", f"suppressions: channel {channel or 'all'}, category {category or 'everything'}, {fmt}"
                    + (f", brand {request.args['brand']}" if brand is not None else ""))
    return Response(export.export_chunks(rows, fmt),
                    mimetype="text/csv" if fmt == "csv" else "application/json",
                    headers={"Content-Disposition": f'attachment; filename="suppressions.{fmt}"'})


def stored_brand(key) -> str | None | Response:
    """The brand an API call names (its key in keywords.yaml), as stored; None when it names none; a 400
    for a name that is no brand."""
    brands = services().keywords.brands
    try:
        return brands.stored_key(key)
    except (KeyError, TypeError):
        known = ", ".join(b.key for b in brands.brands) or "none: keywords.yaml has no brands"
        return json_error(400, f"unknown brand {str(key)[:40]!r}; known: {known}")


@api.get("/contacts/<channel>/<path:address>")
@requires("read")
def contact(channel: str, address: str):
    """Current state per category and the full history of one address. Kept for compatibility: the address
    lands in access logs; POST /api/v1/contacts/lookup takes it in the body."""
    if channel not in CHANNELS:
        return json_error(404, f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}")
    try:
        address = normalise(channel, address, services().settings["DEFAULT_REGION"])
    except InvalidAddress as e:
        return json_error(400, str(e), address=address)
    return contact_record(channel, address)


@api.post("/contacts/lookup")
@requires("read")
def contact_lookup():
    """{"channel", "address"} -> what GET /contacts/<channel>/<address> answers, with no address in the URL."""
    person = person_named(request.get_json(silent=True))
    return person if isinstance(person, Response) else contact_record(*person)


@api.post("/erasures")
@requires("erase")
def erasures():
    """{"channel", "address"} -> erase the person; what was removed and which scopes stayed suppressed."""
    person = person_named(request.get_json(silent=True))
    if isinstance(person, Response):
        return person
    try:
        result = erase(services().store, services().settings.get("ERASURE_KEY"), *person, actor=f"api:{g.actor.name}")
    except ErasureKeyError as e:
        return json_error(503, str(e))
    audit("erasure", f"erasure {result['erasure_id']} of one {person[0]} address; kept suppressed: "
                     f"{', '.join(result['kept']) or 'nothing'}")
    return jsonify(result)


@api.post("/people/export")
@requires("export")
def people_export():
    """{"channel", "address"} -> everything held about the person, as JSON (a subject access request)."""
    person = person_named(request.get_json(silent=True))
    if isinstance(person, Response):
        return person
    days = retention_days(services().settings.get("MESSAGE_RETENTION_DAYS"))
    audit("export_person", f"the data of one {person[0]} address")
    return jsonify(person_export(services().store, *person, services().keywords.categories, days))


def person_named(body) -> tuple[str, str] | Response:
    """(channel, canonical address) from a {"channel", "address"} body, or the 400 that says what is wrong
    (without repeating the address)."""
    if not isinstance(body, dict) or body.get("channel") not in CHANNELS or not isinstance(body.get("address"), str):
        return json_error(400, 'expected a JSON object like {"channel": "sms", "address": "+14155550100"} '
                               f"(channel one of {', '.join(CHANNELS)})")
    try:
        return body["channel"], normalise(body["channel"], body["address"], services().settings["DEFAULT_REGION"])
    except InvalidAddress as e:
        return json_error(400, f"not a {body['channel']} address: {e}")


def contact_record(channel: str, address: str) -> Response:
    record = services().store.contact(channel, address)
    categories = services().keywords.categories
    blocked = suppressed(record["state"], categories)
    return jsonify({
        "channel": channel,
        "address": address,
        "suppressed": {("all" if scope == EVERYTHING else scope): value for scope, value in blocked.items()},
        "state": record["state"],
        "events": record["events"],
        "messages": record["messages"],
        **brand_states(record),
    })


def brand_states(record: dict) -> dict:
    """With brands: each row's brand by its key, and "brands": {key: {"suppressed", "state"}} (the record's
    "state" and "suppressed" are the first brand's). Without brands, nothing: the record as it always was."""
    brands, categories = services().keywords.brands, services().keywords.categories
    for row in (*record["events"], *record["messages"]):
        stored = row.pop("brand")
        if brands.brands:
            row["brand"] = brands.key_of(stored)
    if not brands.brands:
        return {}
    return {"brands": {brand.key: {"suppressed": {("all" if scope == EVERYTHING else scope): value for scope, value
                                                  in suppressed(record["brands"].get(brand.stored, {}),
                                                                categories).items()},
                                   "state": record["brands"].get(brand.stored, {})} for brand in brands.brands}}


@api.post("/suppressions/import")
@requires("import")
def import_suppressions():
    """A list as the request body (text/csv or text/plain: one address a line, or a SendGrid, Mailgun or
    Postmark export), ?channel=sms|email for a plain list, ?brand= whose opt-outs (default: the first brand's)
    -> the import's counts, as flask import-suppressions."""
    channel = request.args.get("channel") or None
    if channel is not None and channel not in CHANNELS:
        return json_error(400, f"channel must be one of {', '.join(CHANNELS)}")
    brand = stored_brand(request.args.get("brand") or None)
    if isinstance(brand, Response):
        return brand
    try:
        report = imports.import_suppressions(services().store, request.stream, channel,
                                             services().settings["DEFAULT_REGION"], brand=brand or FIRST)
    except TransferError as e:
        return json_error(400, str(e))
    audit("import", f"{report.format} list of {report.channel} addresses: {report.lines} read, "
                    f"{report.imported} imported, {len(report.invalid)} invalid")
    return jsonify({"format": report.format, "channel": report.channel, "lines": report.lines,
                    "imported": report.imported, "duplicates": report.duplicates, "already": report.already,
                    "invalid": [{"line": n, "error": reason} for n, _, reason in report.invalid]})


@api.get("/unsubscribe-link")
@requires("check")
def unsubscribe_link():
    """?channel=email&address=...&category=...&brand=... -> the page URL and the List-Unsubscribe headers
    (the link stops that brand's messages; without one, the first brand's)."""
    settings = services().settings
    if not settings["PUBLIC_BASE_URL"]:
        # Never the Host a caller names: a link sent to people must point at our own origin.
        return json_error(503, "PUBLIC_BASE_URL is not set on the server: links are made only under the "
                               "public origin (https://optout.example.com)")
    brand = stored_brand(request.args.get("brand") or None)
    if isinstance(brand, Response):
        return brand
    store = services().store
    try:
        link = links.links_for(request.args.get("channel"), request.args.get("address"), request.args.get("category"),
                               settings["PUBLIC_BASE_URL"], secret=settings["UNSUBSCRIBE_SECRET"],
                               region=settings["DEFAULT_REGION"], categories=services().keywords.categories,
                               link_id=lambda channel, address: store.link_id(channel, address, brand or FIRST))
    except ValueError as e:
        return json_error(400, str(e))
    except LookupError as e:
        return json_error(503, str(e))
    return jsonify(link)


@health.get("/healthz")
def healthz():
    """200 while the database can be read and written; 503 otherwise, with why in the log."""
    problem = services().store.health()
    if problem is None:
        return jsonify({"status": "ok"})
    # Anyone may ask (no token): where the database is and what its driver said are for the log only.
    current_app.logger.error("healthz: unhealthy: %s", problem)
    return jsonify({"status": "unhealthy", "error": "the database cannot be used; the service's log says why"}), 503
