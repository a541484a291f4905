"""The dashboard in a real headless browser (Debian's chromium) against the real gunicorn service: log in,
correct a flagged opt-out from the review queue, check the API, and look the address up; the charts as
drawn, and the screenshots in docs/."""

import json
import re
import sqlite3
import subprocess
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from browser import chromium, dark, displayed_font_sizes, needs_chromium, screenshot, viewport
from conftest import ADMIN_TOKEN, AUTH_TOKEN, HANG, ROOT, serve, twilio_params
from twilio.request_validator import RequestValidator

pytestmark = needs_chromium
pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

PERSON = "+14155550142"
REVIEWER = "rory@acme.example"


@pytest.fixture
def served(tmp_path):
    with serve(tmp_path) as (base, env):
        yield base, env


@pytest.fixture
def service(served):
    return served[0]


@pytest.fixture
def browser(tmp_path):
    with chromium(tmp_path / "chromium") as driver:
        yield driver


def wait_for(browser, css):
    """The element once the page that has it is loaded: a click does not wait for the navigation."""
    return WebDriverWait(browser, HANG).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))


def text_message(base, body, sender=PERSON, **extra):
    url = f"{base}/webhooks/twilio/sms"
    params = twilio_params(body, sender=sender, **extra)
    request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), headers={
        "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params)})
    with urllib.request.urlopen(request, timeout=HANG) as response:
        assert response.status == 200


def contact(base):
    request = urllib.request.Request(f"{base}/api/v1/contacts/sms/{urllib.parse.quote(PERSON)}",
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=HANG) as response:
        return json.load(response)


def add_operator(env, email, role) -> str:
    """`flask add-operator` run as an operator would, against the served database; the password it prints."""
    done = subprocess.run(["flask", "--app", "app", "add-operator", email, "--role", role], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=HANG)
    assert done.returncode == 0, done.stderr
    return re.search(r"shown this once: (\S+)", done.stdout).group(1)


def test_log_in_correct_a_flagged_opt_out_and_look_the_address_up(served, browser, tmp_path):
    service, env = served
    text_message(service, "Can you stop?")
    assert contact(service)["suppressed"]["all"] is True
    password = add_operator(env, REVIEWER, "reviewer")

    browser.get(f"{service}/admin/review")
    assert browser.current_url.startswith(f"{service}/admin/login")
    wait_for(browser, "#email").send_keys(REVIEWER)
    assert browser.find_element(By.CSS_SELECTOR, "label[for='password']").text
    browser.find_element(By.CSS_SELECTOR, "#password").send_keys(password, Keys.ENTER)

    wait_for(browser, "article")
    [item] = browser.find_elements(By.TAG_NAME, "article")
    assert "Can you stop?" in item.text and "stop_word_in_message" not in item.text
    assert "Opted out of everything (the word 'stop' inside a longer message)" in item.text
    browser.save_screenshot(str(tmp_path / "review.png"))
    assert f"{REVIEWER} (reviewer)" in browser.find_element(By.ID, "who").text
    assert not browser.find_elements(By.LINK_TEXT, "Audit log")  # an admin's page: not offered to a reviewer
    item.find_element(By.XPATH, ".//button[normalize-space()='This was not an opt-out']").click()

    assert "Nothing was sent to them" in wait_for(browser, "[role=status]").text
    assert "Nothing is waiting for review" in browser.find_element(By.TAG_NAME, "main").text
    after = contact(service)
    assert after["suppressed"]["all"] is False
    assert [(e["action"], e["source"]) for e in after["events"]] == [("opt_out", "sms:twilio"),
                                                                     ("opt_in", f"review:{REVIEWER}")]

    browser.find_element(By.LINK_TEXT, "Look up an address").click()
    wait_for(browser, "#lookup-address").send_keys("(415) 555-0142", Keys.ENTER)
    wait_for(browser, "#trail-table")
    main = browser.find_element(By.TAG_NAME, "main").text
    assert "+14155550142 (sms)" in main
    states = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#state-table tbody tr")]
    assert states[0] == "everything receiving" and all(s.endswith("receiving") for s in states)
    trail = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#trail-table tbody tr")]
    assert "sms:twilio" in trail[0] and f"review:{REVIEWER}" in trail[-1] and "Can you stop?" in trail[-1]

    browser.find_element(By.LINK_TEXT, "Activity").click()
    chart = wait_for(browser, "svg[role=img]")
    assert chart.size["height"] > 50
    assert "1 opt-outs" in browser.find_element(By.TAG_NAME, "figcaption").text
    browser.save_screenshot(str(tmp_path / "dashboard.png"))


def log_in(browser, service):
    """As the built-in admin: no email, ADMIN_TOKEN as the password."""
    browser.get(f"{service}/admin/login")
    wait_for(browser, "#password").send_keys(ADMIN_TOKEN, Keys.ENTER)
    wait_for(browser, "#glance")


def test_the_admin_reads_who_did_what_in_the_audit_log(served, browser):
    service, env = served
    add_operator(env, "ada@acme.example", "admin")
    log_in(browser, service)
    browser.find_element(By.LINK_TEXT, "Audit log").click()
    rows = [r.text for r in wait_for(browser, "#audit").find_elements(By.TAG_NAME, "tr")[1:]]
    assert "admin login as admin 127.0.0.1" in rows[0]
    assert "operator_added ada@acme.example as admin local" in rows[1]


# A month of replies for the charts: (days ago, body, sender's country), each from its own number.
MONTH = [(0, "STOP", "US"), (0, "UNSUBSCRIBE SURVEYS", "US"), (0, "Does the offer end today?", "US"),
         (0, "HELP", "US"), (1, "Arrêt", "FR"), (1, "please remove me from your list", "US"), (2, "BAJA", "MX"),
         (3, "STOP PROMOS", "US"), (3, "Can you stop?", "US"), (5, "Stop sending me these", "US"),
         (6, "bitte keine SMS mehr", "DE"), (8, "START", "US"), (9, "STOP", "GB"), (12, "ALTO PROMOCIONES", "MX"),
         (15, "stop", "US"), (16, "Can you stop the emails?", "US"), (20, "Désabonner", "FR"), (22, "HELP", "US"),
         (25, "STOP", "US"), (27, "Quit texting me", "US")]


def titles(browser, chart):
    """The hover texts (<title>) of a chart's bars."""
    return [t.get_attribute("textContent")
            for t in browser.find_elements(By.CSS_SELECTOR, f"#chart-{chart}-title ~ rect title")]


def test_the_dashboard_speaks_plainly_with_readable_charts_and_screenshots(served, browser):
    service, env = served
    for i, (_, body, country) in reversed(list(enumerate(MONTH))):  # the oldest first, as they would have come
        text_message(service, body, sender=f"+1415555{1000 + i:04d}", FromCountry=country)
    now = datetime.now(timezone.utc)
    with sqlite3.connect(env["DATABASE_PATH"]) as db:  # spread them over the month, as if they had come then
        for i, (days_ago, _, _) in enumerate(MONTH):
            db.execute("UPDATE messages SET received_at = ? WHERE address = ?",
                       ((now - timedelta(days=days_ago)).isoformat(), f"+1415555{1000 + i:04d}"))
    log_in(browser, service)
    main = browser.find_element(By.TAG_NAME, "main").text
    for plain in ("Opted out of everything (keyword STOP)", "Not an opt-out (the word 'end' in a sentence)",
                  "Opted out of surveys (keyword UNSUBSCRIBE followed by the category)",
                  "Asked for help (keyword HELP)"):
        assert plain in main, plain
    assert "opt_out" not in main and "weak_word_in_message" not in main

    for width in (1280, 390):
        viewport(browser, width)
        sizes = displayed_font_sizes(browser, "svg.chart text")
        assert sizes and min(sizes) >= 12, (width, sorted(sizes)[:3])
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width  # no sideways scroll
    reasons = titles(browser, "reasons")
    assert "Keyword (STOP ...): 7 opt-outs, last 30 days" in reasons  # STOP, Arrêt, BAJA, stop, Désabonner
    assert "Phrase (\"remove me ...\"): 3 opt-outs, last 30 days" in reasons
    assert "Stop word in a message: 2 opt-outs, last 30 days" in reasons
    languages = browser.find_element(By.CSS_SELECTOR, "svg[aria-labelledby^='chart-languages']").text
    assert "English" in languages and "French" in languages and "Spanish" in languages and "German" in languages
    queue = titles(browser, "queue")
    day = lambda n: (now - timedelta(days=n)).date().isoformat()  # noqa: E731
    assert f"{day(16)}: 1 waiting for review at the end of the day" in queue
    assert f"{day(3)}: 2 waiting for review at the end of the day" in queue
    assert f"{day(0)}: 3 waiting for review at the end of the day" in queue  # 'end' and the two 'stop's

    for width, name in ((1280, "dashboard-desktop"), (390, "dashboard-phone")):
        assert screenshot(browser, name, width, dated=True).stat().st_size > 10_000


def test_the_login_label_stays_on_one_line_on_a_phone(service, browser):
    viewport(browser, 390)
    browser.get(f"{service}/admin/login")
    for label, text in (("email", "Email"), ("password", "Password")):
        name = wait_for(browser, f"label[for='{label}'] .name")
        line = browser.execute_script("return parseFloat(getComputedStyle(arguments[0]).lineHeight)", name)
        assert name.size["height"] < 1.5 * line and name.text == text


LONG = ("Hello, I have had enough of these messages, please take my number off every list you have, "
        "Antidisestablishmentarianism-level-long-word-without-spaces-to-test-wrapping and thank you")


def widest_outside_scrollers(browser) -> list:
    """Elements (tag, id, class, right edge) that reach past the viewport, other than inside a
    horizontal scroller (.scroll), which scrolls on its own."""
    return browser.execute_script(
        "const w = document.documentElement.clientWidth; return [...document.querySelectorAll('body *')]"
        ".filter(e => !e.closest('.scroll') || e.classList.contains('scroll'))"
        ".filter(e => e.getClientRects().length && e.getBoundingClientRect().right > w + 0.5)"
        ".map(e => [e.tagName, e.id, e.className.baseVal ?? e.className, e.getBoundingClientRect().right]);")


@pytest.mark.parametrize("width", [1280, 390])
def test_the_dashboard_fits_a_phone_and_a_desktop_in_light_and_dark(served, browser, width):
    service, _ = served
    for i, body in enumerate(("STOP", LONG, "HELP")):
        text_message(service, body, sender=f"+1415555{2000 + i:04d}")
    viewport(browser, width)
    log_in(browser, service)
    browser.find_element(By.CSS_SELECTOR, "#per-day").find_element(By.XPATH, "..").find_element(
        By.XPATH, "ancestor::details/summary").click()  # open the day table
    assert widest_outside_scrollers(browser) == []
    assert browser.execute_script("return document.documentElement.scrollWidth") <= width
    # The day table is all there: its scroller is no wider than the page and scrolls to its last column.
    scroller = browser.find_element(By.CSS_SELECTOR, "#per-day").find_element(By.XPATH, "..")
    box = browser.execute_script("const s = arguments[0]; return [s.clientWidth, s.scrollWidth, "
                                 "getComputedStyle(s).overflowX]", scroller)
    assert box[0] <= width and box[2] == "auto"
    # Four channels' columns may be wider than a desktop's page too: scrolled to its end, the last column
    # shows whole inside the box.
    last_shown = browser.execute_script(
        "const s = arguments[0]; s.scrollLeft = s.scrollWidth; const cells = s.querySelectorAll('tr:first-child > *');"
        " return cells[cells.length - 1].getBoundingClientRect().right <= s.getBoundingClientRect().right + 1",
        scroller)
    assert last_shown, box
    text_cell = browser.find_element(By.XPATH, "//table[@id='messages']//td[contains(., 'Hello, I have had')]")
    lines = browser.execute_script(  # the text's height in lines (a cell on a card also holds its label)
        "const c = arguments[0], s = getComputedStyle(c); return (c.clientHeight - parseFloat(s.paddingTop)"
        " - parseFloat(s.paddingBottom)) / parseFloat(s.lineHeight)", text_cell)
    assert text_cell.size["width"] >= (300 if width > 600 else 0.8 * (width - 32)), text_cell.size
    assert len(LONG) / lines >= 20, lines  # words to a line, not a letter (which made 170 lines of it)
    header_shown = browser.find_element(By.CSS_SELECTOR, "#messages thead").size["height"] > 2
    assert header_shown is (width > 600)  # on a phone each message is a card, each cell named
    if width < 600:
        labels = browser.execute_script("return getComputedStyle(arguments[0], '::before').content", text_cell)
        assert labels == '"Text"'

    light = background(browser, "body")
    dark(browser)
    assert background(browser, "body") == "rgb(17, 20, 23)" != light
    assert color(browser, "main") == "rgb(233, 236, 239)"
    assert widest_outside_scrollers(browser) == []
    if width < 600:
        screenshot(browser, "dashboard-dark-phone", width, dated=True)
    dark(browser, False)


def background(browser, css):
    return browser.execute_script("return getComputedStyle(arguments[0]).backgroundColor",
                                  browser.find_element(By.CSS_SELECTOR, css))


def color(browser, css):
    return browser.execute_script("return getComputedStyle(arguments[0]).color",
                                  browser.find_element(By.CSS_SELECTOR, css))


def test_the_outbox_shows_a_given_up_email_with_its_error_and_retries_it_on_a_desktop_and_a_phone(served, browser):
    service, env = served
    text_message(service, "STOP")
    with sqlite3.connect(env["DATABASE_PATH"]) as db:  # a confirmation the SMTP server refused for good
        message_id = db.execute("SELECT id FROM messages").fetchone()[0]
        db.execute("INSERT INTO outbox (message_id, channel, address, subject, body, created_at, attempts, "
                   "next_attempt_at, failed_at, last_error) VALUES (?, 'email', 'pat@example.org', "
                   "'You are unsubscribed', 'Acme: no more emails.', ?, 3, ?, ?, '550 5.1.1 mailbox unavailable')",
                   (message_id, *[datetime.now(timezone.utc).isoformat()] * 3))
    log_in(browser, service)
    for width, name in ((1280, "outbox-desktop"), (390, "outbox-phone")):
        viewport(browser, width)
        browser.get(f"{service}/admin")
        browser.find_element(By.LINK_TEXT, "Outbox").click()
        wait_for(browser, "#queues")
        assert "Confirmation emails: 0 waiting, 1 failed, 0 sent" in browser.find_element(By.ID, "queues").text
        browser.find_element(By.PARTIAL_LINK_TEXT, "Failed: 1").click()
        row = wait_for(browser, "#outbox tbody tr")
        assert "550 5.1.1 mailbox unavailable" in row.text and "pat@example.org" in row.text
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width  # no sideways scroll
        assert screenshot(browser, name, width, dated=True).stat().st_size > 5_000
        button = row.find_element(By.TAG_NAME, "button")
        browser.execute_script("arguments[0].scrollIntoView()", button)  # on a phone, inside the table's scroller
        button.click()
        notice = wait_for(browser, "p.notice")
        assert notice.text.startswith("Confirmation email") and "is due now" in notice.text
        assert "No failed confirmation emails." in browser.find_element(By.TAG_NAME, "main").text
        with sqlite3.connect(env["DATABASE_PATH"]) as db:  # given up again, for the phone's turn
            db.execute("UPDATE outbox SET failed_at = next_attempt_at")
