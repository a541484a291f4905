"""The /admin dashboard through Flask: login and CSRF, the chart's numbers, filters, the review queue
and the address look-up, with data made by real signed Twilio webhooks (and one raw MIME email)."""

import base64
import io
import re
from datetime import datetime, timedelta, timezone
from functools import partial
from html.parser import HTMLParser
from urllib.parse import parse_qs

import pytest
import responses
from conftest import ADMIN_TOKEN, AUTH_TOKEN, twilio_params, twilio_post
from markupsafe import escape

from handlers.core.intake import correction_message
from handlers.storage.backfill import backfill_twilio
from handlers.sync.sms_outbox import send_due_sms

pytestmark = pytest.mark.backends("sqlite", "postgresql")

PAT, SAM, KIM, LEE = "+14155550100", "+14155550101", "+14155550102", "+14155550103"
EMAIL_AUTH = {"Authorization": "Basic " + base64.b64encode(b"inbound:inbound-secret").decode()}


@pytest.fixture
def settings(settings):
    return {**settings, "INBOUND_EMAIL_USER": "inbound", "INBOUND_EMAIL_PASSWORD": "inbound-secret"}


class Tables(HTMLParser):
    """Every <table id=...> of a page, as lists of rows of cell texts (header row first)."""

    def __init__(self, html: str):
        super().__init__()
        self.tables, self._table, self._row, self._cell = {}, None, None, None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("id"), [])
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._table.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def table(html: str, name: str) -> list[dict]:
    header, *rows = Tables(html).tables[name]
    # A row may be shorter than the header: an empty table says so in one cell.
    return [dict(zip(header, row)) for row in rows]  # noqa: B905


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def login(client, token=ADMIN_TOKEN, next_path="/admin"):
    form = client.get("/admin/login")
    return client.post("/admin/login", data={"token": token, "csrf": csrf_of(form.text), "next": next_path})


@pytest.fixture
def admin(client):
    assert login(client).status_code == 303
    return client


def sms(client, body, sender=PAT):
    assert twilio_post(client, twilio_params(body, sender)).status_code == 200


def email(client, body, sender="pat@example.org"):
    raw = (f"Return-Path: <{sender}>\nFrom: {sender}\nTo: news@acme.example\nSubject: Re: Spring sale\n"
           f"Message-ID: <{hash(body)}@example.org>\nContent-Type: text/plain; charset=utf-8\n\n{body}\n")
    assert client.post("/webhooks/email/mime", data=raw.encode(), content_type="message/rfc822",
                       headers=EMAIL_AUTH).status_code == 200


def message_id(db, body):
    return db.execute("SELECT id FROM messages WHERE body = ? ORDER BY id DESC", (body,)).fetchone()[0]


# Logging in ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path", [
    ("get", "/admin"), ("get", "/admin?channel=sms&page=2"), ("get", "/admin/review"),
    ("get", "/admin/contacts?channel=sms&address=%2B14155550100"), ("post", "/admin/review/1"),
    ("post", "/admin/logout"),
])
def test_every_page_needs_a_login(client, method, path):
    response = getattr(client, method)(path)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/admin/login?next=/admin")


@pytest.mark.parametrize("token", ["wrong", "", ADMIN_TOKEN + " ", ADMIN_TOKEN.upper()])
def test_a_wrong_token_is_refused(client, token):
    response = login(client, token)
    assert response.status_code == 403 and "not the admin token" in response.text
    assert client.get("/admin").status_code == 303


def test_the_right_token_logs_in_and_goes_where_it_was_asked(client):
    response = login(client, next_path="/admin/review")
    assert (response.status_code, response.headers["Location"]) == (303, "/admin/review")
    assert client.get("/admin/review").status_code == 200


@pytest.mark.parametrize("next_path", ["https://evil.example/admin", "//evil.example", "/api/v1/x", "/admin\\@x"])
def test_after_login_it_never_redirects_elsewhere(client, next_path):
    assert login(client, next_path=next_path).headers["Location"] == "/admin"


def test_the_session_cookie_is_httponly_strict_and_secure_over_https(client):
    cookie = login(client).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie  # plain http (a developer's machine): a Secure cookie would never come back
    form = client.get("/admin/login", base_url="https://localhost")
    secure = client.post("/admin/login", base_url="https://localhost",
                         data={"token": ADMIN_TOKEN, "csrf": csrf_of(form.text)}).headers["Set-Cookie"]
    assert "; Secure" in secure


def test_without_admin_token_the_dashboard_refuses_everyone_and_says_why(settings, make_app):
    app = make_app({**settings, "ADMIN_TOKEN": None})
    client = app.test_client()
    for response in (client.get("/admin/login"), client.get("/admin"),
                     client.post("/admin/login", data={"token": ""})):
        assert response.status_code == 403 and "ADMIN_TOKEN is not set" in response.text
    app.extensions["optout"].store.close()


def test_logging_out_ends_the_session(admin):
    response = admin.post("/admin/logout", data={"csrf": csrf_of(admin.get("/admin").text)})
    assert response.status_code == 303
    assert admin.get("/admin").status_code == 303


def test_a_changed_admin_token_ends_every_session(admin, app):
    app.extensions["optout"].settings["ADMIN_TOKEN"] = "a-new-token"
    assert admin.get("/admin").status_code == 303


# CSRF and headers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("csrf", [None, "", "forged"])
def test_every_post_needs_the_sessions_csrf_token(admin, db, csrf):
    sms(admin, "Can you stop?")
    data = {"verdict": "not_opt_out", **({"csrf": csrf} if csrf is not None else {})}
    response = admin.post(f"/admin/review/{message_id(db, 'Can you stop?')}", data=data)
    assert response.status_code == 400 and "expired" in response.text
    assert db.execute("SELECT count(*) FROM reviews").fetchone()[0] == 0
    assert admin.post("/admin/logout", data=data).status_code == 400
    assert admin.get("/admin").status_code == 200  # still logged in


def test_login_needs_the_csrf_token_of_the_login_form(client):
    assert client.post("/admin/login", data={"token": ADMIN_TOKEN}).status_code == 400
    assert client.get("/admin").status_code == 303


@pytest.mark.parametrize("path", ["/admin/login", "/admin", "/admin/review", "/admin/contacts?channel=sms&address=1"])
def test_pages_send_security_headers(admin, path):
    response = admin.get(path)
    csp = response.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert f'<style nonce="{nonce}">' in response.text and "<script" not in response.text
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


# The activity page --------------------------------------------------------------------------------

def test_the_chart_counts_each_day_channel_and_decision(admin, db):
    for body, sender in [("STOP", PAT), ("START", PAT), ("HELP", SAM), ("hello", KIM), ("Can you stop?", LEE),
                         ("STOP", SAM), ("Thanks!", SAM)]:
        sms(admin, body, sender)
    email(admin, "Unsubscribe me please")
    today = datetime.now(timezone.utc)
    db.execute("UPDATE messages SET received_at = ? WHERE body = 'Thanks!'", ((today - timedelta(days=3)).isoformat(),))
    db.execute("UPDATE messages SET received_at = ? WHERE body = 'hello'", ((today - timedelta(days=40)).isoformat(),))
    db.commit()

    page = admin.get("/admin").text
    glance = {row["Messages"]: row for row in table(page, "glance")}
    assert {s: (r["SMS today"], r["SMS, 30 days"], r["Email today"]) for s, r in glance.items()} == {
        "Opt-outs": ("3", "3", "1"), "Opt-ins": ("1", "1", "0"), "Help requests": ("1", "1", "0"),
        "Ignored": ("0", "1", "0")}
    days = {row["Day"]: row for row in table(page, "per-day")}
    assert len(days) == 30
    assert days[(today - timedelta(days=3)).date().isoformat()]["SMS ignored"] == "1"
    assert days[today.date().isoformat()]["SMS opt-outs"] == "3"
    assert "SMS, last 30 days: 3 opt-outs, 1 opt-ins, 1 help requests, 1 ignored." in page
    assert f"<title>{today.date().isoformat()}, Email: 1 opt-outs</title>" in page  # a bar of the SVG


@pytest.mark.parametrize("query, bodies", [
    ("", ["Unsubscribe me please", "HELP", "hello", "START", "STOP"]),
    ("?channel=sms", ["HELP", "hello", "START", "STOP"]),
    ("?channel=email", ["Unsubscribe me please"]),
    ("?action=opt_out", ["Unsubscribe me please", "STOP"]),
    ("?channel=sms&action=none", ["hello"]),
    ("?channel=email&action=help", []),
])
def test_recent_messages_newest_first_filtered_by_channel_and_action(admin, query, bodies):
    for body in ("STOP", "START", "hello", "HELP"):
        sms(admin, body)
    email(admin, "Unsubscribe me please")
    rows = table(admin.get(f"/admin{query}").text, "messages")
    assert [r.get("Text") for r in rows if r != {"Received": "No messages."}] == bodies


@pytest.mark.parametrize("query", ["?channel=fax", "?action=delete"])
def test_an_unknown_filter_is_an_error(admin, query):
    assert admin.get(f"/admin{query}").status_code == 400


def test_recent_messages_come_fifty_a_page(admin):
    for n in range(53):
        sms(admin, f"message {n}", sender=f"+1415555{n:04d}")
    first, second = admin.get("/admin").text, admin.get("/admin?page=2").text
    assert len(table(first, "messages")) == 50 and table(first, "messages")[0]["Text"] == "message 52"
    assert [r["Text"] for r in table(second, "messages")] == ["message 2", "message 1", "message 0"]
    assert 'rel="next" href="/admin?page=2"' in first and 'rel="prev" href="/admin?page=1"' in second


def test_categories_and_channels_are_named_as_people_see_them(admin):
    sms(admin, "STOP PROMOS")
    email(admin, "Unsubscribe me please")
    page = admin.get("/admin").text
    rows = table(page, "messages")
    assert [(r["Channel"], r["Decision"].split(" (")[0]) for r in rows] == [
        ("Email", "Opted out of everything"), ("SMS", "Opted out of promos")]
    assert "promotions" not in str(rows) and "EMAIL" not in page and ">email<" not in page


def add_messages(db, count, address=PAT):
    """`count` stored messages of `address` (no reply, nothing decided), the quickest way to many rows."""
    now = datetime.now(timezone.utc).isoformat()
    for n in range(count):
        db.execute("INSERT INTO messages (channel, provider, provider_id, address, body, params, received_at, action, "
                   "categories, rule) VALUES ('sms', 'twilio', ?, ?, ?, '{}', ?, 'none', '[]', 'no_match')",
                   (f"SM{address}{n}", address, f"hello {n}", now))
    db.commit()


def test_counts_have_thousands_separators_and_any_page_can_be_opened(admin, db):
    add_messages(db, 1234)
    page = admin.get("/admin").text
    assert "1,234 messages; page 1 of 25, newest first." in page
    assert {r["Messages"]: r["SMS today"] for r in table(page, "glance")}["Ignored"] == "1,234"
    jump = re.search(r'<form method="get" action="/admin">\s*<label for="jump">.*?</form>', page, re.S).group(0)
    assert 'name="page" type="number" min="1" max="25"' in jump
    assert table(admin.get("/admin?page=25").text, "messages")[0]["Text"] == "hello 33"  # the oldest 34


@pytest.mark.parametrize("searched, found", [
    ("(415) 555-0101", ["hello 1", "hello 0"]),  # as people write it: normalised, then matched exactly
    ("+14155550101", ["hello 1", "hello 0"]),
    ("+14155550199", []),
])
def test_searching_by_address_shows_its_messages_masked_and_keeps_it_out_of_urls(admin, db, searched, found):
    add_messages(db, 3)
    add_messages(db, 2, address=SAM)
    csrf = csrf_of(admin.get("/admin").text)
    response = admin.post("/admin", data={"csrf": csrf, "address": searched})
    rows = table(response.text, "messages")
    assert [r["Text"] for r in rows if "Text" in r] == found
    assert all(r["From"] == "+1••••••0101" for r in rows if "Text" in r)
    assert f"{len(found)} message{'s' * (len(found) != 1)} from +1••••••{searched[-4:]}." in response.text
    assert searched not in response.text.replace(f'value="{searched}"', "")  # only in the field it was typed in
    assert 'rel="next"' not in response.text


def test_searching_for_something_not_an_address_says_so(admin):
    response = admin.post("/admin", data={"csrf": csrf_of(admin.get("/admin").text), "address": "+1"})
    assert response.status_code == 400 and "Nothing to search for: not a phone number" in response.text


def test_recent_messages_sort_by_when_they_were_received_not_by_when_they_were_recorded(admin, app):
    sms(admin, "HELP")
    sms(admin, "STOP", sender=SAM)
    log = ("From,To,Body,SentDate,Sid,Direction\r\n"  # a Twilio console export, newest first, recorded after
           f"{KIM},+14155550199,second of March,2024-03-02T09:00:00-07:00,SM{3:032x},inbound\r\n"
           f"{LEE},+14155550199,first of March,2024-03-01T09:00:00-07:00,SM{4:032x},inbound\r\n")
    services = app.extensions["optout"]
    assert backfill_twilio(services.store, io.BytesIO(log.encode()), services.keywords, "US").inbound == 2
    rows = table(admin.get("/admin").text, "messages")
    assert [r["Text"] for r in rows] == ["STOP", "HELP", "second of March", "first of March"]
    assert [r["Text"] for r in table(admin.get("/admin?page=1&channel=sms").text, "messages")][2:] == [
        "second of March", "first of March"]


def test_the_keyword_files_status_is_shown(admin, app):
    table_ = app.extensions["optout"].keywords
    page = admin.get("/admin").text
    assert table_.path in page and table_.checksum in page
    app.extensions["optout"].keyword_status = lambda: {
        "path": table_.path, "loaded_at": table_.loaded_at, "checksum": table_.checksum,
        "error": "keywords.yaml line 12: 'stop' is both stop and start"}
    assert "line 12: &#39;stop&#39; is both stop and start" in admin.get("/admin").text


# The review queue ---------------------------------------------------------------------------------

def review(admin, db, body, verdict):
    csrf = csrf_of(admin.get("/admin/review").text)
    return admin.post(f"/admin/review/{message_id(db, body)}", data={"verdict": verdict, "csrf": csrf})


def queue(admin):
    return re.findall(r"<blockquote>(.*?)</blockquote>", admin.get("/admin/review").text)


def suppressed(app, address):
    return bool(app.extensions["optout"].store.suppressed_among("sms", [address], None))


@pytest.mark.parametrize("body, verdict, opted_out_after, event", [
    ("Can you stop?", "not_opt_out", False, "opt_in"),
    ("Can you stop?", "confirmed", True, None),
    ("when does it end", "opt_out", True, "opt_out"),
    ("when does it end", "confirmed", False, None),
])
def test_a_verdict_changes_state_records_an_event_and_leaves_the_queue(admin, app, db, body, verdict,
                                                                        opted_out_after, event):
    sms(admin, body)
    sms(admin, "I will quit", sender=SAM)  # another flagged message stays on the queue
    assert queue(admin) == [body, "I will quit"]
    response = review(admin, db, body, verdict)
    assert (response.status_code, response.headers["Location"]) == (303, "/admin/review")
    page = admin.get("/admin/review").text
    assert "Nothing was sent to them" in page if event else "Confirmed" in page
    assert queue(admin) == ["I will quit"]
    assert suppressed(app, PAT) is opted_out_after
    events = db.execute("SELECT action, source FROM events WHERE source LIKE 'review:%'").fetchall()
    assert [tuple(e) for e in events] == ([(event, "review:admin")] if event else [])
    assert [tuple(r) for r in db.execute("SELECT verdict, actor FROM reviews")] == [(verdict, "admin")]
    assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0


def test_a_verdict_that_does_not_fit_is_refused_and_the_item_stays(admin, db):
    sms(admin, "Can you stop?")
    assert review(admin, db, "Can you stop?", "opt_out").status_code == 303
    assert "already recorded as an opt-out" in admin.get("/admin/review").text
    assert queue(admin) == ["Can you stop?"]


def test_a_second_verdict_on_the_same_message_changes_nothing(admin, db):
    sms(admin, "Can you stop?")
    review(admin, db, "Can you stop?", "not_opt_out")
    review(admin, db, "Can you stop?", "not_opt_out")
    assert "not waiting for review" in admin.get("/admin/review").text
    assert db.execute("SELECT count(*) FROM events WHERE source = 'review:admin'").fetchone()[0] == 1


@pytest.mark.parametrize("body, verdict, told", [
    ("Can you stop?", "not_opt_out", "started_all"),   # told "no more texts", now: "subscribed again"
    ("when does it end", "opt_out", "stopped_all"),    # not stopped, now: "no more texts"
])
def test_a_correction_shows_what_they_were_told_and_may_tell_them_once(admin, app, db, body, verdict, told):
    sms(admin, body)
    sent_reply = db.execute("SELECT reply FROM messages").fetchone()[0]
    card = admin.get("/admin/review").text
    assert (f"<dd class=\"reply\">{escape(sent_reply)}</dd>" if sent_reply
            else '<dd class="reply">nothing (no reply was sent)</dd>') in card
    csrf = csrf_of(card)
    response = admin.post(f"/admin/review/{message_id(db, body)}", data={"verdict": verdict, "tell": "1", "csrf": csrf})
    assert response.status_code == 303 and "One message tells them so." in admin.get("/admin/review").text
    table_ = app.extensions["optout"].keywords
    rows = db.execute("SELECT channel, address, subject, body, kind FROM outbox").fetchall()
    assert [tuple(r) for r in rows] == [("sms", PAT, "", table_.render("sms", told, "en"), "correction")]
    [(detail,)] = db.execute("SELECT detail FROM audit_log WHERE action = 'review'").fetchall()
    assert detail.endswith("(consent changed) (one message sent to tell them)")
    # Once only: the message has left the queue, and the store queues no second message for it.
    admin.post(f"/admin/review/{message_id(db, body)}", data={"verdict": verdict, "tell": "1", "csrf": csrf})
    sms(admin, {"not_opt_out": "STOP", "opt_out": "START"}[verdict])  # back as before: a verdict would change it
    store, tell = app.extensions["optout"].store, partial(correction_message, table_)
    again = store.review(message_id(db, body), verdict, "admin", table_.categories, tell=tell)
    assert (again["changed"], again["told"]) == (True, False)
    assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 1


def test_an_email_correction_tells_them_by_email_after_their_confirmation(admin, app, db):
    email(admin, "Can you stop the emails?")
    [(action, flagged)] = [tuple(r) for r in db.execute("SELECT action, flagged FROM messages")]
    assert (action, flagged) == ("opt_out", 1)
    csrf = csrf_of(admin.get("/admin/review").text)
    admin.post(f"/admin/review/{message_id(db, 'Can you stop the emails?')}",
               data={"verdict": "not_opt_out", "tell": "1", "csrf": csrf})
    rows = [tuple(r) for r in db.execute("SELECT channel, address, subject, body, kind FROM outbox ORDER BY id")]
    subject, body = app.extensions["optout"].keywords.render_email("started_all", "en")
    assert [row[-1] for row in rows] == ["confirmation", "correction"]
    assert rows[1] == ("email", "pat@example.org", subject, body, "correction")


# Twilio's answers to "Create a Message", as its API reference shows them
# (https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource; error 21610).
TWILIO_CREATED = {
    "account_sid": "AC" + "0" * 32, "api_version": "2010-04-01", "body": "",
    "date_created": "Thu, 24 Aug 2023 05:01:45 +0000", "date_sent": None,
    "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000", "direction": "outbound-api", "error_code": None,
    "error_message": None, "from": "+14155550199", "messaging_service_sid": None, "num_media": "0", "num_segments": "1",
    "price": None, "price_unit": None, "sid": "SM" + "1" * 32, "status": "queued", "subresource_uris": {},
    "to": PAT, "uri": f"/2010-04-01/Accounts/AC{'0' * 32}/Messages/SM{'1' * 32}.json"}
TWILIO_UNSUBSCRIBED = {"code": 21610, "message": "Attempt to send to unsubscribed recipient",
                       "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400}


@pytest.mark.parametrize("status, answer, counts, outcome", [
    (201, TWILIO_CREATED, {"sent": 1, "retry": 0, "failed": 0}, "sent"),
    (400, TWILIO_UNSUBSCRIBED, {"sent": 0, "retry": 0, "failed": 1},
     "Twilio 400: Unable to create record: Attempt to send to unsubscribed recipient"),
    (503, {"code": 20500, "message": "Internal Server Error", "status": 503}, {"sent": 0, "retry": 1, "failed": 0},
     "Twilio 503: Unable to create record: Internal Server Error"),
])
def test_the_mail_worker_texts_a_correction_through_twilios_api(admin, app, db, status, answer, counts, outcome):
    sms(admin, "Can you stop?")
    csrf = csrf_of(admin.get("/admin/review").text)
    admin.post(f"/admin/review/{message_id(db, 'Can you stop?')}", data={"verdict": "not_opt_out", "tell": "1",
                                                                         "csrf": csrf})
    url = f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}/Messages.json"
    with responses.RequestsMock() as twilio:
        twilio.post(url, status=status, json=answer)
        assert send_due_sms(app.extensions["optout"].store, AUTH_TOKEN) == counts
        sent = parse_qs(twilio.calls[0].request.body)
        auth = twilio.calls[0].request.headers["Authorization"]
    expected = app.extensions["optout"].keywords.render("sms", "started_all", "en")
    assert sent == {"To": [PAT], "From": ["+14155550199"], "Body": [expected]}
    assert auth == "Basic " + base64.b64encode(f"AC{'0' * 32}:{AUTH_TOKEN}".encode()).decode()
    row = db.execute("SELECT sent_at, last_error FROM outbox").fetchone()
    assert (row["sent_at"] is not None, row["last_error"]) == ((True, None) if outcome == "sent" else (False, outcome))


# Looking up an address ----------------------------------------------------------------------------

def test_looking_up_an_address_shows_its_state_and_audit_trail(admin, db):
    for body in ("Can you stop?", "START SURVEYS"):
        sms(admin, body)
    review(admin, db, "Can you stop?", "confirmed")
    page = admin.get("/admin/contacts", query_string={"channel": "sms", "address": "(415) 555-0100"}).text
    assert "+14155550100 (sms)" in page
    assert {r["Category"]: r["State"] for r in table(page, "state-table")} == {
        "everything": "suppressed", "promos": "suppressed", "surveys": "receiving", "newsletter": "suppressed"}
    trail = [(r["Message"], r["Decision"].split(" (")[0], r["By"]) for r in table(page, "trail-table")]
    assert trail == [("Can you stop?", "Opted out of everything", "sms:twilio"),
                     ("START SURVEYS", "Opted back in to surveys", "sms:twilio"),
                     ("Can you stop?", "confirmed the decision on message 1", "review:admin")]


@pytest.mark.parametrize("query, status, text", [
    ({"channel": "sms", "address": "+14155550199"}, 200, "Nothing recorded for this address."),
    ({"channel": "sms", "address": "+1"}, 400, "not a phone number"),
    ({"channel": "email", "address": "nope"}, 400, "not an email address"),
    ({"channel": "fax", "address": "1"}, 400, "unknown channel"),
    ({}, 200, "Phone number or email address"),
])
def test_looking_up_unknown_or_invalid_addresses(admin, query, status, text):
    response = admin.get("/admin/contacts", query_string=query)
    assert response.status_code == status and text in response.text


def test_failed_logins_are_rate_limited(client):
    statuses = [login(client, token="guess").status_code for _ in range(6)]
    assert statuses == [403] * 5 + [429]
    assert login(client).status_code == 303  # the right token is not refused for others' failures
    client.post("/admin/logout", data={"csrf": csrf_of(client.get("/admin").text)})
    assert login(client, token="guess").status_code == 429  # but this client's wrong ones still are


def test_failed_api_tokens_are_rate_limited(client):
    body = {"channel": "sms", "addresses": []}
    statuses = [client.post("/api/v1/suppressions/check", json=body, headers={"Authorization": "Bearer no"}).status_code
                for _ in range(31)]
    assert statuses == [401] * 30 + [429]


def test_typos_requests_and_idioms_read_in_plain_words(admin, db):
    for body, sender in [("unsubscirbe", PAT), ("get me off your list", SAM), ("I couldn't stop laughing", KIM)]:
        sms(admin, body, sender)
    page = admin.get("/admin").text
    decisions = [row["Decision"] for row in table(page, "messages")]
    assert decisions[:3] == ["Not an opt-out (the word 'stop' in an idiom)",
                             "Opted out of everything (asked in other words: 'get ... off + me')",
                             "Opted out of everything (a misspelling of keyword UNSUBSCRIBE)"]
    for title in ("Misspelt keyword: 1 opt-outs", "Request in other words: 1 opt-outs"):
        assert f"<title>{title}" in page, title


def test_opt_outs_by_reason_and_language_and_the_review_queue_per_day(admin, db):
    for body, sender in [("STOP", PAT), ("Arrêt", SAM), ("please remove me from your list", KIM),
                         ("Can you stop?", LEE), ("Does the offer end today?", "+14155550104")]:
        sms(admin, body, sender)
    today = datetime.now(timezone.utc)
    flagged = message_id(db, "Can you stop?")
    db.execute("UPDATE messages SET received_at = ? WHERE id = ?", ((today - timedelta(days=2)).isoformat(), flagged))
    db.commit()
    review = admin.get("/admin/review").text
    admin.post(f"/admin/review/{flagged}", data={"csrf": csrf_of(review), "verdict": "confirmed"})
    db.execute("UPDATE reviews SET reviewed_at = ? WHERE message_id = ?",
               ((today - timedelta(days=1)).isoformat(), flagged))
    db.commit()

    page = admin.get("/admin").text
    for title in ("Keyword (STOP ...): 2 opt-outs, last 30 days", "Phrase (&#34;remove me ...&#34;): 1 opt-outs",
                  "Stop word in a message: 1 opt-outs", "English: 3 opt-outs", "French: 1 opt-outs"):
        assert f"<title>{title}" in page, title
    day = lambda n: (today - timedelta(days=n)).date().isoformat()  # noqa: E731
    for n, waiting in ((3, 0), (2, 1), (1, 0), (0, 1)):  # 'stop' flagged two days ago, reviewed yesterday; 'end'
        title = f"<title>{day(n)}: {waiting} waiting for review at the end of the day</title>"
        assert (title in page) == bool(waiting), title
    assert "Waiting for review: 1 now, at most 1 at the end of a day in the last 30 days." in page
    decisions = [row["Decision"] for row in table(page, "messages")]
    # Newest received first: 'stop', received two days ago, comes last.
    assert (decisions[0], decisions[-1]) == ("Not an opt-out (the word 'end' in a sentence)",
                                             "Opted out of everything (the word 'stop' inside a longer message)")
    assert "Opted out of everything (keyword ARRET)" in decisions
