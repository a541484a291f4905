"""Wrong credentials are counted per client and per credential tried (issue 26, item 6): a client that
fails is refused its further wrong tries, but a correct credential is refused only for its own failures,
so a stranger behind the same proxy (or every client, when TRUSTED_PROXIES does not match the
deployment) cannot lock the sending tools or the operators out. (The dashboard's own case, the right
token logging in while its client is refused, is tests/test_admin.py's.)"""

import pytest
from conftest import ADMIN_TOKEN
from test_admin import login

pytestmark = pytest.mark.backends("sqlite", "postgresql")

API_LIMIT, LOGIN_LIMIT = 30, 5  # wrong API tokens a minute, wrong dashboard tokens per 15 minutes


def api_check(client, token, client_address="203.0.113.9"):
    return client.post("/api/v1/suppressions/check", json={"channel": "sms", "addresses": []},
                       headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": client_address}).status_code


@pytest.fixture
def client(settings, make_app):
    return make_app(settings).test_client()


@pytest.mark.parametrize("proxies", ["0", "1"])
def test_the_right_api_token_passes_while_its_client_is_refused_wrong_ones(settings, make_app, proxies):
    client = make_app({**settings, "TRUSTED_PROXIES": proxies}).test_client()
    statuses = [api_check(client, f"guess-{n}") for n in range(API_LIMIT + 1)]
    assert statuses == [401] * API_LIMIT + [429]
    assert api_check(client, ADMIN_TOKEN) == 200
    assert api_check(client, "guess-again") == 429  # the failing client is still refused its wrong tries


def test_a_wrong_api_token_is_refused_from_any_client_once_it_has_failed_enough(settings, make_app):
    client = make_app({**settings, "TRUSTED_PROXIES": "1"}).test_client()
    statuses = [api_check(client, "stale-token", f"203.0.113.{n}") for n in range(API_LIMIT + 1)]
    assert statuses == [401] * API_LIMIT + [429]
    assert api_check(client, "another-guess", "198.51.100.7") == 401
    assert api_check(client, ADMIN_TOKEN, "198.51.100.8") == 200


def test_a_dashboard_token_tried_wrong_too_often_is_refused_from_any_client(settings, make_app):
    client = make_app({**settings, "TRUSTED_PROXIES": "1"}).test_client()

    def try_login(token, client_address):
        client.environ_base["HTTP_X_FORWARDED_FOR"] = client_address
        return login(client, token=token).status_code

    statuses = [try_login("stale-token", f"203.0.113.{n}") for n in range(LOGIN_LIMIT + 1)]
    assert statuses == [403] * LOGIN_LIMIT + [429]
    assert try_login("another-guess", "198.51.100.7") == 403
    assert try_login(ADMIN_TOKEN, "198.51.100.7") == 303


def test_no_credential_is_kept_in_the_database(client, db):
    api_check(client, "secret-looking-guess")
    login(client, token="another-secret-guess")
    keys = [row[0] for row in db.execute("SELECT key FROM throttle_events").fetchall()]
    assert len(keys) == 4 and not any("guess" in key for key in keys)
