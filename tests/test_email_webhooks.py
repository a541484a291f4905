"""The four inbound email webhooks end to end through Flask, with each provider's payload shape
(tests/data/email), their credentials, and the status codes their retry rules call for."""

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest
from conftest import table_missing

pytestmark = pytest.mark.backends("sqlite", "postgresql")

DATA = Path(__file__).parent / "data" / "email"
USER, PASSWORD = "inbound", "inbound-secret"
MAILGUN_KEY = "test-mailgun-signing-key"


@pytest.fixture
def email_settings(settings):
    return {**settings, "INBOUND_EMAIL_USER": USER, "INBOUND_EMAIL_PASSWORD": PASSWORD,
            "MAILGUN_SIGNING_KEY": MAILGUN_KEY, "TRUSTED_AUTHSERV_IDS": "mx.acme.example, mx1.acme.example"}


@pytest.fixture
def client(email_settings, make_app):
    app = make_app(email_settings)
    return app.test_client()


def basic(user=USER, password=PASSWORD):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def fixture(name):
    path = DATA / name
    return path.read_bytes() if path.suffix == ".eml" else json.loads(path.read_text())


def signed(fields, key=MAILGUN_KEY, timestamp=None):
    """Mailgun's signature over a fresh timestamp (the fixture's own is years old)."""
    fields = dict(fields)
    fields["timestamp"] = str(int(timestamp if timestamp is not None else time.time()))
    fields["signature"] = hmac.new(key.encode(), (fields["timestamp"] + fields["token"]).encode(),
                                   hashlib.sha256).hexdigest()
    return fields


def post(client, provider, payload, headers=None):
    url = f"/webhooks/email/{provider}"
    if provider == "sendgrid":
        return client.post(url, data=payload, content_type="multipart/form-data", headers=headers or basic())
    if provider == "mailgun":
        return client.post(url, data=payload, content_type="multipart/form-data", headers=headers or {})
    if provider == "postmark":
        return client.post(url, json=payload, headers=headers or basic())
    return client.post(url, data=payload, content_type="message/rfc822", headers=headers or basic())


def payload(provider, name):
    data = fixture(name)
    return signed(data) if provider == "mailgun" else data


def last_message(db):
    return db.execute("SELECT * FROM messages ORDER BY id DESC LIMIT 1").fetchone()


@pytest.mark.parametrize("provider, name, address, action, language", [
    ("sendgrid", "sendgrid_parsed.json", "emma.walsh@gmail.com", "opt_out", "en"),
    ("sendgrid", "sendgrid_raw.json", "jonas.becker@icloud.com", "opt_out", "de"),
    ("mailgun", "mailgun_route.json", "lucia.garcia@correo.example", "opt_out", "es"),
    ("postmark", "postmark_inbound.json", "giulia.rossi@posta.example", "opt_out", "it"),
    ("mime", "reply_gmail.eml", "marie.dupont@gmail.com", "opt_out", "fr"),
    ("mime", "html_only.eml", "k.schneider@firma.example", "opt_out", "de"),
])
def test_a_reply_is_recorded_with_its_decision_and_one_confirmation_queued(client, db, provider, name, address,
                                                                          action, language):
    response = post(client, provider, payload(provider, name))
    assert response.status_code == 200, response.json
    assert response.json == {"status": "recorded", "action": action}
    message = last_message(db)
    assert (message["channel"], message["provider"], message["address"], message["action"], message["language"]) == (
        "email", provider, address, action, language)
    assert "unsubscribe" not in message["body"].lower() or "please unsubscribe me" in message["body"].lower()
    evidence = json.loads(message["params"])
    assert "spf" in evidence and "dkim_pass_domains" in evidence and evidence["subject"]
    [queued] = db.execute("SELECT address, in_reply_to FROM outbox").fetchall()
    assert queued["address"] == address and queued["in_reply_to"] == evidence["message_id"]


@pytest.mark.parametrize("name, reason", [
    ("out_of_office.eml", "Auto-Submitted"),
    ("bounce.eml", "multipart/report"),
])
def test_automatic_mail_is_recorded_as_ignored_and_never_answered(client, db, name, reason):
    response = post(client, "mime", fixture(name))
    assert response.status_code == 200 and response.json["status"] == "ignored"
    message = last_message(db)
    assert (message["action"], message["rule"]) == ("none", "ignored") and reason in message["matched"]
    assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM consent").fetchone()[0] == 0


@pytest.mark.parametrize("provider, name", [
    ("sendgrid", "sendgrid_parsed.json"), ("mailgun", "mailgun_route.json"),
    ("postmark", "postmark_inbound.json"), ("mime", "reply_gmail.eml"),
])
def test_a_retried_delivery_is_a_duplicate(client, db, provider, name):
    body = payload(provider, name)
    assert post(client, provider, body).json["status"] == "recorded"
    again = post(client, provider, body)
    assert again.status_code == 200 and again.json == {"status": "duplicate"}
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 1


@pytest.mark.parametrize("provider, headers, status", [
    ("sendgrid", {}, 503),                      # SendGrid retries only 5xx: a wrong secret must not drop mail
    ("sendgrid", basic(password="wrong"), 503),
    ("postmark", {}, 401),                      # never 403: Postmark stops retrying on 403
    ("postmark", basic(user="wrong"), 401),
    ("mime", {}, 401),
    ("mime", {"Authorization": "Bearer " + PASSWORD}, 401),
])
def test_wrong_credentials_are_refused_and_nothing_is_recorded(client, db, provider, headers, status):
    name = {"sendgrid": "sendgrid_parsed.json", "postmark": "postmark_inbound.json", "mime": "reply_gmail.eml"}
    response = post(client, provider, fixture(name[provider]), headers=headers or {"X-None": "1"})
    assert response.status_code == status
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


def test_without_configured_credentials_every_email_webhook_refuses(settings, db, make_app):
    client = make_app(settings).test_client()
    assert post(client, "mime", fixture("reply_gmail.eml")).status_code == 401
    assert post(client, "sendgrid", fixture("sendgrid_parsed.json")).status_code == 503
    assert post(client, "mailgun", signed(fixture("mailgun_route.json"))).status_code == 401
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


@pytest.mark.parametrize("change, status", [
    (lambda f: signed(f, key="another-key"), 401),
    (lambda f: {**signed(f), "token": "0" * 50}, 401),                      # token not what was signed
    (lambda f: signed(f, timestamp=time.time() - 13 * 3600), 401),           # stale
    (lambda f: signed(f, timestamp=time.time() + 12 * 3600), 401),           # from the future
    (lambda f: {k: v for k, v in signed(f).items() if k != "signature"}, 401),
    (lambda f: signed({k: v for k, v in f.items() if k not in ("from", "message-headers")}), 406),  # no sender
])
def test_mailgun_refusals(client, db, change, status):
    assert post(client, "mailgun", change(fixture("mailgun_route.json"))).status_code == status
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


def test_a_mailgun_post_with_broken_message_headers_is_still_an_opt_out(client, db):
    fields = fixture("mailgun_route.json")
    response = post(client, "mailgun", signed({**fields, "message-headers": "not json",
                                                 "body-plain": "unsubscribe", "stripped-text": "unsubscribe"}))
    assert response.status_code == 200 and response.json["action"] == "opt_out"
    params = json.loads(db.execute("SELECT params FROM messages").fetchone()[0])
    assert "message-headers is not JSON" in params["problems"][0]


@pytest.mark.parametrize("content_type", ["multipart/form-data", "application/x-www-form-urlencoded"])
def test_a_mailgun_opt_out_with_a_large_html_part_is_recorded(client, db, content_type):
    """Werkzeug's default form limits (500 kB a field) would answer 413 to every retry."""
    fields = signed({**fixture("mailgun_route.json"), "body-plain": "STOP", "stripped-text": "STOP",
                     "body-html": "<p>STOP</p>" + "<p>quoted history</p>" * 40_000})  # 760 KB
    fields.update({f"X-Extra-{n}": "header" for n in range(1500)})  # Mailgun posts each header as a field
    response = client.post("/webhooks/email/mailgun", data=fields, content_type=content_type)
    assert response.status_code == 200 and response.json["action"] == "opt_out"


def test_a_mailgun_token_reused_for_another_message_is_refused(client, db):
    first = signed(fixture("mailgun_route.json"))
    assert post(client, "mailgun", first).status_code == 200
    forged = {**first, "Message-Id": "<another@correo.example>", "body-plain": "START", "stripped-text": "START",
              "message-headers": first["message-headers"].replace(fixture("mailgun_route.json")["Message-Id"],
                                                                  "<another@correo.example>")}
    assert post(client, "mailgun", forged).status_code == 403
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 1


@pytest.mark.parametrize("provider, body, status", [
    ("postmark", "not json", 400),
    ("postmark", ["a", "list"], 400),
    ("mime", b"   ", 400),
])
def test_unreadable_requests_get_a_clear_error(client, db, provider, body, status):
    if provider == "postmark" and isinstance(body, str):
        response = client.post("/webhooks/email/postmark", data=body, content_type="application/json", headers=basic())
    else:
        response = post(client, provider, body)
    assert response.status_code == status and response.json["error"]
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


def test_a_database_failure_answers_503_and_acknowledges_nothing(client, db):
    with table_missing(db, "outbox"):
        assert post(client, "mime", fixture("reply_gmail.eml")).status_code == 503
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM consent").fetchone()[0] == 0


def mime(body, subject="Re: Spring sale", sender="Pat Doe <pat@example.org>", auth=None, extra=""):
    """A plain reply as an MTA hands it over; `auth`: the receiving server's Authentication-Results."""
    results = f"Authentication-Results: mx.acme.example; {auth}\n" if auth else ""
    return (f"Return-Path: <pat@example.org>\n{results}From: {sender}\nTo: news@acme.example\n"
            f"Subject: {subject}\nDate: Tue, 4 Mar 2025 10:00:00 +0000\n"
            f"Message-ID: <{hash((body, subject))}@example.org>\n"
            f"{extra}MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}\n").encode()


FOOTER = ("\n\nOn Mon, 3 Mar 2025 at 09:00, Acme Outfitters <news@acme.example> wrote:\n"
          "> Spring sale: 20% off everything.\n> To unsubscribe, click here or reply STOP.\n")


@pytest.mark.parametrize("raw, action, rule", [
    (mime("Thanks, see you Saturday!" + FOOTER), "none", "no_match"),    # the quoted footer opts nobody out
    (mime("Unsubscribe me please" + FOOTER), "opt_out", "leading_keyword"),
    (mime("", subject="unsubscribe"), "opt_out", "subject_keyword"),       # a mailto: List-Unsubscribe
    (mime("", subject="Re: STOP"), "opt_out", "subject_keyword"),
    (mime("Do you ship to Canada?", subject="Re: unsubscribe"), "opt_out", "subject_keyword"),
    (mime("Sounds good", subject="Re: How to unsubscribe from other lists"), "none", "no_match"),
    (mime("Unsubscirbe" + FOOTER), "opt_out", "keyword_typo"),
    (mime("", subject="Re: unsusbcribe"), "opt_out", "subject_keyword"),   # a misspelt keyword
    (mime("Please erase my email address." + FOOTER), "opt_out", "request"),
    (mime("Ha, I couldn't stop laughing at this one" + FOOTER), "none", "stop_word_in_idiom"),
    (mime("Sounds good", subject="Re: Stop by our store this weekend"), "none", "no_match"),
])
def test_what_a_reply_is_read_as(client, db, raw, action, rule):
    assert post(client, "mime", raw).status_code == 200
    message = last_message(db)
    assert (message["action"], message["rule"]) == (action, rule)


@pytest.mark.parametrize("raw, flagged", [
    (mime("", subject="Re: unsubscribe"), 0),
    (mime("", subject="Re: unsusbcribe"), 1),     # taken for a keyword: a person should look
    (mime("Unsubscirbe" + FOOTER), 1),
])
def test_a_misspelt_keyword_is_flagged_for_review(client, db, raw, flagged):
    post(client, "mime", raw)
    assert (last_message(db)["action"], last_message(db)["flagged"]) == ("opt_out", flagged)


@pytest.mark.parametrize("auth, action", [
    ("spf=pass smtp.mailfrom=pat@example.org; dkim=none", "opt_in"),
    ("spf=fail smtp.mailfrom=pat@example.org; dkim=pass header.d=example.org", "opt_in"),
    ("spf=fail smtp.mailfrom=pat@example.org; dkim=pass header.d=elsewhere.example", "refused"),
    (None, "refused"),
])
def test_an_opt_in_needs_spf_or_dkim_for_the_senders_domain(client, db, auth, action):
    post(client, "mime", mime("STOP", auth=auth))
    post(client, "mime", mime("START", auth=auth))
    assert last_message(db)["action"] == action
    state = db.execute("SELECT status FROM consent WHERE address = 'pat@example.org'").fetchall()
    assert [r[0] for r in state] == ([] if action == "opt_in" else ["out"])
