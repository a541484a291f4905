"""Opt-outs recorded here reach the providers: queued with the change, pushed by one mail-worker
cycle, retried through an outage, never echoed to the provider they came from; and
`flask pull-suppressions` records what a provider holds and we do not.

`responses` stands in for the providers' APIs, with bodies from their API references:
SendGrid "Add recipient addresses to the global suppression group" (201 {"recipient_emails": [...]}),
"Add suppressions to a suppression group", "Retrieve all global suppressions" ([{"created", "email"}]),
"Retrieve all suppressions for a suppression group" (["email", ...]) at twilio.com/docs/sendgrid/
api-reference/suppressions-*; Mailgun "Unsubscribe" (documentation.mailgun.com/docs/mailgun/
api-reference/send/mailgun/unsubscribe: {"message": "Address has been added to the unsubscribes
table", "address": ...}, list {"items": [{"address", "tags", "created_at"}], "paging": {...}}); Postmark
Suppressions API (postmarkapp.com/developer/api/suppressions-api: {"Suppressions": [{"EmailAddress",
"Status", "Message"}]}, dump {"Suppressions": [{"EmailAddress", "SuppressionReason", "Origin", "CreatedAt"}]}).
"""

import io
import json
import time
from urllib.parse import parse_qs

import pytest
import requests
import responses
from conftest import MAIL_FROM
from events_support import API, basic, mailgun_payload, sendgrid_post, with_providers

from handlers.storage import imports

pytestmark = pytest.mark.backends("sqlite", "postgresql")

SG, MG, PM = API["SENDGRID_API_URL"], f"{API['MAILGUN_API_URL']}/v3/mg.acme.example", API["POSTMARK_API_URL"]
ADDRESS = "pat@example.org"


@pytest.fixture
def app(settings, tmp_path, make_app, smtp):
    return make_app({**with_providers(settings, tmp_path), "SMTP_URL": smtp.url, "MAIL_FROM": MAIL_FROM,
                     "TRUSTED_AUTHSERV_IDS": "mx.acme.example"})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def reply(client, text, number=1):
    raw = (f"From: Pat <{ADDRESS}>\nTo: news@acme.example\nSubject: Re: Spring sale\n"
           f"Message-ID: <reply-{number}-{text.replace(' ', '-')}@example.org>\n"
           "Authentication-Results: mx.acme.example; dkim=pass header.d=example.org\n"
           f"Content-Type: text/plain; charset=utf-8\n\n{text}\n").encode()
    response = client.post("/webhooks/email/mime", data=raw, content_type="message/rfc822", headers=basic())
    assert response.status_code == 200, response.json
    return response


def command(app, *args):
    """Run a flask command as `flask` does: inside the app's context."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def worker_cycle(app):
    result = command(app, "mail-worker", "--once")
    assert result.exit_code == 0, result.output
    return result.output


def accept_everything(api):
    """Each provider's success answer, as its API reference shows it."""
    api.add(responses.POST, f"{SG}/v3/asm/suppressions/global", json={"recipient_emails": [ADDRESS]}, status=201)
    api.add(responses.POST, f"{SG}/v3/asm/groups/20431/suppressions", json={"recipient_emails": [ADDRESS]},
            status=201)
    api.add(responses.POST, f"{MG}/unsubscribes",
            json={"message": "Address has been added to the unsubscribes table", "address": ADDRESS})
    for stream in ("broadcast", "outbound"):
        api.add(responses.POST, f"{PM}/message-streams/{stream}/suppressions",
                json={"Suppressions": [{"EmailAddress": ADDRESS, "Status": "Suppressed", "Message": None}]})


def calls(api):
    """(method, URL without host, body) of every call made, in order."""
    made = []
    for call in api.calls:
        body = call.request.body
        if isinstance(body, bytes):
            body = body.decode()
        if body and body.startswith("{"):
            body = json.loads(body)
        elif body:
            body = {k: v[0] for k, v in parse_qs(body).items()}
        made.append((call.request.method, call.request.url.split(".test", 1)[1], body))
    return made


@pytest.mark.parametrize("text, expected", [
    ("STOP", [
        ("POST", "/v3/asm/suppressions/global", {"recipient_emails": [ADDRESS]}),
        ("POST", "/v3/mg.acme.example/unsubscribes", {"address": ADDRESS, "tag": "*"}),
        ("POST", "/message-streams/broadcast/suppressions", {"Suppressions": [{"EmailAddress": ADDRESS}]}),
        ("POST", "/message-streams/outbound/suppressions", {"Suppressions": [{"EmailAddress": ADDRESS}]}),
    ]),
    ("unsubscribe promos", [
        ("POST", "/v3/asm/groups/20431/suppressions", {"recipient_emails": [ADDRESS]}),
        ("POST", "/v3/mg.acme.example/unsubscribes", {"address": ADDRESS, "tag": "promotions"}),
        ("POST", "/message-streams/broadcast/suppressions", {"Suppressions": [{"EmailAddress": ADDRESS}]}),
    ]),
])
def test_an_opt_out_by_email_reaches_every_provider_in_one_worker_cycle(app, client, db, api, smtp, text, expected):
    accept_everything(api)
    reply(client, text)
    assert len(api.calls) == 0  # nothing in the webhook's path
    output = worker_cycle(app)
    assert "pushed 3, will retry 0, gave up on 0" in output
    assert calls(api) == expected
    assert api.calls[0].request.headers["Authorization"] == "Bearer SG.test"
    assert api.calls[1].request.headers["Authorization"].startswith("Basic ")
    assert api.calls[2].request.headers["X-Postmark-Server-Token"] == "pm-test"
    assert db.execute("SELECT count(*) FROM provider_pushes WHERE sent_at IS NULL").fetchone()[0] == 0
    assert len(smtp.messages) == 1  # the confirmation, in the same cycle


@pytest.mark.parametrize("outage", [
    dict(status=503, body="Service Unavailable"),
    dict(status=429, body="Too many requests"),
    dict(status=401, body='{"errors":[{"message":"authorization required"}]}'),
    dict(body=requests.ConnectionError("connection refused")),
])
def test_a_provider_outage_delays_a_push_and_never_loses_it(app, client, db, api, outage):
    api.add(responses.POST, f"{SG}/v3/asm/suppressions/global", **outage)
    accept_everything(api)
    reply(client, "STOP")
    assert "pushed 2, will retry 1" in worker_cycle(app)
    row = db.execute("SELECT attempts, sent_at, failed_at, last_error, next_attempt_at, created_at "
                     "FROM provider_pushes WHERE provider = 'sendgrid'").fetchone()
    assert (row["attempts"], row["sent_at"], row["failed_at"]) == (1, None, None)
    assert row["next_attempt_at"] > row["created_at"] and row["last_error"]
    assert "pushed 0, will retry 0" in worker_cycle(app) and len(api.calls) == 4  # not due yet: backoff
    db.execute("UPDATE provider_pushes SET next_attempt_at = created_at")
    db.commit()
    api.replace(responses.POST, f"{SG}/v3/asm/suppressions/global", json={"recipient_emails": [ADDRESS]}, status=201)
    assert "pushed 1, will retry 0" in worker_cycle(app)
    assert db.execute("SELECT count(*) FROM provider_pushes WHERE sent_at IS NULL").fetchone()[0] == 0


def test_a_request_the_provider_calls_invalid_is_given_up_with_its_reason(app, client, db, api):
    api.add(responses.POST, f"{SG}/v3/asm/suppressions/global", status=400,
            json={"errors": [{"field": "recipient_emails", "message": "invalid email"}]})
    accept_everything(api)
    reply(client, "STOP")
    assert "gave up on 1" in worker_cycle(app)
    row = db.execute("SELECT failed_at, last_error FROM provider_pushes WHERE provider = 'sendgrid'").fetchone()
    assert row["failed_at"] and "invalid email" in row["last_error"]


def provider_event(client, provider):
    if provider == "sendgrid":
        return sendgrid_post(client, [{"email": ADDRESS, "timestamp": 1513299569, "event": "unsubscribe",
                                       "sg_event_id": "sg-1", "sg_message_id": "m-1"}])
    if provider == "mailgun":
        event = {"event": "complained", "id": "mg-1", "timestamp": time.time() - 5, "recipient": ADDRESS}
        with responses.RequestsMock() as events_api:  # Mailgun's Events API lists it (the complaint is confirmed)
            events_api.add(responses.GET, f"{MG}/events", json={"items": [event], "paging": {}})
            return client.post("/webhooks/events/mailgun", json=mailgun_payload(event))
    return client.post("/webhooks/events/postmark", headers=basic(), json={
        "RecordType": "SpamComplaint", "MessageStream": "outbound", "ID": 42, "Email": ADDRESS})


@pytest.mark.parametrize("provider", ["sendgrid", "mailgun", "postmark"])
def test_a_providers_event_is_pushed_to_the_others_only(client, db, provider):
    assert provider_event(client, provider).json["recorded"] == 1
    queued = {r[0] for r in db.execute("SELECT provider FROM provider_pushes").fetchall()}
    assert queued == {"sendgrid", "mailgun", "postmark"} - {provider}


def test_an_opt_in_lifts_the_suppressions(app, client, db, api):
    accept_everything(api)
    reply(client, "STOP", 1)
    worker_cycle(app)
    for url in (f"{SG}/v3/asm/suppressions/global/{ADDRESS}", f"{SG}/v3/asm/groups/20431/suppressions/{ADDRESS}",
                f"{SG}/v3/asm/groups/20433/suppressions/{ADDRESS}", f"{MG}/unsubscribes/{ADDRESS}"):
        api.add(responses.DELETE, url, status=204 if ".sendgrid." in url else 200,
                **({} if ".sendgrid." in url else {"json": {"message": "Unsubscribe event has been removed"}}))
    for stream in ("broadcast", "outbound"):
        api.add(responses.POST, f"{PM}/message-streams/{stream}/suppressions/delete", json={"Suppressions": [
            {"EmailAddress": ADDRESS, "Status": "Failed" if stream == "outbound" else "Deleted",
             "Message": "You do not have the required authority to change this suppression."
             if stream == "outbound" else None}]})
    api.calls.reset()
    reply(client, "START", 2)
    assert "pushed 3" in worker_cycle(app)
    assert [(m, u) for m, u, _ in calls(api)] == [
        ("DELETE", f"/v3/asm/suppressions/global/{ADDRESS}"),
        ("DELETE", f"/v3/asm/groups/20431/suppressions/{ADDRESS}"),
        ("DELETE", f"/v3/asm/groups/20433/suppressions/{ADDRESS}"),
        ("DELETE", f"/v3/mg.acme.example/unsubscribes/{ADDRESS}"),
        ("DELETE", f"/v3/mg.acme.example/unsubscribes/{ADDRESS}?tag=promotions"),
        ("DELETE", f"/v3/mg.acme.example/unsubscribes/{ADDRESS}?tag=newsletter"),
        ("POST", "/message-streams/broadcast/suppressions/delete"),
        ("POST", "/message-streams/outbound/suppressions/delete"),
    ]
    note = db.execute("SELECT last_error FROM provider_pushes WHERE provider = 'postmark' AND action = 'opt_in'"
                      ).fetchone()[0]
    assert "outbound: You do not have the required authority" in note


@pytest.mark.parametrize("export, queued", [
    (b"pat@example.org\nsam@example.org\n", {"sendgrid", "mailgun", "postmark"}),
    (b"email,created\npat@example.org,1443651141\n", {"mailgun", "postmark"}),
])
def test_imports_are_pushed_except_to_the_provider_they_came_from(app, db, export, queued):
    store = app.extensions["optout"].store
    imports.import_suppressions(store, io.BytesIO(export), None, "US")
    rows = db.execute("SELECT provider, address FROM provider_pushes").fetchall()
    assert {r["provider"] for r in rows} == queued
    assert {r["address"] for r in rows} >= {"pat@example.org"}


def test_pull_suppressions_records_what_each_provider_holds(app, db, api):
    page = [{"created": 1443651141, "email": f"user{i}@example.com"} for i in range(500)]
    api.add(responses.GET, f"{SG}/v3/suppression/unsubscribes", json=page,
            match=[responses.matchers.query_param_matcher({"limit": "500", "offset": "0"})])
    api.add(responses.GET, f"{SG}/v3/suppression/unsubscribes", json=[{"created": 1443651154, "email": ADDRESS}],
            match=[responses.matchers.query_param_matcher({"limit": "500", "offset": "500"})])
    api.add(responses.GET, f"{SG}/v3/asm/groups/20431/suppressions", json=["promo.only@example.com"])
    api.add(responses.GET, f"{SG}/v3/asm/groups/20433/suppressions", json=["not an address"])
    result = command(app, "pull-suppressions", "sendgrid")
    assert result.exit_code == 0, result.output
    assert ("sendgrid: 503 suppressions read, 501 recorded as opted out of everything, 1 of a category, "
            "0 already recorded, 0 erased here (kept suppressed), 1 invalid") in result.output
    store = app.extensions["optout"].store
    assert store.state("email", ADDRESS) == {"*": "out"}
    assert store.state("email", "promo.only@example.com") == {"promotions": "out"}
    pushed_to = {r[0] for r in db.execute("SELECT provider FROM provider_pushes").fetchall()}
    assert pushed_to == {"mailgun", "postmark"}
    again = command(app, "pull-suppressions", "sendgrid")
    assert "0 recorded as opted out of everything, 0 of a category, 502 already recorded" in again.output


def test_pull_suppressions_pages_through_mailgun_and_postmark(app, api):
    api.add(responses.GET, f"{MG}/unsubscribes", json={
        "items": [{"address": ADDRESS, "tags": ["*"], "created_at": "Fri, 21 Oct 2011 11:02:55 GMT"},
                  {"address": "sam@example.org", "tags": ["newsletter"],
                   "created_at": "Fri, 21 Oct 2011 11:02:55 GMT"}],
        "paging": {"next": f"{MG}/unsubscribes?page=next&address=sam%40example.org&limit=1000"}},
        match=[responses.matchers.query_param_matcher({"limit": "1000"})])
    api.add(responses.GET, f"{MG}/unsubscribes", json={"items": [], "paging": {"next": f"{MG}/unsubscribes?x=1"}},
            match=[responses.matchers.query_param_matcher({"page": "next", "address": "sam@example.org",
                                                           "limit": "1000"})])
    api.add(responses.GET, f"{PM}/message-streams/broadcast/suppressions/dump", json={"Suppressions": [
        {"EmailAddress": "lee@example.org", "SuppressionReason": "ManualSuppression", "Origin": "Recipient",
         "CreatedAt": "2019-12-10T08:58:33-05:00"}]})
    api.add(responses.GET, f"{PM}/message-streams/outbound/suppressions/dump", json={"Suppressions": [
        {"EmailAddress": "bounced@example.org", "SuppressionReason": "HardBounce", "Origin": "Recipient",
         "CreatedAt": "2019-12-10T08:58:33-05:00"},
        {"EmailAddress": "kim@example.org", "SuppressionReason": "SpamComplaint", "Origin": "Recipient",
         "CreatedAt": "2019-12-10T08:58:33-05:00"}]})
    assert "2 suppressions read" in command(app, "pull-suppressions", "mailgun").output
    assert "2 suppressions read" in command(app, "pull-suppressions", "postmark").output
    store = app.extensions["optout"].store
    assert [store.state("email", a) for a in (ADDRESS, "sam@example.org", "lee@example.org", "kim@example.org",
                                              "bounced@example.org")] == [
        {"*": "out"}, {"newsletter": "out"}, {"promotions": "out"}, {"*": "out"}, {}]


def test_pull_suppressions_says_when_the_provider_is_not_configured(make_app, settings):
    result = command(make_app(settings), "pull-suppressions", "postmark")
    assert result.exit_code == 1 and "postmark is not configured" in result.output


def test_pull_suppressions_stops_cleanly_when_the_provider_fails(app, api):
    api.add(responses.GET, f"{MG}/unsubscribes", status=401, body="Forbidden")
    result = command(app, "pull-suppressions", "mailgun")
    assert result.exit_code == 1 and "401 Forbidden" in result.output


def test_pull_suppressions_follows_paging_only_to_the_provider_s_own_origin(app, api):
    api.add(responses.GET, f"{MG}/unsubscribes", json={
        "items": [{"address": ADDRESS, "tags": ["*"], "created_at": "Fri, 21 Oct 2011 11:02:55 GMT"}],
        "paging": {"next": "https://collector.evil.example/v3/mg.acme.example/unsubscribes?page=next"}})
    result = command(app, "pull-suppressions", "mailgun")
    assert result.exit_code == 1 and "collector.evil.example" in result.output and "not followed" in result.output
    assert [call.request.url.split("?")[0] for call in api.calls] == [f"{MG}/unsubscribes"]  # the key went nowhere else
    assert app.extensions["optout"].store.state("email", ADDRESS) == {"*": "out"}  # what was read is recorded


@pytest.mark.parametrize("provider, url", [("mailgun", f"{MG}/unsubscribes"),
                                           ("sendgrid", f"{SG}/v3/suppression/unsubscribes")])
def test_pull_suppressions_stops_at_the_page_cap(app, api, provider, url):
    def full_page(request):
        rows = [{"email": f"user{i}@example.com", "created": 1443651141} for i in range(500)]
        if provider == "mailgun":
            return 200, {}, json.dumps({"items": [{"address": r["email"], "tags": ["*"]} for r in rows],
                                        "paging": {"next": f"{MG}/unsubscribes?page=next&limit=1000"}})
        return 200, {}, json.dumps(rows)
    api.add_callback(responses.GET, url, callback=full_page)  # a provider that never stops answering full pages
    result = command(app, "pull-suppressions", provider, "--max-pages", "3")
    assert result.exit_code == 1 and "stopped after 3 pages (--max-pages)" in result.output
    assert len(api.calls) == 3
