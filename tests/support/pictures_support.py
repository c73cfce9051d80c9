"""Pictures for the image tests: arrays as PNG, one request's pixel budget, the grey levels of an encoded
picture, and ink in [0, 1] as dark pen on light paper."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from api.pictures import images
from api.runtime.settings import MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS
from tests.support.digit_images import encode


def budget() -> images.PixelBudget:
    return images.PixelBudget(MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS)


def png(array: np.ndarray, mode: str | None = None) -> bytes:
    return encode(Image.fromarray(array, mode) if mode else Image.fromarray(array))


def grey_of(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.float32)


def paper(ink: np.ndarray, paper_level: float = 235.0, pen: float = 30.0) -> np.ndarray:
    """Ink in [0, 1] as dark pen on light paper (grey levels)."""
    return paper_level * (1 - ink) + pen * ink
