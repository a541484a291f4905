"""Whom an inbound email may speak for, through the real routes on both databases: an opt-in only on
the Authentication-Results our own receiving servers added (TRUSTED_AUTHSERV_IDS, RFC 8601 section 5)
or the delivering provider's own verdicts, never on headers the sender wrote; a spam complaint report
(ARF, RFC 5965) only from a configured feedback loop or on the feedback credential."""

import json

import pytest
from events_support import PASSWORD, USER, basic, with_providers
from test_email_webhooks import signed
from test_provider_events import ARF

pytestmark = pytest.mark.backends("sqlite", "postgresql")

VICTIM = "victim@gmail.com"
MX = "mx.acme.example"
FBL_PASSWORD = "feedback-loop-secret"


@pytest.fixture
def app(settings, tmp_path, make_app):
    return make_app({**with_providers(settings, tmp_path), "TRUSTED_AUTHSERV_IDS": f"{MX}, mx2.acme.example",
                     "FEEDBACK_LOOP_SENDERS": "fbl.example.net, staff@hotmail.example"})


@pytest.fixture
def client(app):
    return app.test_client()


def state(app, address=VICTIM):
    return app.extensions["optout"].store.state("email", address)


def count(db, table):
    return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def raw(body, *results, sender=VICTIM, message_id=None):
    """A reply as our MTA pipes it: `results` (Authentication-Results values) in order, top first."""
    headers = "".join(f"Authentication-Results: {value}\n" for value in results)
    return (f"{headers}Received: from mail.evil.example by {MX}\nFrom: <{sender}>\nTo: news@acme.example\n"
            f"Subject: Re: Spring sale\nMessage-ID: <{message_id or body + str(len(results))}@x.example>\n"
            f"Content-Type: text/plain; charset=utf-8\n\n{body}\n").encode()


def opted_out_then(client, db, start):
    """The victim sends STOP (an opt-out needs no proof), then `start` arrives; the START's row."""
    response = client.post("/webhooks/email/mime", data=raw("STOP", message_id="stop"), headers=basic())
    assert response.json["action"] == "opt_out"
    pushes = count(db, "provider_pushes")
    response = start()
    assert response.status_code == 200, response.json
    assert count(db, "provider_pushes") == pushes or response.json["action"] == "opt_in"
    return db.execute("SELECT action, rule, flagged, params FROM messages ORDER BY id DESC LIMIT 1").fetchone()


FORGED = "mx.evil; dkim=pass header.d=gmail.com"


@pytest.mark.parametrize("results, action", [
    ((FORGED,), "refused"),
    ((f"{MX}; spf=fail smtp.mailfrom={VICTIM}", f"{MX}; dkim=pass header.d=gmail.com"), "refused"),
    ((f"{MX}; spf=none", FORGED), "refused"),
    ((f"{MX}; dkim=pass header.d=gmail.com",), "opt_in"),
    ((f"mx2.acme.example; spf=pass smtp.mailfrom={VICTIM}", f"{MX}; dkim=fail header.d=gmail.com"), "opt_in"),
], ids=["another server's pass", "our server's name forged below its own fail", "forged below ours",
        "our server's pass", "a second trusted server's pass"])
def test_a_raw_mime_opt_in_counts_only_on_our_servers_topmost_results(app, client, db, results, action):
    row = opted_out_then(client, db, lambda: client.post("/webhooks/email/mime", data=raw("START", *results),
                                                         headers=basic()))
    assert row["action"] == action
    assert state(app) == ({} if action == "opt_in" else {"*": "out"})
    if action == "refused":
        assert (row["rule"], row["flagged"]) == ("opt_in_from_unverified_sender", 1)  # recorded, flagged


def test_without_trusted_authserv_ids_no_header_is_believed(settings, tmp_path, make_app, db):
    client = make_app(with_providers(settings, tmp_path)).test_client()
    row = opted_out_then(client, db, lambda: client.post(
        "/webhooks/email/mime", data=raw("START", f"{MX}; dkim=pass header.d=gmail.com"), headers=basic()))
    assert (row["action"], row["flagged"]) == ("refused", 1)


def postmark_start(headers):
    return {"FromName": "Victim", "MessageStream": "inbound", "From": VICTIM,
            "FromFull": {"Email": VICTIM, "Name": "Victim", "MailboxHash": ""}, "To": "news@acme.example",
            "ToFull": [{"Email": "news@acme.example", "Name": "", "MailboxHash": ""}], "Cc": "", "CcFull": [],
            "Bcc": "", "BccFull": [], "OriginalRecipient": "news@acme.example", "Subject": "Re: Spring sale",
            "MessageID": "22c74902-a0c1-4511-804f2-341342852c90", "ReplyTo": "", "MailboxHash": "",
            "Date": "Thu, 5 Apr 2012 16:59:01 +0200", "TextBody": "START", "HtmlBody": "", "StrippedTextReply": "",
            "Tag": "", "Headers": [{"Name": name, "Value": value} for name, value in headers], "Attachments": []}


@pytest.mark.parametrize("headers, action", [
    ([("Authentication-Results", FORGED)], "refused"),
    ([("X-Spam-Tests", "DKIM_SIGNED,DKIM_VALID,DKIM_VALID_AU"), ("X-Spam-Tests", "DKIM_VALID_AU")], "refused"),
    ([("Received-SPF", f"Pass (sender SPF authorized) identity=mailfrom; envelope-from={VICTIM}"),
      ("Received-SPF", "Fail (sender SPF unauthorized)")], "refused"),
    ([("X-Spam-Tests", "DKIM_SIGNED,DKIM_VALID,DKIM_VALID_AU,SPF_HELO_NONE")], "opt_in"),
], ids=["the sender's Authentication-Results", "a second X-Spam-Tests", "a second Received-SPF",
        "Postmark's own SpamAssassin verdict"])
def test_a_postmark_opt_in_counts_only_on_postmarks_own_verdicts(app, client, db, headers, action):
    row = opted_out_then(client, db, lambda: client.post("/webhooks/email/postmark", json=postmark_start(headers),
                                                         headers=basic()))
    assert row["action"] == action


def test_a_sendgrid_opt_in_counts_on_sendgrids_fields_not_the_headers(app, client, db):
    header_block = (f"Authentication-Results: {FORGED}\nFrom: <{VICTIM}>\nTo: news@acme.example\n"
                    "Subject: Re: Spring sale\nMessage-ID: <sg-start@gmail.com>\n")
    form = {"headers": header_block, "from": VICTIM, "to": "news@acme.example", "subject": "Re: Spring sale",
            "text": "START", "SPF": "softfail", "dkim": "{@evil.example : pass}",
            "envelope": json.dumps({"to": ["news@acme.example"], "from": VICTIM}),
            "charsets": json.dumps({"to": "UTF-8", "from": "UTF-8", "subject": "UTF-8", "text": "UTF-8"})}
    row = opted_out_then(client, db, lambda: client.post("/webhooks/email/sendgrid", data=form,
                                                         content_type="multipart/form-data", headers=basic()))
    assert row["action"] == "refused"
    assert json.loads(row["params"])["authentication_results"]["verified_domains"] == []


def test_a_mailgun_opt_in_does_not_count_on_a_verdict_header_the_sender_doubled(app, client, db):
    headers = [["X-Mailgun-Spf", "Pass"], ["X-Mailgun-Spf", "Fail"], ["Authentication-Results", FORGED],
               ["From", f"<{VICTIM}>"], ["Message-Id", "<mg-start@gmail.com>"]]
    form = signed({"recipient": "news@mg.acme.example", "sender": VICTIM, "from": VICTIM, "subject": "Re: Spring sale",
                   "body-plain": "START", "message-headers": json.dumps(headers), "Message-Id": "<mg-start@gmail.com>",
                   "token": "f" * 50})
    row = opted_out_then(client, db, lambda: client.post("/webhooks/email/mailgun", data=form,
                                                         content_type="multipart/form-data"))
    assert row["action"] == "refused"


# Spam complaint reports ---------------------------------------------------------------------------

THIRD = "third@example.org"
REPORT = ARF.replace(b"<Pat.Doe@example.net>", f"<{THIRD}>".encode())


def report(sender, results=()):
    body = REPORT.replace(b"Authentication-Results: mx.acme.example; dkim=pass header.d=example.com\n", b"")
    headers = "".join(f"Authentication-Results: {value}\n" for value in results)
    return headers.encode() + body.replace(b"From: <abusedesk@example.com>", f"From: <{sender}>".encode())


@pytest.mark.parametrize("body, password, complaint", [
    (report("anyone@evil.example", [f"{MX}; dkim=pass header.d=evil.example"]), PASSWORD, False),
    (report("feedback@fbl.example.net"), PASSWORD, False),  # a configured loop's name, unproven
    (report("feedback@fbl.example.net", ["mx.evil; dkim=pass header.d=fbl.example.net"]), PASSWORD, False),
    (report("feedback@fbl.example.net", [f"{MX}; dkim=pass header.d=fbl.example.net"]), PASSWORD, True),
    (report("arf@mail.fbl.example.net", [f"{MX}; dkim=pass header.d=mail.fbl.example.net"]), PASSWORD, True),
    (report("staff@hotmail.example", [f"{MX}; dkim=pass header.d=hotmail.example"]), PASSWORD, True),
    (report("x.staff@hotmail.example", [f"{MX}; dkim=pass header.d=hotmail.example"]), PASSWORD, False),
    (report("anyone@evil.example"), FBL_PASSWORD, True),  # the feedback loop's own credential
], ids=["anyone", "a feedback loop's name, unverified", "vouched for by another server",
        "a configured domain, verified", "its subdomain", "a configured address", "another address there",
        "on FEEDBACK_LOOP_PASSWORD"])
def test_a_complaint_report_speaks_for_the_person_only_from_a_feedback_loop(settings, tmp_path, make_app, db,
                                                                              body, password, complaint):
    client = make_app({**with_providers(settings, tmp_path), "TRUSTED_AUTHSERV_IDS": MX,
                       "FEEDBACK_LOOP_SENDERS": "fbl.example.net, staff@hotmail.example",
                       "FEEDBACK_LOOP_PASSWORD": FBL_PASSWORD}).test_client()
    response = client.post("/webhooks/email/mime", data=body, content_type="message/rfc822",
                           headers=basic(USER, password))
    assert response.status_code == 200, response.json
    assert (client.application.extensions["optout"].store.state("email", THIRD) == {"*": "out"}) is complaint
    assert count(db, "provider_pushes") == (3 if complaint else 0)
    if not complaint:  # recorded as the mail it is, and acted on never
        assert response.json["status"] == "ignored" and count(db, "messages") == 1


def test_the_feedback_password_is_refused_while_unset(app, client):
    response = client.post("/webhooks/email/mime", data=REPORT, content_type="message/rfc822",
                           headers=basic(USER, ""))
    assert response.status_code == 401
