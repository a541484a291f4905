"""Confirmation emails: queued with the opt-out, delivered after commit to a real SMTP server
(aiosmtpd), retried while it is down, never twice, never more than one a day per address."""

import subprocess
import sys

import pytest
from aiosmtpd.controller import Controller
from conftest import HANG, MAIL_FROM, ROOT, Inbox, free_port, reply

from handlers.core import intake
from handlers.email import outbox as mailer

pytestmark = pytest.mark.backends("sqlite", "postgresql")

@pytest.fixture
def store(app):
    return app.extensions["optout"].store


@pytest.fixture
def table(app):
    return app.extensions["optout"].keywords


def outbox(db):
    return db.execute("SELECT * FROM outbox ORDER BY id").fetchall()


def test_an_opt_out_queues_one_confirmation_and_the_worker_sends_it(store, table, smtp, db):
    inbound = reply("unsubscribe")
    intake.handle(inbound, table, store)
    assert smtp.messages == []  # queued, not sent in the request
    assert mailer.send_due(store, smtp.url, MAIL_FROM) == {"sent": 1, "retry": 0, "failed": 0}
    [(envelope_from, recipients, message)] = smtp.messages
    assert recipients == ["person@example.org"]
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["In-Reply-To"] == inbound.message_id and message["References"] == inbound.message_id
    assert message["From"] == MAIL_FROM
    assert "unsubscribed" in message["Subject"] and "Acme Outfitters" in message["Subject"]
    body = message.get_content()
    assert "no more marketing email" in body and "receipts" in body and "START" in body
    assert mailer.send_due(store, smtp.url, MAIL_FROM) == {"sent": 0, "retry": 0, "failed": 0}
    assert len(smtp.messages) == 1


def test_the_confirmation_is_in_the_language_of_the_reply(store, table, smtp):
    intake.handle(reply("Désabonnez-moi"), table, store)
    mailer.send_due(store, smtp.url, MAIL_FROM)
    [(_, _, message)] = smtp.messages
    assert "START" in message.get_content() and "Reply" not in message.get_content()


def test_while_smtp_is_down_the_opt_out_stands_and_delivery_is_retried(store, table, smtp, db):
    intake.handle(reply("STOP"), table, store)
    down = f"smtp://127.0.0.1:{free_port()}"
    assert mailer.send_due(store, down, MAIL_FROM) == {"sent": 0, "retry": 1, "failed": 0}
    assert db.execute("SELECT status FROM consent WHERE address = 'person@example.org'").fetchone()[0] == "out"
    [row] = outbox(db)
    assert row["attempts"] == 1 and row["sent_at"] is None and "cannot reach" in row["last_error"]
    assert mailer.send_due(store, smtp.url, MAIL_FROM)["sent"] == 0  # backing off
    db.execute("UPDATE outbox SET next_attempt_at = '2000-01-01'")
    db.commit()
    assert mailer.send_due(store, smtp.url, MAIL_FROM)["sent"] == 1
    assert len(smtp.messages) == 1


@pytest.mark.parametrize("history, queued", [
    (["STOP"], 1),
    (["STOP", "STOP"], 1),                  # one per change of state
    (["STOP", "START", "STOP"], 1),         # at most one a day per address, whatever happens
    (["hello"], 0),
    (["STOP SURVEYS"], 1),
])
def test_how_many_confirmations_are_queued(store, table, db, history, queued):
    for text in history:
        intake.handle(reply(text), table, store)
    assert len(outbox(db)) == queued


@pytest.mark.parametrize("complained, confirmed_recently, sent", [
    (False, False, True),
    (False, True, False),   # at most one a day
    (True, False, False),   # never after a spam complaint, however long ago
    (True, True, False),
])
def test_the_core_decides_whether_a_confirmation_is_sent(complained, confirmed_recently, sent):
    assert intake.confirms(complained=complained, confirmed_recently=confirmed_recently) is sent


@pytest.mark.parametrize("inbound", [
    reply("STOP", ignored="Auto-Submitted: auto-replied"),
    reply("STOP", sender=""),
])
def test_no_confirmation_to_an_automatic_message_or_no_sender(store, table, db, inbound):
    intake.handle(inbound, table, store)
    assert outbox(db) == []


def test_an_opt_in_from_an_unverified_sender_is_refused(store, table, db):
    intake.handle(reply("STOP"), table, store)
    intake.handle(reply("START", verified=False), table, store)
    assert tuple(db.execute("SELECT action, rule FROM messages ORDER BY id DESC").fetchone()) == (
        "refused", "opt_in_from_unverified_sender")
    assert db.execute("SELECT status FROM consent WHERE address = 'person@example.org'").fetchone()[0] == "out"


def test_a_recipient_the_server_refuses_is_given_up(store, table, db, smtp):
    class Refusing(Inbox):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            return "550 no such user"
    controller = Controller(Refusing(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        intake.handle(reply("STOP"), table, store)
        assert mailer.send_due(store, f"smtp://127.0.0.1:{controller.port}", MAIL_FROM)["failed"] == 1
    finally:
        controller.stop()
    [row] = outbox(db)
    assert row["failed_at"] is not None and mailer.send_due(store, smtp.url, MAIL_FROM)["sent"] == 0


@pytest.mark.parametrize("url, expected", [
    ("smtp://mail.example.com", ("mail.example.com", 25, None, None, "none")),
    ("smtp://u:p%40ss@mail.example.com:587?starttls=1", ("mail.example.com", 587, "u", "p@ss", "starttls")),
    ("smtps://u:p@mail.example.com", ("mail.example.com", 465, "u", "p", "ssl")),
])
def test_smtp_url(url, expected):
    s = mailer.SmtpSettings.from_url(url)
    assert (s.host, s.port, s.user, s.password, s.tls) == expected


@pytest.mark.parametrize("url", [None, "", "http://mail.example.com", "smtp://"])
def test_a_bad_smtp_url_says_how_to_write_it(url):
    with pytest.raises(mailer.MailConfigError, match="SMTP_URL"):
        mailer.SmtpSettings.from_url(url)


def test_the_worker_command_sends_what_is_due(settings, store, table, smtp):
    intake.handle(reply("unsubscribe"), table, store)
    env = {"PATH": "/usr/bin:/bin", "DATABASE_PATH": settings["DATABASE_PATH"],
           "DATABASE_URL": settings["DATABASE_URL"] or "", "KEYWORDS_PATH": settings["KEYWORDS_PATH"],
           "SMTP_URL": smtp.url, "MAIL_FROM": MAIL_FROM}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "mail-worker", "--once"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=HANG)
    assert result.returncode == 0, result.stderr
    assert "sent 1" in result.stdout and len(smtp.messages) == 1


def test_an_unverified_start_is_answered_with_why_nothing_changed(store, table, db, smtp):
    intake.handle(reply("STOP"), table, store)
    db.execute("UPDATE outbox SET created_at = '2000-01-01T00:00:00+00:00'")  # its confirmation, long ago
    db.commit()
    intake.handle(reply("START", verified=False), table, store)
    [_, refused] = outbox(db)
    assert refused["subject"] == "Acme Outfitters: your request to subscribe again was not applied"
    assert "SPF and DKIM did not pass" in refused["body"] and "nothing has changed" in refused["body"]
    assert db.execute("SELECT status FROM consent WHERE address = 'person@example.org'").fetchone()[0] == "out"


def test_the_worker_command_ends_each_confirmation_with_the_preference_page(settings, store, table, smtp):
    intake.handle(reply("unsubscribe"), table, store)
    env = {"PATH": "/usr/bin:/bin", "DATABASE_PATH": settings["DATABASE_PATH"],
           "DATABASE_URL": settings["DATABASE_URL"] or "", "KEYWORDS_PATH": settings["KEYWORDS_PATH"],
           "SMTP_URL": smtp.url, "MAIL_FROM": MAIL_FROM, "UNSUBSCRIBE_SECRET": "mailer-test-secret",
           "PUBLIC_BASE_URL": "https://optout.example.com"}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "mail-worker", "--once"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=HANG)
    assert result.returncode == 0, result.stderr
    [(_, _, message)] = smtp.messages
    link = message.get_content().rstrip().rsplit("\n", 1)[-1]
    assert link.startswith("https://optout.example.com/u/") and message["List-Unsubscribe"] == f"<{link}>"
    from handlers.core import links
    link_id, category = links.read("mailer-test-secret", link.rsplit("/", 1)[1])
    assert store.link_address(link_id) == ("email", "person@example.org", "") and category is None  # the first brand
