"""The unsubscribe link: one-click unsubscribe (RFC 8058) and the preference page, at /u/<token>.

GET never changes anything (mail scanners follow links). POST with the body
List-Unsubscribe=One-Click, as Gmail and Yahoo send it (no cookie, no CSRF token, no redirect),
unsubscribes, unless the person opted back in after the link was made (409: a replay, or an old
message). Any other POST is the page's own form: its CSRF value is bound by UNSUBSCRIBE_SECRET to the
link and to a random nonce in a cookie, so neither can be chosen by the client. A link made for one
category changes that category only (or stops everything); it shows the others read-only.
Both record through intake, with the same audit trail and confirmation rules as the webhooks.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, Response, g, redirect, render_template, request

from ..core import intake, links
from ..core.addresses import masked_on_page
from ..core.brands import FIRST
from ..core.consent import EVERYTHING, suppressed
from ..core.decision import OPT_IN, OPT_OUT, Decision
from ..core.inbound import Inbound
from .context import services
from .metrics import count_inbound
from .responses import page_headers, rate_limited
from .throttles import Throttle, app_throttle

pages = Blueprint("preferences", __name__, template_folder="templates")
CSRF_COOKIE = "optout_csrf"
# Floods are refused, never a real opt-out: a bad link is limited per client address, a good one per
# link (its first use already did what the person asked). Kept per app, counted per process.
THROTTLES = {"bad_links": (30, 60), "per_link": (20, 60)}


def throttle(name: str) -> Throttle:
    return app_throttle(name, *THROTTLES[name])


def too_many():
    return rate_limited(Response("Too many requests; wait a minute and try again.\n", mimetype="text/plain"), 60)


@pages.after_request
def security_headers(response: Response) -> Response:
    logo = services().keywords.logo_url
    return page_headers(response, getattr(request, "_style_nonce", "none"),
                        img_origin="{0.scheme}://{0.netloc}".format(urlsplit(logo)) if logo else None)


@pages.get("/u/<token>")
def preferences(token: str):
    table, language = services().keywords, page_language()
    try:
        channel, address, category = resolve(token)
    except links.BadLink:
        return bad_link(language) if throttle("bad_links").allow(request.remote_addr or "") else too_many()
    if not throttle("per_link").allow(token):
        return too_many()
    blocked = suppressed(services().store.state(channel, address, link_brand()), table.categories)
    if request.args.get("saved"):  # where a saved form lands (POST-redirect-GET): what now holds
        return Response(result(language, address, blocked, started=request.args["saved"] == "again"))
    lang = table.languages[language]
    # A link made for one category opens on it, while the person still gets it: one button stops it.
    focus = category if category and not blocked[category] else None
    nonce = secrets.token_urlsafe(24)
    response = Response(page(language, address, form=True, csrf=form_key(token, nonce),
                             status=standing(language, address, blocked), everything_out=blocked[EVERYTHING],
                             focus=focus, link_category=category,
                             link_label=lang.category_names[category] if category else "",
                             categories=[{"name": c, "label": lang.category_names[c],
                                          "description": lang.descriptions.get(c, ""),
                                          "receiving": not blocked[c], "editable": category in (None, c)}
                                         for c in table.categories]))
    response.set_cookie(CSRF_COOKIE, nonce, httponly=True, samesite="Strict", secure=request.is_secure,
                        path="/u/")
    return response


@pages.post("/u/<token>")
def choose(token: str):
    table, language = services().keywords, page_language()
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    try:
        channel, address, category = resolve(token)
    except links.BadLink as e:
        if not throttle("bad_links").allow(request.remote_addr or ""):
            return too_many()
        if one_click:
            return Response(f"{e}\n", 400, mimetype="text/plain")
        return bad_link(language)
    if not throttle("per_link").allow(token):
        return too_many()
    store = services().store
    if one_click:
        # A link made before the person's latest opt-in (in its scope) is not theirs to undo it with:
        # a replayed POST, or one from an old message. The page still lets them choose. A whole second
        # after the link's stamp, which has no fraction: an opt-in just before it is not counted.
        made = links.made_at(services().settings["UNSUBSCRIBE_SECRET"], token) + timedelta(seconds=1)
        if store.opted_in_since(channel, address, made.isoformat(timespec="microseconds"), category, link_brand()):
            return Response(table.languages[language].page["one_click_replayed"] + "\n", 409,
                            mimetype="text/plain")
        decision = Decision(OPT_OUT, "one_click", (category,) if category else (), language, (language,),
                            "List-Unsubscribe=One-Click")
        record(channel, address, decision, "List-Unsubscribe=One-Click")
        return Response(table.languages[language].page["one_click_done"] + "\n", 200, mimetype="text/plain")

    nonce = request.cookies.get(CSRF_COOKIE, "")
    if not nonce or not hmac.compare_digest(request.form.get("csrf", "").encode(), form_key(token, nonce).encode()):
        return form_expired(language, address)
    before = suppressed(store.state(channel, address, link_brand()), table.categories)
    everything = request.form.get("everything") == "1"
    if category is None:
        keep = set(request.form.getlist("keep")) & set(table.categories)
        decisions = choices(before, keep, everything, table.categories, language)
    else:
        keep, stop = request.form.getlist("keep"), request.form.get("stop")
        decisions = category_choices(before, category, keep, stop, everything, table.categories, language)
        if decisions is None:
            return other_categories_refused(language, address, category)
    for decision in decisions:
        record(channel, address, decision, in_words(decision, category))
    # Answered by a redirect to the page, so that a refresh there asks nothing again.
    started = any(d.action == OPT_IN for d in decisions)
    return redirect(f"{request.path}?saved={'again' if started else 'yes'}", 303)


def in_words(decision: Decision, link_category: str | None) -> str:
    """What the person did, as the dashboard's Text column shows it: "Preference page: stopped promos, surveys"."""
    table = services().keywords
    names = ", ".join(table.display_name(c) for c in decision.categories) or "everything"
    done = "stopped" if decision.action == OPT_OUT else "started again"
    link = f" (a link for {table.display_name(link_category)})" if link_category else ""
    return f"Preference page{link}: {done} {names}"


def standing(language: str, address: str, blocked: dict) -> str:
    """The sentence saying what the person has already stopped, above the form; "" when nothing."""
    table = services().keywords
    lang = table.languages[language]
    values = placeholders(language, address)
    if blocked[EVERYTHING]:
        return lang.page["already_stopped_all"].format(**values)
    stopped = [lang.category_names[c] for c in table.categories if blocked[c]]
    return lang.page["already_stopped"].format(**{**values, "categories": ", ".join(stopped)}) if stopped else ""


def form_key(token: str, nonce: str) -> str:
    """The form's CSRF value for this link and the cookie's nonce: made with UNSUBSCRIBE_SECRET, so a
    client can choose neither half of the pair, nor carry one link's form to another."""
    secret = services().settings["UNSUBSCRIBE_SECRET"].encode()
    return hmac.new(secret, f"optout preference form\0{token}\0{nonce}".encode(), hashlib.sha256).hexdigest()


def choices(before: dict, keep: set, everything: bool, categories: tuple, language: str) -> list[Decision]:
    """The decisions that take the person from `before` to what the form asks for."""
    if everything:
        return [page_decision(OPT_OUT, (), language)] if not before[EVERYTHING] or any(
            not before[c] for c in categories) else []
    if keep == set(categories):
        return [page_decision(OPT_IN, (), language)] if any(before.values()) else []
    stop = [c for c in categories if c not in keep and not before[c]]
    start = [c for c in categories if c in keep and before[c]]
    return (([page_decision(OPT_OUT, stop, language)] if stop else [])
            + ([page_decision(OPT_IN, start, language)] if start else []))


def category_choices(before: dict, category: str, keep: list[str], stop: str | None, everything: bool,
                     categories: tuple, language: str) -> list[Decision] | None:
    """What the form of a link made for `category` asks for, or None when it would change anything else.

    Such a link travels with one kind of message and is forwarded with it: it changes that category
    (both ways) and may stop everything, since a menu of kinds must offer that (CAN-SPAM, 15 U.S.C.
    7704(a)(3)(B)); it never starts or stops another category, nor undoes an opt-out of everything."""
    if set(keep) - {category} or stop not in (None, category):
        return None
    if everything:
        return choices(before, set(), True, categories, language)
    wanted = category in keep and stop is None
    if wanted == (not before[category]):
        return []
    return [page_decision(OPT_IN if wanted else OPT_OUT, (category,), language)]


def page_decision(action: str, categories, language: str) -> Decision:
    return Decision(action, "preference_page", tuple(categories), language, (language,), "preference page")


def record(channel: str, address: str, decision: Decision, text: str) -> None:
    inbound = Inbound(channel=channel, provider=intake.WEB, provider_id=f"web:{uuid.uuid4()}", address=address,
                      recipient=None, text=text, params={"path": request.path,
                                                         "user_agent": request.headers.get("User-Agent")},
                      sender_verified=True, brand=link_brand())
    recorded = intake.handle(inbound, services().keywords, services().store, decision=decision)
    count_inbound(channel, intake.WEB, recorded.transition.action if recorded.transition else "none",
                  recorded.transition)


def resolve(token: str) -> tuple[str, str, str | None]:
    """(channel, address, category) of a link token; raises links.BadLink."""
    secret = services().settings["UNSUBSCRIBE_SECRET"]
    if not secret:
        raise links.BadLink("unsubscribe links are not configured (UNSUBSCRIBE_SECRET)")
    link_id, category = links.read(secret, token)
    found = services().store.link_address(link_id)
    if found is None:
        raise links.BadLink("the link was not made by this service")
    if category is not None and category not in services().keywords.categories:
        category = None  # a category since removed: unsubscribing from everything is the safe reading
    g.link_brand = found[2]  # whose messages the link stops (keywords.yaml `brands:`; '' the first brand's)
    return found[0], found[1], category


def link_brand() -> str:
    """The brand (as stored) of the link this request came with."""
    return getattr(g, "link_brand", FIRST)


def shown_brand() -> tuple[str, str]:
    """(name, help contact) of the link's brand as the page names it: the file's own without brands."""
    table = services().keywords
    named = table.brands.by_stored(link_brand())
    return (named.name, named.help_contact or table.help_contact) if named else (table.brand, table.help_contact)


def page_language() -> str:
    table = services().keywords
    return request.accept_languages.best_match(list(table.languages)) or table.default_language


def page(language: str, address: str, **context) -> str:
    table = services().keywords
    texts = table.languages[language].page
    request._style_nonce = secrets.token_urlsafe(12)
    values = placeholders(language, address)
    if context.get("link_label"):
        values["categories"] = context["link_label"]
    title = texts[context.pop("title_key", "title" if context.get("form") else "saved_title")].format(**values)
    return render_template("preferences.html", lang=language, nonce=request._style_nonce, title=title,
                           texts={k: v.format(**values) for k, v in texts.items()}, **brand(), **context)


def brand() -> dict[str, str]:
    """The brand as the page shows it: its name, its logo if any, and the accent colour."""
    table = services().keywords
    return {"brand": shown_brand()[0], "logo_url": table.logo_url, "accent": table.accent_colour or "#1a56db"}


def result(language: str, address: str, after: dict, started: bool = False) -> str:
    table = services().keywords
    lang = table.languages[language]
    values = placeholders(language, address)
    stopped = [lang.category_names[c] for c in table.categories if after[c]]
    going = [lang.category_names[c] for c in table.categories if not after[c]]
    joined = lambda names: ", ".join(names)  # noqa: E731
    if after[EVERYTHING] and not going:
        lines = [lang.page["stopped_all"].format(**values)]
    elif not stopped:
        lines = [lang.page["started" if started else "nothing_stopped"].format(**values)]
    else:
        lines = [lang.page["stopped"].format(**{**values, "categories": joined(stopped)})]
    if going and stopped:
        lines.append(lang.page["continuing"].format(**{**values, "categories": joined(going)}))
    lines.append(lang.page["undo"].format(**values))
    return page(language, address, form=False, lines=lines, back=request.path)


def form_expired(language: str, address: str):
    """The form came without its cookie or CSRF value (a page left open for long, cookies blocked):
    400, nothing changed, and the way on: open the page again."""
    line = services().keywords.languages[language].page["form_expired"].format(**placeholders(language, address))
    return Response(page(language, address, form=False, title_key="form_expired_title", lines=[line],
                         back=request.path), 400)


def other_categories_refused(language: str, address: str, category: str):
    """A category link's form asked to change another category: 403, and what the person can do instead."""
    lang = services().keywords.languages[language]
    label = lang.category_names[category]
    line = lang.page["other_categories"].format(**{**placeholders(language, address), "categories": label})
    return Response(page(language, address, form=False, title_key="title", link_label=label, lines=[line],
                         back=request.path), 403)


def bad_link(language: str):
    table = services().keywords
    texts = table.languages[language].page
    values = placeholders(language, "")
    request._style_nonce = secrets.token_urlsafe(12)
    html = render_template("preferences.html", lang=language, nonce=request._style_nonce,
                           title=texts["bad_link_title"], form=False, texts={},
                           lines=[texts["bad_link"].format(**values)], **brand())
    return Response(html, 400)


def placeholders(language: str, address: str) -> dict[str, str]:
    """The values of the page texts' placeholders (keywords.PAGE_PLACEHOLDERS)."""
    table = services().keywords
    name, help_contact = shown_brand()
    return {"brand": name, "address": masked_on_page(address) if address else "", "help": help_contact,
            "still_sent": table.languages[language].still_sent, "categories": ""}
