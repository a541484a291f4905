"""Consent webhooks out: every change of consent reaches a real receiver on localhost, signed as the
Standard Webhooks specification says and checked by that project's own Python verifier
(`standardwebhooks`, as a receiver would); through the running mail worker, in order per person,
again after an outage, exactly once per webhook-id; listed on the dashboard with "retry now"; replayed
by `flask replay-consent-webhooks`. On SQLite and PostgreSQL.
"""

import base64
import json
import os
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import ADMIN_TOKEN, HANG, ROOT, free_port, twilio_params, twilio_post, wait_until
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from handlers.core.consent_webhooks import (
    ConsentChange,
    ConsentWebhookError,
    headers,
    payload,
    secret_key,
    shown_url,
    source_of,
)

pytestmark = pytest.mark.backends("sqlite", "postgresql")

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
PERSON = "+14155550100"


class Receiver:
    """A real HTTP server on localhost that keeps every POST (headers, body) and answers `status`."""

    def __init__(self, port: int, status: int = 204):
        self.port, self.status, self.received, self._server = port, status, [], None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/consent"

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body, time.monotonic()))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def verified(self) -> list[dict]:
        """Every body received, checked as a receiver checks it; raises WebhookVerificationError."""
        return [Webhook(SECRET).verify(body, headers) for headers, body, _ in self.received]

    def ids(self) -> list[str]:
        return [headers["webhook-id"] for headers, _, _ in self.received]


@pytest.fixture
def receiver():
    made = Receiver(free_port())
    yield made
    made.stop()


@pytest.fixture
def hook_settings(settings, receiver):
    return {**settings, "CONSENT_WEBHOOK_URLS": receiver.url, "CONSENT_WEBHOOK_SECRET": SECRET}


@pytest.fixture
def app(hook_settings, make_app):
    app = make_app(hook_settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def worker(hook_settings, tmp_path):
    """The Procfile's worker (flask mail-worker), running for real against the test's database."""
    env = {**os.environ, **{k: v for k, v in hook_settings.items() if v is not None}}
    log = open(tmp_path / "worker.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "mail-worker"], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    wait_until(lambda: "mail worker: started" in (tmp_path / "worker.log").read_text() or process.poll() is not None,
               "the mail worker starting")
    assert process.poll() is None, (tmp_path / "worker.log").read_text()
    yield process
    process.terminate()
    process.wait(timeout=HANG)
    log.close()


def rows(db):
    return db.execute("SELECT webhook_id, url, attempts, sent_at, failed_at, last_error FROM consent_webhooks "
                      "ORDER BY id").fetchall()


def text(client, body, sender=PERSON):
    response = twilio_post(client, twilio_params(body, sender))
    assert response.status_code == 200
    return response


def test_a_stop_reaches_the_receiver_signed_within_two_seconds(client, receiver, worker):
    receiver.start()
    text(client, "STOP")
    answered = time.monotonic()
    wait_until(lambda: receiver.received, "the consent webhook", seconds=HANG)
    assert receiver.received[0][2] - answered < 2.0
    (change,) = receiver.verified()
    assert change["type"] == "consent.opt_out"
    assert {k: change["data"][k] for k in ("channel", "address", "scope", "action", "source", "recorded_by")} == {
        "channel": "sms", "address": PERSON, "scope": "all", "action": "opt_out", "source": "keyword",
        "recorded_by": "sms:twilio"}
    assert isinstance(change["data"]["message_id"], int)


def test_with_the_receiver_down_each_change_arrives_after_it_is_back_once_per_id_in_order(client, db, receiver,
                                                                                        worker):
    text(client, "STOP")
    wait_until(lambda: any(r["last_error"] and "ConnectionError" in r["last_error"] for r in rows(db)),
               "a failed first attempt")
    text(client, "START")  # queued behind the STOP: it must not overtake it
    receiver.start()
    wait_until(lambda: all(r["sent_at"] for r in rows(db)) and len(rows(db)) == 2, "both delivered")
    actions = [change["data"]["action"] for change in receiver.verified()]
    assert actions == ["opt_out", "opt_in"]
    assert sorted(receiver.ids()) == sorted(r["webhook_id"] for r in rows(db))  # each id once, none again
    assert rows(db)[0]["attempts"] >= 1  # it failed while the receiver was down


@pytest.mark.parametrize("tamper", ["body", "timestamp", "id", "signature", "none"])
def test_a_change_in_transit_fails_the_signature(tamper):
    body = payload(ConsentChange("sms", PERSON, "opt_out", (), "2026-03-01T17:05:00.000000+00:00", "sms:twilio"))
    sent = headers(secret_key(SECRET), "msg_test", int(time.time()), body)
    if tamper == "body":
        body = body.replace(b"opt_out", b"opt_in_")
    elif tamper == "timestamp":
        sent["webhook-timestamp"] = str(int(sent["webhook-timestamp"]) - 1)
    elif tamper == "id":
        sent["webhook-id"] = "msg_other"
    elif tamper == "signature":
        sent["webhook-signature"] = "v1," + base64.b64encode(b"x" * 32).decode()
    if tamper == "none":
        assert Webhook(SECRET).verify(body, sent)["data"]["action"] == "opt_out"
    else:
        with pytest.raises(WebhookVerificationError):
            Webhook(SECRET).verify(body, sent)


@pytest.mark.parametrize("secret", [None, "", "not-whsec", "whsec_***", "whsec_" + base64.b64encode(b"short").decode()])
def test_an_unusable_secret_is_refused_clearly(secret):
    with pytest.raises(ConsentWebhookError, match="CONSENT_WEBHOOK_SECRET"):
        secret_key(secret)


@pytest.mark.parametrize("recorded_by, rule, source", [
    ("sms:twilio", "keyword", "keyword"),
    ("email:postmark", "phrase", "keyword"),
    ("email:web", "preference_page", "link"),
    ("sms:web", "one_click", "link"),
    ("email:postmark", "provider_event:SubscriptionChange", "provider_event"),
    ("email:mime", "provider_complaint", "provider_event"),
    ("sms:twilio", "provider_event:21610", "provider_event"),
    ("pull:sendgrid", None, "provider_event"),
    ("review:admin", "review:opt_out", "operator"),
    ("import:plain", None, "operator"),
])
def test_each_change_names_where_it_came_from(recorded_by, rule, source):
    assert source_of(recorded_by, rule) == source


@pytest.mark.parametrize("url, shown", [
    ("https://crm.example/hooks/consent", "https://crm.example/hooks/consent"),
    ("https://user:secret@crm.example:8443/hooks?token=abc", "https://crm.example:8443/hooks"),
])
def test_a_receivers_credentials_and_query_are_never_shown(url, shown):
    assert shown_url(url) == shown


def test_nothing_is_queued_without_receivers_and_an_unchanged_state_is_not_sent(settings, make_app, db, app, client):
    plain = make_app(settings).test_client()
    text(plain, "STOP", "+14155550101")
    assert rows(db) == []
    text(client, "STOP")
    text(client, "STOP")  # already opted out: no change, nothing to tell
    assert len(rows(db)) == 1


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def admin_login(client) -> str:
    """Log in as an operator does; the CSRF token of the dashboard's forms."""
    form = client.get("/admin/login").get_data(as_text=True)
    client.post("/admin/login", data={"token": ADMIN_TOKEN, "csrf": csrf_of(form)})
    return csrf_of(client.get("/admin/deliveries").get_data(as_text=True))


def test_the_dashboard_lists_deliveries_and_retries_one_now(app, client, db, receiver):
    text(client, "STOP")
    db.execute("UPDATE consent_webhooks SET attempts = 7, last_error = 'http://x: 503 Service Unavailable', "
               "next_attempt_at = '2999-01-01T00:00:00+00:00'")
    db.commit()
    csrf = admin_login(client)
    page = client.get("/admin/deliveries").get_data(as_text=True)
    assert "Pending: 1" in page and "503 Service Unavailable" in page and "2999-01-01 00:00:00 UTC" in page
    (row_id,) = db.execute("SELECT id FROM consent_webhooks").fetchone()
    refused = client.post(f"/admin/deliveries/{row_id}/retry", data={"csrf": "wrong"})
    assert refused.status_code == 400
    assert rows(db)[0]["attempts"] == 7
    done = client.post(f"/admin/deliveries/{row_id}/retry", data={"csrf": csrf}, follow_redirects=True)
    assert "is due now" in done.get_data(as_text=True)
    receiver.start()
    with app.app_context():
        from handlers.sync.consent_webhooks import deliver_due
        from handlers.web.context import services
        assert deliver_due(services().store, SECRET)["delivered"] == 1
    assert receiver.verified()[0]["data"]["action"] == "opt_out"


def test_three_days_without_a_2xx_gives_up_and_keeps_the_last_error(app, db, client, receiver):
    receiver.status = 500
    receiver.start()
    text(client, "STOP")
    db.execute("UPDATE consent_webhooks SET created_at = '2000-01-01T00:00:00+00:00'")
    db.commit()
    with app.app_context():
        from handlers.sync.consent_webhooks import deliver_due
        from handlers.web.context import services
        assert deliver_due(services().store, SECRET) == {"delivered": 0, "retry": 0, "failed": 1}
    (row,) = rows(db)
    assert row["failed_at"] and "no 2xx in 3 days" in row["last_error"] and "500" in row["last_error"]


def test_replay_sends_each_change_since_a_date_again_with_its_first_id(app, client, db):
    text(client, "STOP")
    text(client, "START")
    db.execute("UPDATE consent_webhooks SET sent_at = created_at")
    db.commit()
    first = [r["webhook_id"] for r in rows(db)]
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["replay-consent-webhooks", "--since", "2000-01-01"])
        assert result.exit_code == 0, result.output
        assert "queued 2 consent webhooks" in result.output
        again = app.test_cli_runner().invoke(args=["replay-consent-webhooks", "--since", "2000-01-01"])
        assert "queued 0 consent webhooks" in again.output  # already waiting: not twice
        late = app.test_cli_runner().invoke(args=["replay-consent-webhooks", "--since", "2999-01-01"])
        assert "queued 0 consent webhooks" in late.output
    pending = [r["webhook_id"] for r in rows(db) if not r["sent_at"]]
    assert pending == first
    bodies = [json.loads(b) for (b,) in db.execute("SELECT payload FROM consent_webhooks ORDER BY id").fetchall()]
    assert [b["data"]["action"] for b in bodies] == ["opt_out", "opt_in", "opt_out", "opt_in"]


def test_an_erasure_withholds_the_address_and_announces_a_suppression(app, db, client, receiver):
    """What issue 24's erasure calls, in its own transaction: no copy of the address stays here."""
    from handlers.storage.consent_webhooks import queue_withheld, withhold_address
    from handlers.sync.consent_webhooks import deliver_due
    from handlers.web.context import services

    text(client, "STOP")
    receiver.start()
    with app.app_context():
        store = services().store
        assert store.write(lambda conn: withhold_address(conn, "sms", PERSON)) == 1
        assert store.write(lambda conn: queue_withheld(conn, store.webhook_to, "sms", "erasure:admin")) == 1
        assert deliver_due(store, SECRET)["delivered"] == 2
    bodies = [(c["type"], c["data"]["address"], c["data"]["address_withheld"], c["data"]["source"])
              for c in receiver.verified()]
    assert bodies == [("consent.opt_out", None, True, "keyword"), ("consent.suppressed", None, True, "operator")]
    assert not any(PERSON in p for (p,) in db.execute("SELECT person || payload FROM consent_webhooks").fetchall())


def bodies(db) -> list[dict]:
    return [json.loads(b)["data"] for (b,) in db.execute("SELECT payload FROM consent_webhooks ORDER BY id")]


def test_an_import_and_an_operators_review_are_announced_too(app, db, client, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("+14155550101\n+14155550102\n")
    with app.app_context():
        for _ in range(2):  # the second import changes nothing, so announces nothing
            result = app.test_cli_runner().invoke(args=["import-suppressions", str(listing)])
            assert result.exit_code == 0, result.output
    text(client, "STOP", "+14155550103")
    text(client, "hello there")
    (message_id,) = db.execute("SELECT id FROM messages WHERE address = ?", (PERSON,)).fetchone()
    app.extensions["optout"].store.review(message_id, "opt_out", "admin", ())
    events = {row["id"]: row["address"] for row in db.execute("SELECT id, address FROM events")}
    assert [(b["address"], b["action"], b["source"], b["recorded_by"]) for b in bodies(db)] == [
        ("+14155550101", "opt_out", "operator", "import:plain"),
        ("+14155550102", "opt_out", "operator", "import:plain"),
        ("+14155550103", "opt_out", "keyword", "sms:twilio"),
        (PERSON, "opt_out", "operator", "review:admin"),
    ]
    assert all(events[b["event_id"]] == b["address"] for b in bodies(db))
