"""The production command from the Procfile, started for real, answering a signed STOP over HTTP."""

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import AUTH_TOKEN, ROOT, twilio_params
from twilio.request_validator import RequestValidator


def procfile_line(kind: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{kind}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"Procfile has no {kind}: line")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PORT": str(port),
        "DATABASE_PATH": str(tmp_path / "live.sqlite3"),
        "KEYWORDS_PATH": str(ROOT / "keywords.yaml"),
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "ADMIN_TOKEN": "live-admin",
        "WEB_CONCURRENCY": "2",
    }
    release = subprocess.run(procfile_line("release"), shell=True, cwd=ROOT, env=env, capture_output=True, text=True)
    assert release.returncode == 0, release.stderr
    server = subprocess.Popen(procfile_line("web"), shell=True, cwd=ROOT, env=env, start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1) as r:
                if r.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError):
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"gunicorn did not start:\n{server.stdout.read()}") from None
            time.sleep(0.1)
    yield base, env
    os.killpg(server.pid, 15)
    server.wait(timeout=10)


def test_a_signed_stop_over_http_is_stored_and_confirmed(served):
    base, env = served
    url = f"{base}/webhooks/twilio/sms"
    params = twilio_params("STOP", sender="+14155550123")
    request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), headers={
        "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params),
        "Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=5) as response:
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
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 403


def post_signed(url, params):
    request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), headers={
        "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params)})
    with urllib.request.urlopen(request, timeout=10) as response:
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
