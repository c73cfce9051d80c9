"""The drawing page end to end: real Chromium (Playwright) against `serverless offline` and the trained model.

Digits are drawn stroke by stroke with the mouse, and with touch on a phone-sized screen, along pen
paths traced from real MNIST test digits (`pen_paths`); the page must read at least 90 % of them,
show ten bars and the 28x28 input, clear, and explain every failure in words. Screenshots of the
page with an answer go to `test-artifacts/` (or `$TEST_ARTIFACTS`).
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from api_support import free_port
from pen_paths import Stroke, pen_strokes
from serverless_support import REPO, Offline

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.network, pytest.mark.serverless]

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS") or REPO / "test-artifacts")
PER_CLASS = 3  # MNIST test digits of each class drawn with the mouse: 30 in all
PHONE_DIGITS = (0, 2, 4, 7, 8)
ANSWER_TIMEOUT_MS = 30_000
# How much of the canvas a drawn digit spans: MNIST's 28x28 frame scaled onto 80 % of the pad.
FRAME = 0.8


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `bash scripts/setup.sh` installs Chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def drawn_digits(real_mnist) -> list[tuple[int, list[Stroke]]]:
    """The first PER_CLASS MNIST test digits of every class, as pen strokes."""
    chosen = []
    for label in range(10):
        for index in np.flatnonzero(real_mnist.test_labels == label)[:PER_CLASS]:
            chosen.append((label, pen_strokes(real_mnist.test_images[index])))
    return chosen


class PageUnderTest:
    """One browser page on the drawing page, with every console error and uncaught exception kept."""

    def __init__(self, browser: Any, url: str, **context_options: Any) -> None:
        self.context = browser.new_context(**context_options)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        response = self.page.goto(url)
        assert response is not None and response.ok, url
        self.page.wait_for_selector("#answer[data-state=empty], #answer[data-state=error]")

    def close(self) -> None:
        self.context.close()

    def canvas_points(self, stroke: Stroke) -> list[tuple[float, float]]:
        box = self.page.locator("#pad").bounding_box()
        assert box is not None
        side = min(box["width"], box["height"]) * FRAME
        left = box["x"] + (box["width"] - side) / 2
        top = box["y"] + (box["height"] - side) / 2
        return [(left + x * side, top + y * side) for x, y in stroke]

    def draw_with_mouse(self, strokes: list[Stroke]) -> None:
        mouse = self.page.mouse
        for stroke in strokes:
            points = self.canvas_points(stroke)
            mouse.move(*points[0])
            mouse.down()
            for point in points[1:]:
                mouse.move(*point)
            mouse.up()

    def draw_with_touch(self, strokes: list[Stroke]) -> None:
        """Finger strokes as the touchscreen sends them (CDP touch events: Chromium makes the pointer
        events, and would scroll the page with them if the page let it)."""
        cdp = self.context.new_cdp_session(self.page)
        for stroke in strokes:
            points = self.canvas_points(stroke)
            cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [_touch(points[0])]})
            for point in points[1:]:
                cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [_touch(point)]})
            cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        cdp.detach()

    def answer(self) -> dict[str, Any]:
        """What the page shows once its request is answered (waits for it)."""
        self.page.wait_for_selector("#answer[data-state=done], #answer[data-state=error]", timeout=ANSWER_TIMEOUT_MS)
        return self.page.evaluate("""() => {
            const $ = (id) => document.getElementById(id);
            const seen = $("seen-image");
            return {
                state: $("answer").dataset.state,
                error: $("error").hidden ? "" : $("error").textContent,
                status: $("status").textContent,
                digit: $("digit").textContent,
                confidence: $("confidence").textContent,
                unsure: !$("unsure").hidden,
                bars: Array.from(document.querySelectorAll("#bars li")).map((row) => ({
                    label: row.querySelector(".label").textContent,
                    value: row.querySelector(".value").textContent,
                    width: row.querySelector(".fill").getBoundingClientRect().width
                        / row.querySelector(".track").getBoundingClientRect().width,
                    top: row.classList.contains("top"),
                })),
                seen: $("seen").hidden ? null : [seen.naturalWidth, seen.naturalHeight],
            };
        }""")

    def pad_is_blank(self) -> bool:
        return self.page.evaluate("""() => {
            const pad = document.getElementById("pad");
            const pixels = pad.getContext("2d").getImageData(0, 0, pad.width, pad.height).data;
            return pixels.every((value) => value === 255);
        }""")


def _touch(point: tuple[float, float]) -> dict[str, float]:
    return {"x": point[0], "y": point[1], "radiusX": 4, "radiusY": 4, "force": 1}


@contextlib.contextmanager
def opened(browser: Any, url: str, **context_options: Any) -> Iterator[PageUnderTest]:
    page = PageUnderTest(browser, url, **context_options)
    try:
        yield page
    finally:
        page.close()


def _check_shown(shown: dict[str, Any]) -> None:
    """Ten bars as wide as their probabilities, the top one the prediction; the 28x28 input if the API sent it."""
    assert shown["state"] == "done", shown
    bars = shown["bars"]
    assert [bar["label"] for bar in bars] == [str(d) for d in range(10)]
    values = [float(bar["value"].rstrip(" %")) / 100 for bar in bars]
    assert abs(sum(values) - 1) < 0.01
    assert all(abs(bar["width"] - value) < 0.02 for bar, value in zip(bars, values)), bars
    assert [bar["top"] for bar in bars].index(True) == int(shown["digit"])
    assert shown["confidence"] == f"{bars[int(shown['digit'])]['value']} confident"


def test_mouse_drawn_digits_are_read(browser: Any, offline_api: Offline, drawn_digits) -> None:
    read = []
    with opened(browser, f"{offline_api.url}/", viewport={"width": 1200, "height": 900}) as page:
        for label, strokes in drawn_digits:
            page.page.get_by_role("button", name="Clear").click()
            assert page.pad_is_blank()
            page.draw_with_mouse(strokes)  # no click: the page predicts when the pen lifts
            shown = page.answer()
            _check_shown(shown)
            read.append((label, int(shown["digit"])))
            if len(read) == 1:
                seen = shown["seen"]
                assert seen is None or seen == [28, 28], seen
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.page.screenshot(path=ARTIFACTS / "page.png", full_page=True)

        page.page.get_by_role("button", name="Clear").click()
        assert page.pad_is_blank()
        assert page.page.locator("#result").is_hidden() and page.page.locator("#answer").get_attribute("data-state") == "empty"
        assert page.errors == []
    right = sum(label == digit for label, digit in read)
    assert right >= 0.9 * len(read), f"read {right} of {len(read)}: {[r for r in read if r[0] != r[1]]}"


def test_touch_drawing_on_a_phone_does_not_scroll(browser: Any, offline_api: Offline, drawn_digits) -> None:
    phone = {"viewport": {"width": 390, "height": 700}, "device_scale_factor": 2, "is_mobile": True,
             "has_touch": True}
    with opened(browser, f"{offline_api.url}/", **phone) as page:
        sizes = page.page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        assert sizes[0] <= 390, "the page is wider than the phone"
        assert sizes[1] > 700, "the page must be taller than the screen, or scrolling could not be noticed"
        page.page.evaluate("() => window.scrollTo(0, 40)")
        read = []
        for label in PHONE_DIGITS:
            strokes = drawn_digits[label * PER_CLASS][1]
            page.page.get_by_role("button", name="Clear").tap()
            # Downward strokes would scroll the page if the canvas let the browser pan.
            page.draw_with_touch(strokes)
            assert page.page.evaluate("() => window.scrollY") == 40
            shown = page.answer()
            _check_shown(shown)
            read.append((label, int(shown["digit"])))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.page.screenshot(path=ARTIFACTS / "page-phone.png", full_page=True)
        assert page.errors == []
    assert sum(label == digit for label, digit in read) >= len(read) - 1, read
