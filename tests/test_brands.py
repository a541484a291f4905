"""One person, several senders (issue 27): an opt-out reaches the brand it was sent to, STOPALL (or
`opt_out_scope: everything`) every brand, replies name the brand, and the API answers per brand. Through
the Twilio webhook (signed with the SDK's RequestValidator), the raw-MIME email webhook and the check
API, on SQLite and PostgreSQL."""

import base64
import xml.etree.ElementTree as ET
from urllib.parse import quote

import pytest
from conftest import ADMIN_TOKEN, ROOT, twilio_params, twilio_post
from events_support import MAILGUN_KEY, SENDGRID_PUBLIC, mailgun_payload, sendgrid_post

from handlers.core.keyword_file import KeywordFileError, parse_keywords

pytestmark = pytest.mark.backends("sqlite", "postgresql")

ACME_NUMBER, GLOBEX_NUMBER, STRANGER_NUMBER = "+14155550100", "+14155550199", "+14155550777"
ACME_SERVICE = "MG0123456789abcdef0123456789abcdef"
PERSON = "+14155550123"
BRANDS = f"""
brands:
  acme:
    name: Acme Outfitters
    help_contact: help@acme.example
    senders: ["{ACME_NUMBER}", "{ACME_SERVICE}"]
    email: ["news@acme.example", "acme.example"]
    accounts: ["acme-broadcast"]
  globex:
    name: Globex Pharmacy
    help_contact: rx@globex.example
    senders: ["{GLOBEX_NUMBER}"]
    email: ["globex.example"]
    accounts: ["globex-broadcast", 30001, "mg.globex.example"]
"""
USER, PASSWORD = "inbound", "inbound-secret"


def keywords_with(tmp_path, extra: str) -> str:
    path = tmp_path / "keywords.yaml"
    path.write_text((ROOT / "keywords.yaml").read_text() + extra)
    return str(path)


@pytest.fixture
def brand_settings(settings, tmp_path):
    return {**settings, "KEYWORDS_PATH": keywords_with(tmp_path, BRANDS + "opt_out_scope: brand\n"),
            "INBOUND_EMAIL_USER": USER, "INBOUND_EMAIL_PASSWORD": PASSWORD,
            "SENDGRID_EVENT_PUBLIC_KEY": SENDGRID_PUBLIC, "MAILGUN_SIGNING_KEY": MAILGUN_KEY}


@pytest.fixture
def client(brand_settings, make_app):
    return make_app(brand_settings).test_client()


def text_to(client, to: str, body: str, sender: str = PERSON, **extra) -> str:
    """Text `body` to our number `to`; the reply's text ('' for none)."""
    response = twilio_post(client, twilio_params(body, sender=sender, To=to, **extra))
    assert response.status_code == 200
    return " ".join(m.text or "" for m in ET.fromstring(response.data).iter("Message"))


def check(client, brand=None, address=PERSON, channel="sms") -> bool:
    body = {"channel": channel, "addresses": [address], **({"brand": brand} if brand else {})}
    response = client.post("/api/v1/suppressions/check", json=body,
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 200, response.json
    return address in response.json["suppressed"]


def suppressed_for(client, address=PERSON, channel="sms") -> dict:
    return {brand: check(client, brand, address, channel) for brand in ("acme", "globex", None)}


def test_stop_to_one_brand_stops_that_brand_only_and_the_reply_names_it(client):
    reply = text_to(client, ACME_NUMBER, "STOP")
    assert "Acme Outfitters" in reply and "Globex" not in reply
    assert suppressed_for(client) == {"acme": True, "globex": False, None: True}  # no brand: any brand's
    assert text_to(client, GLOBEX_NUMBER, "START") == ""  # nothing to undo at Globex: no reply
    assert suppressed_for(client) == {"acme": True, "globex": False, None: True}


@pytest.mark.parametrize("word", ["STOPALL", "stop all"])
def test_stopall_reaches_every_brand(client, word):
    assert text_to(client, GLOBEX_NUMBER, word) != ""
    assert suppressed_for(client) == {"acme": True, "globex": True, None: True}


def test_start_to_one_brand_after_stopall_lets_that_brand_only_write_again(client):
    text_to(client, ACME_NUMBER, "STOPALL")
    assert "Globex Pharmacy" in text_to(client, GLOBEX_NUMBER, "START")
    assert suppressed_for(client) == {"acme": True, "globex": False, None: True}


@pytest.mark.parametrize("to", [ACME_NUMBER, GLOBEX_NUMBER])
def test_with_opt_out_scope_everything_one_stop_reaches_every_brand(settings, tmp_path, make_app, to):
    path = keywords_with(tmp_path, BRANDS + "opt_out_scope: everything\n")
    client = make_app({**settings, "KEYWORDS_PATH": path}).test_client()
    text_to(client, to, "STOP")
    assert suppressed_for(client) == {"acme": True, "globex": True, None: True}


def test_help_to_a_brands_number_names_that_brand_and_its_help_contact(client):
    reply = text_to(client, GLOBEX_NUMBER, "HELP")
    assert "Globex Pharmacy" in reply and "rx@globex.example" in reply
    assert "Acme" not in reply and "help@acme.example" not in reply


def test_a_messaging_service_sid_names_the_brand_when_the_number_does_not(client, db):
    text_to(client, STRANGER_NUMBER, "STOP", MessagingServiceSid=ACME_SERVICE)
    assert suppressed_for(client) == {"acme": True, "globex": False, None: True}
    assert db.execute("SELECT flagged FROM messages").fetchone()[0] == 0


def test_a_message_to_no_known_sender_is_the_first_brands_and_flagged_for_review(client, db):
    text_to(client, STRANGER_NUMBER, "STOP")
    assert suppressed_for(client) == {"acme": True, "globex": False, None: True}
    assert tuple(db.execute("SELECT flagged, brand FROM messages").fetchone()) == (1, "")


def mime_to(recipient: str, body: str = "unsubscribe") -> bytes:
    return (f"Return-Path: <pat@example.org>\nFrom: Pat Doe <pat@example.org>\nTo: {recipient}\n"
            f"Subject: Re: Spring sale\nDate: Tue, 4 Mar 2025 10:00:00 +0000\nMessage-ID: <{recipient}@example.org>\n"
            f"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}\n").encode()


@pytest.mark.parametrize("recipient, brands", [
    ("news@acme.example", {"acme": True, "globex": False, None: True}),
    ("offers@mg.globex.example", {"acme": False, "globex": True, None: True}),  # a subdomain of its domain
])
def test_an_email_unsubscribe_belongs_to_the_brand_whose_address_it_answered(client, db, recipient, brands):
    auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    response = client.post("/webhooks/email/mime", data=mime_to(recipient), content_type="message/rfc822",
                           headers={"Authorization": auth})
    assert response.status_code == 200
    assert suppressed_for(client, "pat@example.org", "email") == brands
    assert db.execute("SELECT flagged FROM messages").fetchone()[0] == 0  # a known sender: nothing to review


@pytest.mark.parametrize("recipient, brand", [("news@acme.example", "acme"), ("offers@mg.globex.example", "globex")])
def test_a_confirmation_links_to_the_preference_page_of_the_brand_it_answers(brand_settings, make_app, smtp,
                                                                           recipient, brand):
    from conftest import MAIL_FROM

    from handlers.core import links
    from handlers.email.outbox import send_due

    secret, base = "brand-link-secret", "https://optout.example.com"
    app = make_app({**brand_settings, "UNSUBSCRIBE_SECRET": secret, "PUBLIC_BASE_URL": base})
    auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert app.test_client().post("/webhooks/email/mime", data=mime_to(recipient), content_type="message/rfc822",
                                  headers={"Authorization": auth}).status_code == 200
    services = app.extensions["optout"]
    page_link = links.page_link_maker(secret, base, "US", services.store.link_id)
    assert send_due(services.store, smtp.url, MAIL_FROM, page_link=page_link)["sent"] == 1
    [(_, _, message)] = smtp.messages
    link_id, _ = links.read(secret, message["List-Unsubscribe"].strip("<>").rsplit("/", 1)[1])
    _, address, stored = services.store.link_address(link_id)
    assert address == "pat@example.org" and services.keywords.brands.key_of(stored) == brand


def test_the_api_refuses_a_brand_that_is_not_in_the_file(client):
    response = client.post("/api/v1/suppressions/check", json={"channel": "sms", "addresses": [PERSON],
                                                               "brand": "initech"},
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 400 and "acme, globex" in response.json["error"]


def test_the_export_lists_a_brands_suppressions_and_without_a_brand_each_address_once(client):
    text_to(client, ACME_NUMBER, "STOPALL")
    text_to(client, GLOBEX_NUMBER, "STOP", sender="+14155550124")
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def exported(query):
        rows = client.get(f"/api/v1/suppressions?format=csv&channel=sms{query}", headers=auth).data.decode()
        return [line.split(",")[1] for line in rows.splitlines()[1:]]

    assert exported("&brand=acme") == [PERSON]
    assert exported("&brand=globex") == [PERSON, "+14155550124"]
    assert exported("") == [PERSON, "+14155550124"]


def test_a_file_without_brands_answers_as_before(settings, make_app, db):
    client = make_app(settings).test_client()
    reply = text_to(client, GLOBEX_NUMBER, "STOP")
    assert "Acme Outfitters" in reply  # the file's own brand, whatever number was written to
    assert check(client) is True
    assert tuple(db.execute("SELECT brand, flagged FROM messages").fetchone()) == ("", 0)
    response = client.post("/api/v1/suppressions/check", json={"channel": "sms", "addresses": [PERSON],
                                                               "brand": "acme"},
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 400


@pytest.mark.parametrize("extra, problem", [
    ("opt_out_scope: all\n", "opt_out_scope: 'all' is not a choice"),
    (BRANDS.replace('["globex.example"]', '["acme.example"]'), "'acme.example' is also acme's"),
    (BRANDS.replace("  globex:", "  Globex Inc:"), "a brand key is lower-case letters"),
    (BRANDS.replace("    name: Globex Pharmacy\n", "    nmae: Globex Pharmacy\n"), "is not a brand setting"),
    ("every_brand_words: [stopeverything]\n", "'stopeverything' is no language's stop word"),
    (BRANDS.replace("Globex Pharmacy", "Globex Pharmacy and Family Healthcare Services of Greater Springfield"),
     "does not fit one SMS"),
])
def test_the_keyword_file_names_what_is_wrong_with_brands(extra, problem):
    raw = ((ROOT / "keywords.yaml").read_text() + extra).encode()
    with pytest.raises(KeywordFileError) as caught:
        parse_keywords(raw)
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_rows_recorded_before_brands_belong_to_the_first_brand(backend, tmp_path, monkeypatch, settings, make_app):
    """A database made before brands existed (migrations up to m011), with an opt-out in it: after the
    migration, the opt-out is Acme's (listed first), not Globex's, and a new STOP to Globex is Globex's."""
    from conftest import postgres_or_skip
    from pg_server import create_database

    from handlers.storage import schema
    from handlers.storage.store import Store

    location = create_database(postgres_or_skip()) if backend == "postgresql" else str(tmp_path / "old.sqlite3")
    before_brands = [m for m in schema.MIGRATIONS if m[0] < "m012"]
    with monkeypatch.context() as patched:
        patched.setattr(schema, "MIGRATIONS", before_brands)
        old = Store(location)
        old.migrate()
        old.write(lambda conn: conn.execute(
            "INSERT INTO consent (channel, address, scope, status, updated_at) VALUES ('sms', ?, '*', 'out', ?)",
            (PERSON, "2025-01-01T00:00:00+00:00")))
        old.close()
    keywords = keywords_with(tmp_path, BRANDS)
    place = {"DATABASE_URL": location} if backend == "postgresql" else {"DATABASE_PATH": location}
    client = make_app({**settings, **place, "KEYWORDS_PATH": keywords}).test_client()
    assert suppressed_for(client) == {"acme": True, "globex": False, None: True}
    text_to(client, GLOBEX_NUMBER, "STOP", sender="+14155550124")
    assert suppressed_for(client, "+14155550124") == {"acme": False, "globex": True, None: True}


def test_imports_and_exports_take_a_brand(brand_settings, make_app, tmp_path):
    app = make_app(brand_settings)
    listed = tmp_path / "globex.txt"
    listed.write_text(f"{PERSON}\n+14155550124\n")
    runner, out = app.test_cli_runner(), tmp_path / "out.csv"
    with app.app_context():
        result = runner.invoke(args=["import-suppressions", str(listed), "--channel", "sms", "--brand", "globex"])
        assert result.exit_code == 0, result.output
        assert suppressed_for(app.test_client()) == {"acme": False, "globex": True, None: True}
        assert runner.invoke(args=["export-suppressions", "--brand", "acme", "--output", str(out)]).exit_code == 0
        assert out.read_text().splitlines() == ["channel,address,scope,since"]
        assert runner.invoke(args=["export-suppressions", "--brand", "globex", "--output", str(out)]).exit_code == 0
        assert [line.split(",")[1] for line in out.read_text().splitlines()[1:]] == [PERSON, "+14155550124"]
        refused = runner.invoke(args=["export-suppressions", "--brand", "initech"])
        assert refused.exit_code == 1 and "known: acme, globex" in refused.output


def test_the_dashboard_filters_messages_and_contacts_by_brand(client):
    from test_admin import login

    text_to(client, ACME_NUMBER, "STOP")
    text_to(client, GLOBEX_NUMBER, "HELP", sender="+14155550124")
    login(client)

    def listed(query):
        page = client.get(f"/admin?{query}")
        assert page.status_code == 200
        # Shown masked; each row links to the person's page by the address (encoded in the link).
        return {number for number in (PERSON, "+14155550124") if f"address={quote(number, safe='')}" in page.text}

    assert listed("brand=acme") == {PERSON}
    assert listed("brand=globex") == {"+14155550124"}
    assert listed("") == {PERSON, "+14155550124"}
    assert client.get("/admin?brand=initech").status_code == 400

    def state(brand):
        page = client.get(f"/admin/contacts?channel=sms&address={PERSON.replace('+', '%2B')}&brand={brand}")
        return "suppressed" in page.text.split('id="state-table"')[1].split("</table>")[0]

    assert (state("acme"), state("globex")) == (True, False)


def subscription_change(stream: str) -> dict:
    """Postmark's SubscriptionChange webhook (postmarkapp.com/developer/webhooks/subscription-change-webhook)."""
    return {"RecordType": "SubscriptionChange", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
            "ServerID": 123456, "MessageStream": stream, "ChangedAt": "2020-02-01T10:53:34.416071Z",
            "Recipient": "bounced-address@wildbit.com", "Origin": "Recipient", "SuppressSending": True,
            "SuppressionReason": "ManualSuppression", "Tag": "my-tag", "Metadata": {"example": "value"}}


@pytest.mark.parametrize("stream, brands, flagged", [
    ("globex-broadcast", {"acme": False, "globex": True, None: True}, 0),
    ("outbound", {"acme": True, "globex": False, None: True}, 1),  # a stream no brand names: the first's, flagged
])
def test_a_postmark_event_belongs_to_the_brand_whose_stream_it_came_from(client, db, stream, brands, flagged):
    auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    response = client.post("/webhooks/events/postmark", json=subscription_change(stream),
                           headers={"Authorization": auth})
    assert response.status_code == 200
    assert suppressed_for(client, "bounced-address@wildbit.com", "email") == brands
    assert db.execute("SELECT flagged FROM messages").fetchone()[0] == flagged


@pytest.mark.parametrize("group, brands", [
    (30001, {"acme": False, "globex": True, None: True}),   # Globex's unsubscribe group
    (20431, {"acme": True, "globex": False, None: True}),   # a group no brand lists: the first brand's
])
def test_a_sendgrid_group_unsubscribe_belongs_to_the_brand_that_lists_the_group(client, group, brands):
    event = {"email": "example@test.com", "timestamp": 1513299569, "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
             "event": "group_unsubscribe", "category": "cat facts", "sg_event_id": f"sg_event_id-{group}",
             "sg_message_id": "sg_message_id", "useragent": "Mozilla/4.0", "ip": "255.255.255.255",
             "url": "http://www.sendgrid.com/", "asm_group_id": group}
    assert sendgrid_post(client, [event]).status_code == 200
    assert suppressed_for(client, "example@test.com", "email") == brands


def test_check_keywords_lists_the_brands_and_warns_of_a_reply_that_does_not_name_one():
    from handlers.core.keyword_lint import warnings

    shipped = (ROOT / "keywords.yaml").read_text()
    assert not [w for w in warnings(parse_keywords((shipped + BRANDS).encode())) if "brand" in w]
    unnamed = shipped.replace('help: "{brand}: Help at {help}.', 'help: "Help at {help}.', 1)
    assert unnamed != shipped
    assert [w for w in warnings(parse_keywords((unnamed + BRANDS).encode())) if "brand" in w] == [
        "languages.en.replies.sms.help does not name the brand ({brand}): with several brands, the person "
        "cannot tell whose messages this is about"]
    assert not [w for w in warnings(parse_keywords(unnamed.encode())) if "brand" in w]  # one brand: nothing to tell


def test_an_unsubscribe_link_stops_its_brands_mail_and_its_page_names_that_brand(brand_settings, make_app):
    from urllib.parse import urlsplit

    client = make_app({**brand_settings, "UNSUBSCRIBE_SECRET": "test-unsubscribe-secret",
                       "PUBLIC_BASE_URL": "https://optout.example.com"}).test_client()
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    query = {"channel": "email", "address": "pat@example.org", "brand": "globex"}
    link = client.get("/api/v1/unsubscribe-link", query_string=query, headers=auth).json
    path = urlsplit(link["url"]).path
    page = client.get(path)
    assert "Globex Pharmacy" in page.text and "Acme" not in page.text
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert suppressed_for(client, "pat@example.org", "email") == {"acme": False, "globex": True, None: True}
    acme_link = client.get("/api/v1/unsubscribe-link", query_string={**query, "brand": "acme"}, headers=auth).json
    assert acme_link["url"] != link["url"]  # one link per brand


def test_an_erased_person_stays_suppressed_per_brand(brand_settings, make_app):
    client = make_app({**brand_settings, "ERASURE_KEY": "test-erasure-key-0123456789abcdef"}).test_client()
    text_to(client, GLOBEX_NUMBER, "STOP")
    response = client.post("/api/v1/erasures", json={"channel": "sms", "address": PERSON},
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 200, response.json
    assert suppressed_for(client) == {"acme": False, "globex": True, None: True}
    text_to(client, ACME_NUMBER, "STOP")  # their own act for Acme: Globex's kept suppression stays
    assert suppressed_for(client) == {"acme": True, "globex": True, None: True}


def test_a_consent_webhook_names_the_brand_only_when_there_are_brands():
    import json

    from handlers.core.consent_webhooks import ConsentChange, payload

    change = ConsentChange("sms", PERSON, "opt_out", (), "2026-03-01T17:05:00+00:00", "sms:twilio", "keyword", 1, 2)
    assert "brand" not in json.loads(payload(change))["data"]
    assert json.loads(payload(ConsentChange(**{**change.__dict__, "brand": "acme"})))["data"]["brand"] == "acme"


def test_stopall_tells_the_consent_webhooks_of_each_brands_change(brand_settings, make_app, db):
    import json

    client = make_app({**brand_settings, "CONSENT_WEBHOOK_URLS": "https://receiver.example/hook"}).test_client()
    text_to(client, GLOBEX_NUMBER, "STOPALL")
    told = [json.loads(row[0])["data"] for row in db.execute("SELECT payload FROM consent_webhooks ORDER BY id")]
    assert sorted((d["brand"], d["action"], d["address"]) for d in told) == [
        ("acme", "opt_out", PERSON), ("globex", "opt_out", PERSON)]


def test_a_subject_access_export_shows_each_brands_state(client):
    text_to(client, GLOBEX_NUMBER, "STOP")
    exported = client.post("/api/v1/people/export", json={"channel": "sms", "address": PERSON},
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json
    assert exported["brands"]["globex"]["all"] == "suppressed"
    assert exported["state"]["all"] == "receiving"  # "state" is the first brand's (Acme's)


def test_twilios_21610_is_the_opt_out_of_the_brand_whose_number_sent_the_message(client):
    """A status callback as Twilio sends it (twilio.com/docs/messaging/guides/track-outbound-message-status):
    error 21610, From our Globex number, To the person."""
    sid = "SM1f0e8ae6ade43cb3c0ce4525424e404f"
    params = {"SmsSid": sid, "SmsStatus": "undelivered", "MessageStatus": "undelivered", "To": PERSON,
              "MessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": GLOBEX_NUMBER, "ApiVersion": "2010-04-01",
              "ErrorCode": "21610"}
    assert twilio_post(client, params, url="http://localhost/webhooks/twilio/status").status_code in (200, 204)
    assert suppressed_for(client) == {"acme": False, "globex": True, None: True}


@pytest.mark.parametrize("domain, brands", [
    ("mg.globex.example", {"acme": False, "globex": True, None: True}),
    ("mg.initech.example", {"acme": True, "globex": False, None: True}),  # no brand's: the first brand's
])
def test_a_mailgun_event_belongs_to_the_brand_whose_sending_domain_it_names(client, domain, brands):
    """Mailgun's payload (documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhook-payloads)."""
    data = {"event": "unsubscribed", "id": f"Ase7i2zsRYeDXztHGENqRA-{domain}", "timestamp": 1521243339.873676,
            "recipient": "alice@example.com", "recipient-domain": "example.com", "tags": [],
            "domain": {"name": domain}, "account": {"id": "1234567890303a4bd1f33898"}, "log-level": "info",
            "message": {"headers": {"message-id": "20130503192659.13651.20287@mg.example.com"}}}
    assert client.post("/webhooks/events/mailgun", json=mailgun_payload(data)).status_code == 200
    assert suppressed_for(client, "alice@example.com", "email") == brands


def test_when_twilio_already_answered_stopall_nobody_answers_again(client):
    """Twilio's Advanced Opt-Out answers its own keywords and says so (OptOutType=STOP)."""
    assert text_to(client, ACME_NUMBER, "STOPALL", OptOutType="STOP") == ""
    assert suppressed_for(client) == {"acme": True, "globex": True, None: True}


@pytest.mark.parametrize("channel, recipient, service, expected", [
    ("sms", ACME_NUMBER, None, ("", True)),                    # the first brand is stored as ''
    ("sms", "+1 (415) 555-0199", None, ("globex", True)),      # written as a person would
    ("sms", f"whatsapp:{GLOBEX_NUMBER}", None, ("globex", True)),  # Twilio's WhatsApp sender
    ("sms", STRANGER_NUMBER, ACME_SERVICE.upper(), ("", True)),
    ("sms", STRANGER_NUMBER, None, ("", False)),               # nobody's: the first brand's, flagged
    ("email", "News@Acme.Example", None, ("", True)),
    ("email", "offers@globex.example", None, ("globex", True)),
    ("email", "offers@notglobex.example", None, ("", False)),  # a look-alike domain is not a parent
    ("email", None, "globex-broadcast", ("globex", True)),
])
def test_which_brand_a_message_is(channel, recipient, service, expected):
    table = parse_keywords(((ROOT / "keywords.yaml").read_text() + BRANDS).encode())
    assert table.brands.resolve(channel, recipient, service) == expected


def test_a_brand_may_word_its_own_replies(settings, tmp_path, make_app):
    own = BRANDS + ('    replies:\n      en:\n        help: "{brand}: ask a pharmacist at {help}. '
                    'Msg&data rates may apply. Reply {stop} to stop."\n')
    client = make_app({**settings, "KEYWORDS_PATH": keywords_with(tmp_path, own)}).test_client()
    assert text_to(client, GLOBEX_NUMBER, "HELP") == ("Globex Pharmacy: ask a pharmacist at rx@globex.example. "
                                                      "Msg&data rates may apply. Reply STOP to stop.")
    assert text_to(client, ACME_NUMBER, "HELP").startswith("Acme Outfitters: Help at help@acme.example.")


@pytest.mark.parametrize("replies, problem", [
    ('      en:\n        help: "{brand} {nope}"\n', "unknown placeholder {nope}"),
    ('      en:\n        goodbye: "{brand}"\n', "is not an SMS reply"),
    ('      xx:\n        help: "{brand}"\n', "'xx' is not one of the languages"),
    ('      en:\n        help: "{brand}' + " and more" * 20 + '"\n', "does not fit one SMS"),
])
def test_a_brands_own_replies_are_checked_as_the_files_are(replies, problem):
    raw = ((ROOT / "keywords.yaml").read_text() + BRANDS + "    replies:\n" + replies).encode()
    with pytest.raises(KeywordFileError) as caught:
        parse_keywords(raw)
    assert any(problem in p for p in caught.value.problems), caught.value.problems
