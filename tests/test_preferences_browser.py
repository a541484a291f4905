"""The preference page in a real headless browser (Debian's chromium) against the real gunicorn service:
open a minted link, change categories with the keyboard, save, and check the suppression API; a category's
link, its one button and its read-only list of the others; light and dark, desktop and phone, with the
screenshots in docs/."""

import json
import urllib.request

import pytest
from browser import chromium, dark, needs_chromium, page_with, screenshot, viewport
from conftest import ADMIN_TOKEN, HANG, serve

pytestmark = needs_chromium
pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402


@pytest.fixture
def service(tmp_path):
    with serve(tmp_path, UNSUBSCRIBE_SECRET="browser-test-secret", PUBLIC_BASE_URL="http://localhost") as (base, env):
        yield base


@pytest.fixture
def browser(tmp_path):
    with chromium(tmp_path / "chromium", window="390,844", languages="fr-FR,fr") as driver:
        yield driver


def api(base, path, body=None):
    request = urllib.request.Request(f"{base}{path}", data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=HANG) as response:
        return json.load(response)


def suppressed(base, category):
    return api(base, "/api/v1/suppressions/check",
               {"channel": "email", "addresses": ["pat@example.org"], "category": category})["suppressed"]


def test_choosing_categories_on_the_page_suppresses_exactly_those(service, browser, tmp_path):
    link = api(service, "/api/v1/unsubscribe-link?channel=email&address=pat@example.org")
    browser.get(link["url"].replace("http://localhost", service))
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"

    boxes = {b.get_attribute("value"): b for b in browser.find_elements(By.NAME, "keep")}
    assert set(boxes) == {"promotions", "surveys", "newsletter"} and all(b.is_selected() for b in boxes.values())
    for box in boxes.values():  # every control has a visible label tied to it
        assert browser.find_element(By.CSS_SELECTOR, f"label[for='{box.get_attribute('id')}']").text
    # Keyboard only: focus each box with Tab, toggle with Space, submit with Enter.
    for name in ("surveys", "newsletter"):
        boxes[name].send_keys(Keys.SPACE)
    browser.save_screenshot(str(tmp_path / "preferences.png"))
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").send_keys(Keys.ENTER)

    page_with(browser, "enregistr")
    heading = browser.find_element(By.TAG_NAME, "h1").text
    assert "enregistr" in heading.lower()  # "Vos choix sont enregistrés"
    assert suppressed(service, "surveys") == ["pat@example.org"]
    assert suppressed(service, "newsletter") == ["pat@example.org"]
    assert suppressed(service, "promotions") == []
    assert suppressed(service, None) == []


def test_a_changed_link_shows_what_to_do(service, browser):
    link = api(service, "/api/v1/unsubscribe-link?channel=email&address=pat@example.org")
    browser.get(link["url"].replace("http://localhost", service)[:-4] + "AAAA")
    assert "STOP" in browser.find_element(By.TAG_NAME, "main").text
    assert suppressed(service, None) == []


@pytest.fixture
def english(tmp_path):
    with chromium(tmp_path / "chromium-en", window="1280,900", languages="en-US,en") as driver:
        yield driver


def background(browser, css):
    return browser.execute_script("return getComputedStyle(arguments[0]).backgroundColor",
                                  browser.find_element(By.CSS_SELECTOR, css))


def test_a_surveys_link_opens_on_surveys_and_its_one_button_stops_only_them(service, english):
    link = api(service, "/api/v1/unsubscribe-link?channel=email&address=pat@example.org&category=surveys")
    english.get(link["url"].replace("http://localhost", service))
    main = english.find_element(By.TAG_NAME, "main")
    focus = english.find_element(By.CSS_SELECTOR, ".focus")
    assert focus.text.startswith("You're receiving this because you get Acme Outfitters surveys.")
    [primary] = english.find_elements(By.CSS_SELECTOR, "button.primary")
    assert primary.text == "Unsubscribe from surveys"
    assert primary.location["y"] < english.find_element(By.TAG_NAME, "fieldset").location["y"]  # above the list
    assert "Sales and new arrivals, about once a week." in main.text and "(receiving)" not in main.text
    # The link changes surveys only: the other categories are there to read, not to change.
    assert [b.get_attribute("value") for b in english.find_elements(By.NAME, "keep")] == ["surveys"]
    others = english.find_elements(By.CSS_SELECTOR, ".others input[type=checkbox]")
    assert len(others) == 2 and not any(b.is_enabled() for b in others) and all(b.is_selected() for b in others)
    assert "This link only changes surveys." in english.find_element(By.CSS_SELECTOR, ".others").text
    for width, name in ((1280, "preferences-desktop"), (390, "preferences-phone")):
        screenshot(english, name, width)
        assert english.execute_script("return document.documentElement.scrollWidth") <= width
        size = english.execute_script("return parseFloat(getComputedStyle(document.body).fontSize)")
        assert size >= 16  # comfortable on a phone, no zooming
    light = background(english, "body")
    dark(english)
    assert background(english, "body") != light and background(english, "body") == "rgb(17, 20, 23)"
    screenshot(english, "preferences-dark-phone", 390)
    dark(english, False)

    viewport(english, 390)
    english.find_element(By.CSS_SELECTOR, "button.primary").click()
    saved = page_with(english, "No more:")
    assert "No more: surveys." in saved and "Still coming: promos, newsletter." in saved
    assert english.current_url.endswith("?saved=yes")  # redirected after the POST
    events = len(api(service, "/api/v1/contacts/email/pat@example.org")["events"])
    english.refresh()  # posts nothing again
    assert "No more: surveys." in page_with(english, "No more:")
    assert len(api(service, "/api/v1/contacts/email/pat@example.org")["events"]) == events
    assert suppressed(service, "surveys") == ["pat@example.org"]
    assert suppressed(service, "promotions") == [] and suppressed(service, None) == []
    screenshot(english, "preferences-saved-phone", 390)

    english.find_element(By.LINK_TEXT, "Change my choices").click()
    page_with(english, "Keep receiving")
    boxes = {b.get_attribute("value"): b.is_selected() for b in english.find_elements(By.NAME, "keep")}
    assert boxes == {"surveys": False}
    # What is already stopped, said in a sentence above the form; "everything" below the kept kinds, apart.
    standing = english.find_element(By.ID, "standing")
    assert standing.text == "p•••@example.org is already unsubscribed from: surveys."
    assert standing.location["y"] < english.find_element(By.TAG_NAME, "fieldset").location["y"]
    everything = english.find_element(By.CSS_SELECTOR, "label[for='everything']")
    keep_group = english.find_element(By.XPATH, "//legend[normalize-space()='Keep receiving']/..")
    assert not keep_group.find_elements(By.ID, "everything")
    assert everything.location["y"] >= keep_group.location["y"] + keep_group.size["height"]
    assert not english.find_elements(By.CSS_SELECTOR, ".focus")  # surveys already stopped: nothing in focus

    # Someone holding the link (a forwarded message) makes a read-only box ask to stop promotions: refused.
    english.execute_script("const box = document.getElementById('other-promotions');"
                           "box.closest('fieldset').disabled = false; box.name = 'stop'; box.value = 'promotions';"
                           "box.checked = true; document.querySelector('main form').append(box);")
    english.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    refused = page_with(english, "Change my choices")  # the answer, with a way back; the form is gone
    assert "This link only changes surveys." in refused and not english.find_elements(By.NAME, "keep")
    assert suppressed(service, "promotions") == [] and suppressed(service, "surveys") == ["pat@example.org"]
