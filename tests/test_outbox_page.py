"""The dashboard's Outbox (/admin/outbox): confirmation emails waiting for SMTP, changes waiting to reach
a provider, what was given up with its error, and "retry now" (admins only, audited); on both databases,
with rows queued by real email opt-outs through the MIME webhook."""

import pytest
from conftest import ADMIN_TOKEN
from test_admin import csrf_of, email, login, table

from handlers.storage import retry_queue

pytestmark = pytest.mark.backends("sqlite", "postgresql")


@pytest.fixture
def settings(settings):
    return {**settings, "INBOUND_EMAIL_USER": "inbound", "INBOUND_EMAIL_PASSWORD": "inbound-secret",
            "SENDGRID_API_KEY": "SG.test", "SENDGRID_API_URL": "https://api.sendgrid.test"}


@pytest.fixture
def admin(client):
    assert login(client, ADMIN_TOKEN).status_code == 303
    return client


def ids(db, table_name):
    return [row[0] for row in db.execute(f"SELECT id FROM {table_name} ORDER BY id")]


def test_the_outbox_shows_what_waits_what_was_given_up_and_why_and_retries_it(admin, app, db):
    email(admin, "Unsubscribe", sender="pat@example.org")
    email(admin, "unsubscribe me", sender="sam@example.org")
    store = app.extensions["optout"].store
    pat, sam = ids(db, "outbox")
    retry_queue.give_up(store, {"id": sam}, "550 5.1.1 mailbox unavailable")
    page = admin.get("/admin/outbox").text
    assert "SMTP_URL is not set: confirmation emails wait until it is." in page
    assert "Confirmation emails</strong>:\n    1 waiting, 1 failed, 0 sent" in page
    assert "Provider pushes</a>:\n    2 waiting, 0 failed, 0 sent" in page
    [waiting] = table(page, "outbox")
    assert (waiting["Id"], waiting["To"], waiting["Attempts"]) == (str(pat), "pat@example.org", "0")
    [given_up] = table(admin.get("/admin/outbox?status=failed").text, "outbox")
    assert (given_up["To"], given_up["Last error"]) == ("sam@example.org", "550 5.1.1 mailbox unavailable")
    pushes = table(admin.get("/admin/outbox?queue=pushes").text, "outbox")
    assert [(r["Change"], r["To"]) for r in pushes] == [
        ("Opt-out: everything", "Sendgrid: pat@example.org"), ("Opt-out: everything", "Sendgrid: sam@example.org")]

    csrf = csrf_of(page)
    retried = admin.post(f"/admin/outbox/confirmations/{sam}/retry", data={"csrf": csrf, "status": "failed"})
    assert retried.status_code == 303 and retried.location.endswith("/admin/outbox?queue=confirmations&status=failed")
    assert "No failed confirmation emails." in admin.get("/admin/outbox?status=failed").text
    assert [r["To"] for r in table(admin.get("/admin/outbox").text, "outbox")] == ["pat@example.org",
                                                                                    "sam@example.org"]
    assert [tuple(r) for r in db.execute("SELECT actor, detail FROM audit_log WHERE action = 'outbox_retry'")] == [
        ("admin", f"confirmations {sam}")]

    retry_queue.mark_sent(store, {"id": pat})  # sent meanwhile: nothing to retry, and nothing audited
    page = admin.get(admin.post(f"/admin/outbox/confirmations/{pat}/retry", data={"csrf": csrf}).location).text
    assert f"{pat} is not waiting in confirmation emails" in page
    assert len(db.execute("SELECT * FROM audit_log WHERE action = 'outbox_retry'").fetchall()) == 1


@pytest.mark.parametrize("query", ["?queue=faxes", "?status=lost", "?queue=pushes&status=maybe"])
def test_an_unknown_queue_or_status_is_an_error(admin, query):
    assert admin.get(f"/admin/outbox{query}").status_code == 400


def test_the_queue_depths_count_every_queue(admin, app):
    email(admin, "Unsubscribe", sender="pat@example.org")
    assert retry_queue.depths(app.extensions["optout"].store) == {
        "confirmations": {"pending": 1, "failed": 0, "sent": 0}, "pushes": {"pending": 1, "failed": 0, "sent": 0},
        "consent_webhooks": {"pending": 0, "failed": 0, "sent": 0}}
