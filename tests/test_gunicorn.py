"""The production command from the Procfile, started for real, answering a signed STOP over HTTP."""

import http.client
import sqlite3
import threading
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import AUTH_TOKEN, serve, twilio_params
from service import DELIVERY_TIMEOUT
from twilio.request_validator import RequestValidator


@pytest.fixture
def served(tmp_path):
    with serve(tmp_path) as running:
        yield running


def test_a_signed_stop_over_http_is_stored_and_confirmed(served):
    base, env = served
    url = f"{base}/webhooks/twilio/sms"
    params = twilio_params("STOP", sender="+14155550123")
    request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), headers={
        "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params),
        "Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT) as response:
        root = ET.fromstring(response.read())
    [message] = [m.text for m in root.iter("Message")]
    assert "Reply START" in message

    conn = sqlite3.connect(env["DATABASE_PATH"])
    assert conn.execute("SELECT address, scope, status FROM consent").fetchall() == [("+14155550123", "*", "out")]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_an_unsigned_request_is_refused_over_http(served):
    base, _ = served
    request = urllib.request.Request(f"{base}/webhooks/twilio/sms", data=b"From=%2B14155550123&Body=STOP")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT)
    assert refused.value.code == 403


def chunked_post(url, body: bytes, signature: str) -> tuple[int, bytes]:
    """POST `body` in 8 KiB chunks (Transfer-Encoding: chunked, no Content-Length)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=DELIVERY_TIMEOUT)
    conn.request("POST", parts.path, body=(body[i:i + 8192] for i in range(0, len(body), 8192)),
                 headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
                 encode_chunked=True)
    response = conn.getresponse()
    answer = response.status, response.read()
    conn.close()
    return answer


@pytest.mark.backends("sqlite", "postgresql")
def test_a_chunked_body_past_the_limit_is_refused_not_cut(tmp_path, database_url):
    """70 KB signed, chunked, to a 64 KiB route: werkzeug would cut it and record the rest."""
    with serve(tmp_path, **({"DATABASE_URL": database_url} if database_url else {})) as (base, _):
        url = f"{base}/webhooks/twilio/sms"
        large = twilio_params("STOP " + "x" * 70_000, sender="+14155550124")
        status, body = chunked_post(url, urllib.parse.urlencode(large).encode(),
                                    RequestValidator(AUTH_TOKEN).compute_signature(url, large))
        assert (status, b"larger than 64 KiB" in body) == (413, True)
        small = twilio_params("STOP", sender="+14155550125")
        status, body = chunked_post(url, urllib.parse.urlencode(small).encode(),
                                    RequestValidator(AUTH_TOKEN).compute_signature(url, small))
        assert status == 200 and b"Reply START" in body  # a chunked body within the limit is read whole


def post_signed(url, params):
    request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), headers={
        "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params)})
    with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT) as response:
        return [m.text for m in ET.fromstring(response.read()).iter("Message")]


def test_the_same_message_delivered_ten_times_at_once_is_recorded_and_answered_once(served):
    base, env = served
    params = twilio_params("STOP", sender="+14155550177")
    barrier = threading.Barrier(10)

    def deliver(_):
        barrier.wait()
        return post_signed(f"{base}/webhooks/twilio/sms", params)

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(deliver, range(10)))
    assert sorted(len(a) for a in answers) == [0] * 9 + [1]
    conn = sqlite3.connect(env["DATABASE_PATH"])
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 1
    conn.close()


def test_ten_different_stops_from_one_person_at_once_get_one_confirmation(served):
    base, env = served
    barrier = threading.Barrier(10)

    def deliver(text):
        params = twilio_params(text, sender="+14155550188")
        barrier.wait()
        return post_signed(f"{base}/webhooks/twilio/sms", params)

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(deliver, ["STOP", "Stop.", "stop", "STOP!", "UNSUBSCRIBE"] * 2))
    assert sorted(len(a) for a in answers) == [0] * 9 + [1]
    conn = sqlite3.connect(env["DATABASE_PATH"])
    assert conn.execute("SELECT count(*) FROM messages WHERE address = '+14155550188'").fetchone()[0] == 10
    assert conn.execute("SELECT sum(changed), count(*) FROM events").fetchone() == (1, 10)
    conn.close()


def test_every_webhook_leaves_its_log_line_though_the_server_stops_at_once(tmp_path):
    """Lines are written in batches (handlers/web/log_batches.py): a worker that stops writes what it queued."""
    with serve(tmp_path) as (base, _):
        senders = [f"+1415555{n:04d}" for n in range(3)]
        for sender in senders:
            post_signed(f"{base}/webhooks/twilio/sms", twilio_params("STOP", sender=sender))
    log = (tmp_path / "server.log").read_text()
    lines = [line for line in log.splitlines() if "webhook sms twilio: action=opt_out rule=keyword" in line]
    assert len(lines) == 3, log
