"""WhatsApp and RCS through Twilio's SMS webhook and status callback (issue 28), on both databases.

Payloads are Twilio's documented inbound parameters (twilio.com/docs/messaging/guides/webhook-request):
the SMS ones with From=whatsapp:+E164 or rcs:+E164, WhatsApp's ProfileName and WaId, a tapped button's
ButtonPayload and ButtonText; status callbacks as twilio.com/docs/messaging/guides/track-outbound-message-status,
with error 21610 (twilio.com/docs/api/errors/21610) and 63014 (twilio.com/docs/api/errors/63014).
Every request is signed with the Twilio SDK's RequestValidator; every reply is TwiML, parsed.
"""

import io
import json
import logging
import re
import xml.etree.ElementTree as ElementTree

import pytest
from conftest import ADMIN_TOKEN, AUTH_TOKEN, ROOT, twilio_params, twilio_post
from twilio.request_validator import RequestValidator

from handlers import simulate
from handlers.core.keyword_file import KeywordFileError, parse_keywords

pytestmark = pytest.mark.backends("sqlite", "postgresql")
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NUMBER = "+14155550100"
STATUS_URL = "http://localhost/webhooks/twilio/status"


def whatsapp(body, number=NUMBER, **extra):
    """A WhatsApp message as Twilio posts it: From and To prefixed, the person's profile name and WhatsApp id."""
    return twilio_params(body, f"whatsapp:{number}", To="whatsapp:+14155550199", ProfileName="Pat Quinn",
                         WaId=number.lstrip("+"), **extra)


def rcs(body, number=NUMBER, **extra):
    return twilio_params(body, f"rcs:{number}", To="rcs:acme_agent", **extra)


def sms(body, number=NUMBER, **extra):
    return twilio_params(body, number, **extra)


SENDERS = {"whatsapp": whatsapp, "rcs": rcs, "sms": sms}


def reply_of(response) -> str | None:
    assert response.status_code == 200 and response.mimetype == "application/xml"
    message = ElementTree.fromstring(response.data).find("Message")
    return message.text if message is not None else None


def check(client, channel, addresses=(NUMBER,), category=None) -> set[str]:
    body = {"channel": channel, "addresses": list(addresses), **({"category": category} if category else {})}
    response = client.post("/api/v1/suppressions/check", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    return set(response.json["suppressed"])


def suppressed_channels(client, category=None) -> set[str]:
    return {channel for channel in ("sms", "whatsapp", "rcs") if check(client, channel, category=category)}


def stopped_reply(app) -> str:
    return app.extensions["optout"].keywords.render("sms", "stopped_all", "en")


# STOP on each channel --------------------------------------------------------------------------------

@pytest.mark.parametrize("channel, stopped", [
    ("whatsapp", {"whatsapp"}),        # WhatsApp's own consent: SMS still allowed
    ("rcs", {"rcs", "sms"}),           # RCS shares SMS consent, as Twilio does since 16 March 2026
    ("sms", {"sms", "rcs"}),           # and the other way round
])
def test_stop_is_recorded_on_its_channel_answered_in_twiml(app, client, db, channel, stopped):
    response = twilio_post(client, SENDERS[channel]("STOP"))
    assert reply_of(response) == stopped_reply(app)
    assert suppressed_channels(client) == stopped
    row = db.execute("SELECT channel, address, action FROM messages").fetchone()
    assert (row["channel"], row["address"], row["action"]) == (channel, NUMBER, "opt_out")


def test_start_on_sms_undoes_a_stop_on_rcs_but_not_one_on_whatsapp(client):
    for params in (rcs("STOP"), whatsapp("STOP"), sms("START")):
        assert twilio_post(client, params).status_code == 200
    assert suppressed_channels(client) == {"whatsapp"}


def test_whatsapp_evidence_is_kept_in_the_message_and_never_logged(client, db, caplog):
    with caplog.at_level(logging.DEBUG):
        assert twilio_post(client, whatsapp("STOP")).status_code == 200
        assert twilio_post(client, whatsapp("STOP"), token="wrong").status_code == 403
    params = json.loads(db.execute("SELECT params FROM messages").fetchone()["params"])
    assert (params["ProfileName"], params["WaId"], params["From"]) == ("Pat Quinn", "14155550100", f"whatsapp:{NUMBER}")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "whatsapp:+•••00" in logged  # masked as any number, its channel shown
    for secret in ("Pat Quinn", "14155550100", "4155550100"):
        assert secret not in logged


# Signatures, exactly as for SMS ----------------------------------------------------------------------

@pytest.mark.parametrize("channel", ["whatsapp", "rcs"])
@pytest.mark.parametrize("how, status", [
    ("signed", 200), ("wrong token", 403), ("unsigned", 403), ("changed after signing", 403),
])
def test_signatures_are_checked_as_for_sms(client, db, channel, how, status):
    params = SENDERS[channel]("STOP")
    url = "http://localhost/webhooks/twilio/sms"
    signature = RequestValidator("wrong" if how == "wrong token" else AUTH_TOKEN).compute_signature(url, params)
    if how == "changed after signing":
        params = {**params, "From": f"{channel}:+14155550123"}
    headers = {} if how == "unsigned" else {"X-Twilio-Signature": signature}
    response = client.post(url, data=params, headers=headers)
    assert response.status_code == status
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == (1 if status == 200 else 0)


# Buttons -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("payload, text, body, promotions, everything", [
    ("STOP_PROMOS", "No more offers", "No more offers", True, False),   # keywords.yaml maps the payload
    ("stop_promos", "Unsubscribe", "Unsubscribe", True, False),         # case does not matter
    (None, "Stop promotions", "Stop promotions", True, False),          # WhatsApp's own button, by default
    ("OTHER", "Stop promotions", "Stop promotions", True, False),       # an unmapped payload: its text
    ("OTHER", "STOP", "hello", True, True),                             # read as words: the text before Body
])
def test_a_button_mapped_to_promotions_stops_promotions_only(client, db, payload, text, body, promotions,
                                                              everything):
    extra = {"ButtonText": text, **({"ButtonPayload": payload} if payload else {})}
    assert twilio_post(client, whatsapp(body, **extra)).status_code == 200
    assert bool(check(client, "whatsapp", category="promotions")) is promotions
    assert bool(check(client, "whatsapp", category="surveys")) is everything
    assert bool(check(client, "whatsapp")) is everything
    assert not check(client, "sms", category="promotions")
    rule = db.execute("SELECT rule FROM messages").fetchone()["rule"]
    assert (rule == "button") is not everything


# Status callbacks --------------------------------------------------------------------------------------

def status_params(to, error_code, sid="SM1f0e8ae6ade43cb3c0ce4525424e404f"):
    return {"SmsSid": sid, "SmsStatus": "undelivered", "MessageStatus": "undelivered", "To": to,
            "MessagingServiceSid": "MG" + "0" * 32, "MessageSid": sid, "AccountSid": "AC" + "0" * 32,
            "From": "+14155550199", "ApiVersion": "2010-04-01", "ErrorCode": error_code}


@pytest.mark.parametrize("to, error_code, stopped", [
    (f"rcs:{NUMBER}", "21610", {"rcs", "sms"}),     # opted out on RCS and SMS alike
    (NUMBER, "21610", {"rcs", "sms"}),
    (f"whatsapp:{NUMBER}", "63014", {"whatsapp"}),  # blocked the business, or withdrew consent
    (f"whatsapp:{NUMBER}", "63049", set()),         # Meta chose not to deliver a marketing template: no one's choice
    (f"whatsapp:{NUMBER}", "63032", set()),         # the number is in one of Meta's experiments
    (f"whatsapp:{NUMBER}", "21610", set()),         # not WhatsApp's code
    (f"rcs:{NUMBER}", "63014", set()),
])
def test_status_callback_opt_outs_by_channel(client, db, to, error_code, stopped):
    for _ in range(2):  # a retry records nothing twice
        assert twilio_post(client, status_params(to, error_code), url=STATUS_URL).status_code == 200
    assert suppressed_channels(client) == stopped
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == (1 if stopped else 0)


# Everywhere a channel is taken -------------------------------------------------------------------------

@pytest.mark.parametrize("channel", ["whatsapp", "rcs"])
def test_api_lookup_export_import_and_person_export_take_the_channel(client, channel):
    written = f"{channel}:{NUMBER}"
    assert check(client, channel, [written, "+14155550111"]) == set()
    imported = client.post(f"/api/v1/suppressions/import?channel={channel}", data=f"{written}\n+14155550111\n",
                           content_type="text/plain", headers=AUTH)
    assert imported.status_code == 200 and imported.json["imported"] == 2, imported.text
    assert check(client, channel, [written, "+14155550111", "+14155550122"]) == {NUMBER, "+14155550111"}
    assert bool(check(client, "sms")) is (channel == "rcs")
    exported = client.get(f"/api/v1/suppressions?channel={channel}&format=json", headers=AUTH)
    assert [(row["channel"], row["address"]) for row in exported.json] == [(channel, NUMBER), (channel, "+14155550111")]
    assert twilio_post(client, SENDERS[channel]("hello there")).status_code == 200
    looked_up = client.post("/api/v1/contacts/lookup", json={"channel": channel, "address": written}, headers=AUTH)
    assert looked_up.json["suppressed"]["all"] is True
    assert [m["channel"] for m in looked_up.json["messages"]] == [channel]
    person = client.post("/api/v1/people/export", json={"channel": channel, "address": NUMBER}, headers=AUTH)
    assert person.json["state"]["all"] == "suppressed"
    assert [m["text"] for m in person.json["messages"]] == ["hello there"]


def test_an_rcs_address_is_not_a_whatsapp_one(client):
    response = client.post("/api/v1/suppressions/check", json={"channel": "whatsapp", "addresses": [f"rcs:{NUMBER}"]},
                           headers=AUTH)
    assert response.json["invalid"][0]["error"] == "a rcs address, not a whatsapp one"


@pytest.fixture
def erasing(settings, make_app):
    return make_app({**settings, "ERASURE_KEY": "test-erasure-key-0123456789abcdef"}).test_client()


def test_erasing_an_rcs_number_erases_its_shared_sms_consent_and_keeps_it_suppressed(erasing, db):
    for params in (rcs("STOP"), sms("hello")):
        assert twilio_post(erasing, params).status_code == 200
    response = erasing.post("/api/v1/erasures", json={"channel": "rcs", "address": NUMBER}, headers=AUTH)
    assert response.status_code == 200 and response.json["kept"] == ["*"], response.text
    assert response.json["removed"]["messages"] == 2
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    assert check(erasing, "sms") == check(erasing, "rcs") == {NUMBER}


def test_the_dashboard_shows_whatsapp_and_rcs(client):
    from test_admin import login
    for params in (whatsapp("STOP"), rcs("hello")):
        assert twilio_post(client, params).status_code == 200
    assert login(client).status_code == 303
    page = client.get("/admin?channel=whatsapp")
    assert page.status_code == 200
    assert "WhatsApp: messages per day" in page.text and "RCS: messages per day" in page.text


# The simulator -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("channel, button, body, stopped", [
    ("whatsapp", None, "STOP", {"whatsapp"}),
    ("rcs", None, "STOP", {"rcs", "sms"}),
    ("whatsapp", "STOP_PROMOS", "No thanks", set()),  # promotions only
])
def test_simulated_requests_are_what_the_service_accepts(client, db, channel, button, body, stopped):
    request = simulate.sms("http://localhost", AUTH_TOKEN, body, NUMBER, channel=channel, button=button)
    response = client.post(request.url, data=request.body, headers=request.headers)
    assert reply_of(response)
    assert suppressed_channels(client) == stopped
    assert bool(check(client, channel, category="promotions")) is (button is not None or body == "STOP")
    assert db.execute("SELECT channel FROM messages").fetchone()["channel"] == channel


# keywords.yaml's policy ----------------------------------------------------------------------------------

# The shipped file without its channels and buttons sections.
BASE = re.sub(r"^(channels|buttons):\n(  .*\n)+", "", (ROOT / "keywords.yaml").read_text(encoding="utf-8"), flags=re.M)


@pytest.mark.parametrize("section, problem", [
    ("channels:\n  whatsapp: {consent: shared}\n", "channels.whatsapp.consent: 'shared' is not a choice: write sms"),
    ("channels:\n  telegram: {consent: sms}\n", "channels.telegram: is not a channel whose consent can be set"),
    ("channels:\n  rcs: sms\n", "channels.rcs: must be {consent: sms} or {consent: own}"),
    ("channels: [rcs]\n", "channels: must map whatsapp and rcs to their consent"),
    ("buttons:\n  NO_PROMOS: {action: stop}\n", "buttons.NO_PROMOS.action: 'stop' is not an action"),
    ("buttons:\n  NO_PROMOS: {action: opt_out, categories: [ads]}\n",
     "buttons.NO_PROMOS.categories: must list categories of this file (promotions, surveys"),
    ("buttons:\n  INFO_PLEASE: {action: help, categories: [surveys]}\n", "a help button takes no categories"),
    ("buttons:\n  Stop Promos: {action: opt_out}\n  stop  promos: {action: opt_in}\n", "is mapped twice"),
])
def test_the_keyword_file_refuses_a_bad_policy_with_its_line(section, problem):
    assert "channels:" not in BASE and "STOP_PROMOS" not in BASE
    parse_keywords(BASE.encode())  # the file is good without them: the defaults
    with pytest.raises(KeywordFileError) as raised:
        parse_keywords((BASE + section).encode())
    assert any(problem in p and p.startswith("line ") for p in raised.value.problems), raised.value.problems


def test_whatsapp_linked_to_sms_shares_its_consent(settings, make_app, tmp_path):
    linked = tmp_path / "keywords.yaml"
    linked.write_text(BASE + "channels:\n  whatsapp: {consent: sms}\n", encoding="utf-8")
    client = make_app({**settings, "KEYWORDS_PATH": str(linked)}).test_client()
    assert twilio_post(client, whatsapp("STOP")).status_code == 200
    assert suppressed_channels(client) == {"whatsapp", "sms", "rcs"}


def test_an_rcs_list_import_from_a_file_object_is_recorded_under_sms(app):
    from handlers.storage import imports
    store = app.extensions["optout"].store
    report = imports.import_suppressions(store, io.BytesIO(f"rcs:{NUMBER}\n".encode()), "rcs", "US")
    assert (report.channel, report.imported) == ("rcs", 1)
    assert store.state("sms", NUMBER) == store.state("rcs", NUMBER) == {"*": "out"}
