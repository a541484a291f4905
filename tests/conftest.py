import contextlib
import itertools
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from app import create_app

ROOT = Path(__file__).resolve().parent.parent
AUTH_TOKEN = "test-twilio-auth-token"
ADMIN_TOKEN = "test-admin-token"
_sids = itertools.count(1)


@pytest.fixture
def settings(tmp_path):
    return {
        "DATABASE_PATH": str(tmp_path / "optout.sqlite3"),
        "KEYWORDS_PATH": str(ROOT / "keywords.yaml"),
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PUBLIC_BASE_URL": None,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "DEFAULT_REGION": "US",
    }


@pytest.fixture
def app(settings):
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    app.extensions["optout"].store.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(settings):
    """A separate connection to the same file, to see what was committed."""
    conn = sqlite3.connect(settings["DATABASE_PATH"])
    conn.row_factory = sqlite3.Row
    yield conn
    conn.close()


def new_sid() -> str:
    return f"SM{os.getpid():08x}{next(_sids):024x}"


def twilio_params(body: str, sender: str = "+14155550100", **extra) -> dict:
    """Form parameters shaped like a real Twilio inbound SMS webhook."""
    sid = extra.pop("MessageSid", None) or new_sid()
    params = {
        "ToCountry": "US", "ToState": "CA", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "SAN FRANCISCO",
        "FromZip": "94105", "SmsSid": sid, "FromState": "CA", "SmsStatus": "received", "FromCity": "SAN FRANCISCO",
        "Body": body, "FromCountry": "US", "To": "+14155550199", "ToZip": "94105", "NumSegments": "1",
        "MessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": sender, "ApiVersion": "2010-04-01",
    }
    params.update(extra)
    return params


def twilio_post(client, params: dict, url: str = "http://localhost/webhooks/twilio/sms", token: str = AUTH_TOKEN,
                headers: dict | None = None):
    """POST `params` as Twilio would, signed with the SDK's RequestValidator over `url`."""
    signature = RequestValidator(token).compute_signature(url, params)
    return client.post(url, data=params, headers={"X-Twilio-Signature": signature, **(headers or {})})

def procfile_line(kind: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith(f"{kind}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"Procfile has no {kind}: line")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(tmp_path, **extra_env):
    """The Procfile's release and web commands, run for real on a free port: yields (base URL, env)."""
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PORT": str(port),
        "DATABASE_PATH": str(tmp_path / "live.sqlite3"),
        "KEYWORDS_PATH": str(ROOT / "keywords.yaml"),
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "WEB_CONCURRENCY": "2",
        **extra_env,
    }
    release = subprocess.run(procfile_line("release"), shell=True, cwd=ROOT, env=env, capture_output=True, text=True)
    assert release.returncode == 0, release.stderr
    server = subprocess.Popen(procfile_line("web"), shell=True, cwd=ROOT, env=env, start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    try:
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
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=10)
