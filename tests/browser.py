"""Debian's chromium, headless, driven by Selenium: what the browser tests share."""

import base64
import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import HANG

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver: `apt-get install -y chromium chromium-driver` "
           "(make test installs them when run as root)")


@contextlib.contextmanager
def chromium(profile_dir, window="1280,900", languages=None):
    """A headless chromium with a fresh profile, on this machine's closed network."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # Without the background-networking flags chromium keeps dialling Google's hosts, which are refused here.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", f"--user-data-dir={profile_dir}", f"--window-size={window}"):
        options.add_argument(flag)
    if languages:
        options.add_argument(f"--lang={languages.split(',')[0]}")
        options.add_experimental_option("prefs", {"intl.accept_languages": languages})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(HANG)
    try:
        yield driver
    finally:
        driver.quit()


DOCS = Path(__file__).resolve().parent.parent / "docs"


def viewport(driver, width: int) -> None:
    """Show pages `width` CSS pixels wide, exactly: below 600 as a phone (its viewport meta tag applies)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": 844 if width < 600 else 900, "deviceScaleFactor": 1, "mobile": width < 600})


def screenshot(driver, name: str, width: int, dated: bool = False) -> Path:
    """The whole page (up to 3,000 px tall) at `width` CSS pixels as docs/<name>.png, which the README shows.

    A `dated` page (the dashboard: its charts and times follow today's date) would change the file on
    every run and leave every checkout dirty: it is rewritten only when missing or when
    UPDATE_SCREENSHOTS=1, and otherwise captured to a temporary file (so the capture is still tested)."""
    viewport(driver, width)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": min(height, 3000), "scale": 1}})
    DOCS.mkdir(exist_ok=True)
    path = DOCS / f"{name}.png"
    if dated and path.exists() and os.environ.get("UPDATE_SCREENSHOTS") != "1":
        path = Path(tempfile.mkdtemp(prefix="screenshot-")) / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def dark(driver, on: bool = True) -> None:
    """Emulate the system's dark mode (prefers-color-scheme: dark), as a phone set to dark shows pages."""
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {
        "features": [{"name": "prefers-color-scheme", "value": "dark" if on else "light"}]})


def displayed_font_sizes(driver, css: str) -> list[float]:
    """The font size of each element matching `css` as drawn on screen, in CSS pixels (SVG scaling included)."""
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => parseFloat(getComputedStyle(e).fontSize)"
        " * (e.getScreenCTM ? e.getScreenCTM().a : 1));", css)


def page_with(driver, text: str) -> str:
    """The page's text once the page showing `text` has loaded: a click or an Enter that submits a form
    does not wait for the navigation, and on a busy machine the old or a blank page is still there."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    # Read in the page by one script, not as an element found and then read: between the two the
    # document may be replaced, and chromium then fails the read with an "inspector error" (not a stale
    # element), as a CI run once did. Anything the driver raises mid-navigation is tried again.
    WebDriverWait(driver, HANG, ignored_exceptions=(WebDriverException,)).until(
        lambda d: text in (d.execute_script("return document.body ? document.body.innerText : ''") or ""))
    return driver.find_element(By.TAG_NAME, "body").text
