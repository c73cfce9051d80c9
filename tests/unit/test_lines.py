"""The written-number line generator (ml_model/corpus/lines.py).

Small digit-like shapes drawn with Pillow stand in for MNIST (no download): the generator is checked
for determinism, labels, boxes, polarity, and that over a few hundred lines every kind of line appears.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from PIL import Image, ImageDraw

from ml_model.corpus import lines as lines_module
from ml_model.corpus.lines import Line, LineGenerator

# Each digit as pen paths in MNIST's 28x28 frame: polylines of (x, y), or ("ellipse", box).
SHAPES: dict[int, list] = {
    0: [("ellipse", (8, 4, 20, 24))],
    1: [[(15, 4), (13, 24)]],
    2: [[(8, 9), (10, 5), (15, 4), (19, 7), (18, 12), (8, 23), (20, 23)]],
    3: [[(8, 5), (18, 5), (13, 13), (19, 17), (17, 23), (8, 23)]],
    4: [[(16, 24), (16, 4), (7, 17), (21, 17)]],
    5: [[(19, 4), (9, 4), (8, 13), (16, 12), (19, 17), (16, 23), (8, 22)]],
    6: [[(17, 4), (10, 12), (8, 19), (12, 24), (18, 21), (17, 15), (9, 16)]],
    7: [[(7, 5), (20, 5), (11, 24)]],
    8: [("ellipse", (9, 4, 19, 13)), ("ellipse", (8, 13, 20, 24))],
    9: [("ellipse", (8, 4, 19, 13)), [(19, 8), (16, 24)]],
}
PER_LABEL = 8
SCALE = 4


def drawn_digits(rng: np.random.Generator, side: int = 28, binary: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """PER_LABEL jittered drawings of every digit: uint8 [N, side, side] white on black, and labels."""
    digits, labels = [], []
    for label, shapes in SHAPES.items():
        for _ in range(PER_LABEL):
            image = Image.new("L", (28 * SCALE, 28 * SCALE), 0)
            paint = ImageDraw.Draw(image)
            width = round(SCALE * float(rng.uniform(2.0, 3.5)))
            for shape in shapes:
                if isinstance(shape, tuple):
                    box = np.array(shape[1], np.float64) + rng.normal(0, 0.8, 4)
                    paint.ellipse((box * SCALE).tolist(), outline=255, width=width)
                else:
                    points = np.array(shape, np.float64) + rng.normal(0, 1.0, (len(shape), 2))
                    paint.line((points * SCALE).ravel().tolist(), fill=255, width=width, joint="curve")
            array = np.asarray(image.resize((side, side), Image.Resampling.BOX))
            digits.append(np.where(array > 127, 255, 0).astype(np.uint8) if binary else array)
            labels.append(label)
    return np.stack(digits), np.array(labels)


@pytest.fixture(scope="module")
def generator() -> LineGenerator:
    rng = np.random.default_rng(0)
    digits, labels = drawn_digits(rng)
    writers = drawn_digits(rng, side=16, binary=True)
    return LineGenerator(digits, labels, writers=writers)


@pytest.fixture(scope="module")
def many(generator: LineGenerator) -> list[Line]:
    rng = np.random.default_rng(2026)
    return [generator.line(rng) for _ in range(500)]


def test_the_same_seed_gives_the_same_line(generator: LineGenerator) -> None:
    for seed in (1, 7, 99):
        a, b = generator.line(np.random.default_rng(seed)), generator.line(np.random.default_rng(seed))
        assert np.array_equal(a.picture, b.picture)
        assert (a.label, a.boxes, a.features) == (b.label, b.boxes, b.features)
    first = [generator.line(np.random.default_rng(seed)).label for seed in range(20)]
    assert len(set(first)) > 10


def test_labels_are_digits_and_as_many_as_allowed(many: list[Line]) -> None:
    counts = Counter(len(line.label) for line in many)
    for line in many:
        assert line.label.isdigit() and line.label.isascii()
        assert 1 <= len(line.label) <= 10
    assert set(counts) == set(range(1, 11))
    assert sum(counts[n] for n in range(2, 8)) > 0.65 * len(many)  # weighted toward 2-7 digits


def test_max_digits_bounds_the_count() -> None:
    digits, labels = drawn_digits(np.random.default_rng(3))
    rng = np.random.default_rng(4)
    short = LineGenerator(digits, labels, max_digits=3)
    assert {len(short.line(rng).label) for _ in range(60)} == {1, 2, 3}
    single = LineGenerator(digits, labels, max_digits=1)
    assert all(len(single.line(rng).label) == 1 for _ in range(10))
    for bad in (0, 11):
        with pytest.raises(ValueError):
            LineGenerator(digits, labels, max_digits=bad)


def test_pictures_are_grey_and_boxes_lie_inside_in_order(many: list[Line]) -> None:
    for line in many:
        picture = line.picture
        assert picture.dtype == np.uint8 and picture.ndim == 2
        assert picture.shape[0] >= 8 and picture.shape[1] >= 8
        assert len(line.boxes) == len(line.label)
        for x, y, w, h in line.boxes:
            assert w >= 1 and h >= 1
            assert 0 <= x and x + w <= picture.shape[1] and 0 <= y and y + h <= picture.shape[0]
        lefts = [x for x, _, _, _ in line.boxes]
        centres = [x + w / 2 for x, _, w, _ in line.boxes]
        assert lefts == sorted(lefts) and len(set(lefts)) == len(lefts), line.features
        assert centres == sorted(centres)


def test_boxes_hold_ink_of_the_lines_polarity(many: list[Line]) -> None:
    """Dark ink on light paper, or light on a dark board ("inverted"): the boxes hold ink of that polarity."""
    for line in many:
        picture = line.picture.astype(np.float32)
        paper = float(np.median(picture))
        inside = np.concatenate([picture[y : y + h, x : x + w].ravel() for x, y, w, h in line.boxes])
        if "inverted" in line.features:
            assert paper < 128
            assert np.percentile(inside, 95) > paper + 15, line.features
        else:
            assert np.percentile(inside, 5) < paper - 15, line.features


def test_every_kind_of_line_appears(many: list[Line]) -> None:
    seen = Counter(feature for line in many for feature in line.features)
    wanted = {
        # separators between digit groups, marks before and after
        "comma", "dot", "dash", "space", "separator", "leading_mark", "trailing_mark",
        "currency", "hash", "asterisk", "trailing:dot_dash", "trailing:equals",
        # spacing
        "spacing:wide", "spacing:normal", "spacing:close", "touching", "overlapping",
        # rules and forms
        "underline", "guide", "cells", "comb",
        # writers' styles and pens
        "one_flag", "seven_bar", "seven_serif", "thick", "thin", "writers", "pen_paths",
        # paper and light
        "white_canvas", "paper", "security", "low_contrast", "inverted", "light", "blur", "noise", "jpeg",
        "low_res", "enlarged",
        # groupings
        "format:thousands", "format:decimal", "format:date", "format:code",
    }  # fmt: skip
    missing = wanted - set(seen)
    assert not missing, f"never seen in {len(many)} lines: {sorted(missing)}"
    assert seen["inverted"] > 0.05 * len(many)
    assert seen["separator"] > 0.15 * len(many)


def test_styles_go_only_on_their_digits(many: list[Line]) -> None:
    for line in many:
        if "one_flag" in line.features:
            assert "1" in line.label
        if "seven_bar" in line.features or "seven_serif" in line.features:
            assert "7" in line.label


def test_styles_are_drawn_onto_the_digit(generator: LineGenerator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same 7 crossed carries more ink than plain."""

    def seven(bar: float) -> np.ndarray:
        monkeypatch.setattr(lines_module, "P_SEVEN_BAR", bar)
        monkeypatch.setattr(lines_module, "P_SEVEN_SERIF", 0.0)
        return generator._digits([7], 30.0, 0.0, 1.0, "", 0.0, np.random.default_rng(5), set())[0]

    plain, crossed = seven(0.0), seven(1.0)
    assert crossed.sum() > plain.sum() * 1.05


def test_writers_of_any_square_size() -> None:
    rng = np.random.default_rng(8)
    digits, labels = drawn_digits(rng)
    for side in (16, 20, 32):
        writers = drawn_digits(rng, side=side, binary=side == 16)
        generator = LineGenerator(digits, labels, writers=writers)
        lines = [generator.line(rng) for _ in range(40)]
        assert any("writers" in line.features for line in lines)


def test_training_lines_are_batched_by_width_each_with_its_label() -> None:
    from ml_model.reader import READER_HEIGHT, READER_WIDTH_MULTIPLE, by_width

    rng = np.random.default_rng(4)
    widths = [int(w) for w in rng.integers(40, 400, 64)]
    lines = [np.ones((READER_HEIGHT, w), np.float32) for w in widths]  # a line's ink fills its width
    labels = [str(w) for w in widths]  # and its label says how wide it is
    batches = by_width(lines, labels, 8, rng)
    assert len(batches) == 8
    seen, spans = [], []
    for x, y in batches:
        assert x.shape[0] == y.shape[0] == 8 and x.shape[1:] == (READER_HEIGHT, x.shape[2], 1)
        label_widths = [int("".join(str(d) for d in row if d >= 0)) for row in y]
        assert [int(row.sum()) for row in x[:, 0, :, 0]] == label_widths  # each line beside its own label
        assert x.shape[2] % READER_WIDTH_MULTIPLE == 0 and x.shape[2] - max(label_widths) < READER_WIDTH_MULTIPLE
        seen += label_widths
        spans.append((min(label_widths), max(label_widths)))
    assert sorted(seen) == sorted(widths)  # every line once
    spans.sort()
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # widths do not interleave between batches
    padded = sum(x.shape[0] * x.shape[2] for x, _ in batches)
    assert sum(widths) / padded > 0.9
