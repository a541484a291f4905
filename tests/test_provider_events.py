"""Provider events through the real routes: Twilio's status callback (21610), SendGrid's signed Event
Webhook, Mailgun's and Postmark's webhooks and ARF spam complaints, each authenticated, idempotent on
the provider's event id, recorded with its evidence, and never answered.

Payloads follow the providers' documentation: Twilio's status callback parameters
(twilio.com/docs/messaging/guides/track-outbound-message-status, error 21610 at
twilio.com/docs/api/errors/21610); SendGrid's event objects (twilio.com/docs/sendgrid/for-developers/
tracking-events/event: unsubscribe, group_unsubscribe with asm_group_id, spamreport, delivered);
Mailgun's event-data (documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhooks); Postmark's
SpamComplaint and SubscriptionChange (postmarkapp.com/developer/webhooks/spam-complaint-webhook and
/subscription-change-webhook); the ARF report is RFC 5965's section 2 example, addresses changed.
"""

import json
import time

import pytest
from conftest import table_missing, twilio_post
from events_support import basic, mailgun_payload, sendgrid_post, with_providers

pytestmark = pytest.mark.backends("sqlite", "postgresql")


@pytest.fixture
def event_settings(settings, tmp_path):
    # Without Mailgun's API key: its events are taken on their signature alone here (the Events API
    # check is tests/test_mailgun_signatures.py's).
    # ARF reports come from the feedback loop at example.com, vouched for by our receiving server.
    return {**with_providers(settings, tmp_path), "MAILGUN_API_KEY": None,
            "FEEDBACK_LOOP_SENDERS": "example.com", "TRUSTED_AUTHSERV_IDS": "mx.acme.example"}


@pytest.fixture
def app(event_settings, make_app):
    return make_app(event_settings)


@pytest.fixture
def client(app):
    return app.test_client()


def state(app, channel, address):
    return app.extensions["optout"].store.state(channel, address)


def sendgrid_event(kind, email="pat@example.org", event_id=None, **extra):
    return {"email": email, "timestamp": 1513299569, "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
            "event": kind, "category": "cat facts", "sg_event_id": event_id or f"sg-{kind}-{email}",
            "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0", **extra}


# Twilio -------------------------------------------------------------------------------------------

def status_params(error_code, status="failed", sid="SM1f0e8ae6ade43cb3c0ce4525424e404f"):
    params = {"SmsSid": sid, "SmsStatus": status, "MessageStatus": status, "To": "+14155550100",
              "MessagingServiceSid": "MG" + "0" * 32, "MessageSid": sid, "AccountSid": "AC" + "0" * 32,
              "From": "+14155550199", "ApiVersion": "2010-04-01"}
    if error_code:
        params["ErrorCode"] = error_code
    return params


@pytest.mark.parametrize("error_code, status, expected", [
    ("21610", "failed", {"*": "out"}),
    ("30003", "undelivered", {}),
    (None, "delivered", {}),
])
def test_twilio_status_callback_21610_opts_the_recipient_out(app, client, db, error_code, status, expected):
    url = "http://localhost/webhooks/twilio/status"
    response = twilio_post(client, status_params(error_code, status), url=url)
    assert response.status_code == 200
    assert state(app, "sms", "+14155550100") == expected
    again = twilio_post(client, status_params(error_code, status), url=url)
    assert again.status_code == 200
    rows = db.execute("SELECT provider_id, rule, reply, params FROM messages").fetchall()
    assert len(rows) == (1 if expected else 0)
    if expected:
        assert rows[0]["rule"] == "provider_event:21610" and rows[0]["reply"] is None
        assert json.loads(rows[0]["params"])["ErrorCode"] == "21610"


@pytest.mark.parametrize("changes, message", [
    ({"To": "+1"}, "whose To is no SMS address"),
    ({"To": ""}, "without MessageSid or To"),
])
def test_an_unusable_21610_callback_is_refused_clearly(app, client, db, changes, message):
    response = twilio_post(client, {**status_params("21610"), **changes}, url="http://localhost/webhooks/twilio/status")
    assert response.status_code == 400 and message in response.json["error"]
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


def test_twilio_status_callback_needs_twilios_signature(app, client):
    response = client.post("/webhooks/twilio/status", data=status_params("21610"),
                           headers={"X-Twilio-Signature": "forged"})
    assert response.status_code == 403
    assert state(app, "sms", "+14155550100") == {}


# SendGrid -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("event, expected, flagged", [
    (sendgrid_event("unsubscribe"), {"*": "out"}, False),
    (sendgrid_event("spamreport"), {"*": "out"}, False),
    (sendgrid_event("group_unsubscribe", asm_group_id=20431), {"promotions": "out"}, False),
    (sendgrid_event("group_unsubscribe", asm_group_id=99999), {"*": "out"}, True),
    (sendgrid_event("delivered", response="250 OK"), {}, None),
    (sendgrid_event("bounce", reason="500 unknown recipient", type="bounce"), {}, None),
])
def test_sendgrid_events(app, client, db, event, expected, flagged):
    response = sendgrid_post(client, [event])
    assert response.status_code == 200, response.json
    assert state(app, "email", "pat@example.org") == expected
    rows = db.execute("SELECT flagged, params FROM messages").fetchall()
    assert [bool(r["flagged"]) for r in rows] == ([] if flagged is None else [flagged])
    if rows:
        assert json.loads(rows[0]["params"])["sg_event_id"] == event["sg_event_id"]


def test_sendgrid_group_resubscribe_reopens_a_mapped_group_only(app, client):
    sendgrid_post(client, [sendgrid_event("group_unsubscribe", asm_group_id=20431, event_id="u1"),
                           sendgrid_event("group_unsubscribe", asm_group_id=20433, event_id="u2")])
    assert state(app, "email", "pat@example.org") == {"promotions": "out", "newsletter": "out"}
    response = sendgrid_post(client, [sendgrid_event("group_resubscribe", asm_group_id=20431),
                                      sendgrid_event("group_resubscribe", asm_group_id=99999, event_id="other")])
    assert response.json["recorded"] == 1
    assert state(app, "email", "pat@example.org") == {"promotions": "in", "newsletter": "out"}


def test_sendgrid_batch_is_idempotent_and_keeps_the_usable_events(client, db):
    batch = [sendgrid_event("unsubscribe"), sendgrid_event("unsubscribe", email="not an address", event_id="bad")]
    first = sendgrid_post(client, batch)
    assert first.status_code == 200
    assert first.json["recorded"] == 1 and "not an email address" in first.json["skipped"][0]
    second = sendgrid_post(client, batch)
    assert second.json == {**first.json, "recorded": 0, "duplicates": 1}
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 1


@pytest.mark.parametrize("case", ["other key", "body changed", "no headers", "no key configured"])
def test_sendgrid_refuses_what_it_did_not_sign(app, client, make_app, event_settings, case):
    from cryptography.hazmat.primitives.asymmetric import ec

    body = json.dumps([sendgrid_event("unsubscribe")]).encode()
    if case == "other key":
        response = sendgrid_post(client, None, key=ec.generate_private_key(ec.SECP256R1()), body=body)
    elif case == "body changed":
        signed = sendgrid_post(client.application.test_client(), None, body=b"[]")
        assert signed.status_code == 200
        response = client.post("/webhooks/events/sendgrid", data=body, content_type="application/json",
                               headers={k: v for k, v in signed.request.headers.items() if k.startswith("X-Twilio")})
    elif case == "no headers":
        response = client.post("/webhooks/events/sendgrid", data=body, content_type="application/json")
    else:
        other = make_app({**event_settings, "SENDGRID_EVENT_PUBLIC_KEY": None}).test_client()
        response = sendgrid_post(other, None, body=body)
    assert response.status_code == 401
    assert state(app, "email", "pat@example.org") == {}


@pytest.mark.parametrize("age, status", [
    (0, 200), (72 * 3600, 200), (time.time() - 978307200, 401), (74 * 3600, 401), (-12 * 3600, 401),
], ids=["now", "a retry 72 hours on", "2001", "74 hours old", "12 hours ahead"])
def test_sendgrid_events_are_taken_only_while_fresh(app, client, age, status):
    response = sendgrid_post(client, [sendgrid_event("unsubscribe")], timestamp=time.time() - age)
    assert response.status_code == status
    assert state(app, "email", "pat@example.org") == ({"*": "out"} if status == 200 else {})


def test_sendgrid_answers_503_when_the_database_cannot_commit(app, client, db):
    with table_missing(db, "events"):
        response = sendgrid_post(client, [sendgrid_event("unsubscribe")])
    assert response.status_code == 503
    assert sendgrid_post(client, [sendgrid_event("unsubscribe")]).json["recorded"] == 1


# Mailgun ------------------------------------------------------------------------------------------

def mailgun_event(kind, tags=(), event_id=None):
    return {"event": kind, "id": event_id or f"Ase7i2zsRYeDXztHGENqRA-{kind}", "timestamp": 1521243339.873676,
            "log-level": "warn", "recipient": "Alice@Example.com", "recipient-domain": "example.com",
            "tags": list(tags), "campaigns": [], "user-variables": {},
            "message": {"headers": {"message-id": "20130503182626.18666.16540@mg.acme.example"}}}


@pytest.mark.parametrize("event, expected", [
    (mailgun_event("unsubscribed", tags=["promotions"]), {"promotions": "out"}),
    (mailgun_event("unsubscribed"), {"*": "out"}),
    (mailgun_event("complained"), {"*": "out"}),
    (mailgun_event("delivered"), {}),
])
def test_mailgun_events(app, client, event, expected):
    response = client.post("/webhooks/events/mailgun", json=mailgun_payload(event))
    assert response.status_code == 200, response.json
    assert state(app, "email", "alice@example.com") == expected


def test_mailgun_retry_is_a_duplicate_and_a_reused_token_is_refused(app, client, db):
    payload = mailgun_payload(mailgun_event("complained"))
    assert client.post("/webhooks/events/mailgun", json=payload).json["recorded"] == 1
    assert client.post("/webhooks/events/mailgun", json=payload).json["duplicates"] == 1
    replay = {**payload, "event-data": mailgun_event("unsubscribed", event_id="another")}
    assert client.post("/webhooks/events/mailgun", json=replay).status_code == 403
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 1


@pytest.mark.parametrize("payload, status", [
    (mailgun_payload(mailgun_event("complained"), key="wrong key"), 401),
    ({"event-data": mailgun_event("complained")}, 401),
    (mailgun_payload({"event": "complained"}), 406),
])
def test_mailgun_refusals(app, client, payload, status):
    assert client.post("/webhooks/events/mailgun", json=payload).status_code == status
    assert state(app, "email", "alice@example.com") == {}


# Postmark -----------------------------------------------------------------------------------------

SPAM_COMPLAINT = {
    "RecordType": "SpamComplaint", "MessageStream": "outbound", "ID": 42, "Type": "SpamComplaint",
    "TypeCode": 512, "Name": "Spam complaint", "Tag": "Test", "MessageID": "00000000-0000-0000-0000-000000000000",
    "Metadata": {"a_key": "a_value"}, "ServerID": 1234, "Description": "", "Details": "Test spam complaint details",
    "Email": "john@example.com", "From": "sender@example.com", "BouncedAt": "2019-11-05T16:33:54.9070259Z",
    "DumpAvailable": True, "Inactive": True, "CanActivate": False, "Subject": "Test subject",
    "Content": "<Abuse report dump>"}


def subscription_change(suppress, origin="Recipient", stream="broadcast", reason="ManualSuppression"):
    return {"RecordType": "SubscriptionChange", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
            "ServerID": 123456, "MessageStream": stream, "ChangedAt": f"2020-02-01T10:53:34.{int(suppress)}Z",
            "Recipient": "john@example.com", "Origin": origin, "SuppressSending": suppress,
            "SuppressionReason": reason, "Tag": "my-tag", "Metadata": {"example": "value"}}


def bounce(type_, code, stream="outbound", bounce_id=4323372036854775807):
    """A Bounce webhook as Postmark documents it (postmarkapp.com/developer/webhooks/bounce-webhook)."""
    return {"RecordType": "Bounce", "MessageStream": stream, "ID": bounce_id, "Type": type_, "TypeCode": code,
            "Name": "Unsubscribe request" if code == 16 else "Hard bounce", "Tag": "Test",
            "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Metadata": {"a_key": "a_value"}, "ServerID": 23,
            "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
            "Details": "Test bounce details", "Email": "john@example.com", "From": "sender@example.com",
            "BouncedAt": "2019-11-05T16:33:54.9070259Z", "DumpAvailable": True, "Inactive": True,
            "CanActivate": True, "Subject": "Test subject", "Content": "<Full dump of bounce>"}


@pytest.mark.parametrize("payloads, expected", [
    ([SPAM_COMPLAINT], {"*": "out"}),
    # Case 1: Type Unsubscribe (TypeCode 16) is the person's removal request; other bounces change nothing.
    ([bounce("Unsubscribe", 16)], {"*": "out"}),
    ([bounce("Unsubscribe", 16, stream="broadcast")], {"promotions": "out"}),
    ([bounce("HardBounce", 1)], {}),
    ([bounce("SoftBounce", 4096)], {}),
    # Case 2: a resubscribe on a stream no category maps to undoes what its unsubscribe recorded.
    ([subscription_change(True, stream="outbound"), subscription_change(False, stream="outbound")], {}),
    ([subscription_change(True, stream="outbound"), subscription_change(False, stream="outbound",
                                                                         origin="Customer")], {"*": "out"}),
    ([subscription_change(True)], {"promotions": "out"}),
    ([subscription_change(True, stream="outbound")], {"*": "out"}),
    ([subscription_change(True, reason="HardBounce", origin="Recipient")], {}),
    ([subscription_change(True), subscription_change(False)], {"promotions": "in"}),
    ([subscription_change(True), subscription_change(False, origin="Customer")], {"promotions": "out"}),
])
def test_postmark_events(app, client, payloads, expected):
    for payload in payloads:
        assert client.post("/webhooks/events/postmark", json=payload, headers=basic()).status_code == 200
    assert state(app, "email", "john@example.com") == expected


def test_postmark_wrong_credentials_get_401_so_postmark_retries(app, client):
    response = client.post("/webhooks/events/postmark", json=SPAM_COMPLAINT, headers=basic(password="wrong"))
    assert response.status_code == 401
    assert state(app, "email", "john@example.com") == {}


# ARF spam complaints ------------------------------------------------------------------------------

ARF = b"""Authentication-Results: mx.acme.example; dkim=pass header.d=example.com
From: <abusedesk@example.com>
Date: Thu, 8 Mar 2005 17:40:36 EDT
Subject: FW: Earn money
To: <abuse@acme.example>
MIME-Version: 1.0
Message-ID: <arf-report-1@example.com>
Content-Type: multipart/report; report-type=feedback-report;
     boundary="part1_13d.2e68ed54_boundary"

--part1_13d.2e68ed54_boundary
Content-Type: text/plain; charset="US-ASCII"
Content-Transfer-Encoding: 7bit

This is an email abuse report for an email message received from IP
192.0.2.1 on Thu, 8 Mar 2005 14:00:00 EDT.

--part1_13d.2e68ed54_boundary
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <bounces@acme.example>
Original-Rcpt-To: <Pat.Doe@example.net>
Arrival-Date: Thu, 8 Mar 2005 14:00:00 EDT
Reporting-MTA: dns; mail.example.com
Source-IP: 192.0.2.1

--part1_13d.2e68ed54_boundary
Content-Type: message/rfc822
Content-Disposition: inline

From: <news@acme.example>
Received: from mailserver.example.net (mailserver.example.net [192.0.2.1])
        by example.com with ESMTP id M63d4137594e46; Thu, 08 Mar 2005 14:00:00 -0400
To: <Undisclosed Recipients>
Subject: Spring sale
Date: Thu, 8 Mar 2005 14:00:00 EDT
Message-ID: <8787KJKJ3K4J3K4J3K4J3.mail@acme.example>

Spring sale!

--part1_13d.2e68ed54_boundary--
"""

START_REPLY = b"""From: Pat Doe <pat.doe@example.net>
To: news@acme.example
Subject: Re: Spring sale
Message-ID: <start-after-complaint@example.net>
Authentication-Results: mx.acme.example; dkim=pass header.d=example.net; spf=pass smtp.mailfrom=example.net
Return-Path: <pat.doe@example.net>
Content-Type: text/plain; charset=utf-8

START
"""


@pytest.mark.parametrize("report, address", [
    (ARF, "pat.doe@example.net"),
    (ARF.replace(b"Original-Rcpt-To: <Pat.Doe@example.net>\n", b"").replace(
        b"To: <Undisclosed Recipients>", b"To: Sam <sam@example.net>"), "sam@example.net"),
])
def test_arf_complaint_opts_the_original_recipient_out(app, client, db, report, address):
    response = client.post("/webhooks/email/mime", data=report, content_type="message/rfc822", headers=basic())
    assert response.status_code == 200, response.json
    assert state(app, "email", address) == {"*": "out"}
    assert client.post("/webhooks/email/mime", data=report, content_type="message/rfc822",
                       headers=basic()).json["duplicates"] == 1
    row = db.execute("SELECT rule, params FROM messages").fetchone()
    assert row["rule"] == "provider_complaint" and json.loads(row["params"])["feedback_type"] == "abuse"
    assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0


def test_every_original_rcpt_to_of_a_report_is_opted_out(app, client, db):
    report = ARF.replace(b"Original-Rcpt-To: <Pat.Doe@example.net>\n",
                         b"Original-Rcpt-To: <Pat.Doe@example.net>\nOriginal-Rcpt-To: <sam@example.net>\n")
    response = client.post("/webhooks/email/mime", data=report, content_type="message/rfc822", headers=basic())
    assert response.status_code == 200 and response.json["recorded"] == 2
    assert [state(app, "email", a) for a in ("pat.doe@example.net", "sam@example.net")] == [{"*": "out"}] * 2


@pytest.mark.parametrize("placeholder", [b"<redacted@example.net>", b"<[redacted]@example.net>",
                                         b"<xxxxxxxx@example.net>", b"redacted@example.net"])
def test_a_report_with_a_redacted_recipient_opts_no_one_out_and_is_flagged(app, client, db, placeholder):
    report = ARF.replace(b"<Pat.Doe@example.net>", placeholder)
    response = client.post("/webhooks/email/mime", data=report, content_type="message/rfc822", headers=basic())
    assert response.status_code == 200, response.json
    assert db.execute("SELECT count(*) FROM consent").fetchone()[0] == 0
    row = db.execute("SELECT action, rule, flagged FROM messages").fetchone()
    assert tuple(row) == ("none", "provider_event:feedback-report-redacted", 1)


def test_someone_who_complained_is_never_sent_a_confirmation(app, client, db):
    client.post("/webhooks/email/mime", data=ARF, content_type="message/rfc822", headers=basic())
    response = client.post("/webhooks/email/mime", data=START_REPLY, content_type="message/rfc822", headers=basic())
    assert response.json["action"] == "opt_in"  # their choice is recorded ...
    assert state(app, "email", "pat.doe@example.net") == {}
    assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0  # ... and not answered


def test_a_report_without_a_recipient_is_refused(client):
    report = ARF.replace(b"Original-Rcpt-To: <Pat.Doe@example.net>\n", b"").replace(
        b"To: <Undisclosed Recipients>\n", b"")
    response = client.post("/webhooks/email/mime", data=report, content_type="message/rfc822", headers=basic())
    assert response.status_code == 400 and "Original-Rcpt-To" in response.json["error"]


@pytest.mark.parametrize("first", [
    mailgun_event("delivered"),  # changes no consent: not recorded, its token spent all the same
    {"event": "complained"},  # refused (406): likewise
])
def test_mailgun_tokens_of_unrecorded_events_are_spent_too(app, client, first):
    payload = mailgun_payload(first)
    assert client.post("/webhooks/events/mailgun", json=payload).status_code in (200, 406)
    replay = {**payload, "event-data": mailgun_event("complained", event_id="smuggled")}
    assert client.post("/webhooks/events/mailgun", json=replay).status_code == 403
    assert state(app, "email", "alice@example.com") == {}


@pytest.mark.parametrize("path", ["/webhooks/events/sendgrid", "/webhooks/events/mailgun", "/webhooks/events/postmark"])
def test_event_webhooks_take_json_only(client, path):
    response = client.post(path, data={"event": "unsubscribe"}, headers=basic())
    assert response.status_code == 415 and "application/json" in response.json["error"]
