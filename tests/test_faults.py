"""Hurt the real service and check nothing acknowledged is lost: kill -9 a worker, then the whole
server, in the middle of a stream of signed STOPs; restart; every 2xx is in the database, the file
passes integrity_check, and the retried deliveries of the unanswered ones are recorded once."""

import http.client
import os
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import ADMIN_TOKEN, AUTH_TOKEN, ROOT, free_port, procfile_line, twilio_params
from twilio.request_validator import RequestValidator


class Service:
    """The Procfile's web command on one port and one database, which a test can kill and restart."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.db = str(tmp_path / "faults.sqlite3")
        self.env = {**os.environ, "PATH": f"{os.path.dirname(os.sys.executable)}:{os.environ['PATH']}",
                    "PORT": str(self.port), "DATABASE_PATH": self.db, "KEYWORDS_PATH": str(ROOT / "keywords.yaml"),
                    "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "ADMIN_TOKEN": ADMIN_TOKEN, "WEB_CONCURRENCY": "2"}
        self.process = None

    def start(self):
        self.process = subprocess.Popen(procfile_line("web"), shell=True, cwd=ROOT, env=self.env,
                                        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        raise AssertionError("the service did not start")

    def workers(self):
        out = subprocess.run(["pgrep", "-P", str(self.master())], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def master(self):
        out = subprocess.run(["pgrep", "-f", f"gunicorn --bind 0.0.0.0:{self.port}", "-o"], capture_output=True,
                             text=True).stdout
        return int(out.split()[0])

    def kill_all(self):
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(10)


@pytest.fixture
def service(tmp_path):
    service = Service(tmp_path)
    subprocess.run(procfile_line("release"), shell=True, cwd=ROOT, env=service.env, check=True, capture_output=True)
    service.start()
    yield service
    service.stop()


def deliver(service, params):
    """One delivery as Twilio makes it; the HTTP status, or None when the connection failed."""
    url = f"{service.base}/webhooks/twilio/sms"
    request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), headers={
        "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params)})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, http.client.HTTPException, OSError):
        return None


def stream(service, messages, hurt, after):
    """Deliver `messages` from 16 threads; call hurt() once `after` of them have been answered."""
    results, answered = {}, threading.Event()

    def one(params):
        results[params["MessageSid"]] = deliver(service, params)
        if sum(1 for s in results.values() if s == 200) >= after:
            answered.set()

    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(one, p) for p in messages]
        answered.wait(30)
        hurt()
        for f in futures:
            f.result()
    return results


def check_database(service, results, messages):
    conn = sqlite3.connect(service.db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {r[0] for r in conn.execute("SELECT provider_id FROM messages")}
        acknowledged = {sid for sid, status in results.items() if status == 200}
        assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged opt-outs were lost"
        # Twilio retries what got no answer; each is then recorded exactly once.
        for params in messages:
            if results[params["MessageSid"]] != 200:
                assert deliver(service, params) == 200
        rows = conn.execute("SELECT count(*), count(DISTINCT provider_id) FROM messages").fetchone()
        assert rows == (len(messages), len(messages))
        out = conn.execute("SELECT count(*) FROM consent WHERE scope = '*' AND status = 'out'").fetchone()[0]
        assert out == len(messages)
    finally:
        conn.close()


def stops(n, offset):
    return [twilio_params("STOP", sender=f"+1415{offset + i:07d}") for i in range(n)]


def test_kill_9_of_a_worker_mid_stream_loses_nothing(service):
    messages = stops(400, 1_000_000)
    results = stream(service, messages, lambda: os.kill(service.workers()[0], signal.SIGKILL), after=100)
    assert any(status is None for status in results.values()), "the kill came too late to hurt anything"
    time.sleep(1)  # gunicorn starts a new worker
    check_database(service, results, messages)


def test_kill_9_of_the_whole_server_mid_stream_loses_nothing(service):
    messages = stops(400, 2_000_000)
    results = stream(service, messages, service.kill_all, after=100)
    assert any(status is None for status in results.values()), "the kill came too late to hurt anything"
    service.start()
    check_database(service, results, messages)
