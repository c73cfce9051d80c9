"""How well an export reads digits drawn on the drawing page: real Chromium, `serverless offline`, real MNIST.

    python bench/page_digits.py                              # ml_model/exports/latest, 5 digits per class
    python bench/page_digits.py --exports bench/results --per-class 10

The first `--per-class` MNIST test digits of every class are traced into pen strokes
(`ml_model/corpus/pen_trace.py`) and drawn with the mouse on the page (`GET /`), which posts each drawing to
`POST /predict` as a user's browser would; the export is served to `serverless offline` over loopback
as `python -m ml_model serve` would. Prints how many were read right, per class, and the misread
ones. Needs Chromium (`scripts/setup.sh`) and `npm ci`. Exits 2 without an export.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from tests.support.browser_support import launch, opened  # noqa: E402 - after the sys.path line above
from tests.support.loopback import free_port, serve_folder  # noqa: E402 - after the sys.path line above
from tests.support.pen_paths import traced_digits  # noqa: E402 - after the sys.path line above
from tests.support.serverless_support import SERVERLESS, Offline, cli_env  # noqa: E402 - after the sys.path line above


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--exports",
        type=Path,
        default=REPO / "ml_model" / "exports",
        help="a folder holding `latest/` (an export), as ml_model/exports",
    )
    parser.add_argument("--per-class", type=int, default=5)
    args = parser.parse_args()
    if not (args.exports / "latest" / "model.json").is_file():
        print(f"error: no export at {args.exports / 'latest'}; run `python -m ml_model train` first", file=sys.stderr)
        return 2

    from playwright.sync_api import sync_playwright

    from ml_model.data import load_mnist

    mnist = load_mnist()
    digits = traced_digits(mnist.test_images, mnist.test_labels, args.per_class)
    read: list[tuple[int, int]] = []
    with serve_folder(args.exports) as models, tempfile.TemporaryDirectory() as tmp:
        offline = Offline(SERVERLESS, cli_env(models, Path(tmp)), free_port(), free_port())
        try:
            offline.wait_ready(180)
            with sync_playwright() as playwright:
                browser = launch(playwright)
                with opened(browser, f"{offline.url}/", viewport={"width": 1200, "height": 900}) as page:
                    for label, strokes in digits:
                        page.page.get_by_role("button", name="Clear").click()
                        page.draw_with_mouse(strokes)
                        shown = page.answer()
                        read.append((label, int(shown["digit"]) if shown["state"] == "done" else -1))
                    model = shown["api"]["model"] if shown["api"] else {}
                browser.close()
        finally:
            offline.stop()

    right = Counter(label for label, digit in read if label == digit)
    print(f"model {model.get('name')} {model.get('version')} ({model.get('runtime')})")
    print(f"read right: {sum(right.values())} of {len(read)} ({100 * sum(right.values()) / len(read):.1f} %)")
    print("per class:  " + "  ".join(f"{k}: {right[k]}/{args.per_class}" for k in range(10)))
    misread = [f"{label}->{digit if digit >= 0 else 'error'}" for label, digit in read if label != digit]
    print("misread:    " + (", ".join(misread) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
