"""Single sign-on by OpenID Connect against a fake issuer started here on localhost: its discovery
document, its JWKS and its token endpoint, which hands back ID tokens really signed (RS256) by its own key.
The issuer can be told to misbehave (another key, another audience, another nonce) to show each is refused."""

import base64
import json
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import free_port
from joserfc import jwt
from joserfc.jwk import RSAKey
from test_admin import csrf_of

pytestmark = pytest.mark.backends("sqlite", "postgresql")

CLIENT_ID, CLIENT_SECRET = "optout-dashboard", "client-secret-of-the-test"


class Issuer(ThreadingHTTPServer):
    """The fake identity provider: `person` is whom it logs in; `tamper` changes one claim or the key."""

    def __init__(self):
        super().__init__(("127.0.0.1", free_port()), IssuerHandler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.key = RSAKey.generate_key(2048, parameters={"kid": "issuer-key"})
        self.person = {"email": "sam@acme.example", "email_verified": True, "groups": ["optout-admins"]}
        self.tamper: dict = {}
        self.codes: dict = {}
        self.token_requests: list = []

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {"iss": self.url, "sub": "user-1", "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": nonce,
                  **self.person, **self.tamper.get("claims", {})}
        key = self.tamper.get("key", self.key)
        return jwt.encode({"alg": "RS256", "kid": "issuer-key"}, claims, key)


class IssuerHandler(BaseHTTPRequestHandler):
    server: Issuer

    def log_message(self, *args):
        pass

    def answer(self, status: int, body: dict | None = None, location: str | None = None):
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        data = json.dumps(body or {}).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        base = self.server.url
        if url.path == "/.well-known/openid-configuration":
            return self.answer(200, {
                "issuer": base, "authorization_endpoint": f"{base}/authorize", "token_endpoint": f"{base}/token",
                "jwks_uri": f"{base}/jwks", "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"]})
        if url.path == "/jwks":
            return self.answer(200, {"keys": [self.server.key.as_dict(private=False)]})
        if url.path == "/authorize":  # the person logs in at once: straight back with a code
            query = dict(urllib.parse.parse_qsl(url.query))
            code = f"code-{len(self.server.codes)}"
            self.server.codes[code] = query
            back = f"{query['redirect_uri']}?{urllib.parse.urlencode({'code': code, 'state': query['state']})}"
            return self.answer(302, location=back)
        return self.answer(404)

    def do_POST(self):
        form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        self.server.token_requests.append(form)
        asked = self.server.codes.pop(form.get("code"), None)
        if self.headers.get("Authorization") != f"Basic {basic}" or asked is None:
            return self.answer(401, {"error": "invalid_client"})
        nonce = self.server.tamper.get("nonce", asked.get("nonce", ""))
        return self.answer(200, {"access_token": "at", "token_type": "Bearer", "expires_in": 300,
                                 "id_token": self.server.id_token(nonce)})


@pytest.fixture
def issuer():
    server = Issuer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings(settings, issuer):
    return {**settings, "OIDC_ISSUER": issuer.url, "OIDC_CLIENT_ID": CLIENT_ID, "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_ROLE_CLAIM": "groups",
            "OIDC_ROLE_MAP": "optout-admins=admin, optout-reviewers=reviewer, staff=viewer"}


def sign_on(client):
    """Follow the dashboard to the issuer and back, as a browser would; the callback's response."""
    start = client.get("/admin/login/oidc?next=/admin/review")
    assert start.status_code == 302 and start.headers["Location"].startswith("http://127.0.0.1")
    opener = urllib.request.build_opener(NoRedirects)
    try:
        opener.open(start.headers["Location"], timeout=30)
    except urllib.error.HTTPError as e:
        assert e.code == 302
        back = e.headers["Location"]
    callback = urllib.parse.urlsplit(back)
    assert callback.path == "/admin/login/oidc/callback"
    return client.get(f"{callback.path}?{callback.query}")


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.mark.parametrize("groups, role", [
    (["optout-admins"], "admin"), (["staff", "optout-reviewers"], "reviewer"), ("staff", "viewer"),
])
def test_the_claim_gives_the_role(client, db, issuer, groups, role):
    issuer.person["groups"] = groups
    response = sign_on(client)
    assert (response.status_code, response.headers["Location"]) == (303, "/admin/review")
    assert client.get("/admin/review").status_code == 200
    assert tuple(db.execute("SELECT email, role, password_hash FROM operators").fetchone()) == (
        "sam@acme.example", role, None)
    assert tuple(db.execute("SELECT actor, action FROM audit_log ORDER BY id DESC").fetchone()) == (
        "sam@acme.example", "login")
    verdict = client.post("/admin/review/1", data={"verdict": "confirmed", "csrf": csrf_of(client.get("/admin").text)})
    assert verdict.status_code == (403 if role == "viewer" else 303)
    # The token was asked for with the client's secret and the code the issuer gave.
    assert issuer.token_requests[-1]["grant_type"] == "authorization_code"


@pytest.mark.parametrize("tamper, why", [
    ({"claims": {"groups": ["everyone"]}}, "has no role here"),
    ({"claims": {"email_verified": False}}, "no verified email"),
    ({"key": RSAKey.generate_key(2048, parameters={"kid": "issuer-key"})}, "could not be verified"),
    ({"claims": {"aud": "another-client"}}, "could not be verified"),
    ({"claims": {"iss": "http://127.0.0.1:1"}}, "could not be verified"),
    ({"claims": {"exp": int(time.time()) - 3600}}, "could not be verified"),
    ({"nonce": "not-the-one-sent"}, "could not be verified"),
])
def test_a_token_that_does_not_hold_logs_nobody_in(client, db, issuer, tamper, why):
    issuer.tamper = tamper
    response = sign_on(client)
    assert response.status_code == 403 and why in response.text
    assert client.get("/admin").status_code == 303
    assert db.execute("SELECT count(*) FROM operators").fetchone()[0] == 0
    assert tuple(db.execute("SELECT actor, action FROM audit_log").fetchone()) == ("single sign-on", "login_failed")


def test_removing_a_signed_on_operator_ends_their_session(client, app, issuer):
    assert sign_on(client).status_code == 303
    with app.app_context():
        assert app.test_cli_runner().invoke(args=["remove-operator", "sam@acme.example"]).exit_code == 0
    assert client.get("/admin").status_code == 303


def test_the_callback_reloads_itself_once_when_the_strict_cookie_stayed_behind(client, issuer):
    """A browser sends no SameSite=Strict cookie with the issuer's cross-site redirect: the callback loads
    itself again from this site, which brings the cookie and its state."""
    response = client.get("/admin/login/oidc/callback?code=x&state=y")
    assert response.status_code == 200
    assert 'http-equiv="refresh" content="0;url=/admin/login/oidc/callback?code=x&amp;state=y&amp;relayed=1"' \
        in response.text


def test_without_oidc_settings_there_is_no_single_sign_on(settings, make_app):
    client = make_app({**settings, "OIDC_ISSUER": None}).test_client()
    assert client.get("/admin/login/oidc").status_code == 404
    assert "single sign-on" not in client.get("/admin/login").text
