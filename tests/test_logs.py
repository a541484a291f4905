"""Logs never hold a full phone number, an email address or a secret."""

import base64
import logging
import re

import pytest
from conftest import ADMIN_TOKEN, AUTH_TOKEN, twilio_params, twilio_post

from app import create_app

PHONE, EMAIL = "+14155550999", "secret.person@example.org"
SECRETS = (AUTH_TOKEN, ADMIN_TOKEN, "inbound-secret", "mailgun-key")


def test_nothing_personal_or_secret_reaches_the_log(settings, caplog, db):
    app = create_app({**settings, "INBOUND_EMAIL_USER": "inbound", "INBOUND_EMAIL_PASSWORD": "inbound-secret",
                      "MAILGUN_SIGNING_KEY": "mailgun-key"})
    client = app.test_client()
    basic = {"Authorization": "Basic " + base64.b64encode(b"inbound:inbound-secret").decode()}
    mime = (f"From: {EMAIL}\nTo: news@acme.example\nSubject: Re: sale\nMessage-ID: <x@example.org>\n\nSTOP\n").encode()
    with caplog.at_level(logging.DEBUG):
        twilio_post(client, twilio_params("STOP", sender=PHONE))                       # recorded
        twilio_post(client, twilio_params("STOP", sender=PHONE), token="wrong")         # refused signature
        client.post("/webhooks/email/mime", data=mime, content_type="message/rfc822", headers=basic)
        client.post("/webhooks/email/mime", data=mime, content_type="message/rfc822")  # no credentials
        client.post("/webhooks/email/mailgun", data={"token": "t", "timestamp": "1", "signature": "s"})
        db.execute("DROP TABLE events")
        db.commit()
        twilio_post(client, twilio_params("STOP", sender="+14155550998"))              # database failure
        client.post("/api/v1/suppressions/check", json={"channel": "sms", "addresses": [PHONE]},
                    headers={"Authorization": "Bearer wrong"})
    logged = caplog.text
    assert "refused" in logged and "could not record" in logged  # the log did say what happened
    for needle in (PHONE, PHONE[2:], "4155550999", "4155550998", EMAIL, *SECRETS):
        assert needle not in logged, needle
    app.extensions["optout"].store.close()


def webhook_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.INFO and r.getMessage().startswith("webhook")]


BASIC = {"Authorization": "Basic " + base64.b64encode(b"inbound:inbound-secret").decode()}


def mime_reply(text: str, message_id: str) -> bytes:
    return (f"From: {EMAIL}\nTo: news@acme.example\nSubject: Re: sale\nMessage-ID: <{message_id}@example.org>\n\n"
            f"{text}\n").encode()


@pytest.mark.parametrize("deliver, expected", [
    (lambda c: twilio_post(c, twilio_params("STOP", sender=PHONE)),
     "webhook sms twilio: action=opt_out rule=keyword from=+1415555••99 at="),
    (lambda c: twilio_post(c, twilio_params("Does the offer end today?", sender=PHONE)),
     "webhook sms twilio: action=none rule=weak_word_in_message from=+1415555••99 at="),
    (lambda c: twilio_post(c, twilio_params("HELP", sender=PHONE)),
     "webhook sms twilio: action=help rule=keyword from=+1415555••99 at="),
    (lambda c: c.post("/webhooks/email/mime", data=mime_reply("unsubscribe surveys", "a"),
                      content_type="message/rfc822", headers=BASIC),
     "webhook email mime: action=opt_out rule=keyword_with_categories from=s•••@example.org at="),
])
def test_each_webhook_leaves_one_info_line_without_the_address(settings, caplog, deliver, expected):
    app = create_app({**settings, "INBOUND_EMAIL_USER": "inbound", "INBOUND_EMAIL_PASSWORD": "inbound-secret"})
    with caplog.at_level(logging.INFO):
        response = deliver(app.test_client())
    assert response.status_code == 200
    lines = webhook_lines(caplog)
    assert len(lines) == 1 and lines[0].startswith(expected), lines
    assert re.search(r"at=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", lines[0])
    for needle in (PHONE, PHONE[2:], EMAIL, "offer end today", "unsubscribe surveys"):
        assert needle not in caplog.text, needle
    app.extensions["optout"].close()


def test_a_retried_delivery_is_logged_as_a_duplicate(settings, caplog):
    app = create_app(settings)
    params = twilio_params("STOP", sender=PHONE)
    with caplog.at_level(logging.INFO):
        twilio_post(app.test_client(), params)
        twilio_post(app.test_client(), params)
    assert [line.split(" from=")[0] for line in webhook_lines(caplog)] == [
        "webhook sms twilio: action=opt_out rule=keyword", "webhook sms twilio: action=duplicate rule=-"]
    app.extensions["optout"].close()
