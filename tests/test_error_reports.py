"""SENTRY_DSN: an unhandled error reaches the Sentry ingest endpoint (here a local HTTP server standing
in for it) with no address and no person's words in the report."""

import gzip
import http.server
import json
import threading

import pytest
import sentry_sdk
from conftest import free_port, twilio_params, twilio_post, wait_until

from handlers.core import intake
from handlers.web.error_reports import scrub_text

PHONE, WORDS = "+14155550177", "please stop texting me about the sale"


class Ingest(http.server.BaseHTTPRequestHandler):
    """Sentry's envelope endpoint (POST /api/<project>/envelope/): keeps each body, decompressed."""

    received: list[bytes] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.received.append((self.path, body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def ingest():
    Ingest.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Ingest)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    sentry_sdk.get_client().close()  # this process's client goes; the next test starts without one
    server.shutdown()
    server.server_close()


def events(received) -> list[dict]:
    """The error events in the envelopes received (an envelope: a header line, then item header and item lines)."""
    found = []
    for _, body in received:
        lines = body.split(b"\n")
        for header, item in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                found.append(json.loads(item))
    return found


def test_an_unhandled_error_is_reported_without_the_address_or_the_words(make_app, settings, ingest, monkeypatch):
    def failing_read(inbound, table):
        # As Python's own errors show a value they choked on: quoted, and here the address too.
        raise ValueError(f"cannot read {inbound.text!r} from {inbound.address}")

    monkeypatch.setattr(intake, "read", failing_read)
    app = make_app({**settings, "SENTRY_DSN": f"http://public-key@127.0.0.1:{ingest.server_port}/42"})
    response = twilio_post(app.test_client(), twilio_params(WORDS, sender=PHONE))
    assert response.status_code == 500
    sentry_sdk.flush(timeout=30)
    wait_until(lambda: events(Ingest.received), "the error event at the ingest endpoint", 60)
    assert all(path == "/api/42/envelope/" for path, _ in Ingest.received)
    errors = [e for e in events(Ingest.received) if e.get("exception")]
    assert errors, events(Ingest.received)
    [error] = errors[0]["exception"]["values"][-1:]
    assert error["type"] == "ValueError"
    assert error["value"] == "cannot read '•••' from +•••77"  # scrubbed, not dropped: the report still says what failed
    sent = b"".join(body for _, body in Ingest.received).decode()
    for needle in (PHONE, PHONE[2:], "4155550177", WORDS, "texting", "the sale"):
        assert needle not in sent, needle


@pytest.mark.parametrize("text, scrubbed", [
    ("invalid literal for int() with base 10: 'STOP'", "invalid literal for int() with base 10: '•••'"),
    ('no such keyword "arrête"', "no such keyword '•••'"),
    ("could not deliver to pat.doe@example.org", "could not deliver to p•••@e•••.org"),
    ("from +44 7700 900123 at 10:02", "from +•••23 at 10:02"),
    ("GET /u/AbC123.sig-x?x=1", "GET /u/•••?x=1"),
    ("database is locked", "database is locked"),
])
def test_what_an_error_message_may_carry_is_scrubbed(text, scrubbed):
    assert scrub_text(text) == scrubbed
