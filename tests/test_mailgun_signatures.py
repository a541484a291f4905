"""What a Mailgun signature can be made to carry, through the real routes on both databases. Mailgun
signs timestamp + token only (documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks),
so a signature must not outlive its first use on either route, must not be dated ahead, and an
opt-out event is recorded only once Mailgun's Events API lists it (`responses` plays that API, with
bodies shaped as its reference shows them: documentation.mailgun.com/docs/mailgun/api-reference/send/
mailgun/events)."""

import json
import time
from pathlib import Path

import pytest
import responses
from events_support import API, mailgun_payload, with_providers
from test_email_webhooks import signed

pytestmark = pytest.mark.backends("sqlite", "postgresql")

EVENTS_URL = f"{API['MAILGUN_API_URL']}/v3/{API['MAILGUN_DOMAIN']}/events"
ROUTE = json.loads((Path(__file__).parent / "data" / "email" / "mailgun_route.json").read_text())


@pytest.fixture
def app(settings, tmp_path, make_app):
    return make_app(with_providers(settings, tmp_path))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def mailgun_api():
    with responses.RequestsMock() as mock:
        yield mock


def state(app, address="alice@example.com"):
    return app.extensions["optout"].store.state("email", address)


def complaint(event_id="Ase7i2zsRYeDXztHGENqRA", at=None):
    return {"event": "complained", "id": event_id, "timestamp": at or time.time() - 5, "log-level": "warn",
            "recipient": "alice@example.com", "recipient-domain": "example.com", "tags": [], "campaigns": [],
            "user-variables": {}, "message": {"headers": {"message-id": "20130503182626.18666.16540@mg.acme.example"}}}


def listed(*events):
    """The Events API's answer: one page holding `events`."""
    return {"items": list(events), "paging": {"next": f"{EVENTS_URL}/W3siYSI6IGZhbHNlfQ==", "first": EVENTS_URL,
                                              "last": EVENTS_URL, "previous": EVENTS_URL}}


def test_a_token_spent_on_the_reply_route_cannot_carry_a_complaint(app, client, mailgun_api):
    reply = signed(ROUTE)
    assert client.post("/webhooks/email/mailgun", data=reply, content_type="multipart/form-data").status_code == 200
    replay = mailgun_payload(complaint(), token=reply["token"])
    replay["signature"] = {name: reply[name] for name in ("timestamp", "token", "signature")}
    assert client.post("/webhooks/events/mailgun", json=replay).status_code == 403
    assert state(app) == {}


def test_a_token_spent_on_the_events_route_cannot_carry_a_reply(app, client, db, mailgun_api):
    event = complaint()
    mailgun_api.add(responses.GET, EVENTS_URL, json=listed(event))
    payload = mailgun_payload(event)
    assert client.post("/webhooks/events/mailgun", json=payload).status_code == 200
    reply = {**ROUTE, **{name: payload["signature"][name] for name in ("timestamp", "token", "signature")}}
    assert client.post("/webhooks/email/mailgun", data=reply, content_type="multipart/form-data").status_code == 403
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 1


def test_a_delivered_events_signature_cannot_carry_a_complaint_mailgun_never_made(app, client, mailgun_api):
    """The signature of a webhook we never saw (sent to another tool), replayed with a complaint."""
    mailgun_api.add(responses.GET, EVENTS_URL, json=listed(),
                    match=[responses.matchers.query_param_matcher(
                        {"event": "complained", "recipient": "alice@example.com", "limit": "300"},
                        strict_match=False)])
    response = client.post("/webhooks/events/mailgun", json=mailgun_payload(complaint(at=time.time() - 7200)))
    assert response.status_code == 406 and "Events API" in response.json["error"]
    assert state(app) == {}


def test_a_complaint_the_events_api_does_not_list_yet_is_retried_then_recorded(app, client, mailgun_api):
    event = complaint()
    payload = mailgun_payload(event)
    mailgun_api.add(responses.GET, EVENTS_URL, json=listed())
    assert client.post("/webhooks/events/mailgun", json=payload).status_code == 503  # Mailgun retries
    assert state(app) == {}
    mailgun_api.replace(responses.GET, EVENTS_URL, json=listed(event))
    response = client.post("/webhooks/events/mailgun", json=payload)  # the retry, same signature
    assert response.status_code == 200 and response.json["recorded"] == 1
    assert state(app) == {"*": "out"}
    other = mailgun_payload(complaint(event_id="smuggled"))
    other["signature"] = payload["signature"]
    assert client.post("/webhooks/events/mailgun", json=other).status_code == 403


def test_when_the_events_api_cannot_be_asked_mailgun_retries(app, client, mailgun_api):
    mailgun_api.add(responses.GET, EVENTS_URL, status=500, json={"message": "Internal Server Error"})
    response = client.post("/webhooks/events/mailgun", json=mailgun_payload(complaint()))
    assert response.status_code == 503 and state(app) == {}


def test_a_signature_dated_ahead_is_refused(app, client, mailgun_api):
    payload = mailgun_payload(complaint(), timestamp=time.time() + 12 * 3600)
    response = client.post("/webhooks/events/mailgun", json=payload)
    assert response.status_code == 401 and response.json["error"] == "timestamp in the future"
    assert state(app) == {}
