"""Logs never hold a full phone number, an email address or a secret."""

import base64
import logging

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
