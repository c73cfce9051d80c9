"""Pages a picture of written ink is finished on: ink in [0, 1] (1: the pen's full strength), on its page's
field → the picture's bytes, as a canvas, a scanner or a phone camera would hand them over (paper, pen
colour, light, noise, blur, encoding). The single-digit corpus (`digits`) and the number corpus
(`numbers`) finish their kinds with the same functions, so a kind means one thing in both. numpy and
Pillow only; every random draw comes from the `rng` given, in a fixed order.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from ml_model.corpus.render import encode, lighting, noisy, paper, scanned


def white_canvas(ink: np.ndarray, rng: np.random.Generator) -> bytes:
    """Black ink on opaque white (RGB PNG), as a drawing page's canvas exports it."""
    return encode(Image.fromarray((255 * (1 - ink)).astype(np.uint8)).convert("RGB"))


def transparent_canvas(ink: np.ndarray, rng: np.random.Generator) -> bytes:
    """Dark ink only in alpha on a transparent canvas (RGBA PNG)."""
    colour = rng.integers(0, 60, 3)
    rgba = np.zeros((*ink.shape, 4), np.uint8)
    rgba[..., :3] = colour
    rgba[..., 3] = (ink * 255).astype(np.uint8)
    return encode(Image.fromarray(rgba, "RGBA"))


Range = tuple[float, float]


def on_paper(
    ink: np.ndarray, rng: np.random.Generator, paper_level: Range, pen: Range, sigma: Range, quality: Range | None
) -> bytes:
    """Grey ink on grey paper (`render.scanned`), each level drawn from its range in this order: the
    paper's grey, the pen's, the noise's sigma, then the JPEG quality (None: a PNG)."""
    levels = float(rng.uniform(*paper_level)), float(rng.uniform(*pen)), float(rng.uniform(*sigma))
    return scanned(ink, rng, *levels, int(rng.integers(*quality)) if quality else None)


def scanned_page(ink: np.ndarray, rng: np.random.Generator) -> bytes:
    """Dark ink on off-white, noise sigma 2-8, JPEG quality 60-95."""
    return on_paper(ink, rng, (215, 250), (10, 70), (2, 8), (60, 96))


def fine_pen_page(ink: np.ndarray, rng: np.random.Generator) -> bytes:
    """A fine pen's ink on a light page: grey PNG, light noise."""
    return on_paper(ink, rng, (225, 250), (10, 60), (1, 4), None)


def marker_page(ink: np.ndarray, rng: np.random.Generator) -> bytes:
    """A marker's ink on a light page: noise, JPEG 70-95."""
    return on_paper(ink, rng, (220, 250), (10, 50), (1, 4), (70, 96))


def faint_page(ink: np.ndarray, rng: np.random.Generator) -> bytes:
    """Faint ink: 40-80 grey levels darker than the paper, noise sigma 1-3, PNG or JPEG 85-95."""
    paper_level = float(rng.uniform(150, 240))
    quality = int(rng.integers(85, 96)) if rng.random() < 0.5 else None
    return scanned(ink, rng, paper_level, paper_level - float(rng.uniform(40, 80)), float(rng.uniform(1, 3)), quality)


def photographed_page(ink: np.ndarray, rng: np.random.Generator) -> bytes:
    """A phone photo of paper: lighting gradient, a shadow, vignetting, blur, noise, JPEG."""
    height, width = ink.shape
    paper_colour, pen = rng.uniform(200, 245, 3), rng.uniform(20, 70, 3)
    rgb = paper(ink, paper_colour, pen) * lighting(height, width, rng)
    image = noisy(rgb, float(rng.uniform(2, 6)), rng).filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 1.5))))
    return encode(image, "JPEG", quality=int(rng.integers(70, 93)))


def chalk_on_board(ink: np.ndarray, rng: np.random.Generator) -> bytes:
    """Light on dark: chalk on a green or black board, streaky chalk, uneven light, JPEG."""
    height, width = ink.shape
    streaks = 0.75 + 0.25 * rng.random((height, width)).astype(np.float32)  # chalk leaves gaps
    board = np.array([(40, 70, 50), (35, 35, 38), (30, 50, 45)][int(rng.integers(3))], np.float32)
    chalk = rng.uniform(200, 245, 3)
    rgb = paper(ink * streaks, board, chalk) * lighting(height, width, rng)
    return encode(noisy(rgb, float(rng.uniform(2, 5)), rng), "JPEG", quality=int(rng.integers(70, 93)))
