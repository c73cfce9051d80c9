"""MNIST digits re-drawn the ways users send them: canvases, photos, transparent PNGs, thin pens.

Each maker turns one MNIST test digit (uint8 28x28, white on black) into the encoded bytes of a
realistic image of it; the API must read these about as well as the digit itself.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

from ml_model.corpus.render import encode
from ml_model.corpus.render import enlarge as _enlarge_to

Maker = Callable[[np.ndarray, np.random.Generator], bytes]


def enlarge(digit: np.ndarray, factor: int) -> np.ndarray:
    """Ink in [0, 1], the digit smoothly enlarged `factor` times."""
    return _enlarge_to(digit, 28 * factor)


def place(ink: np.ndarray, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """`ink` pasted at a random place of an empty height x width field."""
    field = np.zeros((height, width), np.float32)
    top, left = rng.integers(0, height - ink.shape[0]), rng.integers(0, width - ink.shape[1])
    field[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    return field


def canvas(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """Black ink on a white 600x450 RGB canvas, 10x MNIST size, off-centre."""
    ink = place(enlarge(digit, 10), 450, 600, rng)
    return encode(Image.fromarray((255 * (1 - ink)).astype(np.uint8)).convert("RGB"))


def photo(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A phone photo: blue pen on cream paper, uneven light, noise, blur, a slight tilt, JPEG."""
    height, width = 480, 640
    ink = place(enlarge(digit, int(rng.integers(5, 8))), height, width, rng)[..., np.newaxis]
    rows, cols = np.mgrid[0:height, 0:width]
    light = (0.7 + 0.35 * cols / width + 0.1 * rows / height)[..., np.newaxis]
    paper, pen = np.array([225, 220, 205], np.float32), np.array([30, 35, 80], np.float32)
    rgb = (paper * (1 - ink) + pen * ink) * light + rng.normal(0, 6, (height, width, 3))
    image = Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.5))
    image = image.rotate(float(rng.uniform(-6, 6)), resample=Image.Resampling.BICUBIC, fillcolor=(200, 195, 185))
    return encode(image, "JPEG", quality=70)


def transparent(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """An HTML-canvas export: black strokes on a transparent background (RGBA PNG)."""
    rgba = np.zeros((224, 224, 4), np.uint8)
    rgba[..., 3] = (enlarge(digit, 8) * 255).astype(np.uint8)
    return encode(Image.fromarray(np.pad(rgba, ((40, 10), (10, 50), (0, 0)))))


def thin_pen(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A fine pen on a large white page: strokes a third as thick as MNIST's, grey PNG."""
    thin = Image.fromarray((enlarge(digit, 10) * 255).astype(np.uint8)).filter(ImageFilter.MinFilter(11))
    return encode(Image.fromarray(np.pad(255 - np.asarray(thin), 60, constant_values=255)))


def small_on_dark(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """Light strokes on a dark-grey background, twice MNIST size, off-centre, palette GIF."""
    field = np.full((100, 80), 30, np.float32)
    field[10:66, 20:76] += enlarge(digit, 2) * 200
    return encode(Image.fromarray(field.astype(np.uint8)).convert("P"), "GIF")


def webp(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """Dark on light, 5x, lossy WebP."""
    image = Image.fromarray(255 - digit).resize((140, 140), Image.Resampling.BICUBIC).convert("RGB")
    return encode(image, "WEBP", quality=80)


def mnist_png(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """The MNIST digit itself as a 28x28 PNG."""
    return encode(Image.fromarray(digit))


MAKERS: dict[str, Maker] = {
    "canvas": canvas,
    "photo": photo,
    "transparent": transparent,
    "thin_pen": thin_pen,
    "small_on_dark": small_on_dark,
    "webp": webp,
    "mnist_png": mnist_png,
}
