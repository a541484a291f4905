"""Security, second round: what an attacker tried against a running service, each as a table of cases.

Poisoned senders and Message-IDs, addresses that are not addresses, formula cells in exports,
client addresses behind proxies, 5xx on odd input, Mailgun token replay, logout, Host trust and
gunicorn's control socket."""

import base64
import csv
import hashlib
import hmac
import io
import logging
import time

import pytest
from conftest import ADMIN_TOKEN, AUTH_TOKEN, serve, twilio_params, wait_until
from test_admin import csrf_of, login
from twilio.request_validator import RequestValidator

from handlers.email import outbox as mailer

pytestmark = pytest.mark.backends("sqlite", "postgresql")
USER, PASSWORD, MAILGUN_KEY = "inbound", "inbound-secret", "mailgun-key"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}


@pytest.fixture
def email_client(settings, make_app):
    app = make_app({**settings, "INBOUND_EMAIL_USER": USER, "INBOUND_EMAIL_PASSWORD": PASSWORD,
                    "MAILGUN_SIGNING_KEY": MAILGUN_KEY})
    return app.test_client()


def mime(sender: str, body: str = "unsubscribe", message_id: str = "<m1@example.org>") -> bytes:
    return (f"From: {sender}\r\nTo: news@acme.example\r\nSubject: Re: sale\r\nMessage-ID: {message_id}\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode("utf-8", "surrogatepass")


def count(db, table: str) -> int:
    return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# 1 and 2: senders and Message-IDs -------------------------------------------------------------------

@pytest.mark.parametrize("sender, acted_on", [
    ("Pat <pat@example.org>", "pat@example.org"),
    ("=?utf-8?q?Eve=0D=0ABcc:_thief@evil.example?= <real@victim.example>", "real@victim.example"),
    ("Eve Bcc: thief@evil.example <real@victim.example>", "real@victim.example"),
    ("nobody", None),
    ('"x" <><svg onload=alert(1)>@evil.example>', None),
    ("pat\x0b@example.org", None),
    ("Pat <pat\x1c@example.org>", None),
    ("Pat <pat@exa\u2028mple.org>", None),
    ("pat\x85@example.org", None),
    ("Pat <pat@example>", None),
])
def test_only_a_real_mailbox_is_acted_on(email_client, db, sender, acted_on):
    response = email_client.post("/webhooks/email/mime", data=mime(sender), content_type="message/rfc822",
                                 headers=BASIC)
    assert response.status_code == 200  # recorded either way: the provider must not retry
    out = [r[0] for r in db.execute("SELECT address FROM consent WHERE status = 'out'")]
    queued = [r[0] for r in db.execute("SELECT address FROM outbox")]
    if acted_on:
        assert out == queued == [acted_on]
    else:
        assert out == queued == [] and response.json["status"] == "ignored"
        assert count(db, "messages") == 1  # the evidence is kept


@pytest.mark.parametrize("payload_sender", ["pat\x0b@example.org", "nobody", "Pat <pat@example.org>\r\nBcc: x@y.z"])
def test_postmark_from_full_email_is_checked_too(email_client, db, payload_sender):
    payload = {"FromFull": {"Email": payload_sender, "Name": "Pat"}, "From": payload_sender,
               "To": "news@acme.example", "Subject": "Re: sale", "TextBody": "unsubscribe",
               "MessageID": "73e6d360-66eb-11e1-8e72-a8904824019b", "Headers": []}
    response = email_client.post("/webhooks/email/postmark", json=payload, headers=BASIC)
    assert response.status_code == 200 and response.json["status"] == "ignored"
    assert count(db, "consent") == 0 and count(db, "outbox") == 0


def test_a_message_id_with_control_characters_is_not_replied_to(email_client, db):
    response = email_client.post("/webhooks/email/mime", content_type="message/rfc822", headers=BASIC,
                                 data=mime("pat@example.org", message_id="<a\x1cb@example.org>\x85"))
    assert response.status_code == 200
    assert [r[0] for r in db.execute("SELECT in_reply_to FROM outbox")] == [None]


def test_one_bad_row_does_not_stop_the_mail_worker(app, db, smtp):
    store = app.extensions["optout"].store
    stamp = "2026-01-01T00:00:00.000000+00:00"
    for address, in_reply_to in (("bad\x0b@example.org", None), ("good@example.org", "<x\x1cy@example.org>"),
                                 ("also.good@example.org", "<ok@example.org>")):
        store.write(lambda conn, a=address, r=in_reply_to: conn.execute(
            "INSERT INTO messages (channel, provider, provider_id, address, body, params, received_at, action, "
            "categories, rule) VALUES ('email', 'mime', ?, ?, 'x', '{}', ?, 'opt_out', '[]', 'keyword') "
            "RETURNING id", (f"id-{a}", a, stamp)).fetchone()[0] and conn.execute(
            "INSERT INTO outbox (message_id, channel, address, subject, body, in_reply_to, created_at, "
            "next_attempt_at) VALUES ((SELECT max(id) FROM messages), 'email', ?, 'Unsubscribed', 'Done.', ?, ?, ?)",
            (a, r, stamp, stamp)))
    counts = mailer.send_due(store, smtp.url, "Acme <no-reply@acme.example>")
    assert counts == {"sent": 2, "retry": 0, "failed": 1}
    assert sorted(r for _, rcpts, _ in smtp.messages for r in rcpts) == ["also.good@example.org", "good@example.org"]
    failed = db.execute("SELECT address, last_error FROM outbox WHERE failed_at IS NOT NULL").fetchall()
    assert [row[0] for row in failed] == ["bad\x0b@example.org"] and failed[0][1]


# 3: spreadsheet formulas ------------------------------------------------------------------------------

def test_exports_neutralise_formulas_but_not_phone_numbers(app, client, tmp_path):
    listed = tmp_path / "list.txt"
    listed.write_text("=1+1@evil.example\n-x@evil.example\n+cmd@evil.example\npat@example.org\n")
    phones = tmp_path / "phones.txt"
    phones.write_text("+14155550100\n")
    with app.app_context():
        runner = app.test_cli_runner()
        assert runner.invoke(args=["import-suppressions", str(listed)]).exit_code == 0
        assert runner.invoke(args=["import-suppressions", str(phones)]).exit_code == 0
        cli = runner.invoke(args=["export-suppressions"])
    api = client.get("/api/v1/suppressions", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    for text in (api.get_data(as_text=True), cli.output):
        cells = [row[1] for row in csv.reader(io.StringIO(text)) if row and row[0] in ("sms", "email")]
        assert sorted(cells) == ["'+cmd@evil.example", "'-x@evil.example", "'=1+1@evil.example", "+14155550100",
                                 "pat@example.org"], cells


# 4 and 8: proxies ------------------------------------------------------------------------------------

def api_check(client, token, client_address):
    return client.post("/api/v1/suppressions/check", json={"channel": "sms", "addresses": []},
                       headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": client_address}).status_code


def test_behind_a_trusted_proxy_the_failing_client_is_throttled_not_the_others(settings, make_app):
    client = make_app({**settings, "TRUSTED_PROXIES": "1"}).test_client()
    assert [api_check(client, "wrong", "203.0.113.9") for _ in range(31)] == [401] * 30 + [429]
    assert api_check(client, ADMIN_TOKEN, "198.51.100.7") == 200


def test_without_a_trusted_proxy_forwarded_headers_are_ignored(settings, make_app):
    client = make_app({**settings, "TRUSTED_PROXIES": "0"}).test_client()
    statuses = [api_check(client, "wrong", f"203.0.113.{n}") for n in range(31)]
    assert statuses == [401] * 30 + [429]  # a new X-Forwarded-For each time is still one client
    params = twilio_params("STOP")
    signed_for = "https://sms.example.com/webhooks/twilio/sms"
    response = client.post("/webhooks/twilio/sms", data=params, headers={
        "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(signed_for, params),
        "X-Forwarded-Proto": "https", "X-Forwarded-Host": "sms.example.com"})
    assert response.status_code == 403


def test_with_a_trusted_proxy_the_forwarded_url_is_the_signed_one(settings, make_app):
    client = make_app({**settings, "TRUSTED_PROXIES": "1"}).test_client()
    params = twilio_params("STOP")
    signed_for = "https://sms.example.com/webhooks/twilio/sms"
    response = client.post("/webhooks/twilio/sms", data=params, headers={
        "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(signed_for, params),
        "X-Forwarded-Proto": "https", "X-Forwarded-Host": "sms.example.com", "X-Forwarded-For": "54.172.60.1"})
    assert response.status_code == 200


@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
def test_a_wrong_trusted_proxies_value_stops_the_start(settings, make_app, value):
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        make_app({**settings, "TRUSTED_PROXIES": value})


def test_serving_without_public_base_url_warns(settings, make_app, caplog):
    with caplog.at_level(logging.WARNING):
        make_app({**settings, "PUBLIC_BASE_URL": None})
    assert "PUBLIC_BASE_URL is not set" in caplog.text


# 5: no 5xx from unauthenticated odd input -----------------------------------------------------------

def deep(n: int) -> bytes:
    return b'{"a": ' * n + b"1" + b"}" * n


@pytest.mark.parametrize("method, path, kwargs, expected", [
    ("post", "/webhooks/email/mime", {"data": b"x", "headers": {"Authorization": "Basic " + base64.b64encode(
        "üser:pässwörd".encode()).decode()}, "content_type": "message/rfc822"}, 401),
    ("post", "/webhooks/email/postmark", {"data": b"{}", "content_type": "application/json",
                                          "headers": {"Authorization": "Basic w7w6w7w="}}, 401),
    ("post", "/webhooks/twilio/sms", {"data": {"From": "+14155550100", "MessageSid": "SMx"},
                                      "headers": {"X-Twilio-Signature": "sïgnature"}}, 403),
    ("post", "/webhooks/email/postmark", {"data": deep(2000), "content_type": "application/json",
                                          "headers": BASIC}, 400),
    ("post", "/api/v1/suppressions/check", {"data": deep(2000), "content_type": "application/json",
                                            "headers": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}, 400),
    ("post", "/webhooks/email/postmark", {"json": {"FromFull": {"Email": "pat@example.org"}, "TextBody": "stop",
                                                   "Attachments": 7, "Headers": 7, "MessageID": 7}, "headers": BASIC},
     200),
    ("post", "/api/v1/suppressions/check", {"data": "{\"channel\": \"sms\", \"addresses\": [\"\\ud800\"]}",
                                            "content_type": "application/json",
                                            "headers": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}, 200),
    ("get", "/api/v1/contacts/sms/%F0%9F%92%A9", {"headers": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}, 400),
])
def test_odd_input_gets_a_4xx_not_a_5xx(email_client, method, path, kwargs, expected):
    assert getattr(email_client, method)(path, **kwargs).status_code == expected


@pytest.mark.parametrize("page", ["²", "9223372036854775807", "99999999999999999999999", "-3", "0", "1e9", ""])
def test_admin_pages_take_any_page_number(client, page):
    assert login(client).status_code == 303
    assert client.get(f"/admin?page={page}").status_code == 200


# 6: Mailgun tokens --------------------------------------------------------------------------------------

def mailgun_signed(fields: dict, token: str) -> dict:
    stamp = str(int(time.time()))
    signature = hmac.new(MAILGUN_KEY.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return {**fields, "timestamp": stamp, "token": token, "signature": signature}


def test_a_refused_mailgun_request_uses_up_its_token(email_client, db):
    token = "b" * 50
    refused = email_client.post("/webhooks/email/mailgun", data=mailgun_signed({"subject": "no sender"}, token))
    assert refused.status_code == 406
    replay = email_client.post("/webhooks/email/mailgun", data=mailgun_signed(
        {"from": "victim@example.org", "body-plain": "unsubscribe", "Message-Id": "<r@example.org>"}, token))
    assert replay.status_code == 403 and count(db, "consent") == 0


# 7: logout -----------------------------------------------------------------------------------------------

def test_logout_ends_the_session_even_for_a_copied_cookie(client):
    assert login(client).status_code == 303
    assert client.get("/admin").status_code == 200
    copied = client.get_cookie("session", path="/admin").value
    assert client.post("/admin/logout", data={"csrf": csrf_of(client.get("/admin").text)}).status_code == 303
    client.set_cookie("session", copied, path="/admin")
    response = client.get("/admin")
    assert response.status_code == 303 and "/admin/login" in response.headers["Location"]


# 9: gunicorn's control socket --------------------------------------------------------------------------

@pytest.mark.backends("sqlite")
def test_gunicorn_opens_no_shared_control_socket(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    # gunicorn's master decides on the socket once its workers are up; at debug level it says when it does not make one.
    with serve(tmp_path, HOME=str(home), XDG_RUNTIME_DIR="", GUNICORN_CMD_ARGS="--log-level debug"):
        wait_until(lambda: (home / ".gunicorn").exists() or "Control socket disabled" in
                   (tmp_path / "server.log").read_text(), "gunicorn's master deciding on its control socket")
    assert not (home / ".gunicorn").exists()  # (and a stopped server leaves it behind)
