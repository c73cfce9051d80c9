"""Pictures that hold no digit are refused as such, and failure modes of the normaliser that need no real digit.

The corpus (ml_model/corpus/digits.py) is deterministic and uses distinct MNIST test digits; blank
pages and blank arrays are "no digit found"; a digit running off the edge is not outweighed by a
detached serif; paper noise is measured along strokes. How well pictures of real digits are read,
and every other failure mode: tests/slow/test_read_images.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from api.app.inputs import read_array
from api.pictures import normalise
from api.pictures.ink import NoDigit
from api.pictures.robust import pixel_noise
from ml_model.corpus.digits import KINDS, digit_indices, samples
from ml_model.corpus.render import encode
from tests.support.pictures_support import grey_of, paper


def test_the_corpus_is_deterministic_and_uses_distinct_test_digits() -> None:
    indices = digit_indices(10_000, 250)
    used = np.concatenate(list(indices.values()))
    assert len(KINDS) >= 12 and len(used) >= 3000 and len(set(used.tolist())) == len(used)
    digits = np.zeros((10_000, 28, 28), np.uint8)
    digits[:, 8:20, 12:16] = 255
    labels = np.zeros(10_000, np.uint8)
    first = [s.data for s in samples(digits, labels, "scan", indices["scan"][:3])]
    again = [s.data for s in samples(digits, labels, "scan", indices["scan"][:3])]
    assert first == again


# ---------------------------------------------------------------- failure modes, one test each


@pytest.mark.parametrize(
    "name",
    [
        "white",
        "grey with sigma-8 noise",
        "lighting gradient only",
        "JPEG of a blank page",
        "one speck",
        "black",
        "soft vignette",
    ],
)
def test_blank_and_nearly_uniform_pictures_are_no_digit(name: str) -> None:
    rng = np.random.default_rng(8)
    rows, cols = np.mgrid[0:300, 0:400] / 300.0
    pages = {
        "white": np.full((300, 400), 255.0),
        "grey with sigma-8 noise": 180 + rng.normal(0, 8, (300, 400)),
        "lighting gradient only": 120 + 110 * cols / cols.max() + 20 * rows,
        "JPEG of a blank page": grey_of(
            encode(
                Image.fromarray((220 + rng.normal(0, 4, (300, 400))).clip(0, 255).astype(np.uint8)), "JPEG", quality=60
            )
        ),
        "one speck": np.pad(np.full((3, 3), 30.0), ((150, 147), (200, 197)), constant_values=230),
        "black": np.zeros((300, 400)),
        "soft vignette": 230 - 60 * ((rows - 0.5) ** 2 + (cols - 0.66) ** 2),
    }
    with pytest.raises(NoDigit, match="no digit found"):
        normalise.to_mnist(np.clip(pages[name], 0, 255).astype(np.float32))


@pytest.mark.parametrize("value", [[[0] * 28] * 28, [255] * 784, [[0.5] * 28] * 28, [[3] * 28] * 27 + [[0] * 28]])
def test_blank_arrays_are_no_digit_like_blank_pictures(value: list) -> None:
    with pytest.raises(NoDigit, match="no digit found"):
        read_array(value)


def test_a_digit_running_off_the_edge_is_not_outweighed_by_its_own_detached_serif() -> None:
    """A 7 whose stem runs off the bottom of the canvas, with a serif drawn apart from it (canvas
    #8285 of the benchmark's transparent kind read as 0: the border-touching stem counted as a page
    edge, so the serif alone was cropped and enlarged). The cut picture must be read like the very
    same pixels on a bigger page, where nothing touches the border."""
    from PIL import ImageDraw

    canvas = Image.new("L", (400, 400), 0)
    pen = ImageDraw.Draw(canvas)
    pen.line([(95, 90), (135, 90)], fill=255, width=24)  # the serif, apart from the rest
    pen.line([(165, 90), (300, 90)], fill=255, width=24)  # the bar...
    pen.line([(300, 90), (200, 420)], fill=255, width=24)  # ...and the stem, cut by the bottom edge
    ink = np.asarray(canvas, np.float32) / 255
    assert ink[-1].max() == 1.0 and ink[:, 0].max() == 0  # touches the bottom only
    page = np.zeros((600, 600), np.float32)
    page[100:500, 100:500] = ink
    cut, whole = normalise.to_mnist(paper(ink)), normalise.to_mnist(paper(page))
    assert np.abs(cut - whole).mean() < 0.02


def test_paper_noise_is_measured_along_strokes_not_across_them() -> None:
    """Vertical strokes side by side: differences across them are all edges, down them only noise."""
    rng = np.random.default_rng(14)
    stripes = np.tile(np.repeat([230.0, 40.0], 2), (40, 5))
    for sigma in (2.0, 6.0):
        noisy = stripes + rng.normal(0, sigma, stripes.shape)
        assert 0.75 * sigma <= pixel_noise(noisy.astype(np.float32)) <= 1.25 * sigma
