"""Liberal in what we accept: fields in the charset the provider declares, legacy MIME charsets, SMS
senders that are not phone numbers, and a log line for every refusal."""

import base64
import json
import logging

import pytest
from conftest import ADMIN_TOKEN, twilio_params, twilio_post

pytestmark = pytest.mark.backends("sqlite", "postgresql")
USER, PASSWORD, MAILGUN_KEY = "inbound", "inbound-secret", "mailgun-key"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def client(settings, make_app):
    return make_app({**settings, "INBOUND_EMAIL_USER": USER, "INBOUND_EMAIL_PASSWORD": PASSWORD,
                     "MAILGUN_SIGNING_KEY": MAILGUN_KEY}).test_client()


def multipart(parts: dict[str, bytes], boundary: str = "xYzZY") -> tuple[bytes, str]:
    """A multipart/form-data body as SendGrid posts it: each part's bytes as they are, no charset on the part."""
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
                    for name, value in parts.items())
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def state(db, address):
    return dict(db.execute("SELECT scope, status FROM consent WHERE address = ?", (address,)).fetchall())


@pytest.mark.parametrize("charset, reply", [
    ("windows-1252", "Désabonnez-moi"),
    ("windows-1252", "Arrêt"),
    ("iso-8859-1", "Por favor, dénme de baja"),
    ("iso-8859-15", "Bitte abmelden, danke schön"),
])
def test_sendgrid_fields_are_read_in_their_declared_charset(client, db, charset, reply):
    sender = "marie@example.fr"
    body, content_type = multipart({
        "headers": f"From: Marie <{sender}>\r\nTo: news@acme.example\r\nSubject: Re: promo\r\n".encode(),
        "from": f"Marie <{sender}>".encode(), "to": b"news@acme.example", "subject": b"Re: promo",
        "text": f"{reply}\r\n\r\nLe 3 mars, Acme a écrit :\r\n> Promotions".encode(charset),
        "charsets": json.dumps({"text": charset, "subject": "UTF-8", "from": "UTF-8", "to": "UTF-8"}).encode(),
        "envelope": json.dumps({"to": ["news@acme.example"], "from": sender}).encode(),
    })
    response = client.post("/webhooks/email/sendgrid", data=body, content_type=content_type, headers=BASIC)
    assert response.status_code == 200 and response.json["action"] == "opt_out", response.json
    assert state(db, sender) == {"*": "out"}
    stored = db.execute("SELECT body FROM messages").fetchone()[0]
    assert stored.startswith(reply) and "\ufffd" not in stored


@pytest.mark.parametrize("charset, text, native", [
    ("windows-1252", "Arrêt, s’il vous plaît", "plaît"),
    ("iso-8859-15", "Abmelden bitte - schöne Grüße €", "Grüße"),
    ("koi8-r", "STOP. Спасибо, больше не пишите", "Спасибо"),
    ("iso-2022-jp", "STOP 配信停止をお願いします", "配信停止"),
    ("gb2312", "unsubscribe 请退订", "退订"),
])
def test_mime_parts_in_legacy_charsets_are_read(client, db, charset, text, native):
    sender = "reader@example.net"
    raw = (f"From: Reader <{sender}>\r\nTo: news@acme.example\r\nSubject: Re: news\r\n"
           f"Message-ID: <{charset}@example.net>\r\nMIME-Version: 1.0\r\n"
           f"Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode()
    response = client.post("/webhooks/email/mime", data=raw + text.encode(charset) + b"\r\n",
                           content_type="message/rfc822", headers=BASIC)
    assert response.status_code == 200 and response.json["action"] == "opt_out", response.json
    assert state(db, sender) == {"*": "out"}
    assert native in db.execute("SELECT body FROM messages").fetchone()[0]


@pytest.mark.parametrize("sender, stored, confirmed", [
    ("12345", "12345", True),             # a short code
    ("ACME Shop", "ACME Shop", True),     # an alphanumeric sender id
    ("+1", None, False),                  # a redacted number: nobody to find or to answer
    ("=HYPERLINK(1)", None, False),
])
def test_sms_senders_that_are_not_numbers_are_found_by_what_was_recorded(client, db, sender, stored, confirmed):
    response = twilio_post(client, twilio_params("STOP", sender=sender))
    assert response.status_code == 200
    assert ("<Message>" in response.text) is confirmed
    out = [r[0] for r in db.execute("SELECT address FROM consent WHERE status = 'out'")]
    assert out == ([stored] if stored else [])
    if stored:
        check = client.post("/api/v1/suppressions/check", json={"channel": "sms", "addresses": [sender]},
                            headers=BEARER)
        assert check.json["suppressed"] == [stored]
        contact = client.get(f"/api/v1/contacts/sms/{stored}", headers=BEARER)
        assert contact.status_code == 200 and contact.json["suppressed"]["all"] is True
    else:
        assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 1  # kept as evidence


@pytest.mark.parametrize("path, kwargs, status, provider", [
    ("/webhooks/email/mime", {"data": b"From: a@b.example\r\n\r\nstop", "content_type": "message/rfc822"},
     401, "mime"),
    ("/webhooks/email/mime", {"data": b"   ", "content_type": "message/rfc822", "headers": BASIC}, 400, "mime"),
    ("/webhooks/email/postmark", {"json": {"From": "pat@example.org"}}, 401, "postmark"),
    ("/webhooks/email/postmark", {"json": ["not", "an", "object"], "headers": BASIC}, 400, "postmark"),
    ("/webhooks/email/sendgrid", {"data": {"from": "pat@example.org"}}, 503, "sendgrid"),
    ("/webhooks/email/sendgrid", {"data": {"from": "pat@example.org", "text": "stop"}, "headers": BASIC}, 400,
     "sendgrid"),
    ("/webhooks/email/mailgun", {"data": {"from": "pat@example.org", "token": "t", "timestamp": "1",
                                          "signature": "s"}}, 401, "mailgun"),
    ("/webhooks/twilio/sms", {"data": {"From": "+14155550123", "MessageSid": "SM1", "Body": "STOP"}}, 403, "twilio"),
])
def test_every_refusal_leaves_one_log_line(client, caplog, path, kwargs, status, provider):
    with caplog.at_level(logging.INFO):
        assert client.post(path, **kwargs).status_code == status
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{provider} webhook refused with {status}: ") and "(sender " in lines[0]
    assert "pat@example.org" not in lines[0] and "4155550123" not in lines[0]
