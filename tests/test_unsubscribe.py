"""Unsubscribe links: tokens, the List-Unsubscribe headers, one-click (RFC 8058) and the preference page."""

import base64
import html
import re
import subprocess
import sys
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from conftest import ADMIN_TOKEN, HANG, ROOT

from handlers.core import links

pytestmark = pytest.mark.backends("sqlite", "postgresql")

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SECRET = "test-unsubscribe-secret"


@pytest.fixture
def app(settings, make_app):
    app = make_app({**settings, "UNSUBSCRIBE_SECRET": SECRET, "PUBLIC_BASE_URL": "https://optout.example.com"})
    app.config["TESTING"] = True
    return app


def mint(client, address="pat@example.org", channel="email", category=None):
    query = {"channel": channel, "address": address, **({"category": category} if category else {})}
    response = client.get("/api/v1/unsubscribe-link", query_string=query, headers=AUTH)
    assert response.status_code == 200, response.json
    return response.json


def path_of(link):
    return urlsplit(link["url"]).path


def state(db, address="pat@example.org"):
    return dict(db.execute("SELECT scope, status FROM consent WHERE address = ?", (address,)).fetchall())


# Tokens ------------------------------------------------------------------------------------------

def test_a_token_round_trips():
    assert links.read(SECRET, links.mint(SECRET, "abc", "surveys")) == ("abc", "surveys")


@pytest.mark.parametrize("tamper", [
    lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1],  # signature changed
    lambda t: t.replace(t.split(".")[0], links.mint(SECRET, "other", None).split(".")[0]),  # payload swapped
    lambda t: t + "x",
    lambda t: "",
    lambda t: "not-a-token",
])
def test_a_tampered_token_is_refused(tamper):
    with pytest.raises(links.BadLink):
        links.read(SECRET, tamper(links.mint(SECRET, "abc", None)))


def test_a_token_signed_with_another_secret_is_refused():
    with pytest.raises(links.BadLink):
        links.read(SECRET, links.mint("another-secret", "abc", None))


def test_a_token_is_valid_for_more_than_60_days_and_then_expires(monkeypatch):
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 61 * 86400)
    old = links.mint(SECRET, "abc", None)
    monkeypatch.setattr(time, "time", real)
    assert links.read(SECRET, old) == ("abc", None)
    with pytest.raises(links.BadLink, match="too old"):
        links.read(SECRET, old, max_age=timedelta(days=60))


# The link API ------------------------------------------------------------------------------------

def test_the_link_api_gives_the_url_and_the_exact_headers(client):
    link = mint(client, "Pat@Example.org")
    assert re.fullmatch(r"https://optout\.example\.com/u/[\w.-]+", link["url"])
    assert link["list_unsubscribe"] == f"<{link['url']}>"
    assert link["list_unsubscribe_post"] == "List-Unsubscribe=One-Click"
    token = link["url"].rsplit("/", 1)[1]
    payload = base64.urlsafe_b64decode(token.split(".")[0] + "==").lower()
    assert b"example.org" not in payload and b"pat@" not in payload  # the address is not in it
    assert "example.org" not in token.lower()
    assert mint(client, "pat@example.org")["url"].split(".")[0] == link["url"].split(".")[0]


@pytest.mark.parametrize("query, status", [
    ({"channel": "email", "address": "nope"}, 400),
    ({"channel": "fax", "address": "pat@example.org"}, 400),
    ({"channel": "email", "address": "pat@example.org", "category": "lottery"}, 400),
])
def test_the_link_api_explains_bad_requests(client, query, status):
    response = client.get("/api/v1/unsubscribe-link", query_string=query, headers=AUTH)
    assert response.status_code == status and response.json["error"]


def test_the_link_api_needs_the_token(client):
    assert client.get("/api/v1/unsubscribe-link?channel=email&address=a@b.co").status_code == 401


def test_without_a_secret_no_link_is_made_and_the_start_says_so(settings, make_app, caplog):
    client = make_app({**settings, "PUBLIC_BASE_URL": "https://optout.example.com"}).test_client()
    assert "UNSUBSCRIBE_SECRET is not set: no unsubscribe links and no preference page" in caplog.text
    response = client.get("/api/v1/unsubscribe-link?channel=email&address=a@b.co", headers=AUTH)
    assert response.status_code == 503 and "UNSUBSCRIBE_SECRET" in response.json["error"]


def test_without_a_public_base_url_no_link_is_made_on_the_host_a_caller_names(settings, make_app, db):
    client = make_app({**settings, "UNSUBSCRIBE_SECRET": SECRET}).test_client()
    response = client.get("/api/v1/unsubscribe-link?channel=email&address=a@b.co",
                          headers={**AUTH, "Host": "evil.example"})
    assert response.status_code == 503 and "PUBLIC_BASE_URL" in response.json["error"]
    assert "evil.example" not in response.text and db.execute("SELECT count(*) FROM links").fetchone()[0] == 0


@pytest.mark.backends("sqlite")  # the command's own process is given no DATABASE_URL: one run is enough
def test_the_command_prints_the_same_link(settings):
    env = {"PATH": "/usr/bin:/bin", "DATABASE_PATH": settings["DATABASE_PATH"],
           "KEYWORDS_PATH": settings["KEYWORDS_PATH"], "UNSUBSCRIBE_SECRET": SECRET,
           "PUBLIC_BASE_URL": "https://optout.example.com"}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "unsubscribe-link", "--address",
                             "pat@example.org", "--category", "surveys"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=HANG)
    assert result.returncode == 0, result.stderr
    assert '"list_unsubscribe_post": "List-Unsubscribe=One-Click"' in result.stdout


# One-click ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("content_type", ["multipart/form-data", "application/x-www-form-urlencoded"])
def test_one_click_as_gmail_sends_it(client, db, content_type):
    path = path_of(mint(client))
    client.delete_cookie("optout_csrf")
    response = client.post(path, data={"List-Unsubscribe": "One-Click"}, content_type=content_type)
    assert response.status_code == 200 and "Location" not in response.headers
    assert "unsubscribed" in response.get_data(as_text=True)
    assert state(db) == {"*": "out"}
    event = db.execute("SELECT action, source, changed FROM events").fetchone()
    assert tuple(event) == ("opt_out", "email:web", 1)
    assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 1  # one confirmation


def test_one_click_twice_records_once_and_confirms_once(client, db):
    path = path_of(mint(client))
    for _ in range(2):
        assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert [r[0] for r in db.execute("SELECT changed FROM events ORDER BY id")] == [1, 0]
    assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 1


def test_one_click_from_a_category_link_stops_that_category_only(client, db):
    client.post(path_of(mint(client, category="surveys")), data={"List-Unsubscribe": "One-Click"})
    assert state(db) == {"surveys": "out"}


def test_a_sms_link_works_too(client, db):
    client.post(path_of(mint(client, "(415) 555-0100", channel="sms")), data={"List-Unsubscribe": "One-Click"})
    assert state(db, "+14155550100") == {"*": "out"}


# The page ------------------------------------------------------------------------------------------

def test_opening_the_page_changes_nothing(client, db):
    response = client.get(path_of(mint(client)))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "p•••@example.org" in page and "pat@example.org" not in page
    assert state(db) == {} and db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


@pytest.mark.parametrize("accept, expected", [("fr-FR,fr;q=0.9", 'lang="fr"'), ("de", 'lang="de"'),
                                             ("ja", 'lang="en"'), ("", 'lang="en"')])
def test_the_page_speaks_the_persons_language(client, accept, expected):
    response = client.get(path_of(mint(client)), headers={"Accept-Language": accept} if accept else {})
    assert expected in response.get_data(as_text=True)


def test_the_page_has_security_headers(client):
    response = client.get(path_of(mint(client)))
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Referrer-Policy"] == "no-referrer"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_bad_link_explains_what_to_do_and_changes_nothing(client, db, method):
    path = path_of(mint(client))
    bad = path[:-3] + ("xyz" if not path.endswith("xyz") else "abc")
    data = {"List-Unsubscribe": "One-Click"} if method == "post" else None
    response = getattr(client, method)(bad, data=data)
    assert response.status_code == 400
    assert state(db) == {} and db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    if method == "get":
        assert "STOP" in response.get_data(as_text=True)


def csrf_of(page):
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


@pytest.mark.parametrize("without", ["cookie", "csrf"])
def test_saving_the_form_needs_the_page_cookie_and_says_how_to_go_on(client, db, without):
    path = path_of(mint(client))
    token = csrf_of(client.get(path).get_data(as_text=True))
    if without == "cookie":
        client.delete_cookie("optout_csrf", path="/u/")
    response = client.post(path, data={"csrf": token if without == "cookie" else "", "keep": ["promotions"]})
    assert response.status_code == 400 and state(db) == {}
    text = visible_text(response.get_data(as_text=True))
    assert "Your choices were not saved" in text and "open the page again and save once more" in text
    assert "This link does not work" not in text and f'href="{path}"' in response.get_data(as_text=True)


def test_a_csrf_pair_the_client_chose_is_refused(client, db):
    path = path_of(mint(client))
    client.get(path)
    client.set_cookie("optout_csrf", "chosen-by-the-client", domain="localhost", path="/u/")
    assert client.post(path, data={"csrf": "chosen-by-the-client", "keep": ["promotions"]}).status_code == 400
    assert state(db) == {}


def test_the_form_of_one_link_cannot_be_posted_to_another(client, db):
    page = client.get(path_of(mint(client, "sam@example.org"))).get_data(as_text=True)
    assert client.post(path_of(mint(client)), data={"csrf": csrf_of(page), "keep": []}).status_code == 400
    assert state(db) == {}


def opt_in(client, what):
    """The person opts back in on the page of a link made now: to everything (None) or one category."""
    path = path_of(mint(client))
    page = client.get(path).get_data(as_text=True)
    categories = re.findall(r'name="keep" value="(\w+)"', page)
    receiving = set(re.findall(r'name="keep" value="(\w+)" checked', page))
    keep = categories if what is None else sorted(receiving | {what})
    assert client.post(path, data={"csrf": csrf_of(page), "keep": keep}).status_code == 303


@pytest.mark.parametrize("category, again, refused", [
    (None, None, True),                     # any opt-in after the link was made
    (None, "surveys", True),
    ("surveys", "surveys", True),
    ("surveys", None, True),
    ("promotions", "surveys", False),       # another category's opt-in: the promotions link still works
])
def test_a_one_click_replayed_after_a_later_opt_in_is_refused(client, db, monkeypatch, category, again, refused):
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 86400)  # the link was made yesterday
    path = path_of(mint(client, category=category))
    monkeypatch.setattr(time, "time", real)
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    opt_in(client, again)  # the person opts back in today
    after_opt_in = state(db)
    response = client.post(path, data={"List-Unsubscribe": "One-Click"})  # the same POST, replayed
    assert response.status_code == (409 if refused else 200)
    assert not refused or state(db) == after_opt_in
    fresh = path_of(mint(client, category=category))  # a link made after the opt-in works
    assert client.post(fresh, data={"List-Unsubscribe": "One-Click"}).status_code == 200


@pytest.mark.parametrize("keep, everything, expected", [
    (["promotions", "newsletter"], False, {"surveys": "out"}),
    ([], False, {"promotions": "out", "surveys": "out", "newsletter": "out"}),
    (["promotions", "surveys", "newsletter"], False, {}),
    (["promotions"], True, {"*": "out"}),
])
def test_saving_choices(client, db, keep, everything, expected):
    path = path_of(mint(client))
    page = client.get(path).get_data(as_text=True)
    data = {"csrf": csrf_of(page), "keep": keep, **({"everything": "1"} if everything else {})}
    response = client.post(path, data=data)
    assert response.status_code == 303 and response.headers["Location"] == f"{path}?saved=yes"
    assert state(db) == expected
    rows = recorded(db)
    for _ in range(2):  # landing there, and a refresh: what is saved is shown, nothing is posted again
        assert "Your choices are saved" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert recorded(db) == rows


@pytest.mark.parametrize("before, sentence", [
    ({"everything": True}, "p•••@example.org is unsubscribed from every marketing message from Acme Outfitters."),
    ({"keep": ["promotions"]}, "p•••@example.org is already unsubscribed from: surveys, newsletter."),
    ({}, None),
])
def test_the_page_says_what_the_person_has_already_stopped(client, before, sentence):
    stand(client, **before)
    page = client.get(path_of(mint(client))).get_data(as_text=True)
    found = re.search(r'id="standing">([^<]+)<', page)
    assert (html.unescape(found.group(1)) if found else None) == sentence


def test_unsubscribe_from_everything_is_not_one_of_the_kept_kinds(client):
    page = client.get(path_of(mint(client))).get_data(as_text=True)
    keep_group = re.search(r"<fieldset>\s*<legend>Keep receiving</legend>(.*?)</fieldset>", page, re.S).group(1)
    assert 'name="keep"' in keep_group and 'name="everything"' not in keep_group
    assert re.search(r'<fieldset class="everything">\s*<legend>Or</legend>\s*<label for="everything"', page)


def test_opting_back_in_says_so_not_that_nothing_was_stopped(client, db):
    stand(client, everything=True)
    landed = save(client, path_of(mint(client)), keep=["promotions", "surveys", "newsletter"])
    text = visible_text(landed.get_data(as_text=True))
    assert "out" not in state(db).values()
    assert "You are subscribed again: you will get every kind of message from Acme Outfitters." in text
    assert "Nothing was stopped" not in text


def test_coming_back_to_keep_a_category_after_stopping_everything(client, db):
    path = path_of(mint(client))
    client.post(path, data={"List-Unsubscribe": "One-Click"})
    page = client.get(path).get_data(as_text=True)
    client.post(path, data={"csrf": csrf_of(page), "keep": ["newsletter"]})
    assert state(db) == {"*": "out", "newsletter": "in"}
    check = client.post("/api/v1/suppressions/check", headers=AUTH,
                        json={"channel": "email", "addresses": ["pat@example.org"], "category": "newsletter"})
    assert check.json["allowed"] == ["pat@example.org"]


def test_floods_are_refused_but_never_a_real_opt_out(app, client, db):
    from handlers.web.throttles import Throttle
    app.extensions["optout.throttles"] = {"bad_links": Throttle(limit=3, window=60),
                                          "per_link": Throttle(limit=3, window=60)}
    for _ in range(3):
        assert client.post("/u/forged-token", data={"List-Unsubscribe": "One-Click"}).status_code == 400
    assert client.post("/u/forged-token", data={"List-Unsubscribe": "One-Click"}).status_code == 429
    # The same client with a real link still gets through: bad links are counted apart.
    path = path_of(mint(client))
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert state(db) == {"*": "out"}
    for _ in range(2):
        client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 429
    assert client.get(path).status_code == 429


# What a category's link may change ---------------------------------------------------------------

def save(client, path, **form):
    """Open the page of `path` and post its form with these fields (the page's own CSRF value); the
    page it is sent on to (a 403 refusal is answered in place)."""
    return client.post(path, data={"csrf": csrf_of(client.get(path).get_data(as_text=True)), **form},
                       follow_redirects=True)


def recorded(db):
    return tuple(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("messages", "events", "outbox"))


def stand(client, keep=None, everything=False):
    """The person's choices before the test, made on the page of an everything link."""
    path = path_of(mint(client))
    if everything:
        assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    if keep is not None:
        assert save(client, path, keep=keep).status_code == 200


@pytest.mark.parametrize("before, form", [
    ({"keep": ["surveys", "newsletter"]}, {"keep": ["surveys", "promotions"]}),  # starts promotions again
    ({"keep": ["surveys", "newsletter"]}, {"keep": ["promotions"]}),
    ({}, {"keep": ["surveys"], "stop": "promotions"}),                            # stops promotions
    ({}, {"stop": "newsletter"}),
    ({}, {"keep": ["surveys", "lottery"]}),                                       # nor a name it never had
    ({"everything": True}, {"keep": ["promotions", "surveys", "newsletter"]}),    # undoes "everything"
    ({"everything": True}, {"keep": ["newsletter"]}),
])
def test_a_category_link_refuses_a_form_changing_another_category_and_records_nothing(client, db, before, form):
    stand(client, **before)
    state_before, counts = state(db), recorded(db)
    path = path_of(mint(client, category="surveys"))
    response = save(client, path, **form)
    assert response.status_code == 403
    assert state(db) == state_before and recorded(db) == counts
    text = visible_text(response.get_data(as_text=True))
    assert "This link only changes surveys." in text and f'href="{path}"' in response.get_data(as_text=True)


@pytest.mark.parametrize("before, form, after", [
    ({}, {"stop": "surveys"}, {"surveys": "out"}),                                  # its one button
    ({}, {"keep": []}, {"surveys": "out"}),                                         # its box unticked
    ({"keep": ["newsletter"]}, {"keep": ["surveys"]}, {"promotions": "out", "surveys": "in"}),
    ({"everything": True}, {"keep": ["surveys"]}, {"*": "out", "surveys": "in"}),  # back to surveys alone
    ({"everything": True}, {}, {"*": "out"}),                # "everything" is shown ticked, fixed: no change
    ({"keep": ["newsletter"]}, {"everything": "1"}, {"*": "out"}),  # a menu must offer to stop everything
])
def test_a_category_link_changes_its_category_and_may_stop_everything(client, db, before, form, after):
    stand(client, **before)
    response = save(client, path_of(mint(client, category="surveys")), **form)
    assert response.status_code == 200 and state(db) == after


def form_controls(page):
    """{name or id: (enabled, ticked)} of the page's checkboxes."""
    boxes = re.findall(r'<input type="checkbox" ([^>]*)>', page)
    return {(re.search(r'value="(\w+)"', b) or re.search(r'id="([\w-]+)"', b)).group(1):
            ("disabled" not in b and "name=" in b, "checked" in b) for b in boxes}


@pytest.mark.parametrize("category, everything, controls", [
    ("surveys", False, {"surveys": (True, True), "1": (True, False),
                        "other-promotions": (False, False), "other-newsletter": (False, True)}),
    ("surveys", True, {"surveys": (True, False), "1": (False, True),
                       "other-promotions": (False, False), "other-newsletter": (False, False)}),
    (None, False, {"promotions": (True, False), "surveys": (True, True), "newsletter": (True, True),
                   "1": (True, False)}),
    (None, True, {"promotions": (True, False), "surveys": (True, False), "newsletter": (True, False),
                  "1": (True, True)}),
])
def test_a_category_link_shows_the_others_read_only_and_an_everything_link_all(client, category, everything,
                                                                                controls):
    stand(client, keep=["surveys", "newsletter"])
    stand(client, everything=everything)
    page = client.get(path_of(mint(client, category=category))).get_data(as_text=True)
    assert form_controls(page) == controls
    assert ("This link only changes surveys." in visible_text(page)) == (category is not None)


@pytest.mark.parametrize("accept, language", [("fr-FR,fr;q=0.9", "fr"), ("de", "de"), ("nl", "nl"), ("", "en")])
def test_a_refused_one_click_answers_in_the_pages_language(client, monkeypatch, accept, language):
    from handlers.core.keyword_file import load_keywords
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 86400)
    path = path_of(mint(client))
    monkeypatch.setattr(time, "time", real)
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    opt_in(client, None)
    response = client.post(path, data={"List-Unsubscribe": "One-Click"},
                           headers={"Accept-Language": accept} if accept else {})
    expected = load_keywords(str(ROOT / "keywords.yaml")).languages[language].page["one_click_replayed"]
    assert response.status_code == 409 and response.get_data(as_text=True) == expected + "\n"


# The page as people see it -------------------------------------------------------------------------

def visible_text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<style.*?</style>|<[^>]+>", " ", page, flags=re.S)))


@pytest.mark.parametrize("category, focus, button", [
    ("surveys", "You're receiving this because you get Acme Outfitters surveys.", "Unsubscribe from surveys"),
    ("promotions", "You're receiving this because you get Acme Outfitters promos.", "Unsubscribe from promos"),
    (None, None, None),
])
def test_a_category_link_opens_on_that_category_with_one_primary_button(client, category, focus, button):
    page = client.get(path_of(mint(client, category=category))).get_data(as_text=True)
    text = visible_text(page)
    assert page.count('class="primary"') == 1  # the focused button, or else Save
    if focus:
        assert focus in text and button in text
        assert text.index(focus) < text.index("Keep receiving")  # above the full list
        assert re.search(rf'name="stop" value="{category}">\s*<button type="submit" class="primary"', page)
    else:
        assert "because you get" not in text and re.search(r'class="primary">Save my choices<', page)


def test_the_focused_button_stops_that_category_only_and_says_what_continues(client, db):
    path = path_of(mint(client, category="surveys"))
    page = client.get(path).get_data(as_text=True)
    response = client.post(path, data={"csrf": csrf_of(page), "stop": "surveys"}, follow_redirects=True)
    assert state(db) == {"surveys": "out"}
    text = visible_text(response.get_data(as_text=True))
    assert "No more: surveys." in text and "Still coming: promos, newsletter." in text
    assert f'href="{path}"' in response.get_data(as_text=True) and "Change my choices" in text
    assert response.request.path == path and response.request.method == "GET"  # redirected there
    again = visible_text(client.get(path).get_data(as_text=True))
    assert "because you get" not in again  # stopped already: the page opens on the full list


def test_each_category_shows_its_description_and_no_state_label(client):
    text = visible_text(client.get(path_of(mint(client))).get_data(as_text=True))
    for name, description in (("promos", "Sales and new arrivals, about once a week."),
                              ("surveys", "A few questions after an order, now and then."),
                              ("newsletter", "News and stories, once a month.")):
        assert f"{name} {description}" in text
    assert "(receiving)" not in text and "(stopped)" not in text


def test_the_page_has_the_brand_dark_mode_and_no_script(client):
    response = client.get(path_of(mint(client)))
    page = response.get_data(as_text=True)
    assert '<span class="wordmark">Acme Outfitters</span>' in page and "--accent: #0b6e4f;" in page
    assert "@media (prefers-color-scheme: dark)" in page and "<script" not in page
    nonce = re.search(r'nonce="([^"]+)"', page).group(1)
    assert response.headers["Content-Security-Policy"] == (
        f"default-src 'none'; style-src 'nonce-{nonce}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def test_a_logo_is_shown_and_allowed_from_its_origin_only(settings, make_app, tmp_path):
    keywords = tmp_path / "keywords.yaml"
    keywords.write_text((ROOT / "keywords.yaml").read_text().replace(
        "# logo_url: https://cdn.acme.example/logo.svg", "logo_url: https://cdn.acme.example/brand/logo.svg", 1))
    app = make_app({**settings, "KEYWORDS_PATH": str(keywords), "UNSUBSCRIBE_SECRET": SECRET,
                    "PUBLIC_BASE_URL": "https://optout.example.com"})
    client = app.test_client()
    response = client.get(path_of(mint(client)))
    assert '<img src="https://cdn.acme.example/brand/logo.svg" alt="Acme Outfitters">' in response.get_data(True)
    policy = response.headers["Content-Security-Policy"]
    assert "img-src https://cdn.acme.example;" in policy and "script-src" not in policy
