"""The Twilio SMS webhook end to end through the Flask client, signed with the real SDK."""

import json
import logging
import re
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest
from conftest import AUTH_TOKEN, table_missing, twilio_params, twilio_post
from twilio.request_validator import RequestValidator
from werkzeug.test import Client

from handlers.storage.store import Store, StoreError

pytestmark = pytest.mark.backends("sqlite", "postgresql")


def replies(response) -> list[str]:
    """The <Message> texts of a TwiML answer (checks it is TwiML at all)."""
    assert response.status_code == 200, response.data
    assert response.mimetype in ("application/xml", "text/xml")
    root = ET.fromstring(response.data)
    assert root.tag == "Response"
    return [m.text for m in root.iter("Message")]


def count(db, table, **where):
    sql = f"SELECT count(*) FROM {table}" + (" WHERE " + " AND ".join(f"{k} = ?" for k in where) if where else "")
    return db.execute(sql, tuple(where.values())).fetchone()[0]


def consent(db, address="+14155550100"):
    return dict(db.execute("SELECT scope, status FROM consent WHERE address = ?", (address,)).fetchall())


def test_stop_is_recorded_and_confirmed_in_plain_language(client, db):
    [reply] = replies(twilio_post(client, twilio_params("STOP")))
    assert "Acme Outfitters" in reply and "no more texts" in reply and "Reply START" in reply
    assert consent(db) == {"*": "out"}
    message = db.execute("SELECT * FROM messages").fetchone()
    assert (message["action"], message["rule"], message["matched"], message["reply"]) == (
        "opt_out", "keyword", "stop", reply)
    assert json.loads(message["params"])["AccountSid"].startswith("AC")
    event = db.execute("SELECT * FROM events").fetchone()
    assert (event["action"], event["changed"], event["message_id"]) == ("opt_out", 1, message["id"])


@pytest.mark.parametrize("tamper", [
    "no signature", "wrong token", "other url", "changed body", "added parameter",
])
def test_a_request_without_a_valid_signature_is_refused_and_not_recorded(client, db, tamper):
    params = twilio_params("STOP")
    url = "http://localhost/webhooks/twilio/sms"
    if tamper == "no signature":
        response = client.post(url, data=params)
    elif tamper == "wrong token":
        response = twilio_post(client, params, token="not-the-token")
    elif tamper == "other url":
        signature = RequestValidator(AUTH_TOKEN).compute_signature("http://localhost/other", params)
        response = client.post(url, data=params, headers={"X-Twilio-Signature": signature})
    else:
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
        if tamper == "changed body":
            params["Body"] = "START"
        else:
            params["Extra"] = "1"
        response = client.post(url, data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert count(db, "messages") == 0 and consent(db) == {}


def test_without_an_auth_token_every_request_is_refused(settings, db, make_app):
    client = make_app({**settings, "TWILIO_AUTH_TOKEN": None}).test_client()
    assert twilio_post(client, twilio_params("STOP")).status_code == 403
    assert count(db, "messages") == 0


def test_the_public_base_url_is_the_url_that_was_signed(settings, db, make_app):
    client = make_app({**settings, "PUBLIC_BASE_URL": "https://sms.example.com"}).test_client()
    signed_public = twilio_params("STOP")
    signature = RequestValidator(AUTH_TOKEN).compute_signature(
        "https://sms.example.com/webhooks/twilio/sms", signed_public)
    response = client.post("/webhooks/twilio/sms", data=signed_public, headers={"X-Twilio-Signature": signature})
    assert replies(response)
    # Signed over the internal URL: not what Twilio would have called.
    assert twilio_post(client, twilio_params("STOP", sender="+14155550111")).status_code == 403
    assert count(db, "messages") == 1


def test_the_same_message_sid_twice_changes_nothing_and_is_not_answered_again(client, db):
    params = twilio_params("STOP")
    assert len(replies(twilio_post(client, params))) == 1
    assert replies(twilio_post(client, params)) == []
    assert count(db, "messages") == 1 and count(db, "events") == 1


def test_a_second_stop_is_recorded_but_not_confirmed_again(client, db):
    assert len(replies(twilio_post(client, twilio_params("STOP")))) == 1
    assert replies(twilio_post(client, twilio_params("Stop."))) == []
    assert count(db, "messages") == 2
    assert [r["changed"] for r in db.execute("SELECT changed FROM events ORDER BY id")] == [1, 0]


def test_when_twilio_already_answered_the_opt_out_is_recorded_silently(client, db):
    assert replies(twilio_post(client, twilio_params("STOP", OptOutType="STOP"))) == []
    assert consent(db) == {"*": "out"}


def test_twilio_opt_out_type_wins_over_our_reading(client, db):
    # A keyword configured in Twilio's console but not in keywords.yaml: Twilio has blocked the number.
    assert replies(twilio_post(client, twilio_params("ENOUGH", OptOutType="STOP"))) == []
    assert consent(db) == {"*": "out"}
    assert db.execute("SELECT rule FROM messages").fetchone()[0] == "provider"


def test_opting_back_in_keeps_the_history(client, db):
    twilio_post(client, twilio_params("STOP"))
    [reply] = replies(twilio_post(client, twilio_params("START")))
    assert "subscribed" in reply and "Msg&data rates may apply" in reply
    assert consent(db) == {}
    assert [r[0] for r in db.execute("SELECT action FROM events ORDER BY id")] == ["opt_out", "opt_in"]


@pytest.mark.parametrize("history, message, expected_state, answered", [
    ([], "YES", {}, False),                    # a bare YES answers something else
    (["STOP"], "YES", {}, True),               # from someone opted out, YES opts back in
    (["STOP"], "HELP", {"*": "out"}, True),    # help is answered while opted out, state unchanged
    ([], "UNSUBSCRIBE SURVEYS", {"surveys": "out"}, True),
    (["STOP SURVEYS"], "STOP SURVEYS", {"surveys": "out"}, False),
    (["STOP"], "STOP PROMOS", {"*": "out", "promotions": "out"}, False),  # already covered: no reply
    (["STOP"], "START SURVEYS", {"*": "out", "surveys": "in"}, True),
    (["STOP PROMOS"], "START", {}, True),
    ([], "Does the offer end today?", {}, False),
    ([], 'Liked “Reply STOP to opt out”', {}, False),
    ([], "hello there", {}, False),
    ([], "unsubscirbe", {"*": "out"}, True),          # a misspelt keyword
    ([], "stooop promos", {"promotions": "out"}, True),
    ([], "get me off your list", {"*": "out"}, True),  # a request in other words
    ([], "I couldn't stop laughing", {}, False),      # an idiom
])
def test_state_and_answers(client, db, history, message, expected_state, answered):
    for earlier in history:
        twilio_post(client, twilio_params(earlier))
    assert bool(replies(twilio_post(client, twilio_params(message)))) == answered
    assert consent(db) == expected_state


# What START, UNSTOP and YES do (README, "What START, UNSTOP and YES do"): the reply expected is a kind of
# keywords.yaml's replies and the categories it names; None: no reply.
@pytest.mark.parametrize("history, message, expected_state, expected_reply", [
    # Opted out of some categories only: START and UNSTOP bring back what was stopped, and say which;
    (["STOP SURVEYS"], "START", {}, ("started_categories", ("surveys",))),
    (["STOP SURVEYS"], "unstop", {}, ("started_categories", ("surveys",))),
    (["STOP SURVEYS", "STOP PROMOS"], "START", {}, ("started_categories", ("promotions", "surveys"))),
    (["STOP SURVEYS", "START SURVEYS"], "START", {}, None),  # nothing stopped: nothing to say
    (["STOP SURVEYS"], "START SURVEYS", {"surveys": "in"}, ("started_categories", ("surveys",))),
    (["STOP SURVEYS"], "START PROMOS", {"surveys": "out", "promotions": "in"}, None),  # promos never stopped
    # and YES changes nothing: they still get texts, and YES most likely answers one of them.
    (["STOP SURVEYS"], "YES", {"surveys": "out"}, None),
    (["STOP SURVEYS", "STOP PROMOS"], "y", {"surveys": "out", "promotions": "out"}, None),
    # Opted out of everything: each brings everything back (Twilio lifts its own block on each, too).
    (["STOP"], "START", {}, ("started_all", ())),
    (["STOP"], "UNSTOP", {}, ("started_all", ())),
    (["STOP"], "YES", {}, ("started_all", ())),
    (["STOP SURVEYS", "STOP"], "YES", {}, ("started_all", ())),
    (["STOP", "START SURVEYS"], "YES", {}, ("started_all", ())),  # surveys came back already; the rest now
    # Never opted out: nothing to undo, nothing said.
    ([], "START", {}, None),
    ([], "YES", {}, None),
])
def test_what_start_unstop_and_yes_do(app, client, db, history, message, expected_state, expected_reply):
    for earlier in history:
        twilio_post(client, twilio_params(earlier))
    answer = replies(twilio_post(client, twilio_params(message)))
    table = app.extensions["optout"].keywords
    assert answer == ([table.render("sms", expected_reply[0], "en", expected_reply[1])] if expected_reply else [])
    assert consent(db) == expected_state


def test_a_misspelt_keyword_records_the_keyword_it_was_taken_for_and_is_flagged(client, db):
    [reply] = replies(twilio_post(client, twilio_params("Unsusbcribe")))
    assert "unsubscribed" in reply
    row = db.execute("SELECT rule, matched, flagged FROM messages").fetchone()
    assert (row["rule"], row["matched"], row["flagged"]) == ("keyword_typo", "unsubscribe", 1)


def test_the_sender_is_stored_in_e164(client, db):
    twilio_post(client, twilio_params("STOP", sender="+1 (415) 555-0100"))
    assert consent(db, "+14155550100") == {"*": "out"}


@pytest.mark.parametrize("earlier, message, country, language_word", [
    ([], "ARRÊT", "US", "Répondez START"),           # the keyword's own language
    ([], "Baja", "US", "Responde START"),
    ([], "STOPP", "US", "Antworten Sie START"),
    ([], "STOP", "US", "Reply START"),               # shared by several languages: the first, English
    ([], "STOP", "FR", "Répondez START"),            # ... or the sender's country's
    ([], "STOP", "MX", "Responde START"),
    ([], "STOP", "BR", "Responda START"),
    (["AYUDA"], "STOP", "US", "Responde START"),     # ... or what their earlier messages showed
    (["HILFE"], "STOP", "FR", "Antworten Sie START"),
    (["INFO"], "STOP", "IT", "Rispondi START"),      # INFO is shared: it shows nothing
    ([], "ALTO PROMOS", "US", "responde START PROMOS"),  # PROMOS is shared; ALTO is Spanish
    ([], "STOP ENCUESTAS", "US", "responde START ENCUESTAS"),  # STOP is shared; ENCUESTAS is Spanish
])
def test_a_reply_is_in_the_language_of_the_person(client, earlier, message, country, language_word):
    for text in earlier:
        twilio_post(client, twilio_params(text, FromCountry=country))
    [reply] = replies(twilio_post(client, twilio_params(message, FromCountry=country)))
    assert language_word in reply


def test_a_database_failure_answers_5xx_and_acknowledges_nothing(client, db):
    with table_missing(db, "events"):  # the event's INSERT fails mid-transaction
        response = twilio_post(client, twilio_params("STOP"))
    assert response.status_code == 500
    assert b"<Message>" not in response.data
    assert count(db, "messages") == 0 and consent(db) == {}


def test_a_message_with_a_nul_is_recorded_and_its_stop_holds(client, db):
    """PostgreSQL cannot store a NUL in text: it would refuse the message at every retry, and the
    opt-out would be lost. It is kept as U+FFFD (on both databases)."""
    [reply] = replies(twilio_post(client, twilio_params("STOP\x00")))
    assert "no more texts" in reply
    assert consent(db) == {"*": "out"}
    message = db.execute("SELECT body, params FROM messages").fetchone()
    assert message["body"] == "STOP\ufffd"
    assert json.loads(message["params"])["Body"] == "STOP\x00"  # what Twilio sent, as JSON writes it


def test_a_signed_request_without_a_sender_is_a_clear_400(client, db):
    params = twilio_params("STOP")
    del params["From"]
    response = twilio_post(client, params)
    assert response.status_code == 400 and b"From" in response.data
    assert count(db, "messages") == 0


@pytest.mark.parametrize("path", [
    "/webhooks/twilio/sms", "/webhooks/twilio/sms?account=eu&x=1", "/a%2Fb/sms", "/caf%C3%A9/sms",
    "/webhooks/twilio/sms?",
])
@pytest.mark.parametrize("base", ["http://localhost", "https://optout.example.com:8443", "http://h.example/app"])
def test_the_url_checked_is_werkzeugs_request_url_however_it_is_spelled(path, base):
    """called_url builds the plain URLs itself (for speed) and must agree with request.url on all."""
    from flask import Flask, request

    from handlers.web.sms_webhook import called_url

    with Flask(__name__).test_request_context(path, base_url=base):
        assert called_url() == request.url


@pytest.mark.parametrize("query", ["?n=%C3%A9", "?n=%c3%a9", "?x=%20y&y=a+b", "?n=%2F"])
def test_a_query_string_is_checked_as_twilio_sent_it(client, db, query):
    """Twilio signs the configured URL as written; werkzeug's request.url would decode the query."""
    response = twilio_post(client, twilio_params("STOP"), url=f"http://localhost/webhooks/twilio/sms{query}")
    assert response.status_code == 200, response.data
    assert count(db, "messages") == 1


# Both adapters of handlers/web/sms_webhook.answer (and of guards.refusal) must answer alike: Flask's
# route and DirectSmsWebhook, the WSGI middleware that serves the webhook ahead of Flask. Each case:
# (what the request is, how it differs from a signed STOP, whether the middleware answers it itself).
ADAPTER_CASES = [
    ("a stop", {}, True),
    ("help", {"body": "HELP"}, True),
    ("ordinary text", {"body": "thanks, see you friday"}, True),
    ("the provider's retry: a duplicate", {"again": True}, True),
    ("a query string", {"query": "?account=main"}, True),
    ("a query werkzeug quotes", {"query": "?x=%20y"}, False),
    ("a charset in the content type", {"content_type": "application/x-www-form-urlencoded; charset=utf-8"}, True),
    ("a content type in capitals", {"content_type": "Application/X-WWW-Form-URLEncoded"}, True),
    ("no proxy trusted: forwarded headers ignored", {"headers": {"X-Forwarded-Proto": "https"}}, True),
    ("signed over another URL: 403", {"signed_over": "http://localhost/webhooks/twilio/other"}, True),
    ("no signature: 403", {"headers": {"X-Twilio-Signature": None}}, True),
    ("a signature that is not base64: 403", {"headers": {"X-Twilio-Signature": "sïgnature"}}, True),
    ("no message id: 400", {"drop": ("MessageSid", "SmsMessageSid", "SmsSid")}, True),
    ("no sender: 400", {"drop": ("From",)}, True),
    ("an unreadable sender: recorded, ignored", {"sender": "not a number"}, True),
    ("JSON: 415", {"content_type": "application/json"}, True),
    ("no content type: 415", {"content_type": ""}, True),
    ("too large: 413", {"body": "x" * 70_000}, True),
    ("an empty body: 403", {"empty": True}, True),
    ("an empty body of another type: 403, not 415",
     {"empty": True, "content_type": "application/json", "environ": {"CONTENT_LENGTH": "0"}}, True),
    ("no Content-Length", {"empty": True, "content_type": "application/json"}, False),
    ("chunked", {"headers": {"Transfer-Encoding": "chunked"}}, False),
    ("a Content-Length with a space", {"environ": {"CONTENT_LENGTH": " {length}"}}, False),
    ("PUT: 405", {"method": "PUT"}, False),
    ("the store fails: 500", {"store_fails": True}, True),
]


def _send(wsgi, change: dict, sid: str, sender: str):
    """(status, headers, body) of the case's request to `wsgi` (sent twice for a retry)."""
    params = twilio_params(change.get("body", "STOP"), sender=change.get("sender", sender), MessageSid=sid)
    for name in change.get("drop", ()):
        params.pop(name)
    url = "http://localhost/webhooks/twilio/sms" + change.get("query", "")
    signature = RequestValidator(AUTH_TOKEN).compute_signature(change.get("signed_over", url), params)
    headers = {"X-Twilio-Signature": signature, **change.get("headers", {})}
    headers = {name: value for name, value in headers.items() if value is not None}
    content_type = change.get("content_type", "application/x-www-form-urlencoded")
    data = b"" if change.get("empty") else urlencode(params).encode()
    environ = {name: value.format(length=len(data)) for name, value in change.get("environ", {}).items()}
    for _ in range(2 if change.get("again") else 1):
        response = Client(wsgi).open(url, method=change.get("method", "POST"), data=data, headers=headers,
                                     content_type=content_type, environ_overrides=environ)
    return response.status, sorted(response.headers.items()), response.get_data()


def _logged(caplog, sid: str) -> list[tuple[str, str]]:
    """The log lines of one request, its MessageSid and time left out (they differ by design)."""
    lines = [(r.levelname, re.sub(r" at=\S+$", "", r.getMessage()).replace(sid, "<sid>")) for r in caplog.records]
    caplog.clear()
    return lines


@pytest.mark.parametrize("case, change, served_directly", ADAPTER_CASES, ids=[c[0] for c in ADAPTER_CASES])
def test_the_middleware_and_flasks_route_answer_alike(app, monkeypatch, caplog, case, change, served_directly):
    if change.get("store_fails"):
        def fail(*args, **kwargs):
            raise StoreError("database: disk I/O error")
        monkeypatch.setattr(Store, "record_inbound", fail)
    middleware = app.wsgi_app.wsgi  # DirectSmsWebhook, inside the requests' timing (handlers/web/metrics.py)
    flask_wsgi, through_flask = middleware.flask_wsgi, []  # Flask's own WSGI app: guards, route
    monkeypatch.setattr(middleware, "flask_wsgi",
                        lambda environ, start: through_flask.append(1) or flask_wsgi(environ, start))
    number = ADAPTER_CASES.index((case, change, served_directly))
    # Each adapter has its own MessageSid and sender (or the second would be a duplicate), masked alike
    # in the log: +•••NN.
    sids, senders = [f"SM{n}{number:031d}" for n in (1, 2)], [f"+1415555{n}{n}{number:02d}" for n in (1, 2)]
    with caplog.at_level(logging.INFO):
        answered_by_flask = _send(flask_wsgi, change, sids[0], senders[0]), _logged(caplog, sids[0])
        assert through_flask == []
        answered_by_middleware = _send(middleware, change, sids[1], senders[1]), _logged(caplog, sids[1])
    assert answered_by_middleware == answered_by_flask
    assert (not through_flask) == served_directly
    (status, _, _), logged = answered_by_flask
    assert bool(logged) == (status[:3] in ("200", "400", "403", "500"))  # the log lines compared were there
