"""Property-based fuzzing of every public endpoint: random fields, missing fields, wrong types,
invalid UTF-8, NUL bytes, 10,000-character values, emoji, RTL text, header injection, SQL and HTML.
Never a 500, never a trace, nothing recorded for a refused request, text stored exactly as received."""

import base64
import hashlib
import hmac
import json
import re
import sqlite3
import time
import urllib.parse
import uuid

import pytest
from conftest import AUTH_TOKEN, ROOT
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from app import create_app

# SendGrid's signed Event Webhook: a key pair made for the fuzzing, as SendGrid makes one.
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC = base64.b64encode(SENDGRID_KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()

NASTY = st.sampled_from([
    "STOP", "", "\x00", "stop\x00all", "x" * 10_000, "🛑 STOP 👍", "\u202eSTOP\u202c", "توقف",
    "'; DROP TABLE messages; --",
    "<script>alert(1)</script>", "a@b.c\r\nBcc: victim@example.org", "%00%ff", "\ud7ff", "Re: unsubscribe",
])
TEXT = st.one_of(NASTY, st.text(max_size=300))
FIELDS = st.dictionaries(st.one_of(st.sampled_from(["MessageSid", "From", "To", "Body", "OptOutType", "NumMedia",
                                                    "SmsSid", "AccountSid"]), st.text(min_size=1, max_size=20)),
                         TEXT, max_size=8)
MAILGUN_KEY, USER, PASSWORD = "fuzz-mailgun-key", "fuzz", "fuzz-password"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.sqlite3"
    app = create_app({"DATABASE_PATH": str(path), "KEYWORDS_PATH": str(ROOT / "keywords.yaml"),
                      "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "ADMIN_TOKEN": "fuzz-admin", "DEFAULT_REGION": "US",
                      "PUBLIC_BASE_URL": "http://localhost", "INBOUND_EMAIL_USER": USER,
                      "INBOUND_EMAIL_PASSWORD": PASSWORD,
                      "MAILGUN_SIGNING_KEY": MAILGUN_KEY, "UNSUBSCRIBE_SECRET": "fuzz-secret",
                      "SENDGRID_EVENT_PUBLIC_KEY": SENDGRID_PUBLIC, "ERASURE_KEY": "fuzz-erasure-key-0123456789",
                      "METRICS_TOKEN": "fuzz-metrics"})
    app.db_path = str(path)
    return app


def sound(response):
    assert response.status_code < 500, response.data[:300]
    assert b"Traceback" not in response.data and b'File "' not in response.data
    return response.status_code


def stored(app, provider_id):
    conn = sqlite3.connect(app.db_path)
    try:
        # Inbound keeps a NUL as U+FFFD (PostgreSQL cannot store one in text).
        return conn.execute("SELECT body, params FROM messages WHERE provider_id = ?",
                            (provider_id.replace("\x00", "\ufffd"),)).fetchone()
    finally:
        conn.close()


@FUZZ
@given(fields=FIELDS)
def test_twilio_signed_random_fields(fuzz_app, fields):
    for key in ("MessageSid", "SmsSid"):  # one database for every example: keep ids apart
        if key in fields:
            fields[key] = f"{fields[key]}-{uuid.uuid4()}"
    client = fuzz_app.test_client()
    url = "http://localhost/webhooks/twilio/sms"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, fields)
    status = sound(client.post(url, data=fields, headers={"X-Twilio-Signature": signature}))
    sid = fields.get("MessageSid") or fields.get("SmsSid")
    if status == 200 and sid and fields.get("From", "").strip():
        row = stored(fuzz_app, sid)
        assert row is not None
        if "Body" in fields and fields.get("MessageSid"):
            assert json.loads(row[1])["Body"] == fields["Body"]  # exactly as received
    elif status != 200 and sid:
        assert stored(fuzz_app, sid) is None or status == 403


@FUZZ
@given(body=st.binary(max_size=2000))
def test_twilio_raw_bytes_without_a_signature(fuzz_app, body):
    response = fuzz_app.test_client().post("/webhooks/twilio/sms", data=body,
                                           content_type="application/x-www-form-urlencoded")
    assert sound(response) in (403, 413)


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(["from", "sender", "recipient", "subject", "body-plain", "body-html",
                                               "stripped-text", "message-headers", "Message-Id", "token"]), TEXT))
def test_mailgun_signed_random_fields(fuzz_app, fields):
    fields = {**fields, "token": fields.get("token") or "t" * 50, "timestamp": str(int(time.time()))}
    fields["signature"] = hmac.new(MAILGUN_KEY.encode(), (fields["timestamp"] + fields["token"]).encode(),
                                   hashlib.sha256).hexdigest()
    assert sound(fuzz_app.test_client().post("/webhooks/email/mailgun", data=fields)) in (200, 403, 406)


JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), TEXT),
                    lambda children: st.one_of(st.lists(children, max_size=4),
                                               st.dictionaries(st.text(max_size=12), children, max_size=6)),
                    max_leaves=20)


@FUZZ
@given(payload=st.one_of(JSON, st.fixed_dictionaries({"FromFull": st.fixed_dictionaries({"Email": TEXT}),
                                                      "Subject": TEXT, "TextBody": TEXT, "MessageID": TEXT,
                                                      "Headers": JSON})))
def test_postmark_random_json(fuzz_app, payload):
    assert sound(fuzz_app.test_client().post("/webhooks/email/postmark", json=payload, headers=BASIC)) in (200, 400)


@FUZZ
@given(raw=st.one_of(st.binary(max_size=3000), TEXT.map(lambda t: f"From: {t}\nSubject: {t}\n\n{t}".encode(
    "utf-8", "surrogatepass"))))
def test_raw_mime_random_bytes(fuzz_app, raw):
    response = fuzz_app.test_client().post("/webhooks/email/mime", data=raw, content_type="message/rfc822",
                                           headers=BASIC)
    assert sound(response) in (200, 400)


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(["from", "to", "subject", "text", "html", "headers", "envelope",
                                               "charsets", "SPF", "dkim", "email"]), TEXT))
def test_sendgrid_random_fields(fuzz_app, fields):
    response = fuzz_app.test_client().post("/webhooks/email/sendgrid", data=fields, headers=BASIC,
                                           content_type="multipart/form-data")
    assert sound(response) in (200, 400)


@FUZZ
@given(token=st.text(min_size=1, max_size=200).filter(lambda t: "/" not in t and "?" not in t and "#" not in t),
       form=st.dictionaries(st.sampled_from(["List-Unsubscribe", "csrf", "keep", "everything"]), TEXT))
def test_one_click_and_the_page_with_random_tokens(fuzz_app, token, form):
    client = fuzz_app.test_client()
    # 404: a token of only line breaks or spaces makes a path that is no route at all
    assert sound(client.post(f"/u/{token}", data=form)) in (400, 404, 413, 429)
    assert sound(client.get(f"/u/{token}")) in (400, 404, 429)


EVENT_NAMES = st.sampled_from(["unsubscribe", "spamreport", "group_unsubscribe", "group_resubscribe", "delivered",
                               "unsubscribed", "complained", "SpamComplaint", "SubscriptionChange", "Bounce"])
EVENT = st.fixed_dictionaries({}, optional={
    "event": st.one_of(EVENT_NAMES, JSON), "email": TEXT, "recipient": TEXT, "sg_event_id": TEXT, "id": TEXT,
    "asm_group_id": JSON, "tags": JSON, "RecordType": st.one_of(EVENT_NAMES, JSON), "Email": TEXT,
    "Recipient": TEXT, "ID": JSON, "MessageStream": JSON, "SuppressSending": JSON, "Origin": JSON,
    "SuppressionReason": JSON, "ChangedAt": JSON})


@FUZZ
@given(fields=FIELDS, error_code=st.one_of(st.just("21610"), TEXT))
def test_twilio_status_signed_random_fields(fuzz_app, fields, error_code):
    fields = {**fields, "ErrorCode": error_code}
    url = "http://localhost/webhooks/twilio/status"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, fields)
    response = fuzz_app.test_client().post(url, data=fields, headers={"X-Twilio-Signature": signature})
    assert sound(response) in (200, 400)


@FUZZ
@given(payload=st.one_of(JSON, st.lists(EVENT, max_size=5)))
def test_sendgrid_events_signed_random_json(fuzz_app, payload):
    body, timestamp = json.dumps(payload).encode(), str(int(time.time()))
    signature = base64.b64encode(SENDGRID_KEY.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    response = fuzz_app.test_client().post(
        "/webhooks/events/sendgrid", data=body, content_type="application/json",
        headers={"X-Twilio-Email-Event-Webhook-Signature": signature,
                 "X-Twilio-Email-Event-Webhook-Timestamp": timestamp})
    assert sound(response) in (200, 400)


@FUZZ
@given(event=st.one_of(EVENT, JSON))
def test_mailgun_events_signed_random_json(fuzz_app, event):
    timestamp, token = str(int(time.time())), uuid.uuid4().hex
    signature = hmac.new(MAILGUN_KEY.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    payload = {"signature": {"timestamp": timestamp, "token": token, "signature": signature}, "event-data": event}
    assert sound(fuzz_app.test_client().post("/webhooks/events/mailgun", json=payload)) in (200, 403, 406)


@FUZZ
@given(payload=st.one_of(EVENT, JSON))
def test_postmark_events_random_json(fuzz_app, payload):
    response = fuzz_app.test_client().post("/webhooks/events/postmark", json=payload, headers=BASIC)
    assert sound(response) in (200, 400)


# Every route, and every header an attacker controls ----------------------------------------------------

ADMIN_TOKEN_FUZZ = "fuzz-admin"
BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN_FUZZ}"}
QUERY = st.dictionaries(st.sampled_from(["channel", "category", "format", "address", "page", "action", "next"]),
                        TEXT, max_size=5)
ROUTES = {  # each route's fuzz tests below; test_every_route_is_fuzzed keeps this in step with the app
    "/webhooks/twilio/sms": "test_twilio_signed_random_fields",
    "/webhooks/email/sendgrid": "test_sendgrid_random_fields",
    "/webhooks/email/mailgun": "test_mailgun_signed_random_fields",
    "/webhooks/email/postmark": "test_postmark_random_json",
    "/webhooks/email/mime": "test_raw_mime_random_bytes",
    "/webhooks/twilio/status": "test_twilio_status_signed_random_fields",
    "/webhooks/events/sendgrid": "test_sendgrid_events_signed_random_json",
    "/webhooks/events/mailgun": "test_mailgun_events_signed_random_json",
    "/webhooks/events/postmark": "test_postmark_events_random_json",
    "/u/<token>": "test_one_click_and_the_page_with_random_tokens",
    "/api/v1/suppressions/check": "test_api_random_json",
    "/api/v1/suppressions": "test_api_random_queries",
    "/api/v1/contacts/<channel>/<path:address>": "test_api_random_queries",
    "/api/v1/unsubscribe-link": "test_api_random_queries",
    "/api/v1/contacts/lookup": "test_api_personal_data_random_json",
    "/api/v1/erasures": "test_api_personal_data_random_json",
    "/api/v1/people/export": "test_api_personal_data_random_json",
    "/api/v1/suppressions/import": "test_api_random_import",
    "/healthz": "test_random_credentials_on_every_route",
    "/metrics": "test_random_credentials_on_every_route",
    "/admin/login": "test_admin_random_input",
    "/admin/logout": "test_admin_random_input",
    "/admin": "test_admin_random_input",
    "/admin/review": "test_admin_random_input",
    "/admin/review/<int:message_id>": "test_admin_random_input",
    "/admin/contacts": "test_admin_random_input",
    "/admin/contacts/export": "test_admin_random_input",
    "/admin/contacts/erase": "test_admin_random_input",
    "/admin/audit": "test_admin_random_input",
    "/admin/login/oidc": "test_admin_random_input",
    "/admin/login/oidc/callback": "test_admin_random_input",
    "/admin/deliveries": "test_admin_random_input",
    "/admin/deliveries/<int:row_id>/retry": "test_admin_random_input",
    "/admin/outbox": "test_admin_random_input",
    "/admin/outbox/<queue>/<int:row_id>/retry": "test_admin_random_input",
}


def test_every_route_is_fuzzed(fuzz_app):
    rules = {rule.rule for rule in fuzz_app.url_map.iter_rules() if rule.endpoint != "static"}
    assert rules == set(ROUTES)
    assert all(name in globals() for name in ROUTES.values())


@FUZZ
@given(payload=JSON)
def test_api_random_json(fuzz_app, payload):
    response = fuzz_app.test_client().post("/api/v1/suppressions/check", json=payload, headers=BEARER)
    assert sound(response) in (200, 400)


@FUZZ
@given(payload=st.one_of(JSON, st.fixed_dictionaries({"channel": st.sampled_from(["sms", "email"]), "address": TEXT})))
def test_api_personal_data_random_json(fuzz_app, payload):
    for path in ("/api/v1/contacts/lookup", "/api/v1/people/export", "/api/v1/erasures"):
        assert sound(fuzz_app.test_client().post(path, json=payload, headers=BEARER)) in (200, 400)


@FUZZ
@given(query=QUERY, channel=st.one_of(st.sampled_from(["sms", "email"]), TEXT), address=TEXT)
def test_api_random_queries(fuzz_app, query, channel, address):
    client = fuzz_app.test_client()
    for path in ("/api/v1/suppressions", "/api/v1/unsubscribe-link"):
        sound(client.get(path, query_string=query, headers=BEARER))
    quoted = urllib.parse.quote(address, safe="") or "x"
    sound(client.get(f"/api/v1/contacts/{urllib.parse.quote(channel, safe='') or 'x'}/{quoted}", headers=BEARER))


@FUZZ
@given(body=st.binary(max_size=2000), channel=st.one_of(st.none(), st.sampled_from(["sms", "email"]), TEXT))
def test_api_random_import(fuzz_app, body, channel):
    response = fuzz_app.test_client().post("/api/v1/suppressions/import", data=body, content_type="text/csv",
                                           query_string={"channel": channel} if channel is not None else {},
                                           headers=BEARER)
    assert sound(response) in (200, 400)


@FUZZ
@given(query=QUERY, form=st.dictionaries(st.sampled_from(["token", "email", "password", "next", "verdict", "csrf"]),
                                         TEXT, max_size=4),
       message_id=st.integers(min_value=0, max_value=2**70))
def test_admin_random_input(fuzz_app, query, form, message_id):
    client = fuzz_app.test_client()
    sound(client.post("/admin/login", data=form))
    page = client.get("/admin/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    assert sound(client.post("/admin/login", data={"token": ADMIN_TOKEN_FUZZ, "csrf": csrf})) == 303
    for path in ("/admin", "/admin/review", "/admin/contacts", "/admin/audit", "/admin/deliveries", "/admin/outbox"):
        assert sound(client.get(path, query_string=query)) in (200, 400)
    for path in ("/admin/login/oidc", "/admin/login/oidc/callback"):  # single sign-on is off here
        assert sound(client.get(path, query_string=query)) == 404
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/admin/review").text).group(1)
    sound(client.post(f"/admin/review/{message_id}", data={**form, "csrf": csrf}))
    for path in ("/admin/contacts/export", "/admin/contacts/erase"):
        assert sound(client.post(path, data={**query, **form, "csrf": csrf})) in (200, 400)
    assert sound(client.post(f"/admin/deliveries/{message_id}/retry", data={**form, "csrf": csrf})) == 303
    for queue in ("confirmations", "pushes", query.get("queue", "")):
        retry = f"/admin/outbox/{queue}/{message_id}/retry"
        assert sound(client.post(retry, data={**form, "csrf": csrf})) in (303, 404)
    assert sound(client.post("/admin/logout", data={"csrf": csrf})) == 303


# Anything a header can carry (no line breaks: no HTTP client sends those), ASCII or not.
CREDENTIALS = st.one_of(TEXT, st.text(alphabet=st.characters(min_codepoint=0x80, max_codepoint=0x2FFF), max_size=40)
                        ).map(lambda text: text.replace("\r", "").replace("\n", ""))


@FUZZ
@given(user=CREDENTIALS, password=CREDENTIALS, signature=CREDENTIALS, bearer=CREDENTIALS)
def test_random_credentials_on_every_route(fuzz_app, user, password, signature, bearer):
    basic = base64.b64encode(f"{user}:{password}".encode("utf-8", "surrogatepass")).decode()
    client = fuzz_app.test_client()
    for path, kwargs in (
            ("/webhooks/email/mime", {"data": b"From: a@b.example\r\n\r\nstop", "content_type": "message/rfc822"}),
            ("/webhooks/email/postmark", {"json": {"FromFull": {"Email": "a@b.example"}, "TextBody": "stop"}}),
            ("/webhooks/email/sendgrid", {"data": {"headers": "From: a@b.example", "text": "stop"}}),
            ("/webhooks/twilio/sms", {"data": {"From": "+14155550100", "MessageSid": "SMfuzz", "Body": "STOP"}}),
            ("/webhooks/twilio/status", {"data": {"To": "+14155550100", "MessageSid": "SMfuzz", "ErrorCode": "21610"}}),
            ("/webhooks/events/postmark", {"json": {"RecordType": "SpamComplaint", "ID": 1, "Email": "a@b.example"}}),
            ("/webhooks/events/mailgun", {"json": {
                "signature": {"timestamp": "1", "token": user, "signature": password},
                "event-data": {"event": "complained", "id": "x", "recipient": "a@b.example"}}}),
            ("/webhooks/events/sendgrid", {"json": [{"event": "unsubscribe", "email": "a@b.example",
                                                     "sg_event_id": "x"}],
                                           "headers_extra": {"X-Twilio-Email-Event-Webhook-Signature": signature,
                                                             "X-Twilio-Email-Event-Webhook-Timestamp": "1"}})):
        extra = kwargs.pop("headers_extra", {})
        latin = signature.encode("utf-8", "surrogatepass").decode("latin-1")
        response = client.post(path, headers={"Authorization": f"Basic {basic}", "X-Twilio-Signature": latin,
                                              **{k: latin if k.endswith("Signature") else v for k, v in extra.items()}},
                               **kwargs)
        # Never let in; 503 only where it is SendGrid's inbound "retry" for wrong credentials.
        expected = (503,) if path == "/webhooks/email/sendgrid" else (401, 403)
        assert response.status_code in expected and b"Traceback" not in response.data, (path, response.status_code)
    header = bearer.encode("utf-8", "surrogatepass").decode("latin-1")
    assert sound(client.get("/api/v1/suppressions", headers={"Authorization": f"Bearer {header}"})) in (401, 429)
    assert sound(client.get("/healthz", headers={"Authorization": header})) == 200
    assert sound(client.get("/metrics", headers={"Authorization": f"Bearer {header}"})) == 401
