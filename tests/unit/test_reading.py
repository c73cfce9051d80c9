"""The number reader's mechanics without a trained model: the line normaliser, greedy CTC decoding, boxes.

A stand-in forward pass (`run`) gives chosen per-step distributions, so what the decoding does with
them (repeats merged, blanks and separators dropped, boxes in the picture's pixels) is checked
exactly; the trained reader itself is exercised in tests/slow/test_reader.py.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from api.errors import InvalidRequest
from api.pictures.ink import NoDigit
from api.pictures.line import INK_HEIGHT, LINE_HEIGHT, MAX_DIGITS, MIN_STROKE, SIDE_MARGIN, TooManyDigits, to_line
from api.pictures.morphology import stroke_width
from api.pictures.reading import best_path, read_line
from api.runtime.manifest import BLANK, READER_CLASSES

# Columns per step of the stand-in reader (reader.json's network has 4; any reader's own is honoured).
STRIDE = 2


def steps(*classes: int, sure: float = 0.9) -> np.ndarray:
    """Per-step distributions whose most likely class is each of `classes` in turn."""
    rest = (1 - sure) / (READER_CLASSES - 1)
    out = np.full((len(classes), READER_CLASSES), rest, np.float32)
    out[np.arange(len(classes)), classes] = sure
    return out


def strokes(count: int, height: int = 40, gap: int = 30, width: int = 16) -> np.ndarray:
    """Dark bars on white paper, `count` of them left to right: a picture with ink where digits would be."""
    grey = np.full((height + 40, 20 + count * (width + gap)), 255, np.uint8)
    for k in range(count):
        left = 10 + k * (width + gap)
        grey[20 : 20 + height, left : left + width] = 20
    return grey


def test_best_path_merges_repeats_and_drops_blanks() -> None:
    b = BLANK
    path = best_path(steps(b, 3, 3, b, 3, 5, 5, b, b))
    assert [e.digit for e in path] == [3, 3, 5]
    assert [(e.first, e.last) for e in path] == [(1, 2), (4, 4), (5, 6)]


def test_the_peak_is_the_surest_step_of_a_run() -> None:
    probabilities = steps(BLANK, 7, 7, 7, BLANK)
    probabilities[2, 7] = 0.97
    assert best_path(probabilities)[0].peak == 2


def test_a_line_of_blanks_holds_no_digit() -> None:
    line = to_line(strokes(3))
    with pytest.raises(NoDigit):
        read_line(line, lambda image: steps(*[BLANK] * (image.shape[1] // STRIDE)), STRIDE)


def test_separators_read_as_blanks_never_reach_the_number() -> None:
    line = to_line(strokes(4))
    count = line.image.shape[1] // STRIDE
    classes = [BLANK] * count
    for digit, at in zip((2, 0, 2, 6), np.linspace(3, count - 4, 4).astype(int)):
        classes[at] = digit
    digits = read_line(line, lambda image: steps(*classes), STRIDE)
    assert [int(d.probabilities.argmax()) for d in digits] == [2, 0, 2, 6]
    assert all(d.probabilities.shape == (10,) and abs(float(d.probabilities.sum()) - 1) < 1e-5 for d in digits)


@pytest.mark.parametrize("stride", [2, 4])
def test_boxes_lie_in_the_picture_left_to_right_around_their_ink(stride: int) -> None:
    grey = strokes(3, height=40, gap=40, width=16)
    line = to_line(grey)
    count = line.image.shape[1] // stride
    # One emission per bar, at the step over its middle.
    middles = [(10 + k * 56 + 8 - line.left) * line.scale + SIDE_MARGIN for k in range(3)]
    classes = [BLANK] * count
    for k, middle in enumerate(middles):
        classes[int(middle // stride)] = k + 1
    boxes = [d.box for d in read_line(line, lambda image: steps(*classes), stride)]
    assert len(boxes) == 3
    for k, (x, y, w, h) in enumerate(boxes):
        left = 10 + k * 56
        assert abs(x - left) <= 2 and abs(w - 16) <= 3, boxes
        assert abs(y - 20) <= 2 and abs(h - 40) <= 3, boxes
    assert [b[0] for b in boxes] == sorted(b[0] for b in boxes)


def test_boxes_are_in_the_picture_s_own_pixels_when_it_was_read_reduced() -> None:
    grey = strokes(2)
    line = to_line(grey, size=(grey.shape[1] * 2, grey.shape[0] * 2))
    count = line.image.shape[1] // STRIDE
    classes = [BLANK] * count
    classes[count // 4], classes[3 * count // 4] = 1, 2
    x, y, w, h = read_line(line, lambda image: steps(*classes), STRIDE)[0].box
    assert abs(x - 20) <= 4 and abs(y - 40) <= 4 and abs(h - 80) <= 6


def test_the_line_is_the_reader_s_input() -> None:
    line = to_line(strokes(5))
    assert line.image.shape[0] == LINE_HEIGHT and line.image.dtype == np.float32
    assert 0.0 <= float(line.image.min()) and float(line.image.max()) <= 1.0
    rows = np.flatnonzero(line.image.max(axis=1) > 0.5)
    assert rows[0] >= (LINE_HEIGHT - INK_HEIGHT) // 2 - 1 and rows[-1] <= (LINE_HEIGHT + INK_HEIGHT) // 2
    assert float(line.image[:, :SIDE_MARGIN].max()) == 0.0  # background either side


def rings(count: int, height: int, pen: int) -> np.ndarray:
    """Dark rings (0s) drawn with a round pen `pen` pixels wide, `height` tall, side by side on white paper."""
    radius = height / 2
    size = height + pen + 4
    y, x = np.mgrid[:size, : count * size].astype(np.float32)
    centre_x = (x // size) * size + size / 2
    distance = np.hypot((x - centre_x) / 0.7, y - size / 2)  # ovals 0.7 as wide as tall
    return np.where(np.abs(distance - radius) <= pen / 2, 30, 250).astype(np.uint8)


@pytest.mark.parametrize("height", [80, 300, 600])
def test_a_fine_pen_s_hairlines_become_solid_strokes_of_the_least_width(height: int) -> None:
    """Reduced to the band's height by area, a 3-pixel pen's rings 300 px tall would be a faint grey
    (a quarter of full ink), 600 px tall fainter still; the line has solid strokes about MIN_STROKE wide."""
    line = to_line(rings(3, height, pen=3)).image
    assert 0.85 * MIN_STROKE <= stroke_width(line > 0.5) <= 1.3 * MIN_STROKE
    inked = line.max(axis=0)  # the strongest ink of each column through a ring
    assert float(np.median(inked[inked > 0.1])) > 0.95


def test_strokes_as_wide_as_mnist_s_are_left_as_they_are() -> None:
    pen, height = 14, 120  # 14 of 120 px: about MNIST's own 1.9 of 20
    line = to_line(rings(2, height, pen)).image
    assert stroke_width(line > 0.5) <= 1.15 * pen * INK_HEIGHT / (height + pen)


def test_light_ink_on_a_dark_board_makes_the_same_line() -> None:
    grey = strokes(3)
    np.testing.assert_allclose(to_line(255 - grey).image, to_line(grey).image, atol=0.02)


@pytest.mark.parametrize(
    ("name", "picture", "error"),
    [
        ("blank", np.full((80, 300), 200, np.uint8), NoDigit),
        (
            "a 16,000-pixel strip",
            np.where(np.arange(16000) % 40 < 12, 0, 255).astype(np.uint8)[None].repeat(24, 0),
            InvalidRequest,
        ),
    ],
)
def test_hostile_lines_are_a_400_in_bounded_time(name: str, picture: np.ndarray, error: type) -> None:
    started = time.perf_counter()
    with pytest.raises(error) as raised:
        to_line(picture)
    assert isinstance(raised.value, InvalidRequest) and raised.value.status == 400
    assert time.perf_counter() - started < 10, name


def test_thousands_of_specks_are_a_400_in_bounded_time() -> None:
    rng = np.random.default_rng(3)
    grey = np.full((400, 1200), 255, np.uint8)
    for y, x in zip(rng.integers(2, 398, 3000), rng.integers(2, 1198, 3000)):
        grey[y - 1 : y + 2, x - 1 : x + 2] = 0
    started = time.perf_counter()
    with pytest.raises(InvalidRequest) as raised:
        to_line(grey)
    assert raised.value.status == 400 and time.perf_counter() - started < 10


def test_more_than_sixteen_digits_are_refused() -> None:
    b = BLANK
    line = to_line(strokes(3))
    too_many = [d % 10 for d in range(MAX_DIGITS + 1)]
    classes = [c for d in too_many for c in (b, d)]
    with pytest.raises(TooManyDigits):
        read_line(line, lambda image: steps(*classes), STRIDE)
