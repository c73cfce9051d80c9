"""Synthetic pictures of written numbers for training the number reader: real writers' digits composed into lines.

`LineGenerator(digits, labels).line(rng)` writes one number: 1-10 real digits (MNIST's training digits,
and other writers' such as Semeion's when given; a quarter of them repeat the digit before, as in 1000),
each cropped to its ink, scaled to the line's digit height (+-10 %), stretched sideways, slanted with
the line (and a little on its own), set on a drifting baseline at the line's spacing (wide, normal,
close, touching, overlapping). A line may be written with a round pen instead: its digits redrawn along
the pen paths traced from them (`pen_trace`), one pen width for the whole line, as a canvas, a ballpoint
or a marker leaves them. What real numbers carry besides digits is drawn with the same pen: group
separators (comma, dot, dash, a wider space), a leading mark (a barred S, "#", asterisks), a trailing
mark (".-", "=", "-", "*"), an underline; and printed on the paper: a guide line, or a form's boxes or
comb. Then paper and light: white canvas, off-white or security paper (fine guilloche lines), coloured
ink turned grey, chalk on a dark board, uneven light, blur, sensor noise, JPEG, low resolution enlarged.

Styles MNIST's American writers rarely use are drawn onto the digit before it is slanted, only on
the digit they belong to, for all of that digit in a line (one writer): a 1 with a long upstroke
from its top down to the left, a 7 crossed at mid height, a 7 with a serif down from its bar's left end.
No open-topped 4 is made up (MNIST has many; Semeion's Italian writers bring theirs, and their own
flagged 1s and crossed 7s). Marks are kept from looking like digits: no upright stroke alone (a "/-"
is written as ".-"), no closed loop; a comma is a short tail under the baseline, a dot a small blob.
Digits may touch and cross, but a narrow digit (a 1) only touches, and each digit's box starts past
the middle of the one before, so boxes and labels keep their order.

`Line.features` names what a line got (for tests and statistics); `Line.boxes` are the digits' ink
boxes (x, y, w, h) in the picture's pixels, in label order, ink being over `ink.INK` of the pen's
full strength. Deterministic given the rng; numpy and Pillow only, about 1-3 ms a line on one core.

Here the digits are picked and laid out; `sources` holds the digit collections, `styles` restyles a
digit, `marks` draws separators, marks, rules and form boxes, `surface` the paper, light and capture,
and `ink` the pen's arrays they share.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ml_model.corpus.ink import BIG, Element, choice, profiles, raster, stroke_width, trim
from ml_model.corpus.marks import form_cells, mark_strokes, separators
from ml_model.corpus.sources import digit_source, label_aspects
from ml_model.corpus.styles import add_styles, along_paths, pen_ink, slanted
from ml_model.corpus.surface import compose, enlarge

# How many digits (1..10), weighted toward 2-7.
COUNT_WEIGHTS = np.array([4, 9, 11, 12, 12, 11, 9, 6, 4, 3], np.float64)

P_REPEAT = 0.25  # a digit repeats the one before it (then a third of neighbours are equal, not a tenth)

# Per line: how the gaps between digits go, with its probability.
SPACINGS = {"wide": 0.15, "normal": 0.32, "close": 0.21, "touching": 0.18, "overlapping": 0.14}
# Per line: how the digits are grouped.
FORMATS = {"plain": 0.42, "thousands": 0.18, "decimal": 0.16, "date": 0.12, "code": 0.12}

P_WRITERS_LINE = 0.3  # a line by another writer (when writers are given) ...
P_WRITERS_DIGIT = 0.85  # ... draws its digits from them, a digit lacking there from MNIST
P_ONE_FLAG = 0.35  # a line's 1s have a long upstroke
P_SEVEN_BAR, P_SEVEN_SERIF = 0.25, 0.15  # a line's 7s are crossed, have a serif (independently)
P_PATHS = 0.35  # a line's digits are redrawn along their pen paths with a round pen (a canvas, a ballpoint)
PATH_PEN = (0.03, 0.2)  # that pen's width, of the digit height (log-uniform: a fine pen on a big canvas to a marker)
TRACED = 12_000  # only the main collection's first digits are redrawn so (each traced once: ~8 ms, < 2 min for all)
P_THICK, P_THIN = 0.15, 0.12  # a line's pen is thicker, thinner (max / min filter or a level cut; thin: 18 px up)
P_LEAD, P_TRAIL = 0.12, 0.12  # a leading mark, a trailing mark
P_UNDERLINE, P_GUIDE = 0.08, 0.14  # a pen underline; a printed guide line
P_CELLS, P_COMB = 0.08, 0.05  # a form's boxes around the digits; a form's comb (bottom line, ticks)
P_BIG, P_LOW_RES, P_ENLARGE = 0.1, 0.14, 0.6  # digits 40-80 px; 12-16 px, then enlarged 1.5-3.5x (or not)


@dataclass(frozen=True)
class Line:
    """One written number: its picture, its digits, and each digit's ink box."""

    picture: np.ndarray  # uint8 grey [H, W], as a decoded photo/scan/canvas would be (any polarity, paper, light)
    label: str  # the digits only, left to right ("2026"); separators and marks never appear here
    boxes: tuple[tuple[int, int, int, int], ...]  # each digit's ink box (x, y, w, h) in the picture, left to right
    features: frozenset[str] = field(default=frozenset())  # what this line got ("comma", "cells", "inverted", ...)


class LineGenerator:
    """Written numbers composed from real writers' digits, with the marks, forms, paper and light of real ones."""

    def __init__(
        self,
        digits: np.ndarray,
        labels: np.ndarray,
        *,
        writers: tuple[np.ndarray, np.ndarray] | None = None,
        max_digits: int = 10,
    ) -> None:
        """digits: uint8 [N, 28, 28] white ink on black (MNIST's training digits); labels int [N].
        writers: optional other writers' digits (uint8 [M, h, w] white on black, any square size) and labels."""
        if not 1 <= max_digits <= 10:
            raise ValueError(f"max_digits must be 1-10, not {max_digits}")
        self.max_digits = max_digits
        self._main = digit_source(digits, labels)
        self._writers = digit_source(*writers) if writers is not None else None
        self._labels = np.array([d for d in range(10) if self._main.by_label[d].size], np.int64)
        if self._labels.size == 0:
            raise ValueError("no digit has ink")
        weights = COUNT_WEIGHTS[:max_digits]
        self._count_p = weights / weights.sum()
        # Width over height of each label's ink in the main digits: the width of a writer's digit that
        # was stretched to a square.
        self._aspect = label_aspects(self._main)

    # ----- the line -------------------------------------------------------------------------------------

    def line(self, rng: np.random.Generator) -> Line:
        """One written number, its picture drawn from `rng`."""
        features: set[str] = set()
        count = int(rng.choice(self.max_digits, p=self._count_p)) + 1
        labels = [int(v) for v in rng.choice(self._labels, count)]
        for i in range(1, count):  # runs of one digit, as amounts, years and codes have them (1000, 2200, 77)
            if rng.random() < P_REPEAT:
                labels[i] = labels[i - 1]
        cells = count >= 2 and rng.random() < P_CELLS
        comb = not cells and count >= 2 and rng.random() < P_COMB
        form = "plain" if cells or comb else choice(rng, FORMATS)
        groups = separators(count, form, labels, rng)  # separator after digit i: {i: kind}
        if groups:
            features.add(f"format:{form}")

        low_res = rng.random() < P_LOW_RES
        if low_res:
            height = float(rng.uniform(12, 16))
        elif rng.random() < P_BIG:
            height = float(rng.uniform(40, 80))
        else:
            height = float(np.exp(rng.uniform(np.log(12), np.log(40))))
        paths = rng.random() < P_PATHS
        pen = "" if paths else _pen(height, rng, features)
        slant = float(np.clip(rng.normal(0.08, 0.15), -0.4, 0.45))
        stretch = float(np.clip(rng.lognormal(np.log(1.12), 0.17), 0.8, 1.6))

        path_pen = float(np.exp(rng.uniform(*np.log(PATH_PEN)))) * height if paths else 0.0
        inks = self._digits(labels, height, slant, stretch, pen, path_pen, rng, features)
        stroke = float(np.median([stroke_width(ink) for ink in inks]))
        stroke = float(np.clip(stroke, 1.0, 0.22 * height))

        if cells or comb:
            elements, rules = form_cells(inks, labels, height, comb, rng, features)
        else:
            elements, rules = _row(inks, labels, groups, height, slant, stroke, rng, features)
        picture, boxes = compose(elements, rules, height, rng, features)
        if low_res and rng.random() < P_ENLARGE:
            picture, boxes = enlarge(picture, boxes, rng)
            features.add("enlarged")
        if low_res:
            features.add("low_res")
        return Line(picture, "".join(map(str, labels)), tuple(boxes), frozenset(features))

    # ----- the digits ----------------------------------------------------------------------------------

    def _digits(
        self,
        labels: list[int],
        height: float,
        slant: float,
        stretch: float,
        pen: str,
        path_pen: float,
        rng: np.random.Generator,
        features: set[str],
    ) -> list[np.ndarray]:
        """Each digit's ink: a real digit cropped, scaled (or redrawn along its pen paths with a round pen
        `path_pen` px wide, when not 0), styled, slanted, its pen changed, trimmed."""
        writers = self._writers is not None and rng.random() < P_WRITERS_LINE
        one_flag = rng.random() < P_ONE_FLAG
        seven_bar, seven_serif = rng.random() < P_SEVEN_BAR, rng.random() < P_SEVEN_SERIF
        chosen = (("one_flag", one_flag), ("seven_bar", seven_bar), ("seven_serif", seven_serif))
        styles = {style for style, wanted in chosen if wanted}  # one writer's: on all the line's 1s or 7s
        cut = float(rng.uniform(0.3, 0.55))  # the level cut of a thin pen on small digits
        inks = []
        for label in labels:
            source = self._main
            if writers and self._writers.by_label[label].size and rng.random() < P_WRITERS_DIGIT:
                source = self._writers
                features.add("writers")
            pool = source.by_label[label]
            redrawn = bool(path_pen) and source is self._main
            if redrawn and (pool < TRACED).any():
                pool = pool[pool < TRACED]
            index = int(pool[int(rng.integers(pool.size))])
            y0, y1, x0, x1 = source.boxes[index]
            crop = source.digits[index, y0:y1, x0:x1]
            digit_h = height * float(rng.uniform(0.9, 1.1))
            if source.stretched[index]:
                aspect = self._aspect[label] * float(rng.uniform(0.85, 1.15))
            else:
                aspect = (x1 - x0) / (y1 - y0)
            digit_w = max(1, round(digit_h * aspect * stretch * float(rng.uniform(0.92, 1.08))))
            digit_h = max(4, round(digit_h))
            if redrawn:
                image = along_paths(source.pen_paths(index), source.boxes[index], (digit_w, digit_h), path_pen)
                features.add("pen_paths")
            else:
                image = Image.fromarray(crop).resize((digit_w, digit_h), Image.Resampling.BILINEAR)
            image = add_styles(image, label, styles, rng, features)
            image = slanted(image, slant + float(rng.normal(0, 0.04)))
            inks.append(trim(pen_ink(image, pen, height, cut))[0])
        return inks


def _pen(height: float, rng: np.random.Generator, features: set[str]) -> str:
    """The line's pen change: "thick", "thin" (not on digits under 18 px) or "" (as the digits came)."""
    draw = rng.random()
    if draw < P_THICK:
        features.add("thick")
        return "thick"
    if draw < P_THICK + P_THIN and height >= 18:
        features.add("thin")
        return "thin"
    return ""


# ----- laying the line out ----------------------------------------------------------------------------


def _row(
    inks: list[np.ndarray],
    labels: list[int],
    groups: dict[int, str],
    height: float,
    slant: float,
    stroke: float,
    rng: np.random.Generator,
    features: set[str],
) -> tuple[list[Element], list[tuple]]:
    """Digits and marks placed left to right on a drifting baseline; the line's rules (printed or pen)."""
    spacing = choice(rng, SPACINGS)
    features.add(f"spacing:{spacing}")
    rows = int(6 * height) + 40
    right = np.full(rows, -BIG, np.int64)  # the line's rightmost ink so far, per row
    base = int(3.5 * height) + 20
    state = {"box_right": -BIG, "baseline": float(base), "digit_left": -BIG, "digit_width": 0}
    rule = "underline" if rng.random() < P_UNDERLINE else "guide" if rng.random() < P_GUIDE else ""
    slope = float(rng.uniform(-0.05, 0.05)) * height * (0.2 if rule == "guide" else 1.0)
    wander = 0.0
    mark_strength = float(rng.uniform(0.85, 1.0))
    elements: list[Element] = []

    def place(ink: np.ndarray, top: int, gap: float, box_gap: float | None, digit: int | None) -> bool:
        """Put `ink` with its top at `top`, `gap` px of paper from the ink before it (box_gap from its box)."""
        top = min(max(top, 0), rows - ink.shape[0])
        first, last = profiles(ink)
        narrow = min(state["digit_width"], int(last.max() - first.min()) + 1) < 0.4 * height
        if digit is not None and gap < -1 and narrow:  # a 1 crossing its neighbour is unreadable: touch only
            gap, box_gap = -1, None
        if not elements:
            x = 0
            by_profile = False
        else:
            region = right[top : top + ink.shape[0]]
            both = (region > -BIG) & (first < BIG)
            x_box = state["box_right"] + 1 + int(round(box_gap if box_gap is not None else gap)) - int(first.min())
            if both.any():
                x_profile = int(np.max(region[both] - first[both])) + 1 + int(round(gap))
                by_profile = box_gap is None or x_profile >= x_box
                x = x_profile if box_gap is None else max(x_profile, x_box)
            else:
                x, by_profile = x_box, False
            if digit is not None and state["digit_left"] > -BIG:  # strokes may cross; digits keep their order
                x = max(x, state["digit_left"] + max(1, (state["digit_width"] + 1) // 2) - int(first.min()))
        if digit is not None:
            state["digit_left"] = x + int(first.min())
            state["digit_width"] = int(last.max() - first.min()) + 1
        has = last > -BIG
        span = right[top : top + ink.shape[0]]
        np.maximum(span, np.where(has, x + last, -BIG), out=span)
        state["box_right"] = max(state["box_right"], x + int(last.max()))
        elements.append(Element(ink, x, top, digit))
        return by_profile

    def mark(name: str, gap_before: float, gap_after: float) -> float:
        """Draw a mark named `name` after the last element; returns the gap the next digit keeps from it."""
        strokes, dots = mark_strokes(name, height, stroke, slant, rng)
        ink, left, top = raster(strokes, stroke * (0.7 if name == "asterisk" else 1.0), dots)
        ink, dx, dy = trim(ink)
        place(ink * mark_strength, int(round(state["baseline"])) + top + dy, gap_before, gap_before, None)
        return gap_after

    gap_next = 0.0
    if rng.random() < P_LEAD:
        lead = ["currency", "hash", "asterisk"][int(rng.choice(3, p=[0.5, 0.25, 0.25]))]
        features.add(lead)
        features.add("leading_mark")
        for _ in range(int(rng.integers(1, 3)) if lead == "asterisk" else 1):
            mark(lead, float(rng.uniform(0.02, 0.12)) * height, 0.0)
        gap_next = float(rng.uniform(0.1, 0.45)) * height
    for i, (ink, label) in enumerate(zip(inks, labels, strict=True)):
        wander = float(np.clip(wander + rng.normal(0, 0.025), -0.08, 0.08))
        state["baseline"] = base + slope * i + wander * height
        bottom = state["baseline"] + float(rng.normal(0, 0.025)) * height
        top = int(round(bottom)) - ink.shape[0]
        if i == 0 and not elements:
            place(ink, top, 0, None, label)
        elif gap_next:
            place(ink, top, gap_next, gap_next, label)
        else:
            gap, box_gap = _gap(spacing, height, rng)
            by_profile = place(ink, top, gap, box_gap, label)
            if by_profile and gap <= 0:
                features.add("touching")
            if by_profile and gap <= -0.04 * height:
                features.add("overlapping")
        gap_next = 0.0
        kind = groups.get(i)
        if kind == "space":
            gap_next = float(rng.uniform(0.45, 0.9)) * height
            features.add("space")
        elif kind is not None:
            features.add(kind)
            features.add("separator")
            near = 0.2 if kind == "dash" else 0.1
            gap_next = mark(
                kind, float(rng.uniform(0.02, near)) * height, float(rng.uniform(0.04, near + 0.1)) * height
            )
    if rng.random() < P_TRAIL:
        trail = ["dot_dash", "equals", "dash", "asterisk"][int(rng.choice(4, p=[0.4, 0.25, 0.2, 0.15]))]
        features.add("trailing_mark")
        features.add(f"trailing:{trail}")
        if trail == "dot_dash":
            gap = mark("dot", float(rng.uniform(0.03, 0.12)) * height, 0)
            mark("dash", float(rng.uniform(0.02, 0.12)) * height, gap)
        else:
            mark(trail, float(rng.uniform(0.05, 0.25)) * height, 0)

    rules: list[tuple] = []
    if rule == "underline":
        rules.append(("underline", float(rng.uniform(0.06, 0.3)) * height + 2, slope))
    elif rule == "guide":  # under the baseline, or through it (the digits stand on it)
        rules.append(("guide", float(rng.uniform(-0.04, 0.3)) * height, base))
    if rule:
        features.add(rule)
    return elements, rules


def _gap(spacing: str, height: float, rng: np.random.Generator) -> tuple[float, float | None]:
    """(gap between inks, gap between boxes or None: inks only), in px, for the line's spacing."""
    if spacing == "wide":
        gap = float(rng.uniform(0.3, 0.6)) * height
        return gap, gap - float(rng.uniform(0, 0.1)) * height
    if spacing == "normal":
        gap = float(rng.uniform(0.1, 0.3)) * height
        return gap, gap - float(rng.uniform(0, 0.12)) * height
    if spacing == "close" or rng.random() < 0.3:
        gap = float(rng.uniform(0.0, 0.1)) * height + 1
        return gap, gap - float(rng.uniform(0.05, 0.15)) * height
    if spacing == "touching":
        return float(rng.choice([-1.0, 0.0, -2.0])), None
    return -float(rng.uniform(0.04, 0.15)) * height, None
