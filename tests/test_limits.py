"""Bad input gets a clear error: 413 for too large, 415 for the wrong content type, JSON under /api/v1."""

import pytest
from conftest import ADMIN_TOKEN, twilio_params, twilio_post

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
