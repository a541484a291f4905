"""Sample payloads published by the providers' SDKs and by well-known mail libraries
(tests/data/providers; SOURCES.md there says where each comes from and under which license), posted
through the real routes: unchanged they are read right and opt nobody out; with their new reply
replaced by an opt-out they opt the sender out."""

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import twilio_post
from test_email_webhooks import MAILGUN_KEY, PASSWORD, USER, basic, signed

pytestmark = pytest.mark.backends("sqlite", "postgresql")

DATA = Path(__file__).parent / "data" / "providers"


@dataclass(frozen=True)
class Sample:
    """A published payload: what it must be read as, and where its new reply stands in it."""

    file: str
    sender: str                 # the address recorded for it
    text: str                   # what the recorded reply must contain
    reply: tuple = ()           # the reply text as it stands in the payload (str, or bytes in a .multipart)
    charset: str = "utf-8"      # the charset of the reply's field(s), in a .multipart
    marks: tuple = ()           # pytest marks for every case of this sample

    @property
    def provider(self) -> str:
        return self.file.split("_", 1)[0]

    @property
    def channel(self) -> str:
        return "sms" if self.provider == "twilio" else "email"

    def param(self, *values):
        name = "-".join((self.file.rsplit(".", 1)[0], *values))
        return pytest.param(self, *values, id=name, marks=self.marks)


def known_bug(reason):
    return (pytest.mark.xfail(strict=True, reason=reason),)


SAMPLES = [
    # SendGrid Inbound Parse: anymail's parsed and raw-mode fields, SendGrid's Node SDK's raw mode.
    Sample("sendgrid_anymail_basics.json", "from+test@example.org", "Test body plain",
           ("Test body plain", "Test body html")),
    Sample("sendgrid_anymail_raw_mime.json", "test@example.org", "It's a body\N{HORIZONTAL ELLIPSIS}",
           ("It's a body=E2=80=A6",)),
    Sample("sendgrid_nodejs_raw_email.json", "test@example.com", "Hello SendGrid!", ("Hello SendGrid!",)),
    # Captured from SendGrid by anymail, as posted: text in windows-1252, html in iso-8859-1, subject in cp850.
    Sample("sendgrid_anymail_charsets.multipart", "sender@example.com",
           "Test the ESP\N{RIGHT SINGLE QUOTATION MARK}s inbound charset handling\N{HORIZONTAL ELLIPSIS}",
           (b"Test the ESP\x92s inbound charset handling\x85", b"\xbfEsto se ve como esperabas?"),
           charset="windows-1252"),
    # Mailgun forward(): its route tester's post (kept by yunojuno), anymail's fields and body-mime.
    Sample("mailgun_yunojuno_route_tester.json", "bob@sandbox085a3b878a964897b9b9efb2395a1f5a.mailgun.org",
           "This is Bob.", ("Hi Alice,\n\nThis is Bob.\n\nI also attached a file.",)),
    Sample("mailgun_anymail_basics.json", "from+test@example.org", "Test body plain",
           ("Test body plain", "Test body html", "stripped plaintext body", "stripped html body")),
    Sample("mailgun_anymail_body_mime.json", "test@example.org", "It's a body\N{HORIZONTAL ELLIPSIS}",
           ("It's a body=E2=80=A6",)),
    # Postmark: its documented example (as postmarker keeps it), anymail's, and anymail's RawEmail one.
    Sample("postmark_postmarker_docs_example.json", "support@postmarkapp.com", "This is a test text body.",
           ("This is a test text body.", "This is a test html body.", "This is the reply text")),
    Sample("postmark_anymail_basics.json", "from+test@example.org", "Test body plain",
           ("Test body plain", "Test body html", "stripped plaintext body")),
    Sample("postmark_anymail_raw_email.json", "from+test@example.org", "Test body plain",
           ("Test body plain", "Test body html", "stripped plaintext body"),
           marks=known_bug("postmark.parse reads no RawEmail: a post whose From is only in RawEmail (no "
                           "From/FromFull/TextBody) is refused 400 'no From in the Postmark payload'")),
    # Twilio: the requests the Twilio CLI's webhook plugin emulates (SMS, and MMS with one image).
    Sample("twilio_plugin_webhook_sms.json", "+15017122661", "Ahoy", ("Ahoy",)),
    Sample("twilio_plugin_webhook_mms.json", "+15017122661", "This is MMS type sample", ("This is MMS type sample",)),
]
OPT_OUTS = {"email": ("unsubscribe", "Please stop emailing me"), "sms": ("unsubscribe", "Please stop texting me")}
CHARSET_SAMPLE = next(s for s in SAMPLES if s.charset != "utf-8")


@pytest.fixture
def client(settings, make_app):
    app = make_app({**settings, "INBOUND_EMAIL_USER": USER, "INBOUND_EMAIL_PASSWORD": PASSWORD,
                    "MAILGUN_SIGNING_KEY": MAILGUN_KEY})
    return app.test_client()


def load(sample: Sample):
    path = DATA / sample.file
    return path.read_bytes() if path.suffix == ".multipart" else json.loads(path.read_text(encoding="utf-8"))


def with_reply(sample: Sample, payload, text: str):
    """The payload with the sample's new reply replaced by `text`, everything else as published."""
    if isinstance(payload, bytes):
        for old in sample.reply:
            payload = payload.replace(old, text.encode(sample.charset))
        return payload
    if isinstance(payload, dict):
        return {key: with_reply(sample, value, text) for key, value in payload.items()}
    if isinstance(payload, list):
        return [with_reply(sample, value, text) for value in payload]
    if isinstance(payload, str):
        for old in sample.reply:
            payload = payload.replace(old, text)
    return payload


def post(client, sample: Sample, payload):
    """POST the payload to the sample's route the way its provider does, with our test credentials."""
    url = f"/webhooks/email/{sample.provider}"
    if sample.provider == "twilio":
        return twilio_post(client, payload)
    if isinstance(payload, bytes):  # a multipart body as sent, byte for byte
        boundary = payload.split(b"\n", 1)[0].strip()[2:].decode()
        return client.post(url, data=payload, content_type=f"multipart/form-data; boundary={boundary}",
                           headers=basic())
    if sample.provider == "postmark":
        return client.post(url, json=payload, headers=basic())
    if sample.provider == "mailgun":
        return client.post(url, data=signed(payload), content_type="multipart/form-data")
    return client.post(url, data=payload, content_type="multipart/form-data", headers=basic())


def recorded(db):
    return db.execute("SELECT * FROM messages ORDER BY id DESC LIMIT 1").fetchone()


def opted_out(db, sample: Sample) -> list:
    rows = db.execute("SELECT scope FROM consent WHERE channel = ? AND address = ? AND status = 'out'",
                      (sample.channel, sample.sender))
    return [row[0] for row in rows.fetchall()]


@pytest.mark.parametrize("sample", [s.param() for s in SAMPLES])
def test_a_published_sample_is_read_as_sent_and_opts_nobody_out(client, db, sample):
    response = post(client, sample, load(sample))
    assert response.status_code == 200, response.get_data(as_text=True)
    message = recorded(db)
    assert (message["channel"], message["address"]) == (sample.channel, sample.sender)
    assert sample.text in message["body"]
    assert message["action"] == "none"
    assert db.execute("SELECT count(*) FROM consent").fetchone()[0] == 0


@pytest.mark.parametrize("sample, wording", [
    *(s.param(wording) for s in SAMPLES for wording in OPT_OUTS[s.channel]),
    # Written in the sample's own legacy charset: only its declared charset reads it right.
    CHARSET_SAMPLE.param("D\N{LATIN SMALL LETTER E WITH ACUTE}sabonnez-moi"),
    CHARSET_SAMPLE.param("Arr\N{LATIN SMALL LETTER E WITH CIRCUMFLEX}t"),
])
def test_a_published_sample_with_an_opt_out_as_its_reply_opts_the_sender_out(client, db, sample, wording):
    payload = with_reply(sample, load(sample), wording)
    assert payload != load(sample)
    response = post(client, sample, payload)
    assert response.status_code == 200, response.get_data(as_text=True)
    message = recorded(db)
    assert (message["address"], message["action"]) == (sample.sender, "opt_out")
    assert wording in message["body"]
    assert opted_out(db, sample) == ["*"]
