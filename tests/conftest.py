import contextlib
import email
import email.policy
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

import psycopg
import pytest
from aiosmtpd.controller import Controller
from argon2 import PasswordHasher
from pg_server import PostgresUnavailable, create_database, server_url
from twilio.request_validator import RequestValidator

from app import create_app
from handlers.core import credentials
from handlers.core.inbound import Inbound
from handlers.storage.copy import TABLES
from handlers.storage.dialect import pyformat
from handlers.storage.store import Store

ROOT = Path(__file__).resolve().parent.parent
AUTH_TOKEN = "test-twilio-auth-token"
ADMIN_TOKEN = "test-admin-token"
_sids = itertools.count(1)

# The longest a test waits for a server or a command before calling it a hang: generous, because a
# loaded 2-core machine is slow (on a fresh clone the first process trains the model, for minutes),
# and a wait polls for what it needs rather than sleeping, so it costs nothing when all is well.
HANG = 600


def wait_until(condition, what: str, seconds: float = HANG):
    """Poll `condition()` until it is true; an AssertionError naming `what` if it is not within `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(0.05)


BACKENDS = ("sqlite", "postgresql")


def pytest_configure(config):
    config.addinivalue_line("markers", "backends(*names): run the tests on each of these stores (sqlite, postgresql)")
    config.addinivalue_line("markers", "real_password_cost: hash operators' passwords at the production cost")


# Operators' passwords get Argon2id at RFC 9106's cost (64 MiB and three passes: ~50 ms a hash alone, a
# second on a loaded machine), and the tests log in over a thousand times: 81 s of CPU in tests/test_team.py
# alone. So they hash with the same algorithm and code at argon2's lowest cost; a test marked
# real_password_cost keeps the production parameters (tests/test_team.py checks them and the rehash).
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_password_hashing(request, monkeypatch):
    if request.node.get_closest_marker("real_password_cost") is None:
        monkeypatch.setattr(credentials, "_hasher", CHEAP_HASHER)
        monkeypatch.setattr(credentials, "_DUMMY_HASH", None)


def pytest_generate_tests(metafunc):
    """Tests that use a store run on SQLite, and also on PostgreSQL where their module (or the test
    itself) is marked @pytest.mark.backends("sqlite", "postgresql")."""
    if "backend" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("backends")
        metafunc.parametrize("backend", marker.args if marker else ("sqlite",))


def postgres_or_skip() -> str:
    """A PostgreSQL server's URL; a skip saying how to get one, or a failure under CI=true."""
    try:
        return server_url()
    except PostgresUnavailable as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL tests cannot run in CI: {e}")
        pytest.skip(f"PostgreSQL tests skipped: {e}")


@pytest.fixture(scope="session")
def pg_database():
    """One migrated PostgreSQL database for the session; each test starts with its tables empty."""
    url = create_database(postgres_or_skip())
    store = Store(url)
    store.migrate()
    store.close()
    return url


def empty_postgres(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"SET lock_timeout = '{HANG}s'")  # a stopped server's connections may still be closing
        conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")


@pytest.fixture
def database_url(backend, request):
    """None for SQLite (DATABASE_PATH is used), else the URL of an emptied PostgreSQL database."""
    if backend == "sqlite":
        return None
    url = request.getfixturevalue("pg_database")
    empty_postgres(url)
    return url


@pytest.fixture
def settings(tmp_path, database_url):
    return {
        "DATABASE_URL": database_url,
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
    app.extensions["optout"].close()


@pytest.fixture
def make_app():
    """create_app for tests that need their own settings; every app made is closed after the test
    (a PostgreSQL pool left to the garbage collector may be collected in its own thread)."""
    made = []

    def make(test_config=None):
        made.append(create_app(test_config))
        return made[-1]

    yield make
    for app in made:
        app.extensions["optout"].close()


@pytest.fixture
def client(app):
    return app.test_client()


class Row(tuple):
    """A row by index or by column name, as sqlite3.Row gives them."""

    def __new__(cls, values, names):
        row = super().__new__(cls, values)
        row.names = names
        return row

    def __getitem__(self, key):
        return super().__getitem__(self.names.index(key) if isinstance(key, str) else key)

    def keys(self):
        return list(self.names)


class PostgresReader:
    """sqlite3's calls over PostgreSQL (execute with ? placeholders, rows by index or name), so that
    one test reads what was committed in either store."""

    def __init__(self, url: str):
        def rows(cursor):
            names = [c.name for c in cursor.description or ()]
            return lambda values: Row(values, names)
        self.conn = psycopg.connect(url, autocommit=True, row_factory=rows)

    def execute(self, sql: str, params=()):
        return self.conn.execute(pyformat(sql, bool(params)), params or None)

    def commit(self):
        """Nothing to do: every statement commits on its own (autocommit), as the tests expect after commit()."""
        return None

    def close(self):
        self.conn.close()


@contextlib.contextmanager
def table_missing(db, table: str):
    """The table renamed away for the block, so that writes to it fail mid-transaction; back after."""
    db.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
    db.commit()
    try:
        yield
    finally:
        db.execute(f"ALTER TABLE {table}_away RENAME TO {table}")
        db.commit()


@pytest.fixture
def db(settings):
    """A separate connection to the same database, to see what was committed."""
    if settings["DATABASE_URL"]:
        conn = PostgresReader(settings["DATABASE_URL"])
    else:
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


def gunicorn_processes(session: int, port: int) -> int:
    """How many gunicorn processes (master and workers) serve `port` in this session."""
    found = subprocess.run(["pgrep", "-s", str(session), "-f", f"gunicorn --bind [0-9.]*:{port}"],
                           capture_output=True, text=True).stdout
    return len(found.split())


@contextlib.contextmanager
def serve(tmp_path, **extra_env):
    """The Procfile's release and web commands, run for real on a free port: yields (base URL, env)
    once every worker is up. Their output is in tmp_path / "server.log"."""
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
    log = open(tmp_path / "server.log", "w")  # what gunicorn and the app print, read by tests afterwards
    server = subprocess.Popen(procfile_line("web"), shell=True, cwd=ROOT, env=env, start_new_session=True,
                              stdout=log, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + HANG
    try:
        while True:
            try:
                if gunicorn_processes(server.pid, port) > int(env["WEB_CONCURRENCY"]):
                    with urllib.request.urlopen(f"{base}/healthz", timeout=HANG) as r:
                        if r.status == 200:
                            break
            except (urllib.error.URLError, ConnectionError):
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"gunicorn did not start:\n{(tmp_path / 'server.log').read_text()}")
            time.sleep(0.1)
        yield base, env
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=HANG)
        # The shell may go before gunicorn's master and workers: wait for the whole group, so that
        # what they write while stopping is in the log before anyone reads it.
        deadline = time.monotonic() + HANG
        while time.monotonic() < deadline:
            try:
                os.killpg(server.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.killpg(server.pid, 9)
        log.close()


# Email: a real SMTP server that keeps what it receives, and replies as the adapters hand them on.

MAIL_FROM = "Acme Outfitters <no-reply@acme.example>"


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, envelope.rcpt_tos,
                              email.message_from_bytes(envelope.content, policy=email.policy.default)))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.url = f"smtp://127.0.0.1:{controller.port}"
    yield inbox
    controller.stop()


_replies = itertools.count(1)


def reply(text, sender="person@example.org", verified=True, **extra):
    """An email reply as the adapters hand it on (each with its own Message-ID)."""
    message_id = f"<reply-{next(_replies)}@example.org>"
    return Inbound(channel="email", provider="mime", provider_id=message_id, address=sender,
                   recipient="news@acme.example", text=text, message_id=message_id, subject="Re: Spring sale",
                   sender_verified=verified, **extra)
