"""Moving opt-outs in and out: other tools' suppression lists in, ours out, and a Twilio message log
backfilled (flask import-suppressions, export-suppressions, backfill-twilio; GET /api/v1/suppressions)."""

import csv
import io
import json

import pytest
import responses
from conftest import ADMIN_TOKEN, ROOT, twilio_params, twilio_post

pytestmark = pytest.mark.backends("sqlite", "postgresql")

DATA = ROOT / "tests" / "data" / "transfer"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TWILIO_LOG = DATA / "twilio_messages.csv"


def flask(app, *args):
    """Run `flask ARGS...` against the test app, as an operator would."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=[str(a) for a in args])


def consent(db, channel="sms"):
    """{address: {scope: status}} of every address with a state on `channel`."""
    states = {}
    for row in db.execute("SELECT address, scope, status FROM consent WHERE channel = ?", (channel,)):
        states.setdefault(row["address"], {})[row["scope"]] = row["status"]
    return states


# Import ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, fmt, channel, imported, duplicates, invalid, bounces", [
    ("sendgrid_global_unsubscribes.csv", "sendgrid", "email",
     ["lee@example.net", "pat@example.org", "sam.jones@example.com"], 1, [(4, "not-an-address")], 0),
    ("mailgun_unsubscribes.csv", "mailgun", "email", ["ann@example.org", "bob@example.org"], 1, [(4, "@example.org")],
     0),
    # Its HardBounce row is no one's choice: skipped, by the one rule for hard bounces.
    ("postmark_suppressions.csv", "postmark", "email",
     ["address@wildbit.com", "spam.complaint.address@wildbit.com"], 0, [], 1),
    ("plain_phones.txt", "plain", "sms", ["+14155550101", "+14155550102", "+14155550103"], 1,
     [(5, "hello!"), (6, "+1 555")], 0),
    ("plain_emails.txt", "plain", "email", ["one@example.org", "two@example.org"], 1, [(5, "three(at)example.org")],
     0),
])
def test_each_format_is_imported_as_opt_outs_of_everything(app, db, name, fmt, channel, imported, duplicates, invalid,
                                                           bounces):
    result = flask(app, "import-suppressions", DATA / name)
    assert result.exit_code == 0, result.output
    assert f"{fmt} list of {channel} addresses" in result.stdout
    assert (f"{len(imported)} imported, {duplicates} duplicates, 0 already opted out, {len(invalid)} invalid, "
            f"{bounces} hard bounces skipped" in result.stdout)
    reported = [line for line in result.stdout.splitlines() if line.startswith("line ")]
    assert [line.split(": ")[:2] for line in reported] == [[f"line {n}", repr(text)] for n, text in invalid]
    assert all(line.count(": ") >= 2 for line in reported)  # and why
    assert consent(db, channel) == {address: {"*": "out"} for address in imported}
    events = [tuple(e) for e in db.execute("SELECT channel, address, action, categories, changed, state_after, "
                                           "source, message_id FROM events ORDER BY address")]
    assert events == [(channel, a, "opt_out", "[]", 1, '{"*": "out"}', f"import:{fmt}", None) for a in sorted(imported)]


@pytest.mark.parametrize("header", ["EmailAddress", "Email Address"])
def test_postmark_exports_are_recognised_by_either_header(app, db, tmp_path, header):
    path = tmp_path / "suppressions.csv"
    path.write_text(f"{header},SuppressionReason,Origin,CreatedAt\nPat@Example.org,ManualSuppression,Customer,"
                    "2024-01-02T03:04:05-05:00\n", encoding="utf-8-sig")  # as a spreadsheet saves it
    result = flask(app, "import-suppressions", path)
    assert "postmark list of email addresses" in result.stdout and "1 imported" in result.stdout
    assert consent(db, "email") == {"pat@example.org": {"*": "out"}}


def test_importing_twice_records_nothing_the_second_time(app, db):
    first = flask(app, "import-suppressions", DATA / "plain_phones.txt")
    assert "3 imported" in first.stdout
    before = db.execute("SELECT count(*) FROM events").fetchone()[0]
    second = flask(app, "import-suppressions", DATA / "plain_phones.txt")
    assert second.exit_code == 0
    assert "0 imported, 1 duplicates, 3 already opted out, 2 invalid" in second.stdout
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == before


def test_people_already_opted_out_here_are_skipped_and_category_opt_outs_widened(app, client, db):
    for sender, text in [("+14155550101", "STOP"), ("+14155550102", "STOP SURVEYS")]:
        assert twilio_post(client, twilio_params(text, sender=sender)).status_code == 200
    result = flask(app, "import-suppressions", DATA / "plain_phones.txt")
    assert "2 imported, 1 duplicates, 1 already opted out, 2 invalid" in result.stdout
    assert consent(db) == {a: {"*": "out"} for a in ("+14155550101", "+14155550102", "+14155550103")}
    sources = [r[0] for r in db.execute("SELECT source FROM events WHERE address = '+14155550102' ORDER BY id")]
    assert sources == ["sms:twilio", "import:plain"]


def test_a_provider_export_is_not_a_list_of_phone_numbers(app, db):
    result = flask(app, "import-suppressions", DATA / "sendgrid_global_unsubscribes.csv", "--channel", "sms")
    assert result.exit_code == 1
    assert "email addresses, not phone numbers" in result.stderr
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 0


SENDGRID_HEADER = "email,created\n"


@pytest.mark.parametrize("content, encoding, imported, invalid", [
    # A field over the csv module's 128 KiB: that line is reported, the others imported.
    (SENDGRID_HEADER + "pat@example.org,1443651141\n" + "x" * 140_000 + ",1\nsam@example.org,1443651141\n",
     "utf-8", ["pat@example.org", "sam@example.org"], [(3, "a field longer than 128 KiB")]),
    # An unterminated quote: its line is reported, and the lines after it are still read.
    (SENDGRID_HEADER + 'pat@example.org,1\n"lee@example.org,1\nsam@example.org,1\nkim@example.org,1\n',
     "utf-8", ["kim@example.org", "pat@example.org", "sam@example.org"], [(3, "a quote that is never closed")]),
    # A quoted field over two lines (allowed in CSV) is one row, and the numbering goes on right.
    (SENDGRID_HEADER + '"pat@example.org","14436\n51141"\nbad,1\nsam@example.org,1\n', "utf-8",
     ["pat@example.org", "sam@example.org"], [(4, "not an email address")]),
    # UTF-16 as Excel's "Unicode text" saves it, with its byte-order mark (either byte order).
    ("pat@example.org\nsam@example.org\n", "utf-16", ["pat@example.org", "sam@example.org"], []),
    ("pat@example.org\nsam@example.org\n", "utf-16-be", ["pat@example.org", "sam@example.org"], []),
    (SENDGRID_HEADER + "pat@example.org,1\n", "utf-32", ["pat@example.org"], []),
])
def test_a_damaged_or_unusual_file_loses_no_line_silently(app, db, tmp_path, content, encoding, imported, invalid):
    path = tmp_path / "list.csv"
    data = content.encode(encoding)
    path.write_bytes(("\ufeff".encode("utf-16-be") + data) if encoding == "utf-16-be" else data)
    result = flask(app, "import-suppressions", path)
    assert result.exit_code == 0, result.output
    reported = [line for line in result.stdout.splitlines() if line.startswith("line ")]
    assert [(int(line.split(":")[0][5:]), line.rsplit(": ", 1)[1]) for line in reported] == invalid
    assert all(len(line) < 300 for line in reported)  # a huge field is not echoed whole
    assert consent(db, "email") == {address: {"*": "out"} for address in imported}


def test_utf16_without_a_byte_order_mark_is_refused_clearly(app, db, tmp_path):
    path = tmp_path / "list.txt"
    path.write_bytes("pat@example.org\nsam@example.org\n".encode("utf-16-le"))
    result = flask(app, "import-suppressions", path)
    assert result.exit_code == 1 and "UTF-16 without a byte-order mark" in result.stderr
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 0


# Export ------------------------------------------------------------------------------------------

@pytest.fixture
def opted(app, client):
    """sms ...0001 stopped everything; ...0002 stopped surveys; ...0003 stopped, then started surveys;
    ...0004 stopped, then started; email pat@ and lee@ and sam.jones@ imported from SendGrid."""
    for sender, texts in {"+14155550001": ["STOP"], "+14155550002": ["STOP SURVEYS"],
                          "+14155550003": ["STOP", "START SURVEYS"], "+14155550004": ["STOP", "START"]}.items():
        for text in texts:
            assert twilio_post(client, twilio_params(text, sender=sender)).status_code == 200
    assert flask(app, "import-suppressions", DATA / "sendgrid_global_unsubscribes.csv").exit_code == 0
    return app


EMAILS = [("email", a, "all") for a in ("lee@example.net", "pat@example.org", "sam.jones@example.com")]
EXPORTS = [
    # channel, category, who must not be contacted (the rule of /api/v1/suppressions/check)
    ("sms", None, [("sms", "+14155550001", "all"), ("sms", "+14155550003", "all")]),
    ("sms", "surveys", [("sms", "+14155550001", "all"), ("sms", "+14155550002", "surveys")]),
    ("sms", "promotions", [("sms", "+14155550001", "all"), ("sms", "+14155550003", "all")]),
    ("email", "surveys", EMAILS),
    (None, None, [*EMAILS, ("sms", "+14155550001", "all"), ("sms", "+14155550003", "all")]),
]


def parse(text: str, fmt: str) -> list[dict]:
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        assert reader.fieldnames == ["channel", "address", "scope", "since"]
        return list(reader)
    return json.loads(text)


@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize("channel, category, expected", EXPORTS)
def test_export_through_the_command(opted, tmp_path, fmt, channel, category, expected):
    args = ["--format", fmt, *(["--channel", channel] if channel else []),
            *(["--category", category] if category else [])]
    result = flask(opted, "export-suppressions", *args)
    assert result.exit_code == 0, result.output
    rows = parse(result.stdout, fmt)
    assert [(r["channel"], r["address"], r["scope"]) for r in rows] == expected
    assert all(r["since"].startswith("20") for r in rows)
    assert f"exported {len(expected)} suppressed addresses" in result.stderr
    out = tmp_path / f"out.{fmt}"
    assert flask(opted, "export-suppressions", *args, "--output", out).exit_code == 0
    assert out.read_text() == result.stdout


@pytest.mark.parametrize("fmt, content_type", [("csv", "text/csv"), ("json", "application/json")])
@pytest.mark.parametrize("channel, category, expected", EXPORTS)
def test_export_through_the_api_is_streamed(opted, fmt, content_type, channel, category, expected):
    query = {"format": fmt, **({"channel": channel} if channel else {}), **({"category": category} if category else {})}
    response = opted.test_client().get("/api/v1/suppressions", query_string=query, headers=AUTH)
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == content_type
    assert f'filename="suppressions.{fmt}"' in response.headers["Content-Disposition"]
    rows = parse(response.get_data(as_text=True), fmt)
    assert [(r["channel"], r["address"], r["scope"]) for r in rows] == expected


@pytest.mark.parametrize("fmt, body", [("csv", "channel,address,scope,since\r\n"), ("json", "[]\n")])
def test_an_empty_export_is_still_well_formed(client, fmt, body):
    response = client.get(f"/api/v1/suppressions?format={fmt}", headers=AUTH)
    assert response.get_data(as_text=True) == body


@pytest.mark.parametrize("query, status, message", [
    ("channel=fax", 400, "channel must be one of"),
    ("category=lottery", 400, "unknown category 'lottery'"),
    ("format=xml", 400, "format must be one of"),
])
def test_export_refuses_what_it_cannot_answer(client, query, status, message):
    response = client.get(f"/api/v1/suppressions?{query}", headers=AUTH)
    assert response.status_code == status
    assert message in response.json["error"]


def test_export_needs_the_admin_token(client):
    assert client.get("/api/v1/suppressions").status_code == 401
    assert client.get("/api/v1/suppressions", headers={"Authorization": "Bearer wrong"}).status_code == 401


# Backfill from a Twilio message log ----------------------------------------------------------------

RECORDED_SID = f"SM{10:032x}"  # +14155550117's STOP, which the webhook recorded when it came
FINAL_STATES = {  # {} is no choice on record: everything may be sent
    "+14155550111": {},  # STOP, then Start the next day: opted back in
    "+14155550113": {"*": "out"},  # Arrêt
    "+14155550116": {"surveys": "out"},  # STOP SURVEYS
    "+14155550117": {"*": "out"},  # recorded by the webhook, skipped by the backfill
    "+14155550118": {},  # stop, then Yes: a bare YES opts back in someone who is opted out
}


def write_log(path, rows):
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


@pytest.fixture(params=["newest first", "oldest first"])
def twilio_log(request, tmp_path):
    """The fixture log as the console exports it (newest first), and the same rows in the other order."""
    if request.param == "newest first":
        return TWILIO_LOG
    header, *rows = list(csv.reader(TWILIO_LOG.open(newline="")))
    return write_log(tmp_path / "oldest_first.csv", [header, *reversed(rows)])


def test_backfill_records_what_was_never_recorded_in_date_order(app, client, db, twilio_log):
    assert twilio_post(client, twilio_params("STOP", sender="+14155550117", MessageSid=RECORDED_SID)).status_code == 200
    with responses.RequestsMock():  # any HTTP request (the Twilio SDK's included) would fail the test
        result = flask(app, "backfill-twilio", twilio_log)
    assert result.exit_code == 0, result.output
    assert ("14 rows read, 11 inbound, 1 already recorded; recorded 10: 4 opt-outs, 2 opt-ins, 1 help, 3 none, "
            "0 older than") in result.stdout
    assert consent(db) == {address: state for address, state in FINAL_STATES.items() if state}

    backfilled = db.execute("SELECT * FROM messages WHERE provider_id != ? ORDER BY id", (RECORDED_SID,)).fetchall()
    assert [m["provider_id"] for m in backfilled] == [f"SM{n:032x}" for n in (2, 4, 5, 6, 7, 8, 9, 11, 12, 13)]
    assert [(m["address"], m["body"], m["action"]) for m in backfilled] == [
        ("+14155550111", "STOP", "opt_out"), ("+14155550111", "Start", "opt_in"), ("+14155550112", "YES", "none"),
        ("+14155550113", "Arrêt", "opt_out"), ("+14155550114", "HELP", "help"),
        ("+14155550115", "When does the sale end?", "none"), ("+14155550116", "STOP SURVEYS", "opt_out"),
        ("+14155550118", "stop", "opt_out"), ("+14155550115", 'Liked "Acme: 20% off, Reply STOP to opt out"', "none"),
        ("+14155550118", "Yes", "opt_in")]
    first = backfilled[0]
    assert (first["provider"], first["channel"], first["recipient"]) == ("twilio", "sms", "+14155550199")
    assert first["received_at"] == "2024-03-01T17:05:00.000000+00:00"
    assert json.loads(first["params"])["Sid"] == first["provider_id"]
    assert json.loads(first["params"])["Direction"] == "inbound"
    assert backfilled[3]["language"] == "fr"
    # Which stage decided, and the model's confidence when it did, as the webhook records them.
    assert all((m["stage"] == "model") == m["rule"].startswith("model") == (m["confidence"] is not None)
               for m in backfilled)
    # Nothing is sent: no reply recorded, no confirmation queued, no HTTP request made (above).
    assert all(m["reply"] is None for m in backfilled)
    assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
    # Outbound rows, even one saying STOP, are never read as anyone's reply.
    assert db.execute("SELECT count(*) FROM messages WHERE address = '+14155550119'").fetchone()[0] == 0

    events = [tuple(e) for e in db.execute(
        "SELECT e.address, e.action, e.source, e.created_at, m.provider_id FROM events e "
        "JOIN messages m ON m.id = e.message_id WHERE m.provider_id != ? ORDER BY e.id", (RECORDED_SID,))]
    assert [e[:3] for e in events] == [
        ("+14155550111", "opt_out", "sms:twilio"), ("+14155550111", "opt_in", "sms:twilio"),
        ("+14155550113", "opt_out", "sms:twilio"), ("+14155550116", "opt_out", "sms:twilio"),
        ("+14155550118", "opt_out", "sms:twilio"), ("+14155550118", "opt_in", "sms:twilio")]
    assert events[0][3] == "2024-03-01T17:05:00.000000+00:00"

    again = flask(app, "backfill-twilio", twilio_log)
    assert "11 already recorded; recorded 0:" in again.stdout
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 11


def test_a_message_older_than_a_recorded_decision_does_not_undo_it(app, client, db, tmp_path):
    """A START from last year must not opt back in someone whose STOP the webhook recorded today."""
    assert twilio_post(client, twilio_params("STOP", sender="+14155550120")).status_code == 200
    header = next(csv.reader(TWILIO_LOG.open(newline="")))
    log = write_log(tmp_path / "late.csv", [header, [
        "+14155550120", "+14155550199", "START", "received", "2024-03-05T10:00:00-08:00", "2010-04-01", "1", "",
        "AC" + "0" * 32, "SM" + "f" * 32, "inbound", "-0.00790", "USD"]])
    result = flask(app, "backfill-twilio", log)
    assert "recorded 1: 0 opt-outs, 0 opt-ins, 0 help, 0 none, 1 older than a decision recorded here" in result.stdout
    assert consent(db) == {"+14155550120": {"*": "out"}}
    row = db.execute("SELECT action, rule FROM messages WHERE provider_id = ?", ("SM" + "f" * 32,)).fetchone()
    assert tuple(row) == ("none", "older_than_a_recorded_decision")


@pytest.mark.parametrize("content, message", [
    ("From,To,Body,Status,Sid\n+14155550100,+14155550199,STOP,received,SM1\n", "no column SentDate, Direction"),
    ("", "the file is empty"),
])
def test_a_file_that_is_not_a_twilio_log_is_refused(app, db, tmp_path, content, message):
    path = tmp_path / "log.csv"
    path.write_text(content)
    result = flask(app, "backfill-twilio", path)
    assert result.exit_code == 1
    assert message in result.stderr
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


def test_rows_it_cannot_use_are_reported_by_line(app, db, tmp_path):
    header = next(csv.reader(TWILIO_LOG.open(newline="")))
    row = ["+14155550121", "+14155550199", "STOP", "received", "2024-03-05T10:00:00-08:00", "2010-04-01", "1", "",
           "AC" + "0" * 32, "SM" + "e" * 32, "inbound", "-0.00790", "USD"]
    no_sid = [*row[:9], "", *row[10:]]
    undated = [*row[:4], "yesterday", *row[5:9], "SM" + "d" * 32, *row[10:]]
    result = flask(app, "backfill-twilio", write_log(tmp_path / "log.csv", [header, row, no_sid, undated, row[:3]]))
    assert result.exit_code == 0, result.output
    assert "line 3: no Sid" in result.stdout
    assert "line 4: SentDate 'yesterday' not understood" in result.stdout
    assert "line 5: only 3 columns" in result.stdout
    assert "recorded 2: 2 opt-outs" in result.stdout
