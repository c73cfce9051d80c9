"""The shape of MNIST-style normalisation, on real MNIST digits: they pass through unchanged, and
pictures of them come out fitted, centred and white on black as MNIST's are.

How well normalised pictures are *read* is tests/slow/test_read_images.py; decoding, arrays and
limits are tests/unit/test_images.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from api.pictures import images
from tests.support.digit_images import MAKERS, encode, enlarge
from tests.support.pictures_support import budget, png


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    rows, cols = np.mgrid[0:28, 0:28]
    return float((image * rows).sum() / image.sum()), float((image * cols).sum() / image.sum())


# ---------------------------------------------------------------- normalisation


def test_mnist_digits_pass_through_unchanged(real_mnist) -> None:
    for digit in real_mnist.test_images[:50]:
        np.testing.assert_allclose(images.from_bytes(png(digit), budget()), digit / 255.0, atol=1e-6)
        inverted = images.from_bytes(png(255 - digit), budget())
        np.testing.assert_allclose(inverted, digit / 255.0, atol=1e-6)


@pytest.mark.parametrize("name", ["canvas", "photo", "transparent", "thin_pen", "small_on_dark", "webp"])
def test_normalised_images_look_like_mnist(real_mnist, name: str) -> None:
    """Fitted into 20x20, centre of mass at MNIST's, white on black, peak ink at full white."""
    rng = np.random.default_rng(3)
    for digit in real_mnist.test_images[:10]:
        out = images.from_bytes(MAKERS[name](digit, rng), budget())
        rows, cols = np.nonzero(out > 0.05)
        assert out.shape == (28, 28) and out.dtype == np.float32
        assert 0.0 <= out.min() and out.max() == pytest.approx(1.0, abs=0.02)
        assert 17 <= max(np.ptp(rows), np.ptp(cols)) + 1 <= 22
        com = centre_of_mass(out)
        assert abs(com[0] - 14) <= 1.0 and abs(com[1] - 14) <= 1.0, com
        assert out[0].max() < 0.3 and out[:, 0].max() < 0.3  # the corners are background


def test_a_photo_with_a_shadowed_edge_and_specks_finds_the_digit(real_mnist) -> None:
    """Marks that are not the digit (a dark paper edge, specks of dirt) do not widen its box."""
    digit = real_mnist.test_images[0]
    page = np.full((400, 400), 210.0)
    page[:, :30] = 90  # the table under the paper's left edge
    ink = enlarge(digit, 8)
    page[100:324, 120:344] = page[100:324, 120:344] * (1 - ink) + 40 * ink
    for row, col in [(20, 380), (380, 60), (390, 390)]:
        page[row : row + 3, col : col + 3] = 40
    out = images.from_bytes(encode(Image.fromarray(page.astype(np.uint8)), "JPEG", quality=90), budget())
    reference = images.from_bytes(png(255 - np.asarray(Image.fromarray((ink * 255).astype(np.uint8)))), budget())
    assert np.abs(out - reference).mean() < 0.05


def test_sixteen_bit_greys_are_scaled_not_clipped(real_mnist) -> None:
    digit = real_mnist.test_images[0]
    deep = Image.frombytes("I;16", (28, 28), (digit.astype("<u2") * 257).tobytes())
    np.testing.assert_allclose(images.from_bytes(encode(deep), budget()), digit / 255.0, atol=1 / 255)
