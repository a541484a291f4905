"""Personal data under control (issue 24), on both databases: erasure that keeps the opt-out and leaves
nothing of the person in the database's files, retention, and the access export."""

import base64
import hashlib
import hmac
import io
import json
import re
from pathlib import Path

import psycopg
import pytest
from conftest import ADMIN_TOKEN, twilio_params, twilio_post

from handlers.core.personal_data import Digester, ErasureKeyError, address_digest
from handlers.storage import imports
from handlers.storage.retention import DailyPrune

pytestmark = pytest.mark.backends("sqlite", "postgresql")

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ERASURE_KEY = "test-erasure-key-0123456789abcdef"
USER, PASSWORD = "inbound", "inbound-secret"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}

PHONE, EMAIL, OTHER = "+14155550141", "quentin.flamingo@example.org", "+14155550142"
# What each person leaves: their address and words no one else writes.
TRACES = {
    PHONE: [PHONE, "zebramarmalade"],
    EMAIL: [EMAIL, "tangerinequartz", "Quentin Flamingo"],
    OTHER: [OTHER, "violetpelican"],
}


@pytest.fixture
def settings(settings):
    return {**settings, "ERASURE_KEY": ERASURE_KEY, "INBOUND_EMAIL_USER": USER, "INBOUND_EMAIL_PASSWORD": PASSWORD}


def email_unsubscribe(client, sender=EMAIL, words="tangerinequartz"):
    """A person's reply as raw MIME, its words in the text and the HTML part."""
    message = (
        f"From: Quentin Flamingo <{sender}>\r\nTo: news@acme.example\r\nSubject: Re: Spring sale\r\n"
        f"Message-ID: <{words}-1@example.org>\r\nDate: Mon, 3 Mar 2025 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n'
        f"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nunsubscribe {words}\r\n"
        f"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>unsubscribe {words}</p>\r\n--b1--\r\n")
    response = client.post("/webhooks/email/mime", data=message.encode(), content_type="message/rfc822", headers=BASIC)
    assert response.status_code == 200, response.text


def text(client, body, sender):
    response = twilio_post(client, twilio_params(body, sender=sender))
    assert response.status_code == 200
    return response.text


def api(client, path, **body):
    response = client.post(f"/api/v1/{path}", json=body, headers=AUTH)
    assert response.status_code == 200, response.json
    return response.json


def flask(app, *args):
    """`flask ARGS` as the command line runs it (FlaskGroup pushes the app's context)."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def suppressed(client, channel, address, category=None):
    body = {"channel": channel, "addresses": [address], **({"category": category} if category else {})}
    return api(client, "suppressions/check", **body)["suppressed"] == [address]


def traces_left(settings, words) -> set[str]:
    """Which of `words` the database still holds: in the SQLite file and its WAL, byte for byte; in every
    text column of every PostgreSQL table."""
    if settings["DATABASE_URL"] is None:
        held = b"".join(Path(settings["DATABASE_PATH"] + suffix).read_bytes()
                        for suffix in ("", "-wal") if Path(settings["DATABASE_PATH"] + suffix).exists())
        return {word for word in words if word.encode() in held}
    found = set()
    with psycopg.connect(settings["DATABASE_URL"], autocommit=True) as conn:
        columns = conn.execute("SELECT table_name, column_name FROM information_schema.columns "
                               "WHERE table_schema = current_schema() AND data_type IN ('text', 'character varying', "
                               "'json', 'jsonb')").fetchall()
        assert len(columns) > 40  # every table's, not a few
        for table, column in columns:
            for word in words:
                if conn.execute(f'SELECT 1 FROM "{table}" WHERE "{column}"::text LIKE %s LIMIT 1',
                                (f"%{word}%",)).fetchone():
                    found.add(word)
    return found


@pytest.fixture
def three_people(client):
    """PHONE stopped by SMS, EMAIL unsubscribed by email, OTHER stopped too; each left words of their own."""
    text(client, "STOP", PHONE)
    text(client, "is the zebramarmalade sale over", PHONE)
    email_unsubscribe(client)
    text(client, "STOP", OTHER)
    text(client, "ask about violetpelican", OTHER)
    return client


def test_done_when(three_people, app, settings, db):
    client = three_people
    everything = [word for words in TRACES.values() for word in words]
    assert traces_left(settings, everything) == set(everything)  # the scan sees what is there

    erased_sms = api(client, "erasures", channel="sms", address="(415) 555-0141")
    assert erased_sms["kept"] == ["*"] and erased_sms["removed"]["messages"] == 2
    assert erased_sms["physically_removed"]
    result = flask(app, "erase", "--channel", "email", EMAIL.upper())
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["kept"] == ["*"]

    assert traces_left(settings, TRACES[PHONE] + TRACES[EMAIL]) == set()
    assert traces_left(settings, TRACES[OTHER]) == set(TRACES[OTHER])  # and only theirs went
    for row in db.execute("SELECT actor, channel, kept FROM erasures ORDER BY id"):
        actor, channel, kept = row
        assert kept == '["*"]' and actor.startswith({"sms": "api:", "email": "cli:"}[channel])

    for channel, address in (("sms", PHONE), ("email", EMAIL)):
        assert suppressed(client, channel, address)
        assert suppressed(client, channel, address, "surveys")

    store = app.extensions["optout"].store
    rows_before = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("consent", "events")}
    for channel, line in (("sms", PHONE), ("email", EMAIL)):
        report = imports.import_suppressions(store, io.BytesIO(f"{line}\n".encode()), channel, "US")
        assert (report.imported, report.erased) == (0, 1)
    assert {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in rows_before} == rows_before

    assert "START" in text(client, "START", PHONE) or not suppressed(client, "sms", PHONE)
    assert not suppressed(client, "sms", PHONE) and not suppressed(client, "sms", PHONE, "surveys")
    assert db.execute("SELECT count(*) FROM erased_suppressions WHERE channel = 'sms'").fetchone()[0] == 0

    pruned = flask(app, "prune", "--older-than", "0")
    assert pruned.exit_code == 0, pruned.output
    assert re.match(r"pruned [1-9]\d* messages", pruned.output)
    assert db.execute("SELECT count(*) FROM messages WHERE body <> '' OR params <> '{}'").fetchone()[0] == 0
    assert traces_left(settings, ["violetpelican"]) == set()
    assert suppressed(client, "email", EMAIL) and suppressed(client, "sms", OTHER)
    assert not suppressed(client, "sms", PHONE)


def test_the_export_holds_everything_of_its_person_and_nothing_of_anyone_else(three_people, db):
    exported = api(three_people, "people/export", channel="sms", address=OTHER)
    assert [m["text"] for m in exported["messages"]] == ["STOP", "ask about violetpelican"]
    assert [m["decision"] for m in exported["messages"]] == ["opt_out", "none"]
    held = db.execute("SELECT count(*) FROM events WHERE address = ?", (OTHER,)).fetchone()[0]
    assert len(exported["consent_events"]) == held == 1
    assert exported["state"]["all"] == "suppressed"
    assert {k["how_long"] for k in exported["kept"]} >= {"90 days (MESSAGE_RETENTION_DAYS), then removed"}
    dumped = json.dumps(exported)
    assert not [word for word in TRACES[PHONE] + TRACES[EMAIL] if word in dumped]
    emailed = api(three_people, "people/export", channel="email", address=EMAIL)
    assert [m["decision"] for m in emailed["messages"]] == ["opt_out"]
    assert "tangerinequartz" in emailed["messages"][0]["text"]


def test_an_export_of_suppressions_lists_the_erased_by_digest(three_people):
    api(three_people, "erasures", channel="sms", address=PHONE)
    listed = three_people.get("/api/v1/suppressions?channel=sms&format=json", headers=AUTH).json
    assert [row["address"] for row in listed][0] == OTHER
    assert re.fullmatch(r"hmac-sha256:[0-9a-f]{64}", listed[1]["address"]) and listed[1]["scope"] == "all"
    assert PHONE not in json.dumps(listed)


def test_the_lookup_takes_the_address_in_the_body(three_people):
    by_url = three_people.get(f"/api/v1/contacts/sms/{OTHER}", headers=AUTH).json
    assert api(three_people, "contacts/lookup", channel="sms", address=OTHER) == by_url
    refused = three_people.post("/api/v1/contacts/lookup", json={"channel": "fax", "address": OTHER}, headers=AUTH)
    assert refused.status_code == 400 and OTHER not in refused.text


def test_erasure_refuses_without_the_key(make_app, settings):
    app = make_app({**settings, "ERASURE_KEY": None})
    client = app.test_client()
    text(client, "STOP", PHONE)
    response = client.post("/api/v1/erasures", json={"channel": "sms", "address": PHONE}, headers=AUTH)
    assert response.status_code == 503 and "ERASURE_KEY" in response.json["error"]
    result = flask(app, "erase", "--channel", "sms", PHONE)
    assert result.exit_code == 1 and "ERASURE_KEY is not set" in result.output
    assert suppressed(client, "sms", PHONE)  # and nothing went


@pytest.mark.parametrize("later_key", [None, "another-erasure-key-0123456789"])
def test_a_lost_or_changed_key_stops_the_service_from_serving(three_people, make_app, settings, later_key):
    api(three_people, "erasures", channel="sms", address=PHONE)
    with pytest.raises(ErasureKeyError, match="ERASURE_KEY"):
        make_app({**settings, "ERASURE_KEY": later_key})


def test_retention_keeps_what_proves_the_decision(three_people, app, db):
    assert "pruned 0 messages" in flask(app, "prune", "--older-than", "1").output
    assert flask(app, "prune", "--older-than", "0").exit_code == 0
    rows = db.execute("SELECT channel, address, action, rule, matched, provider_id, received_at, body, params "
                      "FROM messages WHERE address = ? ORDER BY id", (OTHER,)).fetchall()
    assert [tuple(r)[:3] for r in rows] == [("sms", OTHER, "opt_out"), ("sms", OTHER, "none")]
    assert all(r["provider_id"] and r["received_at"] and r["rule"] for r in rows)
    assert [(r["body"], r["params"]) for r in rows] == [("", "{}"), ("", "{}")]
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 3  # consent events are never pruned


def test_the_dashboard_erases_after_a_confirmation(three_people, app):
    admin = app.test_client()
    login = admin.get("/admin/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)
    admin.post("/admin/login", data={"token": ADMIN_TOKEN, "csrf": csrf, "next": "/admin"})
    page = admin.get(f"/admin/contacts?channel=sms&address={OTHER}").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = {"csrf": csrf, "channel": "sms", "address": OTHER}
    exported = admin.post("/admin/contacts/export", data=form)
    assert exported.status_code == 200 and exported.json["address"] == OTHER
    confirm = admin.post("/admin/contacts/erase", data=form)
    assert confirm.status_code == 200 and "confirm-erase" in confirm.text
    assert suppressed(three_people, "sms", OTHER) and api(three_people, "contacts/lookup", channel="sms",
                                                           address=OTHER)["messages"]  # nothing erased yet
    done = admin.post("/admin/contacts/erase", data={**form, "confirmed": "yes"})
    assert done.status_code == 200 and "Erased" in done.text and OTHER not in done.text
    assert api(three_people, "contacts/lookup", channel="sms", address=OTHER)["messages"] == []
    assert suppressed(three_people, "sms", OTHER)


@pytest.mark.parametrize("key", ["k" * 16, "k" * 64, "a key longer than the block of SHA-256 " * 3])
@pytest.mark.parametrize("address", ["+14155550100", "pat@example.org", "ünïcode@example.org"])
def test_the_fast_digest_is_hmac_sha256(key, address):
    expected = hmac.new(key.encode(), f"email\n{address}".encode(), hashlib.sha256).hexdigest()
    assert Digester(key, "email")(address) == address_digest(key, "email", address) == expected


def test_the_worker_prunes_at_start_then_daily(three_people, app, db):
    now = [1000.0]
    daily = DailyPrune(app.extensions["optout"].store, 0, clock=lambda: now[0])
    assert daily()["messages"] == 5
    text(three_people, "a later violetpelican", OTHER)
    now[0] += DailyPrune.interval - 1
    assert daily() is None  # not a day yet
    assert db.execute("SELECT count(*) FROM messages WHERE body <> ''").fetchone()[0] == 1
    now[0] += 1
    assert daily()["messages"] == 1


def test_an_erasure_withholds_the_address_from_consent_webhooks_and_announces_it(make_app, settings, db):
    """The systems kept in step (issue 29) hear of the erasure, and the rows queued for them keep no address."""
    app = make_app({**settings, "CONSENT_WEBHOOK_URLS": "https://crm.example/hooks",
                    "CONSENT_WEBHOOK_SECRET": "whsec_" + base64.b64encode(b"k" * 32).decode()})
    client = app.test_client()
    text(client, "STOP zebramarmalade", PHONE)
    assert api(client, "erasures", channel="sms", address=PHONE)["kept"] == ["*"]
    bodies = [json.loads(payload) for (payload,) in db.execute("SELECT payload FROM consent_webhooks ORDER BY id")]
    assert [(b["type"], b["data"]["address"], b["data"]["address_withheld"], b["data"]["source"]) for b in bodies] == [
        ("consent.opt_out", None, True, "keyword"),
        ("consent.suppressed", None, True, "operator"),
    ]
    assert traces_left(settings, [PHONE]) == set()
