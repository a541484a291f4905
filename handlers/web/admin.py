"""The operators' dashboard at /admin: activity, the review queue, address look-up, the audit log.

Named operators log in with email and password (or by single sign-on, handlers/web/sso.py); ADMIN_TOKEN
logs in as the built-in admin. Logging in sets Flask's signed session cookie (HttpOnly, SameSite=Strict,
Secure over https, path /admin), which names a row of admin_sessions. Its key is derived from ADMIN_TOKEN
(changing the token logs everyone out), or without one is a secret kept in the database. Every view
declares the permission it needs (handlers/web/access.py), checked by the guard for every request; every
POST carries a CSRF token kept in the session. The SQL lives in handlers/storage/reports.py; a review's
write is Store.review.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta, timezone
from functools import partial

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from markupsafe import escape

from ..core import credentials
from ..core.access import BUILT_IN_ADMIN
from ..core.addresses import CHANNELS, InvalidAddress, masked_on_page, normalise
from ..core.brands import FIRST
from ..core.consent import EVERYTHING, suppressed
from ..core.intake import correction_message
from ..core.keyword_file import KeywordFileError
from ..storage import audit as audit_log
from ..storage import keyword_tables, operators, reports, sessions
from ..storage.store import StoreError
from . import labels, sso
from .access import Actor, audit, current_actor, is_public, permitted, requires
from .context import services
from .dashboard_charts import LABELS, charts, opt_out_charts, queue_chart
from .responses import page_headers, rate_limited
from .throttles import credential_failures, shared_throttle, throttle_key

admin = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")
PER_PAGE = 50
MAX_PAGE = 1_000_000
SESSION_HOURS = 12
VERDICTS = {"confirmed": "Confirm", "not_opt_out": "This was not an opt-out", "opt_out": "This was an opt-out"}


class AdminSession(SecureCookieSessionInterface):
    """Flask's signed-cookie session, sent only to /admin and Secure whenever the request is https."""

    def get_cookie_secure(self, app) -> bool:
        base = services().settings.get("PUBLIC_BASE_URL") or ""
        return request.is_secure or base.startswith("https://")  # is_secure: as a trusted proxy says

    def get_cookie_httponly(self, app) -> bool:
        return True

    def get_cookie_samesite(self, app) -> str:
        return "Strict"

    def get_cookie_path(self, app) -> str:
        return admin.url_prefix

    def get_signing_serializer(self, app):
        """Flask's serializer, keyed by ADMIN_TOKEN (as derived) or, without one, the database's own secret."""
        signer = {"key_derivation": self.key_derivation, "digest_method": self.digest_method}
        return URLSafeTimedSerializer(session_key(), salt=self.salt, serializer=self.serializer, signer_kwargs=signer)

    def open_session(self, app, request):
        # Only the dashboard has a session: a webhook need not verify a cookie it never uses (~70 us).
        if not request.path.startswith(admin.url_prefix):
            return None  # Flask then uses a null session, which is never saved
        return super().open_session(app, request)


def derive(token: str, purpose: str) -> str:
    return hmac.new(token.encode(), f"optout admin {purpose}".encode(), hashlib.sha256).hexdigest()


@admin.record_once
def use_token_as_session_key(state) -> None:
    token = state.app.config.get("ADMIN_TOKEN")
    if token and not state.app.secret_key:
        state.app.secret_key = derive(token, "session key")
    if type(state.app.session_interface) is SecureCookieSessionInterface:
        state.app.session_interface = AdminSession()


def admin_token() -> str | None:
    return services().settings.get("ADMIN_TOKEN") or None


def session_key() -> str:
    token = admin_token()
    if token:
        return derive(token, "session key")
    kept = current_app.extensions.get("optout.session_key")
    if kept is None:
        kept = current_app.extensions["optout.session_key"] = sessions.server_secret(services().store, "dashboard")
    return kept


def signed_in_actor() -> Actor | None:
    """Who the cookie's session belongs to, while it is live: the built-in admin only while opened with
    the current token; a named operator only while they are one (removal, a new password, logout end it)."""
    session_id = session.get("sid")
    if not isinstance(session_id, str):
        return None
    token = admin_token()
    found = sessions.holder(services().store, session_id, derive(token, "login") if token else None,
                            timedelta(hours=SESSION_HOURS))
    if found is None:
        return None
    return Actor(found["operator"] or BUILT_IN_ADMIN, role=found["role"])


def logged_in() -> bool:
    return current_actor() is not None


def dashboard_closed() -> bool:
    """Nobody could log in: no ADMIN_TOKEN, no operator, no single sign-on."""
    return not admin_token() and not sso.configured() and not operators.any_operator(services().store)


@admin.before_request
def guard():
    g.nonce = secrets.token_urlsafe(12)
    if dashboard_closed():
        return page("message.html", 403, title="The dashboard is closed",
                    text="ADMIN_TOKEN is not set on the server and there are no operators, so nobody can log in. "
                         "Add one (flask add-operator EMAIL --role admin) or set ADMIN_TOKEN and restart.")
    g.actor = signed_in_actor()
    if not is_public() and g.actor is None:
        return redirect(url_for("admin.login_form", next=request.full_path.rstrip("?")), 303)
    if not permitted(g.actor):
        return page("message.html", 403, title="Not allowed",
                    text=f"Your role ({g.actor.role}) does not allow this. An admin can change it.")
    if request.method == "POST":
        given, expected = request.form.get("csrf", ""), session.get("csrf", "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            return page("message.html", 400, title="This form has expired",
                        text="Go back, reload the page and try again.")
    return None


@admin.after_request
def security_headers(response: Response) -> Response:
    return page_headers(response, getattr(g, "nonce", "none"))


@admin.errorhandler(StoreError)
def store_unavailable(e):
    current_app.logger.exception("admin: database error")
    return page("message.html", 503, title="The database is unavailable", text="Try again in a moment.")


@admin.context_processor
def shared():
    return {"nonce": g.nonce, "csrf": session.get("csrf", ""), "when": when, "labels": LABELS,
            "filters": labels.FILTERS, "channel_name": labels.channel_name, "masked": masked_on_page,
            "category_name": category_name,
            "describe": lambda m: labels.describe(m["action"], [category_name(c) for c in m["categories"]],
                                                   m["rule"], m["matched"], m.get("confidence")),
            "signed_in": logged_in(), "actor": current_actor(),
            "may": lambda permission: logged_in() and current_actor().may(permission),
            "single_sign_on": sso.configured(),
            "keyword_problem": keyword_status(servers=False)["error"] if logged_in() else None}


@admin.app_template_filter("num")
def thousands(n) -> str:
    """12,345: a count as people read it."""
    return f"{n:,}" if isinstance(n, int) else str(n)


def category_name(category: str) -> str:
    """A category as people see it ("promos"), the same on every page, in HELP and in the CLI."""
    try:
        return services().keywords.display_name(category)
    except KeywordFileError:
        return category


def page(template: str, status: int = 200, **context):
    return render_template(f"admin/{template}", **context), status


def when(stamp) -> str:
    """2025-03-04 10:00:00 UTC from a stored ISO timestamp."""
    stamp = str(stamp or "")
    return f"{stamp[:10]} {stamp[11:19]} UTC" if len(stamp) >= 19 else stamp


# Logging in and out ---------------------------------------------------------------------------------

@admin.get("/login")
@requires(None)
def login_form():
    session.setdefault("csrf", secrets.token_urlsafe(32))
    return page("login.html", next=safe_next(request.args.get("next")))


@admin.post("/login")
@requires(None)
def login():
    """An operator's email and password; no email (or the old form's `token`): ADMIN_TOKEN, the built-in admin."""
    email = (request.form.get("email") or "").strip().lower()
    password = request.form.get("password") or request.form.get("token") or ""
    target = safe_next(request.form.get("next"))
    client = request.remote_addr or ""
    # Per client and per credential tried (the token, or an email with its password): a client over its limit
    # is refused its wrong tries, a credential over its own limit everywhere; a right one never for others'.
    failures = credential_failures("admin_login_failures", limit=5, window=900, key=throttle_key())
    credential = f"{email}\0{password}" if email else password
    # Per account as well: guesses at one operator's password, from however many clients, are bounded. A
    # password people chose can be guessed, so the account's own failures refuse it, right or wrong, a while.
    account_failures = shared_throttle("operator_login_failures", limit=10, window=900)
    actor = None if email and account_failures.full(email) else password_holder(email, password)
    if (email and account_failures.full(email)) or failures.refused(client, credential, actor is not None):
        return rate_limited(make_response(page("login.html", error="Too many wrong passwords; try again in 15 "
                                               "minutes.", next=target, email=email)), 900)
    if actor is None:
        failures.count(client, credential)
        if email:
            account_failures.allow(email)
        current_app.logger.warning("admin: wrong %s from %s", "password" if email else "token", client)
        audit("login_failed", f"wrong {'password' if email else 'token'}", Actor(email or BUILT_IN_ADMIN))
        error = "Wrong email or password." if email else "That is not the admin token."
        return page("login.html", 403, error=error, next=target, email=email)
    return start_session(actor, target)


def password_holder(email: str, password: str) -> Actor | None:
    """The operator (or, without an email, the built-in admin) whose password this is; None if it is nobody's."""
    if not email:
        token = admin_token()
        return Actor(BUILT_IN_ADMIN, role="admin") if token and hmac.compare_digest(
            password.encode(), token.encode()) else None
    operator = operators.find(services().store, email)
    if operator is None or not operator["password_hash"]:
        credentials.burn_time(password)  # as long as a real check: timing names no operator
        return None
    if not credentials.password_matches(operator["password_hash"], password):
        return None
    if credentials.needs_rehash(operator["password_hash"]):
        operators.rehash(services().store, email, operator["password_hash"], credentials.hash_password(password))
    return Actor(email, role=operator["role"])


def start_session(actor: Actor, target: str):
    """A new session for `actor` (a fresh id, so none chosen before login survives it), then `target`."""
    token = admin_token()
    named = actor.name if actor.name != BUILT_IN_ADMIN else None
    digest = derive(token, "login") if token and named is None else "operator"
    session.clear()
    session.update(sid=sessions.start(services().store, digest, named), csrf=secrets.token_urlsafe(32))
    audit("login", f"as {actor.role}", actor)
    return redirect(target, 303)


@admin.get("/login/oidc")
@requires(None)
def oidc_login():
    if not sso.configured():
        return page("message.html", 404, title="Single sign-on is off", text="OIDC_ISSUER is not set on the server.")
    session["oidc_next"] = safe_next(request.args.get("next"))
    return sso.redirect_to_issuer(url_for("admin.oidc_callback", _external=True))


@admin.get("/login/oidc/callback")
@requires(None)
def oidc_callback():
    if not sso.configured():
        return page("message.html", 404, title="Single sign-on is off", text="OIDC_ISSUER is not set on the server.")
    if not any(key.startswith("_state_oidc_") for key in session) and "relayed" not in request.args:
        # The issuer's redirect is a cross-site navigation, which carries no SameSite=Strict cookie: load this
        # page once more from here, a same-site navigation that brings the session holding the sign-on's state.
        again = escape(request.full_path.rstrip("?") + "&relayed=1")
        return (f'<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={again}">'
                f'<title>Logging in</title><p><a href="{again}">Continue</a></p>')
    try:
        email, role = sso.operator_from_callback()
    except sso.SignOnRefused as e:
        audit("login_failed", f"single sign-on: {e}", Actor("single sign-on"))
        return page("login.html", 403, error=f"Single sign-on refused: {e}.", next=url_for("admin.dashboard"))
    operators.sign_on(services().store, email, role)
    return start_session(Actor(email, role=role), safe_next(session.get("oidc_next")))


@admin.post("/logout")
@requires("read")  # every role
def logout():
    if isinstance(session.get("sid"), str):
        sessions.end(services().store, session["sid"])
        audit("logout", "")
    session.clear()
    return redirect(url_for("admin.login_form"), 303)


def safe_next(target: str | None) -> str:
    """Only a path of this dashboard: never an open redirect."""
    if target and target.startswith("/admin") and "\\" not in target:
        return target
    return url_for("admin.dashboard")


# Pages ----------------------------------------------------------------------------------------------

@admin.get("")
@requires("read")
def dashboard():
    channel, action = request.args.get("channel") or None, request.args.get("action") or None
    brand, brands = request.args.get("brand") or None, services().keywords.brands
    if channel not in (None, *CHANNELS) or action not in (None, *reports.ACTIONS) or not brands.knows(brand):
        return page("message.html", 400, title="Unknown filter",
                    text=f"channel is one of {', '.join(CHANNELS)}; action one of {', '.join(reports.ACTIONS)}; "
                         f"brand one of keywords.yaml's ({', '.join(b.key for b in brands.brands) or 'none'}).")
    number = request.args.get("page", "1")
    # isdecimal, not isdigit: "²" is a digit int() refuses; the cap keeps OFFSET within 64 bits.
    number = min(max(int(number), 1), MAX_PAGE) if number.isdecimal() else 1
    return dashboard_page(channel, action, number, brand=brand)


@admin.post("")
@requires("read")
def search():
    """Recent messages from one address. A POST, so that the address is in no URL (nor any log of one);
    the table shows it masked, and the address look-up page in full."""
    raw = (request.form.get("address") or "").strip()
    channel = request.form.get("channel") or ("email" if "@" in raw else "sms")
    try:
        address = normalise(channel, raw, services().settings["DEFAULT_REGION"])
    except InvalidAddress as e:
        return dashboard_page(None, None, 1, searched=raw, error=f"Nothing to search for: {e}.", status=400)
    return dashboard_page(channel, None, 1, searched=raw, address=address)


def dashboard_page(channel: str | None, action: str | None, number: int, searched: str = "",
                   address: str | None = None, error: str = "", status: int = 200, brand: str | None = None):
    store = services().store
    days = reports.days_until(datetime.now(timezone.utc).date())
    counts = reports.daily_counts(store, days)
    brands = services().keywords.brands
    if error:
        messages, total = [], 0
    else:
        messages, total = reports.recent_messages(store, channel, action, PER_PAGE, (number - 1) * PER_PAGE,
                                                  address=address, brand=brands.stored_key(brand))
    return page("dashboard.html", status, days=days, counts=counts, charts=charts(days, counts), channels=CHANNELS,
                opt_out_charts=opt_out_charts(store, days), queue_chart=queue_chart(store, days),
                series=reports.SERIES, actions=reports.ACTIONS, messages=messages, total=total, page=number,
                pages=max(1, -(-total // PER_PAGE)), channel=channel, action=action, searched=searched, address=address,
                search_error=error, brand=brand, brands=[b.key for b in brands.brands],
                waiting=reports.review_queue(store, limit=0)[1], keywords=keyword_status())


@admin.get("/review")
@requires("read")
def review_queue():
    items, total = reports.review_queue(services().store)
    return page("review.html", items=items, total=total, verdicts=VERDICTS)


@admin.post("/review/<int:message_id>")
@requires("review")
def review(message_id: int):
    store, verdict = services().store, request.form.get("verdict", "")
    # Ids are 64-bit in both databases; a larger number in the URL names no message (and overflows SQLite).
    item = reports.awaiting_review(store, message_id) if message_id < 2**63 else None
    if item is None:
        flash(f"Message {message_id} is not waiting for review (someone may have reviewed it already).", "error")
        return redirect(url_for("admin.review_queue"), 303)
    try:
        tell = partial(correction_message, services().keywords) if request.form.get("tell") == "1" else None
        result = store.review(message_id, verdict, actor=current_actor().name,
                              categories=services().keywords.categories, tell=tell)
    except ValueError as e:
        flash(f"Message {message_id}: {e}.", "error")
    else:
        audit("review", f"message {message_id}: {verdict}" + (" (consent changed)" if result["changed"] else "")
              + (" (one message sent to tell them)" if result["told"] else ""))
        flash(review_notice(item, result), "notice")
    return redirect(url_for("admin.review_queue"), 303)


def review_notice(item: dict, result: dict) -> str:
    who = item["address"]
    if result["verdict"] == "confirmed":
        return f"Confirmed: {who}'s “{item['body'][:60]}” stays recorded as {item['decision']}."
    what = "not an opt-out" if result["verdict"] == "not_opt_out" else "an opt-out"
    state = ("they are opted back in" if result["verdict"] == "not_opt_out" else "they are opted out") \
        if result["changed"] else "what may be sent to them did not change"
    told = "One message tells them so." if result["told"] else "Nothing was sent to them."
    return f"Recorded: {who}'s “{item['body'][:60]}” was {what}; {state}. {told}"


@admin.get("/contacts")
@requires("read")
def contacts():
    channel, raw = request.args.get("channel") or "sms", (request.args.get("address") or "").strip()
    brand, brands = request.args.get("brand") or None, services().keywords.brands
    context = {"channel": channel, "raw": raw, "channels": CHANNELS, "brand": brand,
               "brands": [b.key for b in brands.brands]}
    if not brands.knows(brand):
        return page("contacts.html", 400, error="not a brand of keywords.yaml", **context)
    if not raw:
        return page("contacts.html", **context)
    try:
        address = normalise(channel, raw, services().settings["DEFAULT_REGION"])
    except InvalidAddress as e:
        return page("contacts.html", 400, error=str(e), **context)
    store, categories = services().store, services().keywords.categories
    record = store.contact(channel, address, brands.stored_key(brand) or FIRST)  # without brand: the first's
    blocked = suppressed(record["state"], categories)
    return page("contacts.html", **context, address=address,
                state=[("everything", blocked[EVERYTHING])] + [(category_name(c), blocked[c]) for c in categories],
                trail=reports.audit_trail(store, record, channel, address))


@admin.get("/audit")
@requires("manage")
def audit_page():
    """The audit log, newest first: the latest 500 entries, or those since ?since=YYYY-MM-DD."""
    since = (request.args.get("since") or "").strip() or None
    return page("audit.html", entries=audit_log.entries(services().store, since, limit=500), since=since or "")


def keyword_status(servers: bool = True) -> dict:
    """{path, loaded_at, checksum, error} of the keyword file the service is using; with `servers`, the
    table each serving process serves, and `held`, the one the database holds for all."""
    try:
        _ = services().keywords  # also picks up a saved edit, so the status shown is current
    except KeywordFileError as e:  # broken since start-up: no table was ever loaded
        return {**services().keyword_status(), "error": e.one_line()}
    if not servers:
        return services().keyword_status()
    store = services().store
    return {**services().keyword_status(), "servers": keyword_tables.servers(store),
            "held": keyword_tables.current_checksum(store)}
