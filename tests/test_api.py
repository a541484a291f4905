"""The suppression API the business's sending tools call before every send."""

import pytest
from conftest import ADMIN_TOKEN, twilio_params, twilio_post

pytestmark = pytest.mark.backends("sqlite", "postgresql")

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
HEALTH_ERROR = "the database cannot be used; the service's log says why"


def check(client, **body):
    response = client.post("/api/v1/suppressions/check", json=body, headers=AUTH)
    assert response.status_code == 200, response.json
    return response.json


@pytest.fixture
def opted(client):
    """+14155550001 stopped everything; ...0002 stopped surveys; ...0003 stopped then started surveys."""
    for sender, texts in {"+14155550001": ["STOP"], "+14155550002": ["STOP SURVEYS"],
                          "+14155550003": ["STOP", "START SURVEYS"], "+14155550004": ["STOP", "START"]}.items():
        for text in texts:
            assert twilio_post(client, twilio_params(text, sender=sender)).status_code == 200
    return client


@pytest.mark.parametrize("category, suppressed", [
    (None, ["+14155550001", "+14155550003"]),
    ("surveys", ["+14155550001", "+14155550002"]),
    ("promotions", ["+14155550001", "+14155550003"]),
])
def test_who_must_not_be_texted(opted, category, suppressed):
    addresses = ["+14155550001", "+14155550002", "+14155550003", "+14155550004", "+14155550005"]
    result = check(opted, channel="sms", addresses=addresses, **({"category": category} if category else {}))
    assert result["suppressed"] == suppressed
    assert result["allowed"] == [a for a in addresses if a not in suppressed]
    assert result["invalid"] == []


def test_addresses_are_normalised_and_bad_ones_explained(opted):
    result = check(opted, channel="sms", addresses=["(415) 555-0001", "415.555.0005", "hello!", "", 42, "+1 555"])
    assert result["suppressed"] == ["+14155550001"]
    assert result["allowed"] == ["+14155550005"]
    assert [i["address"] for i in result["invalid"]] == ["hello!", "", 42, "+1 555"]
    assert all(i["error"] for i in result["invalid"])


def test_email_addresses_are_lower_cased(client):
    result = check(client, channel="email", addresses=["Person@Example.COM", "not-an-address"])
    assert result["allowed"] == ["person@example.com"]
    assert result["invalid"][0]["address"] == "not-an-address"


def test_a_large_list_in_one_call(opted):
    addresses = [f"+1415{n:07d}" for n in range(5_450_000, 5_650_000)]
    result = check(opted, channel="sms", addresses=addresses)
    assert result["suppressed"] == ["+14155550001", "+14155550003"]
    assert len(result["allowed"]) == 200_000 - 2


@pytest.mark.parametrize("body, message", [
    ({"addresses": []}, "channel"),
    ({"channel": "fax", "addresses": []}, "channel"),
    ({"channel": "sms"}, "addresses"),
    ({"channel": "sms", "addresses": "+14155550001"}, "addresses"),
    ({"channel": "sms", "addresses": [], "category": "lottery"}, "unknown category"),
    ([1, 2], "JSON object"),
])
def test_bad_requests_say_what_is_wrong(client, body, message):
    response = client.post("/api/v1/suppressions/check", json=body, headers=AUTH)
    assert response.status_code == 400
    assert message in response.json["error"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN_TOKEN},
                                     {"Authorization": f"Basic {ADMIN_TOKEN}"}])
def test_the_api_needs_the_token(client, headers):
    response = client.post("/api/v1/suppressions/check", json={"channel": "sms", "addresses": []}, headers=headers)
    assert response.status_code == 401
    assert "token" in response.json["error"]


def test_without_admin_token_the_api_is_closed_and_the_log_says_so(settings, caplog, make_app):
    client = make_app({**settings, "ADMIN_TOKEN": None}).test_client()
    assert "ADMIN_TOKEN is not set: the /api/v1 API is closed" in caplog.text
    response = client.get("/api/v1/contacts/sms/+14155550001", headers={"Authorization": "Bearer "})
    assert response.status_code == 401 and "closed" in response.json["error"]


def test_a_contact_shows_state_per_category_and_full_history(opted):
    response = opted.get("/api/v1/contacts/sms/(415) 555-0003", headers=AUTH)
    assert response.status_code == 200
    contact = response.json
    assert contact["address"] == "+14155550003"
    assert contact["suppressed"] == {"all": True, "promotions": True, "surveys": False, "newsletter": True}
    assert [(e["action"], e["categories"], e["message"]) for e in contact["events"]] == [
        ("opt_out", [], "STOP"), ("opt_in", ["surveys"], "START SURVEYS")]
    assert [m["body"] for m in contact["messages"]] == ["STOP", "START SURVEYS"]


def test_an_unknown_contact_has_no_history(client):
    contact = client.get("/api/v1/contacts/sms/+14155550999", headers=AUTH).json
    assert contact["suppressed"]["all"] is False and contact["events"] == []


@pytest.mark.parametrize("path, status", [("/api/v1/contacts/fax/123", 404), ("/api/v1/contacts/sms/hello%21", 400)])
def test_bad_contact_lookups(client, path, status):
    assert client.get(path, headers=AUTH).status_code == status


def test_health(client, db):
    assert client.get("/healthz").json == {"status": "ok"}


@pytest.mark.backends("postgresql")
def test_health_says_why_only_in_the_log(client, database_url, caplog):
    from test_nodes import database_reachable
    database_reachable(database_url, False)
    try:
        response = client.get("/healthz")
    finally:
        database_reachable(database_url, True)
    assert response.status_code == 503 and response.json == {"status": "unhealthy", "error": HEALTH_ERROR}
    assert "cannot reach PostgreSQL at postgresql://" in caplog.text  # where, and the driver's words: logged


# Every state one address can be in as far as a check for everything or for surveys goes: everything's
# mark and surveys' (none, out, in), with promotions out or not beside them.
STATES = [{scope: mark for scope, mark in (("*", everything), ("surveys", surveys), ("promotions", promotions))
           if mark is not None}
          for everything in (None, "out") for surveys in (None, "out", "in") for promotions in (None, "out")]


@pytest.mark.parametrize("category", [None, "surveys", "promotions"])
@pytest.mark.parametrize("padding", [0, 6000], ids=["looked-up", "many"])  # suppression.MANY: both reads
def test_the_check_the_export_and_the_core_agree_on_every_state(client, category, padding):
    from handlers.core.consent import suppressed
    from handlers.storage.store import now

    store = client.application.extensions["optout"].store
    addresses = {f"+1415555{n:04d}": state for n, state in enumerate(STATES)}

    def write(conn):
        for address, state in addresses.items():
            for scope, mark in state.items():
                conn.execute("INSERT INTO consent (channel, address, scope, status, updated_at) VALUES (?, ?, ?, ?, ?)",
                             ("sms", address, scope, mark, now()))

    store.write(write)
    core = {a for a, state in addresses.items()
            if suppressed(state, ("surveys", "promotions"))["*" if category is None else category]}
    padded = [*addresses, *(f"+1212555{n:04d}" for n in range(padding))]
    result = check(client, channel="sms", addresses=padded, **({"category": category} if category else {}))
    assert set(result["suppressed"]) == core
    export = client.get("/api/v1/suppressions?format=json&channel=sms" + (f"&category={category}" if category else ""),
                        headers=AUTH)
    assert {row["address"] for row in export.json} == core
    assert core  # the table holds suppressed addresses and allowed ones for every category
    assert core != set(addresses)
