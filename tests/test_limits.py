"""Bad input gets a clear error: 413 for too large, 415 for the wrong content type, JSON under /api/v1."""

import pytest
from conftest import ADMIN_TOKEN, twilio_params, twilio_post

from handlers.web import guards

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.mark.parametrize("path, body, content_type, status, says", [
    ("/webhooks/twilio/sms", b"Body=" + b"x" * 70_000, "application/x-www-form-urlencoded", 413, "larger than 64 KiB"),
    ("/webhooks/twilio/sms", b'{"Body": "STOP"}', "application/json", 415, "accepts application/x-www-form-urlencoded"),
    ("/webhooks/email/postmark", b"From=a", "application/x-www-form-urlencoded", 415, "accepts application/json"),
    ("/api/v1/suppressions/check", b"channel=sms", "application/x-www-form-urlencoded", 415, "application/json"),
    ("/u/sometoken", b"x=" + b"y" * 20_000, "application/x-www-form-urlencoded", 413, "larger than 16 KiB"),
])
def test_too_large_or_wrong_type_is_refused_clearly(client, db, path, body, content_type, status, says):
    response = client.post(path, data=body, content_type=content_type, headers=AUTH)
    assert response.status_code == status
    assert says in response.get_data(as_text=True)
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


@pytest.mark.parametrize("method, path, status", [
    ("get", "/api/v1/nothing-here", 404),
    ("get", "/api/v1/suppressions/check", 405),
    ("delete", "/api/v1/contacts/sms/+14155550100", 405),
])
def test_api_errors_are_json(client, method, path, status):
    response = getattr(client, method)(path, headers=AUTH)
    assert response.status_code == status and response.is_json and response.json["error"]


def test_an_unknown_page_is_a_short_text_without_a_trace(client):
    response = client.get("/nothing-here")
    assert response.status_code == 404 and b"Traceback" not in response.data and len(response.data) < 300


def test_a_normal_webhook_is_within_the_limits(client):
    assert twilio_post(client, twilio_params("x" * 1600)).status_code == 200


FORM, JSON = "application/x-www-form-urlencoded", "application/json"


@pytest.mark.parametrize("path, method, length, content_type, chunked, expected", [
    ("/webhooks/twilio/sms", "POST", 900, FORM, False, None),
    ("/webhooks/twilio/sms", "POST", 900, FORM + "; charset=utf-8", False, None),
    ("/webhooks/twilio/sms", "POST", 900, "Application/X-WWW-Form-URLEncoded", False, None),
    ("/webhooks/twilio/sms", "POST", 64 * 1024, FORM, False, None),  # the limit itself is allowed
    ("/webhooks/twilio/sms", "POST", 64 * 1024 + 1, FORM, False,
     (413, "the request body is larger than 64 KiB, the most /webhooks/twilio/sms accepts")),
    ("/webhooks/twilio/sms", "POST", 900, JSON, False,
     (415, "/webhooks/twilio/sms accepts application/x-www-form-urlencoded, not application/json")),
    ("/webhooks/twilio/sms", "POST", 900, "", False,
     (415, "/webhooks/twilio/sms accepts application/x-www-form-urlencoded, not no content type")),
    ("/webhooks/twilio/sms", "POST", None, JSON, True,  # chunked: no length, a body all the same
     (415, "/webhooks/twilio/sms accepts application/x-www-form-urlencoded, not application/json")),
    ("/webhooks/twilio/sms", "POST", 0, JSON, False, None),  # no body: no type to judge
    ("/webhooks/twilio/sms", "POST", None, JSON, False, None),
    ("/webhooks/twilio/sms", "PUT", 900, JSON, False, None),  # only a POST's type is judged (routing says 405)
    ("/webhooks/twilio/sms", "PUT", 70_000, FORM, False,
     (413, "the request body is larger than 64 KiB, the most /webhooks/twilio/sms accepts")),
    ("/webhooks/twilio/status", "POST", 900, JSON, False,
     (415, "/webhooks/twilio/status accepts application/x-www-form-urlencoded, not application/json")),
    ("/webhooks/email/sendgrid", "POST", 30 * 1024 * 1024, "multipart/form-data; boundary=xyz", False, None),
    ("/webhooks/email/mailgun", "POST", 41 * 1024 * 1024, FORM, False,
     (413, "the request body is larger than 40960 KiB, the most /webhooks/email/mailgun accepts")),
    ("/webhooks/email/postmark", "POST", 900, FORM, False,
     (415, "/webhooks/email/postmark accepts application/json, not application/x-www-form-urlencoded")),
    ("/webhooks/email/mime", "POST", 900, "message/rfc822", False, None),  # any type
    ("/webhooks/events/sendgrid", "POST", 900, JSON, False, None),
    ("/api/v1/suppressions/check", "POST", 900, FORM, False,
     (415, "/api/v1/suppressions/check accepts application/json, not application/x-www-form-urlencoded")),
    ("/api/v1/suppressions/check", "GET", 900, FORM, False, None),
    ("/u/sometoken", "POST", 20_000, FORM, False,
     (413, "the request body is larger than 16 KiB, the most /u/sometoken accepts")),
    ("/admin/login", "POST", 900, JSON, False,
     (415, "/admin/login accepts application/x-www-form-urlencoded or multipart/form-data, not application/json")),
    ("/nothing-here", "POST", 900, "text/plain", False, None),
    ("/nothing-here", "POST", 65 * 1024, "text/plain", False,
     (413, "the request body is larger than 64 KiB, the most /nothing-here accepts")),
])
def test_the_guard_refuses_by_path_method_length_and_type(path, method, length, content_type, chunked, expected):
    assert guards.refusal(path, method, length, content_type, chunked) == expected
