"""The plain tutorial pipeline a user would write with numpy and Pillow: the fair baseline for the API's normaliser.

    grey → polarity from the border → background subtracted → crop to ink → fit 20x20 → centre of mass in 28x28

Each step is the textbook one, with no knowledge of this project's normaliser: the picture is
turned grey; its border pixels' median is the background (ink is darker than a light border, lighter
than a dark one); the picture is made light-on-dark with that background at zero; the ink is what
stands above a fixed fraction of its brightest value, and the picture is cropped to the box of it;
the crop is fitted into 20x20 keeping its aspect ratio (area averaging, Pillow's BOX), scaled to
[0, 1] by its maximum, and pasted in 28x28 so its centre of mass falls on the centre (as MNIST was
made). `bench/read_images.py` reads every corpus kind through it beside the API.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

SIZE, BOX = 28, 20
# Pixels darker/lighter than the background by this fraction of the strongest ink count as ink (for the crop).
INK_FRACTION = 0.2


class Blank(ValueError):
    """No ink at all: the picture is one level."""


def to_mnist(data: bytes) -> np.ndarray:
    """An encoded picture (PNG, JPEG...) → float32 [28, 28] in [0, 1], white ink on black, MNIST-style."""
    image = Image.open(io.BytesIO(data))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))  # transparent parts as white paper
        image = Image.alpha_composite(white, image.convert("RGBA"))
    grey = np.asarray(image.convert("L"), np.float32)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    background = float(np.median(border))
    ink = background - grey if background > 127.5 else grey - background  # light paper: invert
    ink = np.maximum(ink, 0.0)
    peak = float(ink.max())
    if peak <= 0:
        raise Blank("no ink")
    rows, cols = np.nonzero(ink > INK_FRACTION * peak)
    crop = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] / peak
    scale = BOX / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    small = np.asarray(Image.fromarray(crop.astype(np.float32), "F").resize(size, resample), np.float32)
    small = np.clip(small / max(float(small.max()), 1e-6), 0.0, 1.0)
    total = float(small.sum())
    centre = [float((small.sum(axis=1 - axis) * np.arange(small.shape[axis])).sum()) / total for axis in (0, 1)]
    top, left = (int(np.clip(round(SIZE / 2 - c), 0, SIZE - n)) for c, n in zip(centre, small.shape))
    out = np.zeros((SIZE, SIZE), np.float32)
    out[top : top + small.shape[0], left : left + small.shape[1]] = small
    return out
