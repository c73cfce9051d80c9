"""Numbers as real documents carry them, for the benchmark: cheque amounts, form fields, low-resolution photos.

Three fixed recipes, each one clear condition, made only from MNIST *test* digits (never the training
digits the number reader learns from) with the line generator's public pieces (`sources`, `styles`,
`ink`, `marks`, `surface`) but not its random mix: each kind forces its paper, marks, rules and size,
and every sample draws from its own seed (the corpus seed, the kind and its digits).

- `cheque`: an amount of 3-7 digits, 40-70 px tall, on security paper (guilloche lines), written with
  thousands commas and a decimal point ("12,345.67") or ending in ".-" ("1,250.-"); half of the
  neighbouring digits touch; a scan saved as JPEG (quality 85-93).
- `form`: 4-8 digits, 24-44 px tall, written into a form's printed boxes, onto its comb, or on a
  printed guide line (in turn, sample by sample); white paper, light printed rules, a PNG scan.
- `low_res`: 2-8 digits 12-16 px tall on paper, slightly blurred, saved as JPEG (quality 40-75), the
  picture as taken (not enlarged).

Each sample also carries every digit *alone*: its ink by itself on a page of the same paper with the
same margins (no separators, boxes or lines), what a perfect segmenter would hand the single-digit
reader: the ceiling. numpy and Pillow only.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from ml_model.corpus.ink import BIG, Element, profiles, raster, stroke_width, trim
from ml_model.corpus.marks import draw_rule, form_cells, mark_strokes
from ml_model.corpus.sources import ink_boxes
from ml_model.corpus.styles import pen_ink, slanted
from ml_model.corpus.surface import guilloche

KINDS = ("cheque", "form", "low_res")
DIGITS = {"cheque": (3, 7), "form": (4, 8), "low_res": (2, 8)}  # digits per number, inclusive
HEIGHTS = {"cheque": (40, 70), "form": (24, 44), "low_res": (12, 16)}  # digit height in px
P_TOUCH = {"cheque": 0.5, "form": 0.0, "low_res": 0.15}  # a pair of neighbouring digits touches
FORM_RULES = ("cells", "comb", "guide")  # a form sample's rules, in turn
Layout = tuple[list[Element], list[tuple]]  # the elements placed, the rules to draw (marks.draw_rule)


@dataclass(frozen=True)
class RealSample:
    kind: str
    variant: str  # cheque: "cents" or "dot_dash"; form: "cells", "comb" or "guide"; low_res: "photo"
    indices: tuple[int, ...]  # the MNIST test digits, left to right
    number: str  # their labels: what a reader should answer
    text: str  # as written, with its separators and marks ("1,250.-")
    data: bytes  # the picture (PNG or JPEG)
    alone: tuple[bytes, ...]  # each digit's ink alone on a page of the same paper


@dataclass(frozen=True)
class Look:
    """A sample's paper and capture, drawn once so its digits' pages alone look the same."""

    paper: float  # the paper's grey level (ignored under a security pattern)
    pen: float  # the ink's grey level
    printed: float  # printed rules' grey level
    pattern: int | None  # the guilloche's seed (security paper), or None
    sigma: float  # sensor noise
    blur: float  # Gaussian blur radius (0: none)
    quality: int | None  # JPEG quality, or None for PNG


def _look(kind: str, rng: np.random.Generator) -> Look:
    """The kind's fixed paper and capture, its levels drawn from the sample's rng."""
    if kind == "cheque":  # security paper, a clean scan saved as JPEG
        pattern, quality = int(rng.integers(1 << 31)), int(rng.integers(85, 94))
        return Look(0.0, float(rng.uniform(15, 70)), 0.0, pattern, float(rng.uniform(1.5, 3)), 0.4, quality)
    if kind == "form":  # white paper, lighter printed rules, a PNG scan
        paper, pen = float(rng.uniform(232, 252)), float(rng.uniform(15, 70))
        printed = paper + (pen - paper) * float(rng.uniform(0.35, 0.7))
        return Look(paper, pen, printed, None, float(rng.uniform(1, 3)), 0.0, None)
    paper, pen = float(rng.uniform(195, 245)), float(rng.uniform(20, 80))  # low_res: a small, soft JPEG photo
    blur, quality = float(rng.uniform(0.4, 0.7)), int(rng.integers(40, 76))
    return Look(paper, pen, 0.0, None, float(rng.uniform(2, 5)), blur, quality)


def finish(ink: np.ndarray, printed: np.ndarray | None, look: Look, rng: np.random.Generator) -> bytes:
    """Ink (and printed rules), both in [0, 1], on the look's paper, blurred, noisy, encoded."""
    if look.pattern is not None:
        values = guilloche(*ink.shape, np.random.default_rng(look.pattern)).astype(np.float32)
    else:
        values = np.full(ink.shape, look.paper, np.float32)
    if printed is not None:
        values = values + (look.printed - values) * printed
    values = values + (look.pen - values) * ink
    image = Image.fromarray(np.clip(values, 0, 255).astype(np.uint8))
    if look.blur:
        image = image.filter(ImageFilter.GaussianBlur(look.blur))
    noisy = np.asarray(image, np.float32) + rng.normal(0, look.sigma, ink.shape).astype(np.float32)
    buffer = io.BytesIO()
    picture = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    if look.quality is None:
        picture.save(buffer, "PNG")
    else:
        picture.save(buffer, "JPEG", quality=look.quality)
    return buffer.getvalue()


def digit_ink(digit: np.ndarray, height: float, slant: float, stretch: float, rng: np.random.Generator) -> np.ndarray:
    """An MNIST digit's ink in [0, 1]: cropped to its ink, scaled to about `height`, slanted, trimmed."""
    y0, y1, x0, x1 = (int(v) for v in ink_boxes(np.asarray(digit, np.uint8)[np.newaxis])[0])
    if y1 - y0 < 3:
        y0, y1, x0, x1 = 0, digit.shape[0], 0, digit.shape[1]
    tall = max(4, round(height * float(rng.uniform(0.92, 1.06))))
    wide = max(1, round(tall * (x1 - x0) / (y1 - y0) * stretch))
    image = Image.fromarray(np.asarray(digit[y0:y1, x0:x1], np.uint8)).resize((wide, tall), Image.Resampling.BILINEAR)
    image = slanted(image, slant + float(rng.normal(0, 0.03)))
    return trim(pen_ink(image, "", height, 0.4))[0]


class Row:
    """Ink placed left to right on a drifting baseline, each piece `gap` px of paper from the ink before it."""

    def __init__(self, height: float, rng: np.random.Generator, drift: float = 1.0) -> None:
        self.height = height
        self.rows = int(4 * height) + 20
        self.base = int(2.5 * height) + 10
        self.slope = float(rng.uniform(-0.03, 0.03)) * height * drift  # per digit
        self.right = np.full(self.rows, -BIG, np.int64)  # the rightmost ink so far, per row
        self.elements: list[Element] = []
        self.digit_span = (-BIG, 0)  # the last digit's left column and width
        self.rng = rng

    def baseline(self) -> float:
        return self.base + self.slope * sum(e.digit is not None for e in self.elements)

    def place(self, ink: np.ndarray, top: int, gap: float, digit: int | None) -> None:
        top = min(max(top, 0), self.rows - ink.shape[0])
        first, last = profiles(ink)
        x = 0
        if self.elements:
            region = self.right[top : top + ink.shape[0]]
            both = (region > -BIG) & (first < BIG)
            box_right = max(e.x + e.ink.shape[1] for e in self.elements)
            x = box_right + int(round(gap)) - int(first.min())
            if both.any():
                by_profile = int(np.max(region[both] - first[both])) + 1 + int(round(gap))
                x = by_profile if digit is not None else max(x, by_profile)  # marks keep clear of the box
            if digit is not None:  # strokes may touch; each digit starts past the middle of the one before
                x = max(x, self.digit_span[0] + (self.digit_span[1] + 1) // 2 - int(first.min()))
        if digit is not None:
            self.digit_span = (x + int(first.min()), int(last.max() - first.min()) + 1)
        span = self.right[top : top + ink.shape[0]]
        np.maximum(span, np.where(last > -BIG, x + last, -BIG), out=span)
        self.elements.append(Element(ink, x, top, digit))

    def digit(self, ink: np.ndarray, label: int, gap: float) -> None:
        bottom = self.baseline() + float(self.rng.normal(0, 0.02)) * self.height
        self.place(ink, int(round(bottom)) - ink.shape[0], gap, label)

    def mark(self, name: str, stroke: float, slant: float, gap: float) -> None:
        strokes, dots = mark_strokes(name, self.height, stroke, slant, self.rng)
        ink, _, top = raster(strokes, stroke, dots)
        ink, _, dy = trim(ink)
        self.place(ink * 0.95, int(round(self.baseline())) + top + dy, gap, None)


def _digit_gap(kind: str, height: float, rng: np.random.Generator) -> float:
    if rng.random() < P_TOUCH[kind]:
        return float(rng.choice([-2.0, -1.0, 0.0]))  # the strokes meet: one blob
    if kind == "form":  # on a guide line: written apart
        return float(rng.uniform(0.1, 0.3)) * height
    return float(rng.uniform(0.04, 0.2)) * height


def _cheque(
    inks: list[np.ndarray], labels: list[int], height: float, slant: float, rng: np.random.Generator
) -> tuple[list[Element], list[tuple], str, str]:
    """An amount: thousands commas, then ".67" cents or a closing ".-"; (elements, rules, variant, text)."""
    count = len(inks)
    decimals = 2 if count >= 4 and rng.random() < 0.5 else 0
    whole = count - decimals
    stroke = float(np.clip(np.median([stroke_width(ink) for ink in inks]), 1.0, 0.22 * height))
    row, text = Row(height, rng), ""
    gap = 0.0
    for i, (ink, label) in enumerate(zip(inks, labels, strict=True)):
        row.digit(ink, label, gap if i else 0.0)
        text += str(label)
        gap = _digit_gap("cheque", height, rng)
        ends_group = i < whole - 1 and (whole - 1 - i) % 3 == 0
        if ends_group or (decimals and i == whole - 1):
            name = "comma" if ends_group else "dot"
            row.mark(name, stroke, slant, float(rng.uniform(0.02, 0.1)) * height)
            text += "," if ends_group else "."
            gap = float(rng.uniform(0.04, 0.2)) * height
    if not decimals:
        row.mark("dot", stroke, slant, float(rng.uniform(0.03, 0.12)) * height)
        row.mark("dash", stroke, slant, float(rng.uniform(0.02, 0.12)) * height)
        text += ".-"
    return row.elements, [], "cents" if decimals else "dot_dash", text


def _form(inks: list[np.ndarray], labels: list[int], height: float, variant: str, rng: np.random.Generator) -> Layout:
    """Digits in a form's boxes or comb (marks.form_cells), or on a printed guide line."""
    if variant != "guide":
        elements, rules = form_cells(inks, labels, height, variant == "comb", rng, set())
        return elements, rules
    row = Row(height, rng, drift=0.2)  # written along the printed line
    for i, (ink, label) in enumerate(zip(inks, labels, strict=True)):
        row.digit(ink, label, _digit_gap("form", height, rng) if i else 0.0)
    return row.elements, [("guide", float(rng.uniform(-0.04, 0.2)) * height, row.base)]


def _low_res(inks: list[np.ndarray], labels: list[int], height: float, rng: np.random.Generator) -> Layout:
    row = Row(height, rng)
    for i, (ink, label) in enumerate(zip(inks, labels, strict=True)):
        row.digit(ink, label, _digit_gap("low_res", height, rng) if i else 0.0)
    return row.elements, []


def compose(
    digits: list[np.ndarray], labels: list[int], kind: str, variant: str, rng: np.random.Generator
) -> tuple[bytes, tuple[bytes, ...], str, str]:
    """(picture, each digit alone, variant, text as written) of one number of `kind`."""
    height = float(rng.uniform(*HEIGHTS[kind]))
    slant = float(np.clip(rng.normal(0.06, 0.12), -0.25, 0.35))
    stretch = float(np.clip(rng.lognormal(np.log(1.1), 0.12), 0.85, 1.4))
    inks = [digit_ink(d, height, slant, stretch, rng) for d in digits]
    text = "".join(map(str, labels))
    rules: list[tuple] = []
    if kind == "cheque":
        elements, rules, variant, text = _cheque(inks, labels, height, slant, rng)
    elif kind == "form":
        elements, rules = _form(inks, labels, height, variant, rng)
    else:
        elements = _low_res(inks, labels, height, rng)[0]
    look = _look(kind, rng)
    x0, y0 = min(e.x for e in elements), min(e.y for e in elements)
    x1, y1 = max(e.x + e.ink.shape[1] for e in elements), max(e.y + e.ink.shape[0] for e in elements)
    for rule in rules:
        if rule[0] == "cells":
            _, cell_w, cell_h, spread, n, _ = rule
            x0, y0 = min(x0, 0), min(y0, 0)
            x1, y1 = max(x1, n * cell_w + (n - 1) * spread + 3), max(y1, cell_h + 3)
        else:  # a guide line: under or through the baseline
            y1 = max(y1, int(np.ceil(rule[2] + rule[1])) + 4)
    low = {"cheque": 0.3, "form": 0.2, "low_res": 0.5}[kind]
    top, bottom, left, right = (int(round(float(rng.uniform(low, low + 0.5)) * height)) + 3 for _ in range(4))
    ox, oy = left - x0, top - y0
    ink = np.zeros((y1 - y0 + top + bottom, x1 - x0 + left + right), np.float32)
    for e in elements:
        region = ink[e.y + oy : e.y + oy + e.ink.shape[0], e.x + ox : e.x + ox + e.ink.shape[1]]
        np.maximum(region, e.ink, out=region)
    printed = np.zeros_like(ink) if rules else None
    for rule in rules:
        draw_rule(rule, ink, printed, elements, ox, oy, height, rng)
    picture = finish(ink, printed, look, rng)
    alone = []
    for e in elements:
        if e.digit is not None:
            page = np.zeros((e.ink.shape[0] + top + bottom, e.ink.shape[1] + left + right), np.float32)
            page[top : top + e.ink.shape[0], left : left + e.ink.shape[1]] = e.ink
            alone.append(finish(page, None, look, rng))
    return picture, tuple(alone), variant, text


def real_indices(test_count: int, per_kind: int, seed: int = 0) -> dict[str, list[tuple[int, ...]]]:
    """Which MNIST test digits each kind's numbers use: consecutive slices of a seeded permutation
    (its own, not `numbers.py`'s), wrapping round the test set when the corpus needs more digits."""
    rng = np.random.default_rng([seed, 3])
    order = np.random.default_rng([seed, 4]).permutation(test_count)
    cells, used = {}, 0
    for kind in KINDS:
        low, high = DIGITS[kind]
        numbers = []
        for _ in range(per_kind):
            count = int(rng.integers(low, high + 1))
            numbers.append(tuple(int(i) for i in np.take(order, np.arange(used, used + count), mode="wrap")))
            used += count
        cells[kind] = numbers
    return cells


def real_samples(
    digits: np.ndarray, labels: np.ndarray, kind: str, numbers: list[tuple[int, ...]], seed: int = 0
) -> Iterator[RealSample]:
    """The pictures of one kind's numbers; each drawn from its own rng (seed, kind, its digits)."""
    for k, indices in enumerate(numbers):
        rng = np.random.default_rng([seed, 11, KINDS.index(kind), *indices])
        truth = [int(labels[i]) for i in indices]
        variant = FORM_RULES[k % len(FORM_RULES)] if kind == "form" else "photo"
        picture, alone, variant, text = compose([digits[i] for i in indices], truth, kind, variant, rng)
        yield RealSample(kind, variant, indices, "".join(map(str, truth)), text, picture, alone)
