"""Text that neither database can store (an unpaired surrogate, JSON's "\\ud800"; NUL) and numbers JSON
cannot say (NaN, Infinity), through the real routes on both databases: each reply or event is recorded
with U+FFFD in their place, never a 500 at every retry, and the check API lists such addresses as
invalid without failing the rest of the batch."""

import json

import pytest
from conftest import ADMIN_TOKEN
from events_support import basic, mailgun_payload, sendgrid_post, with_providers
from test_email_webhooks import fixture, signed
from test_provider_events import SPAM_COMPLAINT, sendgrid_event

pytestmark = pytest.mark.backends("sqlite", "postgresql")

LONE = "\ud800"


@pytest.fixture
def app(settings, tmp_path, make_app):
    return make_app({**with_providers(settings, tmp_path), "MAILGUN_API_KEY": None})


@pytest.fixture
def client(app):
    return app.test_client()


def as_json(value) -> bytes:
    """JSON as a client may send it: json.dumps writes a lone surrogate as the escape \\ud800."""
    return json.dumps(value).encode()


def state(app, address):
    return app.extensions["optout"].store.state("email", address)


def test_a_postmark_reply_with_a_lone_surrogate_is_an_opt_out(app, client, db):
    payload = {**fixture("postmark_inbound.json"), "TextBody": f"STOP {LONE}", "StrippedTextReply": ""}
    response = client.post("/webhooks/email/postmark", data=as_json(payload), content_type="application/json",
                           headers=basic())
    assert response.status_code == 200 and response.json["action"] == "opt_out"
    assert state(app, "giulia.rossi@posta.example") == {"*": "out"}
    assert "\ufffd" in json.loads(db.execute("SELECT params FROM messages").fetchone()[0])["text"]


def test_a_postmark_complaint_with_a_lone_surrogate_is_recorded(app, client):
    payload = {**SPAM_COMPLAINT, "Details": f"reported {LONE}", "Subject": LONE}
    response = client.post("/webhooks/events/postmark", data=as_json(payload), content_type="application/json",
                           headers=basic())
    assert response.status_code == 200 and response.json["recorded"] == 1
    assert state(app, "john@example.com") == {"*": "out"}


def test_a_sendgrid_event_with_a_lone_surrogate_keeps_the_batch(app, client):
    events = [sendgrid_event("unsubscribe", useragent=f"Mozilla/5.0 {LONE}"),
              sendgrid_event("spamreport", email="sam@example.org")]
    response = sendgrid_post(client, None, body=as_json(events))
    assert response.status_code == 200 and response.json["recorded"] == 2
    assert state(app, "pat@example.org") == state(app, "sam@example.org") == {"*": "out"}


def test_a_mailgun_reply_with_a_lone_surrogate_in_its_headers_is_an_opt_out(app, client):
    fields = fixture("mailgun_route.json")
    headers = json.loads(fields["message-headers"]) + [["X-Note", f"odd {LONE}"]]
    post = signed({**fields, "message-headers": json.dumps(headers), "body-plain": "unsubscribe",
                   "stripped-text": "unsubscribe"})
    response = client.post("/webhooks/email/mailgun", data=post, content_type="multipart/form-data")
    assert response.status_code == 200 and response.json["action"] == "opt_out"


def test_a_mailgun_event_with_a_lone_surrogate_is_recorded(app, client):
    event = {"event": "complained", "id": "lone-surrogate", "timestamp": 1521243339.873676,
             "recipient": "alice@example.com", "tags": [], "user-variables": {"note": LONE}}
    response = client.post("/webhooks/events/mailgun", data=as_json(mailgun_payload(event)),
                           content_type="application/json")
    assert response.status_code == 200 and response.json["recorded"] == 1


def check(client, addresses, channel="email"):
    response = client.post("/api/v1/suppressions/check", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                           data=f'{{"channel": "{channel}", "addresses": [{addresses}]}}',
                           content_type="application/json")
    assert response.status_code == 200, response.get_data(as_text=True)

    def strict(name):
        raise AssertionError(f"{name} is not JSON")
    return json.loads(response.get_data(as_text=True), parse_constant=strict)


@pytest.mark.parametrize("channel, addresses, invalid", [
    ("email", '"pat@example.org", "a\\ud800@example.org"', ["a\ufffd@example.org"]),
    ("email", '"pat@example.org", "pat\\u0000@example.org"', ["pat\ufffd@example.org"]),
    ("email", '"pat@example.org", NaN, Infinity, -Infinity', ["NaN", "Infinity", "-Infinity"]),
    ("sms", '"+14155550100", "+1415555\\u00000101", NaN', ["+1415555\ufffd0101", "NaN"]),
], ids=["lone surrogate", "NUL", "NaN and the infinities", "sms"])
def test_the_check_api_lists_unreadable_addresses_as_invalid(client, channel, addresses, invalid):
    result = check(client, addresses, channel)
    assert [entry["address"] for entry in result["invalid"]] == invalid
    assert result["allowed"] == [addresses.split('"')[1]] and result["suppressed"] == []
