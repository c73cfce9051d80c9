"""A picture of one digit (grey levels, any size, polarity, lighting) → the 28x28 input MNIST was made of.

MNIST's digits are white ink on a black background, anti-aliased, fitted into 20x20 and centred by
centre of mass in 28x28. Pictures people send differ in every one of those, and in their paper:
noise, JPEG ringing, lighting gradients, shadows, specks, coloured or dark boards. The steps:

1. Paper, not ink, is estimated first, at a coarse scale: a morphological opening (a minimum then a
   maximum filter wider than any stroke) follows the paper under lighting gradients and shadow
   edges but cannot follow strokes, which are narrower than it. What stands above it (the
   "top-hat") is ink, for each polarity; the polarity whose ink stands out more wins, so a
   noisy or evenly lit page never flips it (noise adds the same to both sides).
   Flat paper (a canvas, a clean scan) is recognised first, from the same coarse block medians the
   polarity uses: when every one of them is provably within half a grey level of one level, the
   paper *is* that level everywhere, and the opening, its smoothing and the light's gain (equal to
   that level and to 1 on such paper) are skipped. On a canvas both ways give the same input; on
   faintly noisy or JPEG paper, where faint noise or a quality change may tip the decision, the two
   paper estimates differ by a grey level or two (the opening sits at noisy paper's lower edge),
   far below any ink threshold, so no input can flip with it.
2. The ink threshold is half the ink's own level (robust to noise, JPEG and soft edges, since it
   moves with the ink), and the noise floor is measured on the image rather than fixed.
3. The digit is the heaviest connected blob of ink (blobs cut by the border count less: paper
   edges, shadows) with the blobs near it that are more than specks; it is cropped by that ink,
   never by the paper, and the blobs left out are masked away at full resolution.
4. At 4x the final size, strokes thinner than MNIST's are widened towards its width, and all are made
   crisp, then reduced by area to 20x20, which gives MNIST's anti-aliased edges; the result is
   centred by centre of mass in 28x28.

Steps 1-3 work on a copy area-reduced to at most ANALYSIS_SIZE pixels a side; besides making it,
only the crop (step 3) and the reduction to STROKE_SIZE (step 4) touch full-resolution pixels.

numpy and Pillow only: the Lambda bundle stays numpy + Pillow + LiteRT (scipy would add ~100 MB for
a minimum/maximum filter and a connected-components pass, written here in a few lines of numpy).
"""

from __future__ import annotations

import numpy as np

from api.errors import InvalidRequest
from api.pictures.blobs import digit_box, paint, side_by_side, strokes
from api.pictures.frame import SIZE, digit_input, is_mnist_style
from api.pictures.ink import ink_level
from api.pictures.paper import analysis_copy, find_paper

# A picture whose longer side is under this many pixels is refused as too small to hold a digit:
# the smallest handwritten-digit sets are 8x8 (and 16x16); a digit cut tight is read from 8 up.
MIN_SIDE = 8


def to_mnist(grey: np.ndarray) -> np.ndarray:
    """Grey levels (0-255: uint8 as decoded, or float) of one digit → MNIST-style float32 [28, 28] in [0, 1]."""
    return read_digit(grey)[0]


def read_digit(grey: np.ndarray) -> tuple[np.ndarray, bool]:
    """`to_mnist`'s input, and whether the picture plainly holds several digits side by side
    (`api.pictures.blobs.side_by_side`): then it is a number, and one digit's answer says so."""
    grey = np.asarray(grey)
    if max(grey.shape) < MIN_SIDE:
        height, width = grey.shape
        raise InvalidRequest(
            f"the image is {width}x{height} pixels: too small to hold a digit "
            f"(its longer side must be at least {MIN_SIDE} pixels)"
        )
    if grey.dtype != np.uint8:  # decoded pictures stay uint8: only the analysis copy and the crop become floats
        grey = grey.astype(np.float32, copy=False)
    paper = find_paper(analysis_copy(grey))
    level, noise = ink_level(paper.ink, paper.noise)
    blobs = strokes(paper.ink, level)
    box, kept = digit_box(blobs)
    if grey.shape == (SIZE, SIZE):
        grey = grey.astype(np.float32, copy=False)
        positive = grey if paper.light else 255.0 - grey  # the ink lighter than the paper, as in MNIST
        if is_mnist_style(positive, box):
            return positive / 255.0, False
    # On flat paper nothing but left-out blobs needs masking: there is no paper estimate to be wrong.
    flat = paper.gain is None
    mask = None if flat and kept.all() else paint(blobs, kept)
    return digit_input(grey, paper, mask, box, level, noise), side_by_side(blobs)
