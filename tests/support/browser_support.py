"""Chromium, driven by Playwright, on the drawing page: open it, draw strokes with the mouse or a
finger, read back what it shows and what the API answered. Used by the browser tests and by
`bench/page_digits.py`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.pen_paths import Stroke

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ANSWER_TIMEOUT_MS = 30_000
# How much of the canvas a drawn digit spans: MNIST's 28x28 frame scaled onto 80 % of the pad.
FRAME = 0.8


def launch(playwright: Any) -> Any:
    """The system's Chromium (never a downloaded one); AssertionError naming the fix if it is missing."""
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: `bash scripts/setup.sh` installs Chromium (apt-get install chromium)"
    )
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


class PageUnderTest:
    """One browser page on the drawing page, with every console error and uncaught exception kept."""

    def __init__(self, browser: Any, url: str, fake_clock: bool = False, **context_options: Any) -> None:
        self.context = browser.new_context(**context_options)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.responses: list[Any] = []  # the API's answers to the page's predictions, as they came
        self.page.on(
            "response",
            lambda response: (
                response.request.method == "POST"
                and response.url.endswith("/predict")
                and self.responses.append(response)
            ),
        )
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        if fake_clock:  # timers run only when the test moves the clock on
            self.page.clock.install()
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
        """What the page shows once its request is answered (waits for it), and `api`: the JSON the
        API answered the page's last request with."""
        self.page.wait_for_selector("#answer[data-state=done], #answer[data-state=error]", timeout=ANSWER_TIMEOUT_MS)
        shown = self.page.evaluate("""() => {
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
        shown["api"] = self.responses[-1].json() if self.responses else None
        return shown

    def pad_is_blank(self) -> bool:
        return self.page.evaluate("""() => {
            const pad = document.getElementById("pad");
            const pixels = pad.getContext("2d").getImageData(0, 0, pad.width, pad.height).data;
            return pixels.every((value) => value === 255);
        }""")


def _touch(point: tuple[float, float]) -> dict[str, float]:
    return {"x": point[0], "y": point[1], "radiusX": 4, "radiusY": 4, "force": 1}


@contextlib.contextmanager
def opened(browser: Any, url: str, fake_clock: bool = False, **context_options: Any) -> Iterator[PageUnderTest]:
    page = PageUnderTest(browser, url, fake_clock, **context_options)
    try:
        yield page
    finally:
        page.close()
