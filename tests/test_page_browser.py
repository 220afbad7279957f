"""The drawing page in a real Chromium: drawn with pointer events, answered by the local API, no console errors."""

from __future__ import annotations

import base64
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from digit_images import inverted, picture, png

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
DOCS_SCREENSHOT = ROOT / "docs" / "images" / "drawing-page.png"
# A stroke as points on a 0-1 square: what a person's hand would trace for each digit.
STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [[(0.5 + 0.22 * math.sin(t / 24 * 2 * math.pi), 0.5 - 0.36 * math.cos(t / 24 * 2 * math.pi))
         for t in range(25)]],
    1: [[(0.42, 0.22), (0.52, 0.12), (0.52, 0.88)]],
    7: [[(0.25, 0.15), (0.75, 0.15), (0.45, 0.88)]],
}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Debian Chromium through chromedriver, with a fresh profile and the console log kept."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the browser test: install chromium and chromium-driver (.ci/run does)")
        pytest.skip("Chromium is not installed: apt-get install -y chromium chromium-driver to run the browser test")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="mnist-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=960,760",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def draw(driver, canvas, strokes: list[list[tuple[float, float]]], pointer: str = "mouse") -> None:
    """Trace strokes on the canvas with pointer events (mouse or pen), lifting between strokes."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    size = canvas.size["width"]
    actions = ActionBuilder(driver, mouse=PointerInput(pointer, pointer))
    for stroke in strokes:
        points = [(int((x - 0.5) * size), int((y - 0.5) * size)) for x, y in stroke]
        actions.pointer_action.move_to(canvas, *points[0]).pointer_down()
        for x, y in points[1:]:
            actions.pointer_action.move_to(canvas, x, y)
        actions.pointer_action.pointer_up()
    actions.perform()


def shown(driver, previous: str = "–") -> str:
    """The digit the page shows once an answer (a digit or '?') has replaced `previous`."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 20).until(lambda d: d.find_element("id", "digit").text not in (previous, ""))
    return driver.find_element("id", "digit").text


@pytest.mark.parametrize("label", sorted(STROKES))
def test_drawn_digit_is_predicted_with_vote_shares_and_the_image_seen(
        browser, local_api: dict[str, str], label: int, tmp_path: Path) -> None:
    # given the page from python -m function.local
    browser.get(local_api["page"])
    browser.find_element("id", "clear").click()
    canvas = browser.find_element("id", "pad")
    # when the digit is drawn with the mouse (strokes end with pointerup)
    draw(browser, canvas, STROKES[label])
    # then the page shows it, ten vote-share bars with the largest on it, and a non-blank image of what was seen
    assert shown(browser) == str(label)
    bars = browser.find_elements("css selector", "#bars .bar")
    shares = [float(bar.get_attribute("aria-valuenow")) for bar in bars]
    assert len(bars) == 10 and abs(sum(shares) - 1) < 1e-3 and int(np.argmax(shares)) == label
    seen = browser.execute_script(
        "const c = document.getElementById('seen'); return Array.from(c.getContext('2d')"
        ".getImageData(0, 0, c.width, c.height).data).filter((v, i) => i % 4 === 0 && v > 0).length;")
    assert seen > 3
    browser.save_screenshot(str(tmp_path / f"drawn-{label}.png"))
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []


@pytest.mark.parametrize("pointer", ["pen", "touch"])
def test_pen_or_finger_strokes_clear_and_keyboard_reach(
        browser, local_api: dict[str, str], pointer: str, tmp_path: Path) -> None:
    # given the page and a 7 drawn with a pen or a finger
    browser.get(local_api["page"])
    canvas = browser.find_element("id", "pad")
    draw(browser, canvas, STROKES[7], pointer=pointer)
    assert shown(browser) == "7"
    # when Clear is pressed from the keyboard (tab to it, then Enter)
    from selenium.webdriver.common.keys import Keys

    canvas.send_keys(Keys.TAB)
    focused = browser.switch_to.active_element
    assert focused.get_attribute("id") == "clear"
    focused.send_keys(Keys.ENTER)
    # then the answer and bars are gone, and every control has a label
    assert browser.find_element("id", "digit").text == "–" and not browser.find_elements("css selector", "#bars .bar")
    assert browser.find_element("css selector", "label[for=file]").text
    assert canvas.get_attribute("aria-label")
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_uploaded_photo_is_predicted(browser, local_api: dict[str, str], model_dir: Path, tmp_path: Path) -> None:
    # given a held-out digit saved as a PNG, dark on white
    X, y = np.load(model_dir / "test_features.npy"), np.load(model_dir / "test_labels.npy")
    photo = tmp_path / "digit.png"
    photo.write_bytes(png(inverted(picture(X[0], 16))))
    # when it is chosen in the file picker
    browser.get(local_api["page"])
    browser.find_element("id", "file").send_keys(str(photo))
    # then the page shows the digit's label, without console errors
    assert shown(browser) == str(y[0])
    browser.save_screenshot(str(tmp_path / "uploaded.png"))
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_screenshot_for_the_docs(browser, local_api: dict[str, str], tmp_path: Path) -> None:
    # given a 0 drawn on the page
    browser.get(local_api["page"])
    draw(browser, browser.find_element("id", "pad"), STROKES[0])
    assert shown(browser) == "0"
    # when it is captured, then it is a PNG; it refreshes docs/images/drawing-page.png only when asked to
    shot = tmp_path / "drawing-page.png"
    browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == base64.b64decode("iVBORw0KGgo=")
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, DOCS_SCREENSHOT)
