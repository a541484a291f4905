"""Logs never hold a full phone number, an email address or a secret; lines written in batches lose none."""

import base64
import io
import logging
import re
import threading

import pytest
from conftest import ADMIN_TOKEN, AUTH_TOKEN, twilio_params, twilio_post, wait_until

from app import create_app
from handlers.core.addresses import masked

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
    for needle in (PHONE, PHONE[2:], "4155550999", "4155550998", "+1415555", EMAIL, "@example.org", *SECRETS):
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
     "webhook sms twilio: action=opt_out rule=keyword from=+•••99 at="),
    (lambda c: twilio_post(c, twilio_params("Does the offer end today?", sender=PHONE)),
     "webhook sms twilio: action=none rule=weak_word_in_message from=+•••99 at="),
    (lambda c: twilio_post(c, twilio_params("HELP", sender=PHONE)),
     "webhook sms twilio: action=help rule=keyword from=+•••99 at="),
    (lambda c: c.post("/webhooks/email/mime", data=mime_reply("unsubscribe surveys", "a"),
                      content_type="message/rfc822", headers=BASIC),
     "webhook email mime: action=opt_out rule=keyword_with_categories from=s•••@e•••.org at="),
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


@pytest.mark.parametrize("raw, shown", [
    ("+14155550199", "+•••99"),                 # 10**9 numbers of the same country end so, of any length
    ("+447700900123", "+•••23"),
    ("14155550199", "•••99"),
    ("12345", "•••45"),                         # a short code
    ("1234", "•••"),
    ("pat.doe@example.org", "p•••@e•••.org"),   # the first letters and the top-level domain, no more
    ("Pat <pat@mail.acme.co.uk>", "p•••@m•••.uk"),
    ("@example.org", "•••@e•••.org"),
    ("pat@localhost", "p•••@l•••"),
    ("ACME Alerts", "(11 characters)"),
    ("whatsapp:+14155550199", "whatsapp:+•••99"),  # a WhatsApp or RCS sender: its channel, its number masked
    ("rcs:+447700900123", "rcs:+•••23"),
    ("", "(none)"),
    (None, "(none)"),
])
def test_addresses_are_masked_in_logs_to_a_few_characters(raw, shown):
    assert masked(raw) == shown


def test_a_retried_delivery_is_logged_as_a_duplicate(settings, caplog):
    app = create_app(settings)
    params = twilio_params("STOP", sender=PHONE)
    with caplog.at_level(logging.INFO):
        twilio_post(app.test_client(), params)
        twilio_post(app.test_client(), params)
    assert [line.split(" from=")[0] for line in webhook_lines(caplog)] == [
        "webhook sms twilio: action=opt_out rule=keyword", "webhook sms twilio: action=duplicate rule=-"]
    app.extensions["optout"].close()


# Lines written in batches under gunicorn (handlers/web/log_batches.py) -----------------------------

def batched(monkeypatch, interval=3600.0):
    from handlers.web.log_batches import BatchedLog

    monkeypatch.setattr(BatchedLog, "INTERVAL", interval)
    out = io.StringIO()
    handler = BatchedLog([out], logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger(f"test.batched.{id(handler)}")
    logger.propagate, logger.level = False, logging.INFO
    logger.addHandler(handler)
    return logger, handler, out


def test_info_lines_wait_for_the_batch_and_a_warning_takes_them_out_first_in_order(monkeypatch):
    logger, _, out = batched(monkeypatch)
    logger.info("one")
    logger.info("two")
    assert out.getvalue() == ""  # queued
    logger.warning("three")
    assert out.getvalue() == "INFO one\nINFO two\nWARNING three\n"


def test_the_writer_thread_writes_queued_lines_in_one_go(monkeypatch):
    logger, _, out = batched(monkeypatch, interval=0.01)
    for n in range(50):
        logger.info("line %d", n)
    wait_until(lambda: out.getvalue().count("\n") >= 50, "the writer thread writing the 50 lines")
    assert out.getvalue() == "".join(f"INFO line {n}\n" for n in range(50))


def test_no_line_is_lost_when_many_threads_log_while_it_writes(monkeypatch):
    logger, handler, out = batched(monkeypatch, interval=0.001)
    threads = [threading.Thread(target=lambda t=t: [logger.info("t%d n%d", t, n) for n in range(500)])
               for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    handler.flush()
    lines = out.getvalue().splitlines()
    assert sorted(lines) == sorted(f"INFO t{t} n{n}" for t in range(8) for n in range(500))
    for t in range(8):  # each thread's lines in the order it logged them
        assert [line for line in lines if line.startswith(f"INFO t{t} ")] == [f"INFO t{t} n{n}" for n in range(500)]


def test_the_app_logger_gets_the_batched_handler_in_place_of_flasks_own():
    from flask import Flask
    from flask.logging import default_handler

    from handlers.web.log_batches import BatchedLog, batch_app_log

    app = Flask("batched")
    # What Flask does when serving with no logging configured (pytest's own handlers stop it here).
    app.logger.addHandler(default_handler)
    out = io.StringIO()
    assert isinstance(batch_app_log(app, [out]), BatchedLog)
    assert default_handler not in app.logger.handlers
    assert batch_app_log(app, [out]) is None  # already replaced: nothing more to do
