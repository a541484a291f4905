"""The Procfile's web command run for real, as tests start, kill and restart it, and Twilio's deliveries to it."""

import http.client
import os
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from conftest import ADMIN_TOKEN, AUTH_TOKEN, ROOT, free_port, procfile_line
from twilio.request_validator import RequestValidator


class Service:
    """The Procfile's web command on one port and one database, which a test can kill and restart."""

    def __init__(self, tmp_path, **env):
        """`env`: more settings, e.g. DATABASE_URL for PostgreSQL (the default is a SQLite file in tmp_path)."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.db = str(tmp_path / "faults.sqlite3")
        self.env = {**os.environ, "PATH": f"{os.path.dirname(os.sys.executable)}:{os.environ['PATH']}",
                    "PORT": str(self.port), "DATABASE_PATH": self.db, "KEYWORDS_PATH": str(ROOT / "keywords.yaml"),
                    "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "ADMIN_TOKEN": ADMIN_TOKEN, "WEB_CONCURRENCY": "2", **env}
        self.process = None

    def release(self):
        """The Procfile's release command (migrate) with this service's settings."""
        subprocess.run(procfile_line("release"), shell=True, cwd=ROOT, env=self.env, check=True, capture_output=True)

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
        self.kill_all()  # not left running (and holding a port and CPU) after the test fails
        raise AssertionError("the service did not start")

    def workers(self):
        out = subprocess.run(["pgrep", "-P", str(self.master())], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def master(self):
        out = subprocess.run(["pgrep", "-f", f"gunicorn --bind [0-9.]*:{self.port}", "-o"], capture_output=True,
                             text=True).stdout
        return int(out.split()[0])

    def kill_all(self):
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(10)


def deliver(service, params):
    """One delivery as Twilio makes it; the HTTP status, or None when the connection failed."""
    return deliver_with_body(service, params)[0]


def deliver_with_body(service, params):
    """(HTTP status or None when the connection failed, the response body)."""
    url = f"{service.base}/webhooks/twilio/sms"
    request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), headers={
        "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params)})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, http.client.HTTPException, OSError):
        return None, ""
