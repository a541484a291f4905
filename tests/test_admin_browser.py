"""The dashboard in a real headless browser (Debian's chromium) against the real gunicorn service: log in,
correct a flagged opt-out from the review queue, check the API, and look the address up."""

import json
import urllib.parse
import urllib.request

import pytest
from browser import chromium, needs_chromium
from conftest import ADMIN_TOKEN, AUTH_TOKEN, serve, twilio_params
from twilio.request_validator import RequestValidator

pytestmark = needs_chromium
pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

PERSON = "+14155550142"


@pytest.fixture
def service(tmp_path):
    with serve(tmp_path) as (base, _env):
        yield base


@pytest.fixture
def browser(tmp_path):
    with chromium(tmp_path / "chromium") as driver:
        yield driver


def wait_for(browser, css):
    """The element once the page that has it is loaded: a click does not wait for the navigation."""
    return WebDriverWait(browser, 10).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))


def text_message(base, body):
    url = f"{base}/webhooks/twilio/sms"
    params = twilio_params(body, sender=PERSON)
    request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), headers={
        "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params)})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def contact(base):
    request = urllib.request.Request(f"{base}/api/v1/contacts/sms/{urllib.parse.quote(PERSON)}",
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_log_in_correct_a_flagged_opt_out_and_look_the_address_up(service, browser, tmp_path):
    text_message(service, "Can you stop?")
    assert contact(service)["suppressed"]["all"] is True

    browser.get(f"{service}/admin/review")
    assert browser.current_url.startswith(f"{service}/admin/login")
    token = wait_for(browser, "#token")
    assert browser.find_element(By.CSS_SELECTOR, "label[for='token']").text
    token.send_keys(ADMIN_TOKEN, Keys.ENTER)

    wait_for(browser, "article")
    [item] = browser.find_elements(By.TAG_NAME, "article")
    assert "Can you stop?" in item.text and "stop_word_in_message" in item.text
    browser.save_screenshot(str(tmp_path / "review.png"))
    item.find_element(By.XPATH, ".//button[normalize-space()='This was not an opt-out']").click()

    assert "Nothing was sent to them" in wait_for(browser, "[role=status]").text
    assert "Nothing is waiting for review" in browser.find_element(By.TAG_NAME, "main").text
    after = contact(service)
    assert after["suppressed"]["all"] is False
    assert [(e["action"], e["source"]) for e in after["events"]] == [("opt_out", "sms:twilio"),
                                                                     ("opt_in", "review:admin")]

    browser.find_element(By.LINK_TEXT, "Look up an address").click()
    wait_for(browser, "#lookup-address").send_keys("(415) 555-0142", Keys.ENTER)
    wait_for(browser, "#trail-table")
    main = browser.find_element(By.TAG_NAME, "main").text
    assert "+14155550142 (sms)" in main
    states = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#state-table tbody tr")]
    assert states[0] == "everything receiving" and all(s.endswith("receiving") for s in states)
    trail = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#trail-table tbody tr")]
    assert "sms:twilio" in trail[0] and "review:admin" in trail[-1] and "Can you stop?" in trail[-1]

    browser.find_element(By.LINK_TEXT, "Activity").click()
    chart = wait_for(browser, "svg[role=img]")
    assert chart.size["height"] > 50
    assert "1 opt-outs" in browser.find_element(By.TAG_NAME, "figcaption").text
    browser.save_screenshot(str(tmp_path / "dashboard.png"))
