"""Drawing ink on paper: enlarging digits, pen strokes, paper and pen colours, light, noise, scanning, encoding."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ml_model.corpus.pen_trace import FRAME, draw_strokes, trace


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    """The image encoded in `fmt` (PNG, JPEG, WEBP, ...)."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def enlarge(digit: np.ndarray, size: int) -> np.ndarray:
    """Ink in [0, 1], the 28x28 digit smoothly enlarged to size x size (a digit drawn larger)."""
    image = Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.float32).clip(0, 255) / 255.0


def pen_strokes(
    digit: np.ndarray, height: int, width: int, digit_height: float, pen: float, top: float, left: float
) -> np.ndarray:
    """Ink in [0, 1] on a height x width field: the digit's pen paths (`pen_trace.py`) drawn with a round pen.

    `digit_height` is the drawn digit's height in pixels (MNIST's 20-pixel box scaled to it), `pen`
    the pen's width in pixels, (top, left) where the 28x28 frame's corner lands.
    """
    return draw_strokes(trace(digit), height, width, digit_height * FRAME / 20, pen, top, left)


def traced(
    digit: np.ndarray,
    rng: np.random.Generator,
    size: tuple[int, int],
    height_range: tuple[float, float],
    pen_range: tuple[float, float],
) -> np.ndarray:
    """Pen-path ink for a digit of random height and pen width, placed at random on the field."""
    field_h, field_w = size
    digit_height = float(rng.uniform(*height_range)) * min(field_h, field_w)
    pen = float(rng.uniform(*pen_range)) * digit_height  # pen width relative to the digit's height
    frame = digit_height * 28 / 20
    top = float(rng.uniform(-0.1 * frame, field_h - 0.9 * frame))
    left = float(rng.uniform(-0.1 * frame, field_w - 0.9 * frame))
    return pen_strokes(digit, field_h, field_w, digit_height, pen, top, left)


def paste(ink: np.ndarray, height: int, width: int, rng: np.random.Generator, margin: float = 0.0) -> np.ndarray:
    """`ink` pasted at a random place of an empty height x width field (`margin` of it may hang over)."""
    field = np.zeros((height + 2 * ink.shape[0], width + 2 * ink.shape[1]), np.float32)
    slack_h, slack_w = int(margin * ink.shape[0]), int(margin * ink.shape[1])
    top = int(rng.integers(-slack_h, height - ink.shape[0] + slack_h + 1)) + ink.shape[0]
    left = int(rng.integers(-slack_w, width - ink.shape[1] + slack_w + 1)) + ink.shape[1]
    field[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    return field[ink.shape[0] : ink.shape[0] + height, ink.shape[1] : ink.shape[1] + width]


def paper(ink: np.ndarray, paper_colour: np.ndarray | float, pen: np.ndarray | float) -> np.ndarray:
    """Ink in [0, 1] composited: pen colour where there is ink, paper elsewhere (H x W x C)."""
    ink = ink[..., np.newaxis]
    return np.asarray(paper_colour, np.float32) * (1 - ink) + np.asarray(pen, np.float32) * ink


def noisy(values: np.ndarray, sigma: float, rng: np.random.Generator) -> Image.Image:
    """Sensor noise of `sigma` grey levels, clipped to 8 bits."""
    with_noise = values + rng.normal(0, sigma, values.shape).astype(np.float32)
    array = with_noise.clip(0, 255).astype(np.uint8)
    return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)


def scanned(
    ink: np.ndarray, rng: np.random.Generator, paper_level: float, pen: float, sigma: float, quality: int | None
) -> bytes:
    """Grey ink on grey paper with noise, as PNG (quality None) or JPEG."""
    image = noisy(paper(ink, paper_level, pen), sigma, rng)
    return encode(image, "JPEG", quality=quality) if quality else encode(image)


def lighting(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A phone photo's light: a gradient across the page, a soft shadow edge, darker corners."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    rows, cols = rows / height - 0.5, cols / width - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    light = 1.0 + float(rng.uniform(0.15, 0.4)) * (np.cos(angle) * cols + np.sin(angle) * rows)
    light -= float(rng.uniform(0.1, 0.35)) * (rows**2 + cols**2)  # vignetting
    if rng.random() < 0.7:  # the shadow of a hand or phone, with a soft edge
        shadow_angle = rng.uniform(0, 2 * np.pi)
        distance = np.cos(shadow_angle) * cols + np.sin(shadow_angle) * rows - float(rng.uniform(0.15, 0.45))
        light *= 1.0 - float(rng.uniform(0.2, 0.45)) / (1.0 + np.exp(-distance / float(rng.uniform(0.02, 0.08))))
    return light[..., np.newaxis]
