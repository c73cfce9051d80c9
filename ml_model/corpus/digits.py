"""A deterministic corpus of digit pictures made from MNIST *test* digits, in the ways people send them.

Each kind is a function `(digit, rng) -> encoded image bytes`: one MNIST test digit (uint8 28x28,
white on black) drawn as a canvas stroke, a scan, a phone photo, chalk on a board... The same
digit sent as an array is the ceiling a kind is judged against. Used by `bench/read_images.py`
(hundreds per kind) and by the test suite (a few dozen per kind); numpy and Pillow only.

Canvas-like kinds re-draw the digit as pen paths: the centre lines of its strokes, traced at 8x
scale with thinning spurs pruned, loops kept closed and the paths smoothed (`pen_trace.py`,
which the browser tests draw with the mouse too), painted with a round pen of a chosen width,
anti-aliased as a browser's canvas is. Paper-like kinds composite the digit's own (smoothly
enlarged) ink onto paper with lighting, noise, blur and JPEG.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .pages import (
    chalk_on_board,
    faint_page,
    fine_pen_page,
    marker_page,
    on_paper,
    photographed_page,
    scanned_page,
    transparent_canvas,
    white_canvas,
)
from .render import encode, enlarge, noisy, paper, paste, scanned, traced

Kind = Callable[[np.ndarray, np.random.Generator], bytes]


def _size(rng: np.random.Generator, low: int, high: int) -> tuple[int, int]:
    """A random (height, width) of a page between low and high pixels a side, near 3:4 or 4:3."""
    height = int(rng.integers(low, high + 1))
    return height, int(np.clip(height * rng.uniform(0.75, 1.33), low, high))


def _canvas_size(rng: np.random.Generator) -> tuple[int, int]:
    side = int(rng.choice([200, 280, 400]))
    return side, side


# The pen-path kinds' drawings (ink in [0, 1]), drawn from the first random numbers of their rng: a
# benchmark can redraw the same drawing and judge how readable the drawing itself is.
PEN_PATHS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "canvas_white": lambda digit, rng: traced(digit, rng, (280, 280), (0.45, 0.8), (0.06, 0.16)),
    "canvas_transparent": lambda digit, rng: traced(digit, rng, _canvas_size(rng), (0.45, 0.8), (0.06, 0.16)),
    "thin_pen": lambda digit, rng: traced(digit, rng, _size(rng, 300, 500), (0.4, 0.8), (0.02, 0.045)),
    "thick_marker": lambda digit, rng: traced(digit, rng, _size(rng, 240, 400), (0.5, 0.8), (0.17, 0.24)),
}


def canvas_white(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A drawing page's 280x280 canvas: black pen paths of several widths on opaque white (RGB PNG)."""
    return white_canvas(PEN_PATHS["canvas_white"](digit, rng), rng)


def canvas_transparent(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """`canvas.toDataURL()` of strokes on a transparent canvas: dark ink only in alpha (RGBA PNG)."""
    return transparent_canvas(PEN_PATHS["canvas_transparent"](digit, rng), rng)


def scan(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A scanned page: dark ink on off-white, noise sigma 2-8, JPEG quality 60-95, 200-400 px."""
    height, width = _size(rng, 200, 400)
    return scanned_page(paste(enlarge(digit, int(min(height, width) * rng.uniform(0.5, 0.9))), height, width, rng), rng)


def enlarged_soft(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """The digit enlarged 5-15x with soft (blurred) edges on a 200-600 px page, PNG."""
    factor = float(rng.uniform(5, 15))
    side = int(28 * factor)
    height, width = max(side, int(rng.integers(200, 601))), max(side, int(rng.integers(200, 601)))
    height, width = min(height, 600), min(width, 600)
    ink = enlarge(digit, min(side, height, width))
    soft = (
        np.asarray(
            Image.fromarray((ink * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(factor / 4)), np.float32
        )
        / 255.0
    )
    return on_paper(paste(soft, height, width, rng), rng, (225, 250), (0, 50), (1, 4), None)


def thin_pen(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A fine pen on a large page: strokes 2-4 % of the digit's height, grey PNG, light noise."""
    return fine_pen_page(PEN_PATHS["thin_pen"](digit, rng), rng)


def thick_marker(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A thick marker: strokes 17-24 % of the digit's height, JPEG."""
    return marker_page(PEN_PATHS["thick_marker"](digit, rng), rng)


def off_centre(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """The digit off-centre, often touching or cut by the border a little, PNG."""
    height, width = _size(rng, 200, 400)
    ink = enlarge(digit, int(min(height, width) * rng.uniform(0.4, 0.75)))
    corner = rng.integers(0, 4)  # push it towards one side, over the edge by up to MNIST's margin
    field = np.zeros((height, width), np.float32)
    margin = int(ink.shape[0] * 4 / 28 * rng.uniform(0.3, 1.2))
    top = -margin if corner in (0, 1) else height - ink.shape[0] + margin
    left = -margin if corner in (0, 2) else width - ink.shape[1] + margin
    top += (
        int(rng.integers(0, max(1, (height - ink.shape[0]) // 3)))
        * (1 if corner in (0, 1) else -1)
        * int(rng.integers(0, 2))
    )
    src = ink[max(0, -top) :, max(0, -left) :]
    top, left = max(0, top), max(0, left)
    src = src[: height - top, : width - left]
    field[top : top + src.shape[0], left : left + src.shape[1]] = src
    return on_paper(field, rng, (220, 250), (10, 60), (1, 5), None)


def low_contrast(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """Faint ink: 40-80 grey levels darker than the paper, noise sigma 1-3, PNG or JPEG 85-95."""
    height, width = _size(rng, 200, 400)
    return faint_page(paste(enlarge(digit, int(min(height, width) * rng.uniform(0.5, 0.85))), height, width, rng), rng)


def uneven_light(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A phone photo of paper: lighting gradient, a shadow, vignetting, blur, noise, JPEG."""
    height, width = _size(rng, 300, 600)
    ink = paste(enlarge(digit, int(min(height, width) * rng.uniform(0.35, 0.7))), height, width, rng)
    return photographed_page(ink, rng)


INK_ON_PAPER = [  # (pen, paper): blue pen on a yellow note, red on light blue, green on pink, ...
    ((30, 50, 170), (250, 235, 120)),
    ((190, 30, 40), (200, 225, 245)),
    ((30, 120, 50), (250, 210, 220)),
    ((60, 30, 120), (235, 245, 200)),
    ((20, 20, 90), (255, 200, 150)),
    ((150, 20, 120), (210, 240, 230)),
]


def colour(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """Coloured ink on coloured paper (blue pen on a yellow note), noise, PNG or JPEG."""
    height, width = _size(rng, 200, 400)
    ink = paste(enlarge(digit, int(min(height, width) * rng.uniform(0.45, 0.8))), height, width, rng)
    pen, paper_colour = INK_ON_PAPER[int(rng.integers(len(INK_ON_PAPER)))]
    image = noisy(paper(ink, np.array(paper_colour), np.array(pen)), float(rng.uniform(1, 5)), rng)
    return encode(image, "JPEG", quality=int(rng.integers(75, 96))) if rng.random() < 0.5 else encode(image)


def rotated(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A page held crooked: the digit rotated up to 15 degrees either way, noise, JPEG."""
    height, width = _size(rng, 240, 400)
    side = int(min(height, width) * rng.uniform(0.5, 0.75))
    ink = Image.fromarray((enlarge(digit, side) * 255).astype(np.uint8))
    ink = ink.rotate(float(rng.uniform(-15, 15)), resample=Image.Resampling.BICUBIC, expand=True)
    field = paste(np.asarray(ink, np.float32) / 255.0, height, width, rng)
    return on_paper(field, rng, (215, 250), (10, 60), (1, 5), (75, 96))


def specks(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """Dust and specks: dots of 1-5 pixels scattered over the page, a few larger ones, PNG."""
    height, width = _size(rng, 240, 400)
    ink = paste(enlarge(digit, int(min(height, width) * rng.uniform(0.45, 0.7))), height, width, rng)
    image = Image.fromarray((ink * 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(10, 40))):
        radius = float(rng.choice([0.7, 1.0, 1.5, 2.0, 2.5])) * min(height, width) / 300
        x, y = float(rng.uniform(0, width)), float(rng.uniform(0, height))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=int(rng.integers(120, 256)))
    field = np.asarray(image, np.float32) / 255.0
    return on_paper(field, rng, (220, 250), (10, 60), (1, 4), None)


def chalkboard(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """Light on dark: chalk on a green or black board, streaky chalk, uneven light, JPEG."""
    height, width = _size(rng, 240, 480)
    ink = paste(enlarge(digit, int(min(height, width) * rng.uniform(0.45, 0.75))), height, width, rng)
    return chalk_on_board(ink, rng)


# A tight crop is cut at this much of the ink's peak: where a form pipeline's binarisation says ink.
TIGHT_INK = 0.2


# Digits are made this many times larger before shearing and cutting (sub-pixel cuts, smooth shear).
TIGHT_SCALE = 8


# The shear of a deslant is capped at this (x per y): MNIST's slants stay well inside it.
MAX_SHEAR = 1.0


def deslant(digit: np.ndarray) -> np.ndarray:
    """The 28x28 digit sheared so its principal axis is vertical, by its image moments (uint8).

    x' = x + s (y - cy) with s = -mu11 / mu02: the shear that zeroes the second moment mu11 (the
    classic deslant of handwriting recognition). Bicubic, on a frame wide enough to keep every stroke.
    """
    ink = digit.astype(np.float64)
    total = ink.sum()
    if total <= 0:
        return digit
    rows, cols = np.mgrid[0:28, 0:28]
    cy, cx = (ink * rows).sum() / total, (ink * cols).sum() / total
    mu02 = (ink * (rows - cy) ** 2).sum() / total
    mu11 = (ink * (rows - cy) * (cols - cx)).sum() / total
    shear = float(np.clip(mu11 / mu02, -MAX_SHEAR, MAX_SHEAR)) if mu02 > 0 else 0.0
    pad = 14
    image = Image.fromarray(np.pad(digit, pad))
    centre = cy + pad
    # PIL's affine maps each output (x, y) to the input (a x + b y + c, d x + e y + f).
    sheared = image.transform(
        image.size, Image.Transform.AFFINE, (1, shear, -shear * centre, 0, 1, 0), Image.Resampling.BICUBIC
    )
    return np.asarray(sheared)


def tight_crop(digit: np.ndarray, rng: np.random.Generator, size_range: tuple[int, int] = (16, 64)) -> np.ndarray:
    """Ink in [0, 1]: the digit cut tight to its ink box, or to a box 1-2 pixels larger on some sides.

    The crop's longer side is 16-64 px. 1-4 of its sides (at random) are cut exactly at the ink's
    box (the ink touches them, and its anti-aliased edge beyond the box is cut off); the others
    leave 1 or 2 pixels of paper. Area-reduced from TIGHT_SCALE times MNIST's size, as a scanner does.
    """
    large = (
        np.asarray(
            Image.fromarray(digit).resize(
                (digit.shape[1] * TIGHT_SCALE, digit.shape[0] * TIGHT_SCALE), Image.Resampling.BICUBIC
            ),
            np.float32,
        ).clip(0, 255)
        / 255.0
    )
    rows, cols = np.nonzero(large > TIGHT_INK * large.max())
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    longer = int(rng.integers(size_range[0], size_range[1] + 1))
    scale = longer / max(bottom - top, right - left)  # output pixels per large pixel
    touching = rng.permutation(4)[: int(rng.integers(1, 5))]
    margins = [0.0 if side in touching else float(rng.integers(1, 3)) / scale for side in range(4)]
    pad = int(np.ceil(max(margins))) + 1
    padded = Image.fromarray(np.pad(large, pad), "F")
    region = (left + pad - margins[2], top + pad - margins[0], right + pad + margins[3], bottom + pad + margins[1])
    size = (max(1, round((region[2] - region[0]) * scale)), max(1, round((region[3] - region[1]) * scale)))
    return np.asarray(padded.resize(size, Image.Resampling.BOX, box=region), np.float32).clip(0, 1)


def _tight(digit: np.ndarray, rng: np.random.Generator, light_on_dark: bool, scanner_noise: bool) -> bytes:
    """A tight crop as grey PNG (clean) or with scanner noise (sigma 2-8) and JPEG 60-95."""
    ink = tight_crop(digit, rng)[..., np.newaxis]
    paper_level, pen = float(rng.uniform(200, 250)), float(rng.uniform(10, 70))
    if light_on_dark:
        paper_level, pen = 255.0 - paper_level, 255.0 - pen
    if not scanner_noise:
        return encode(noisy(paper(ink[..., 0], paper_level, pen), 0.0, rng))
    return scanned(ink[..., 0], rng, paper_level, pen, float(rng.uniform(2, 8)), int(rng.integers(60, 96)))


def tight_dark_on_light(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A form's digit box cut tight to the ink (touching 1-4 sides), 16-64 px, dark on light, clean PNG."""
    return _tight(digit, rng, light_on_dark=False, scanner_noise=False)


def tight_scan(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """The tight crop scanned: dark on light, noise sigma 2-8, JPEG 60-95."""
    return _tight(digit, rng, light_on_dark=False, scanner_noise=True)


def tight_light_on_dark(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """The tight crop light on dark (a negative, a dark-mode form), clean PNG or noise and JPEG."""
    return _tight(digit, rng, light_on_dark=True, scanner_noise=bool(rng.random() < 0.5))


def tight_deslanted(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """The tight crop of the deslanted digit (sheared upright by moments), dark on light, clean PNG."""
    return _tight(deslant(digit), rng, light_on_dark=False, scanner_noise=False)


def tight_deslanted_scan(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """The deslanted tight crop scanned (noise and JPEG), dark on light or light on dark."""
    return _tight(deslant(digit), rng, light_on_dark=bool(rng.random() < 0.5), scanner_noise=True)


KINDS: dict[str, Kind] = {
    "canvas_white": canvas_white,
    "canvas_transparent": canvas_transparent,
    "scan": scan,
    "enlarged_soft": enlarged_soft,
    "thin_pen": thin_pen,
    "thick_marker": thick_marker,
    "off_centre": off_centre,
    "low_contrast": low_contrast,
    "uneven_light": uneven_light,
    "colour": colour,
    "rotated": rotated,
    "specks": specks,
    "chalkboard": chalkboard,
    # Appended last: sample_rng and digit_indices use a kind's place here, so the kinds above keep their pictures.
    "tight_dark_on_light": tight_dark_on_light,
    "tight_scan": tight_scan,
    "tight_light_on_dark": tight_light_on_dark,
    "tight_deslanted": tight_deslanted,
    "tight_deslanted_scan": tight_deslanted_scan,
}


@dataclass(frozen=True)
class Sample:
    kind: str
    index: int  # the MNIST test image it was made from
    label: int
    data: bytes


def digit_indices(test_count: int, per_kind: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Which MNIST test digits each kind uses: disjoint slices of one seeded permutation (wrapping if short)."""
    order = np.random.default_rng(seed).permutation(test_count)
    return {
        kind: np.take(order, np.arange(k * per_kind, (k + 1) * per_kind), mode="wrap") for k, kind in enumerate(KINDS)
    }


def sample_rng(kind: str, index: int, seed: int = 0) -> np.random.Generator:
    """The random numbers of one picture: they depend only on (seed, kind, test digit)."""
    return np.random.default_rng([seed, list(KINDS).index(kind), index])


def samples(digits: np.ndarray, labels: np.ndarray, kind: str, indices: np.ndarray, seed: int = 0) -> Iterator[Sample]:
    """The kind's images of the given test digits."""
    for index in indices.tolist():
        yield Sample(kind, index, int(labels[index]), KINDS[kind](digits[index], sample_rng(kind, index, seed)))
