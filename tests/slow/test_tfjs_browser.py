"""An export's TF.js model in a web page: Chromium (Playwright) loads `tfjs/model.json` with
`tf.loadLayersModel` over HTTP, as a TF.js front end would (tests/tfjs/page.html, `@tensorflow/tfjs`'s
own `dist/tf.min.js`, both served from 127.0.0.1), and names the digits LiteRT float32 names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api.runtime.manifest import TFJS_DIR
from api.runtime.predictor import LiteRTPredictor
from ml_model.data import to_model_input
from tests.support.browser_support import launch
from tests.support.loopback import serve_folder
from tests.support.tfjs_support import REPO, TFJS_SCRIPTS

pytestmark = [pytest.mark.browser, pytest.mark.network]

DIGITS = 200  # MNIST test digits the page predicts
# float32 on both sides (TF.js's CPU backend, LiteRT), different kernels: rounding only (measured: < 1e-6).
PROBABILITY_TOLERANCE = 1e-4
TF_MIN_JS = REPO / "node_modules" / "@tensorflow" / "tfjs" / "dist" / "tf.min.js"
LOAD_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


def test_the_exported_tfjs_model_predicts_in_a_web_page(
    mnist_export: Path, real_mnist: Any, browser: Any, tmp_path: Path
) -> None:
    assert TF_MIN_JS.is_file(), "run `npm ci` first: @tensorflow/tfjs is missing"
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_bytes((TFJS_SCRIPTS / "page.html").read_bytes())
    (site / "tf.min.js").symlink_to(TF_MIN_JS)
    (site / "model").symlink_to(mnist_export / TFJS_DIR, target_is_directory=True)
    images = to_model_input(real_mnist.test_images[:DIGITS])
    litert = LiteRTPredictor(mnist_export / "model.tflite", num_threads=1).predict(images)
    with serve_folder(site) as server:
        context = browser.new_context()
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
        try:
            page.goto(f"{server.url}/index.html")
            page.wait_for_selector("#state:text('ready')", timeout=LOAD_TIMEOUT_MS)
            result = page.evaluate(
                "([pixels, count]) => window.predict(pixels, count)", [images.ravel().tolist(), DIGITS]
            )
        finally:
            context.close()
        # The browser fetched the model the way TF.js does: model.json, then every shard it names.
        assert server.hits["/model/model.json"] == 1 and server.hits["/model/group1-shard1of1.bin"] == 1, server.hits
    assert not errors, errors
    assert result["backend"] == "cpu" and result["shape"] == [DIGITS, 10], {k: result[k] for k in ("backend", "shape")}
    tfjs = np.array(result["values"], dtype=np.float32).reshape(DIGITS, 10)
    assert np.array_equal(tfjs.argmax(axis=1), litert.argmax(axis=1))
    assert np.max(np.abs(tfjs - litert)) <= PROBABILITY_TOLERANCE
    assert np.mean(tfjs.argmax(axis=1) == real_mnist.test_labels[:DIGITS]) > 0.9  # a trained model, not noise
