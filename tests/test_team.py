"""Issue 25: named operators with roles, scoped API keys, the built-in admin of ADMIN_TOKEN and the audit
log, through the real routes and the real `flask` commands, on both databases."""

import re
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from conftest import ADMIN_TOKEN, ROOT, twilio_params, twilio_post
from test_admin import csrf_of, message_id, table

pytestmark = pytest.mark.backends("sqlite", "postgresql")

VIEWER, REVIEWER, BOSS = "vera@acme.example", "rory@acme.example", "ada@acme.example"


def flask(app, *args, input=None):
    """`flask ARGS` as an operator runs it (the flask command gives its commands an app context)."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args), input=input)


def add_operator(app, email, role) -> str:
    """The one-time password `flask add-operator` prints."""
    result = flask(app, "add-operator", email, "--role", role)
    assert result.exit_code == 0, result.output
    return re.search(r"shown this once: (\S+)", result.output).group(1)


def add_key(app, name, scope) -> str:
    result = flask(app, "add-api-key", name, "--scope", scope)
    assert result.exit_code == 0, result.output
    return re.search(r"shown this once: (\S+)", result.output).group(1)


def login(client, email, password, **extra):
    form = client.get("/admin/login")
    return client.post("/admin/login", data={"email": email, "password": password, "csrf": csrf_of(form.text),
                                             "next": "/admin"}, **extra)


@pytest.fixture
def operator(app):
    """operator(role) -> a test client logged in as a new operator of that role."""
    def make(role, email=None):
        email = email or {"viewer": VIEWER, "reviewer": REVIEWER, "admin": BOSS}[role]
        client = app.test_client()
        assert login(client, email, add_operator(app, email, role)).status_code == 303
        client.email = email
        return client
    return make


def flagged(client, db, body="Can you stop?"):
    """A message waiting for review (an unsure opt-out), made by a real signed Twilio webhook."""
    assert twilio_post(client, twilio_params(body, "+14155550100")).status_code == 200
    return message_id(db, body)


def verdict(client, number, verdict="not_opt_out"):
    return client.post(f"/admin/review/{number}", data={"verdict": verdict, "csrf": csrf_of(client.get("/admin").text)})


def client_at(app, address):
    """A test client whose requests come from `address`."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def audit_rows(db):
    return [tuple(r) for r in db.execute("SELECT actor, action, detail FROM audit_log ORDER BY id")]


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


# Done when: a viewer's verdict is refused and records nothing; a reviewer's is recorded under them -----

def test_a_viewers_verdict_is_refused_and_records_nothing(operator, client, db):
    viewer = operator("viewer")
    number = flagged(client, db)
    before = audit_rows(db)
    response = verdict(viewer, number)
    assert response.status_code == 403 and "does not allow" in response.text
    assert db.execute("SELECT count(*) FROM reviews").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM events WHERE source LIKE 'review:%'").fetchone()[0] == 0
    assert audit_rows(db) == before
    assert "This was not an opt-out" not in viewer.get("/admin/review").text  # and no button offers it


def test_a_reviewers_verdict_is_recorded_and_audited_under_them(operator, client, db, app):
    reviewer, boss = operator("reviewer"), operator("admin")
    number = flagged(client, db)
    assert verdict(reviewer, number).status_code == 303
    assert [tuple(r) for r in db.execute("SELECT verdict, actor FROM reviews")] == [("not_opt_out", REVIEWER)]
    assert db.execute("SELECT source FROM events ORDER BY id DESC").fetchone()[0] == f"review:{REVIEWER}"
    shown = table(boss.get("/admin/audit").text, "audit")
    assert {"Who": REVIEWER, "What": "review", "Detail": f"message {number}: not_opt_out (consent changed)",
            "Client": "127.0.0.1"} in [{k: row[k] for k in ("Who", "What", "Detail", "Client")} for row in shown]
    printed = flask(app, "audit-log").output
    assert re.search(rf"{re.escape(REVIEWER)}  review  message {number}: not_opt_out", printed)


# Roles on every route -------------------------------------------------------------------------------

@pytest.mark.parametrize("role, method, path, status", [
    ("viewer", "get", "/admin", 200), ("viewer", "get", "/admin/review", 200),
    ("viewer", "get", "/admin/contacts?channel=sms&address=%2B14155550100", 200),
    ("viewer", "get", "/admin/audit", 403), ("viewer", "post", "/admin/review/1", 403),
    ("reviewer", "get", "/admin/review", 200), ("reviewer", "get", "/admin/audit", 403),
    ("reviewer", "post", "/admin/review/1", 303),
    ("admin", "get", "/admin/audit", 200), ("admin", "post", "/admin/review/1", 303),
    # A person's data (issue 24) and the consent webhooks' deliveries (issue 29).
    ("viewer", "post", "/admin/contacts/export", 403), ("reviewer", "post", "/admin/contacts/erase", 403),
    ("admin", "post", "/admin/contacts/export", 200), ("admin", "post", "/admin/contacts/erase", 200),
    ("viewer", "get", "/admin/deliveries", 200), ("reviewer", "post", "/admin/deliveries/1/retry", 403),
    ("admin", "post", "/admin/deliveries/1/retry", 303),
    # The outbox (issue 30): everyone who may read sees it; only an admin retries.
    ("viewer", "get", "/admin/outbox", 200), ("reviewer", "post", "/admin/outbox/confirmations/1/retry", 403),
    ("admin", "post", "/admin/outbox/pushes/1/retry", 303),
])
def test_each_role_may_do_what_it_grants_and_no_more(operator, role, method, path, status):
    client = operator(role)
    data = {"verdict": "confirmed", "channel": "sms", "address": "+14155550100",
            "csrf": csrf_of(client.get("/admin").text)} if method == "post" else None
    assert getattr(client, method)(path, data=data).status_code == status


def test_every_route_of_the_dashboard_and_api_declares_its_permission(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(("admin.", "api.")):
            assert hasattr(app.view_functions[rule.endpoint], "permission"), rule.rule


def test_a_route_that_declares_nothing_is_refused_even_to_an_admin(app, operator):
    app.add_url_rule("/admin/undeclared", "admin.undeclared", lambda: "secret")
    app.add_url_rule("/api/v1/undeclared", "api.undeclared", lambda: "secret")
    boss = operator("admin")
    assert boss.get("/admin/undeclared").status_code == 403
    assert boss.get("/api/v1/undeclared", headers=bearer(ADMIN_TOKEN)).status_code == 403


# API keys --------------------------------------------------------------------------------------------

CHECK = ("post", "/api/v1/suppressions/check", {"json": {"channel": "sms", "addresses": ["+14155550100"]}})
LINK = ("get", "/api/v1/unsubscribe-link?channel=sms&address=%2B14155550100", {})
CONTACT = ("get", "/api/v1/contacts/sms/+14155550100", {})
EXPORT = ("get", "/api/v1/suppressions?format=json", {})
IMPORT = ("post", "/api/v1/suppressions/import?channel=sms", {"data": b"+14155550177\n", "content_type": "text/csv"})
PERSON = {"json": {"channel": "sms", "address": "+14155550100"}}
LOOKUP, PERSON_EXPORT = ("post", "/api/v1/contacts/lookup", PERSON), ("post", "/api/v1/people/export", PERSON)
ERASURE = ("post", "/api/v1/erasures", PERSON)


@pytest.mark.parametrize("scope, call, status", [
    ("check", CHECK, 200), ("check", CONTACT, 403), ("check", EXPORT, 403), ("check", IMPORT, 403),
    ("read", CHECK, 200), ("read", CONTACT, 200), ("read", EXPORT, 200), ("read", IMPORT, 403),
    ("write", CHECK, 200), ("write", CONTACT, 200), ("write", EXPORT, 200), ("write", IMPORT, 200),
    ("check", LOOKUP, 403), ("check", PERSON_EXPORT, 403), ("read", LOOKUP, 200), ("read", PERSON_EXPORT, 200),
    ("read", ERASURE, 403), ("write", ERASURE, 503),  # allowed; no ERASURE_KEY here, so nothing is erased
])
def test_a_keys_scope_decides_what_it_may_call(app, client, db, scope, call, status):
    key = add_key(app, "sender", scope)
    method, path, extra = call
    response = getattr(client, method)(path, headers=bearer(key), **extra)
    assert response.status_code == status, response.text
    imported = db.execute("SELECT count(*) FROM consent WHERE address = '+14155550177'").fetchone()[0]
    assert imported == (1 if call is IMPORT and status == 200 else 0)


def test_the_unsubscribe_link_route_is_open_to_a_check_key(settings, make_app):
    app = make_app({**settings, "UNSUBSCRIBE_SECRET": "s" * 32, "PUBLIC_BASE_URL": "https://optout.example"})
    method, path, _ = LINK
    response = app.test_client().get(path, headers=bearer(add_key(app, "sender", "check")))
    assert response.status_code == 200 and "/u/" in response.json["url"]


def test_a_revoked_key_gets_401(app, client):
    key = add_key(app, "old-sender", "read")
    assert client.get(CONTACT[1], headers=bearer(key)).status_code == 200
    assert flask(app, "revoke-api-key", "old-sender").exit_code == 0
    response = client.get(CONTACT[1], headers=bearer(key))
    assert response.status_code == 401 and "revoked" in response.json["error"]
    assert flask(app, "revoke-api-key", "old-sender").exit_code == 1  # nothing live by that name


def test_a_key_is_shown_once_and_only_its_hash_is_kept(app, db):
    key = add_key(app, "sender", "check")
    assert key.startswith("optout_") and len(key) > 40
    rows = [tuple(r) for r in db.execute("SELECT name, scope, digest FROM api_keys")]
    assert len(rows) == 1 and rows[0][:2] == ("sender", "check") and key not in rows[0][2]
    assert key not in flask(app, "list-api-keys").output
    assert flask(app, "add-api-key", "sender", "--scope", "read").exit_code == 1  # the name is taken


def test_exports_and_imports_are_audited_under_their_key(app, client, db):
    key = add_key(app, "crm", "write")
    assert client.get(EXPORT[1], headers=bearer(key)).status_code == 200
    assert client.post(IMPORT[1], headers=bearer(key), **IMPORT[2]).json["imported"] == 1
    assert audit_rows(db)[-2:] == [
        ("key:crm", "export", "suppressions: channel all, category everything, json"),
        ("key:crm", "import", "plain list of sms addresses: 1 read, 1 imported, 0 invalid")]


# Sessions end with the operator ----------------------------------------------------------------------

def copied(app, client):
    """A second client carrying a copy of `client`'s session cookie."""
    thief = app.test_client()
    cookie = client.get_cookie("session", path="/admin")
    thief.set_cookie("session", cookie.value, path="/admin")
    assert thief.get("/admin").status_code == 200
    return thief


@pytest.mark.parametrize("ending", [
    lambda app, email: flask(app, "remove-operator", email),
    lambda app, email: flask(app, "set-password", email, input="a new long password\n" * 2),
])
def test_a_removed_operator_or_a_new_password_refuses_a_copied_session_cookie(app, operator, ending):
    reviewer = operator("reviewer")
    thief = copied(app, reviewer)
    assert ending(app, REVIEWER).exit_code == 0
    for client in (reviewer, thief):
        response = client.get("/admin/review")
        assert response.status_code == 303 and response.headers["Location"].startswith("/admin/login")


def test_logging_out_ends_the_session_for_a_copy_too(app, operator):
    viewer = operator("viewer")
    thief = copied(app, viewer)
    assert viewer.post("/admin/logout", data={"csrf": csrf_of(viewer.get("/admin").text)}).status_code == 303
    assert thief.get("/admin").status_code == 303


def test_a_new_password_works_and_the_old_one_does_not(app, client, db):
    old = add_operator(app, VIEWER, "viewer")
    assert flask(app, "set-password", VIEWER, input="short\nshort\n").exit_code == 1
    assert flask(app, "set-password", VIEWER, input="correct horse battery\n" * 2).exit_code == 0
    assert login(client, VIEWER, old).status_code == 403
    assert login(client, VIEWER, "correct horse battery").status_code == 303
    stored = db.execute("SELECT password_hash FROM operators").fetchone()[0]
    assert stored.startswith("$argon2id$") and "correct horse" not in stored


@pytest.mark.real_password_cost
def test_passwords_are_hashed_at_rfc_9106_cost_and_a_cheaper_hash_is_redone_at_login(app, client, db):
    """The other tests hash at argon2's lowest cost (tests/conftest.py); this one keeps the service's own."""
    password = add_operator(app, VIEWER, "viewer")
    production = "$argon2id$v=19$m=65536,t=3,p=4$"  # RFC 9106's second recommended option, argon2-cffi's default
    assert db.execute("SELECT password_hash FROM operators").fetchone()[0].startswith(production)
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(password)
    db.execute("UPDATE operators SET password_hash = ?", (cheap,))
    db.commit()
    assert login(client, VIEWER, password).status_code == 303
    assert db.execute("SELECT password_hash FROM operators").fetchone()[0].startswith(production)


# Logging in, its throttles and its audit -------------------------------------------------------------

@pytest.mark.parametrize("email, password", [(VIEWER, "wrong"), ("nobody@acme.example", "wrong"), (VIEWER, "")])
def test_a_wrong_password_is_refused_and_audited(app, client, db, email, password):
    add_operator(app, VIEWER, "viewer")
    response = login(client, email, password)
    assert response.status_code in (403, 400) and client.get("/admin").status_code == 303
    if response.status_code == 403:
        assert "Wrong email or password" in response.text
        assert audit_rows(db)[-1] == (email, "login_failed", "wrong password")


def test_wrong_passwords_are_throttled_per_client(app):
    password = add_operator(app, VIEWER, "viewer")
    guesser = app.test_client()
    for n in range(5):
        assert login(guesser, VIEWER, f"guess {n}").status_code == 403
    assert login(guesser, VIEWER, "guess 5").status_code == 429  # that client's further wrong tries
    # The right password is not refused for the client's failures (a proxy may make everyone one client):
    # the account's own limit (below) is what bounds guesses at it.
    assert login(guesser, VIEWER, password).status_code == 303
    other = client_at(app, "192.0.2.9")
    assert login(other, VIEWER, password).status_code == 303


def test_wrong_passwords_are_throttled_per_account(app):
    password = add_operator(app, VIEWER, "viewer")
    add_operator(app, REVIEWER, "reviewer")
    for n in range(10):  # two guesses from each of five clients: no client reaches its own limit
        guesser = client_at(app, f"192.0.2.{n // 2}")
        assert login(guesser, VIEWER, f"guess {n}").status_code == 403
    fresh = client_at(app, "198.51.100.7")
    assert login(fresh, VIEWER, password).status_code == 429
    assert login(fresh, REVIEWER, "wrong").status_code == 403  # another account is not held


@pytest.mark.parametrize("proxies, client_address", [("0", "127.0.0.1"), ("1", "203.0.113.5")])
def test_a_login_is_audited_with_the_client_address_trusted_proxies_allow(settings, make_app, db, proxies,
                                                                         client_address):
    app = make_app({**settings, "TRUSTED_PROXIES": proxies})
    password = add_operator(app, VIEWER, "viewer")
    assert login(app.test_client(), VIEWER, password, headers={"X-Forwarded-For": "203.0.113.5"}).status_code == 303
    row = db.execute("SELECT actor, action, detail, client FROM audit_log ORDER BY id DESC").fetchone()
    assert tuple(row) == (VIEWER, "login", "as viewer", client_address)


# The built-in admin of ADMIN_TOKEN (done when: it still works for the API and the dashboard) ----------

def test_admin_token_still_works_for_the_api_and_the_dashboard(client, db):
    assert client.get(CONTACT[1], headers=bearer(ADMIN_TOKEN)).status_code == 200
    assert client.post(IMPORT[1], headers=bearer(ADMIN_TOKEN), **IMPORT[2]).status_code == 200
    assert login(client, "", ADMIN_TOKEN).status_code == 303  # the new form: no email, the token as password
    assert client.get("/admin/audit").status_code == 200
    assert audit_rows(db)[-1] == ("admin", "login", "as admin")


def test_without_admin_token_operators_and_keys_still_work(settings, make_app):
    app = make_app({**settings, "ADMIN_TOKEN": None})
    client = app.test_client()
    assert client.get("/admin/login").status_code == 403  # nobody could log in yet: closed, and says why
    password = add_operator(app, BOSS, "admin")
    assert login(client, BOSS, password).status_code == 303 and client.get("/admin").status_code == 200
    assert login(app.test_client(), "", ADMIN_TOKEN).status_code == 403  # no token: no built-in admin
    key = add_key(app, "sender", "read")
    assert client.get(CONTACT[1], headers=bearer(key)).status_code == 200
    assert client.get(CONTACT[1], headers=bearer(ADMIN_TOKEN)).status_code == 401


# The commands and the log itself ---------------------------------------------------------------------

def test_operators_are_listed_and_changes_audited_under_the_shells_user(app, db):
    add_operator(app, VIEWER, "viewer")
    assert flask(app, "add-operator", VIEWER, "--role", "admin").exit_code == 1  # already one
    assert flask(app, "add-operator", "not-an-email", "--role", "admin").exit_code == 2
    add_operator(app, BOSS, "admin")
    listed = flask(app, "list-operators").output.splitlines()
    assert [line.split()[:3] for line in listed] == [[BOSS, "admin", "password"], [VIEWER, "viewer", "password"]]
    assert flask(app, "remove-operator", VIEWER).exit_code == 0
    assert flask(app, "remove-operator", VIEWER).exit_code == 1
    assert [(a.startswith("cli:"), action, detail) for a, action, detail in audit_rows(db)] == [
        (True, "operator_added", f"{VIEWER} as viewer"), (True, "operator_added", f"{BOSS} as admin"),
        (True, "operator_removed", VIEWER)]


@pytest.mark.parametrize("since, shown", [(None, 2), ("2000-01-01", 2), ("1h", 2), ("2999-01-01", 0)])
def test_audit_log_since(app, since, shown):
    add_key(app, "one", "check")
    add_key(app, "two", "check")
    printed = flask(app, "audit-log", *(["--since", since] if since else [])).output.splitlines()
    assert len(printed) == shown
    assert flask(app, "audit-log", "--since", "last tuesday").exit_code == 2


def test_no_code_path_updates_or_deletes_the_audit_log():
    sources = [p for p in (ROOT / "handlers").rglob("*.py")] + [ROOT / "app.py"]
    changing = re.compile(r"(UPDATE\s+audit_log|DELETE\s+FROM\s+audit_log|TRUNCATE[^\"']*audit_log)", re.I)
    assert [str(Path(p).relative_to(ROOT)) for p in sources if changing.search(p.read_text())] == []
