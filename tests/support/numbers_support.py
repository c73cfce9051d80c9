"""Pictures of written numbers made for one test: MNIST digits' ink laid out left to right, as PNGs."""

from __future__ import annotations

import base64

import numpy as np
from PIL import Image

from ml_model.corpus.render import encode, enlarge


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png_of(ink: np.ndarray) -> bytes:
    """Ink in [0, 1] as black on a white RGB canvas PNG."""
    return encode(Image.fromarray((255 * (1 - np.clip(ink, 0, 1))).astype(np.uint8)).convert("RGB"))


def number_ink(
    digits: list[np.ndarray],
    height: int = 100,
    gap: float = 0.4,
    slant: float = 0.0,
    scales: list[float] | None = None,
    margin: int = 40,
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """MNIST digits' own ink (smoothly enlarged: MNIST's 20-pixel box to `height`) left to right on an empty
    field, `gap` digit heights apart, each baseline `slant` digit heights higher; and each digit's ink box
    (x, y, w, h)."""
    scales = scales or [1.0] * len(digits)
    inks = []
    for digit, scale in zip(digits, scales):
        ink = enlarge(digit, int(round(height * scale * 28 / 20)))
        rows, cols = np.flatnonzero((ink > 0.1).any(axis=1)), np.flatnonzero((ink > 0.1).any(axis=0))
        inks.append(ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    rise = int(slant * height * (len(digits) - 1))
    total_h = max(i.shape[0] for i in inks) + abs(rise) + 2 * margin
    total_w = sum(i.shape[1] for i in inks) + int(gap * height) * (len(inks) - 1) + 2 * margin
    field = np.zeros((total_h, total_w), np.float32)
    boxes, x = [], margin
    for k, ink in enumerate(inks):
        bottom = total_h - margin - (int(slant * height * k) if slant >= 0 else rise + int(slant * height * k))
        y = bottom - ink.shape[0]
        field[y:bottom, x : x + ink.shape[1]] = np.maximum(field[y:bottom, x : x + ink.shape[1]], ink)
        boxes.append((x, y, ink.shape[1], ink.shape[0]))
        x += ink.shape[1] + int(gap * height)
    return field, boxes
