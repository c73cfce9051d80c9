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

from dataclasses import dataclass

import numpy as np

from api.errors import InvalidRequest
from api.lazy import lazy_import

# Pillow loads when an image first arrives (api.lazy).
Image = lazy_import("PIL.Image")

SIZE = 28  # MNIST images are 28x28...
BOX = 20  # ...with the digit fitted into the central 20x20
CENTRE = 14.0  # where MNIST puts the centre of mass (row and column index, measured on its test set)
# The paper and the digit's place are found on a copy reduced to at most this many pixels a side:
# area averaging there also averages sensor noise away.
ANALYSIS_SIZE = 96
# The paper's coarse local median is taken over about this many blocks a side.
PAPER_CELLS = 5
# Paper whose coarse block medians all lie within this many grey levels of one level is flat.
FLAT = 0.5
# Width of the opening that estimates the paper, as a fraction of the image's height: wider than
# the thickest marker stroke (about a fifth of the digit's height) of an upright digit as tall as
# the image, whatever its width (a 1 cut tight to its ink is 3-4 times taller than wide, and its
# stroke most of its width: a fraction of the shorter side would follow the stroke).
PAPER_WINDOW = 0.3
# When the frame and the block medians disagree on the ink's polarity, the block medians win only
# when one side's departures outweigh the other's this many times (on a page, with the frame as
# paper, they agree; in a crop cut tight, where the blocks are mostly ink, they were seen to
# outweigh the wrong way by up to 20 times).
POLARITY_EVIDENCE = 100.0
# Ink is strokes: on average no wider than this fraction of the picture's longer side (a marker's
# stroke is about a fifth of the digit's height); a wider upper population is a region (lit paper
# beside a shadow, a table), and the picture is not split into paper and ink by level.
MAX_STROKE = 0.2
# A plane is fitted to the paper (`_plane`) while at least this many of its pixels are left.
PLANE_MIN_PIXELS = 8
# The plane is the paper only if the paper's pixels clear of the strokes spread about it by at most
# PLANE_FIT times the picture's pixel noise plus PLANE_SLACK grey levels.
PLANE_FIT, PLANE_SLACK = 2.0, 1.0
# ...and fits a slope along an axis only where the paper's pixels spread over it this much (the
# standard deviation of their coordinates, in heights or widths: 0.29 for paper all over it).
PLANE_SPREAD = 0.1
# The light's gain is measured on paper at least this fraction of the picture's brightest level.
GAIN_FLOOR = 0.25
# Images with fewer pixels than 4 x this are sampled whole for the paper's noise.
SMALL_SAMPLE = 256
# Pixels may be two populations (paper and ink) when a two-way split explains this share of their
# variance: Gaussian noise alone, split anywhere, explains at most 2/pi (0.64) of it; a page with
# 0.5 % of its pixels as ink, 150 levels above paper of noise sigma 5, 0.82; a digit cut tight to
# its ink, with as much ink as paper and strokes of MNIST's graded ink, 0.76 (the lowest seen).
TWO_POPULATIONS = 0.7
# The paper's pixels are clipped at this many spreads above their median, this many times.
CLIP, CLIP_ROUNDS = 2.0, 8
# The digit is brought to this size to measure and adjust its strokes before the final reduction.
STROKE_SIZE = 4 * BOX
# MNIST's median stroke width in its 20x20 box (ink over half intensity), measured on the test set
# (7.4 pixels at STROKE_SIZE by `_stroke_width`; its 10th-90th percentiles are 5.6 and 10.4).
MNIST_STROKE = 1.9
# Strokes thinner than THIN times MNIST's width (about its 10th percentile) are widened to that, by an
# amount that grows smoothly from zero (so no small change flips it). Thick strokes are left alone:
# MNIST has thick digits too, and eroding a marker's strokes cost 1.2 points on the benchmark's
# thick-marker pictures (it breaks thin joins and cannot reopen filled loops).
THIN = 0.8
# Ink must stand this many grey levels (of 255) above the paper, and this many times the paper's
# noise, to count as a digit at all.
MIN_CONTRAST = 24.0
MIN_SIGNAL_TO_NOISE = 6.0
# A blob is a speck, not part of the digit, below this fraction of the digit's main blob's ink.
SPECK = 0.04
# A blob that runs along a border as a band (a page edge, a table, a shadow down one side, a ruled
# line: `_page_edges`) counts BORDER_WEIGHT squared of its ink, and is never kept beside the digit.
BORDER_WEIGHT = 0.25
# Such a band spans more than EDGE_SPAN of the border's length and is at most BAND_DEPTH of its
# length thick.
EDGE_SPAN = 0.6
BAND_DEPTH = 0.35
# The kept blobs' mask is grown by this many analysis pixels: their soft edges, faint bits of stroke.
BLOB_MARGIN = 2
# Ink is where the ink image passes this fraction of the ink's own level; a blob of it extends
# along its strokes as far as they pass STROKE_CUT (hysteresis: `_strokes`).
INK_CUT = 0.5
STROKE_CUT = 0.25
# In the crop, ink under this fraction of its level (or three times the noise) is paper (a tenth kept
# a few more faint strokes of tight crops, +0.2 points, but let a shadow's edge into the digit).
CROP_FLOOR = 0.25
NO_DIGIT = "no digit found"
# A picture whose longer side is under this many pixels is refused as too small to hold a digit:
# the smallest handwritten-digit sets are 8x8 (and 16x16); a digit cut tight is read from 8 up.
MIN_SIDE = 8


class NoDigit(InvalidRequest):
    """The image shows nothing that could be a digit (blank, uniform, or only noise)."""


def no_digit(what: str = "the image") -> NoDigit:
    """The 400 for a blank input, in the same words for pictures and arrays."""
    return NoDigit(f"{what} is blank or nearly uniform: {NO_DIGIT}")


@dataclass
class _Paper:
    """The paper under the ink, and the ink standing above it at the analysis scale."""

    light: bool  # the ink is lighter than its paper (chalk on a board), as MNIST's is
    ink: np.ndarray  # grey levels above the paper, relative to the light, at the analysis scale
    noise: tuple[float, float] | None  # the ink image's paper level and noise spread, when already known
    # Flat paper: its grey level (ink-positive: of the picture itself when `light`, else of its
    # negative). Otherwise the paper and the light's gain at the analysis scale.
    level: float | np.ndarray
    gain: np.ndarray | None = None


def to_mnist(grey: np.ndarray) -> np.ndarray:
    """Grey levels (0-255: uint8 as decoded, or float) of one digit → MNIST-style float32 [28, 28] in [0, 1]."""
    grey = np.asarray(grey)
    if max(grey.shape) < MIN_SIDE:
        height, width = grey.shape
        raise InvalidRequest(f"the image is {width}x{height} pixels: too small to hold a digit "
                             f"(its longer side must be at least {MIN_SIDE} pixels)")
    if grey.dtype != np.uint8:  # decoded pictures stay uint8: only the analysis copy and the crop become floats
        grey = grey.astype(np.float32, copy=False)
    paper = _find_paper(_reduce(grey))
    level, noise = _ink_level(paper.ink, paper.noise)
    blobs = _strokes(paper.ink, level)
    box, kept = _digit_box(blobs)
    if grey.shape == (SIZE, SIZE):
        grey = grey.astype(np.float32, copy=False)
        positive = grey if paper.light else 255.0 - grey  # the ink lighter than the paper, as in MNIST
        if _is_mnist_style(positive, box):
            return positive / 255.0
    # On flat paper nothing but left-out blobs needs masking: there is no paper estimate to be wrong.
    flat = paper.gain is None
    mask = None if flat and kept.all() else _paint(blobs, kept)
    return _digit_input(grey, paper, mask, box, level, noise)


def _digit_input(grey: np.ndarray, paper: _Paper, mask: np.ndarray | None, box: tuple[int, int, int, int],
                 level: float, noise: float) -> np.ndarray:
    """The ink in `box` (analysis scale; `mask` as in `_ink_crop`) as MNIST's 28x28: cropped, sized, centred.

    Step 3's crop and step 4; `api.pictures.numbers` reads each digit of a number through it.
    """
    digit = _ink_crop(grey, paper, mask, box, level, noise)
    return _centre(_adjust_strokes(_resize(digit, STROKE_SIZE)))


def _reduce(grey: np.ndarray, longest: int = ANALYSIS_SIZE) -> np.ndarray:
    """The image area-averaged to at most `longest` (default ANALYSIS_SIZE) pixels a side."""
    height, width = grey.shape
    scale = max(height, width) / longest
    if scale <= 1.0:
        return grey.astype(np.float32)
    size = (max(1, round(width / scale)), max(1, round(height / scale)))
    image = Image.fromarray(grey).convert("F") if grey.dtype == np.uint8 else Image.fromarray(grey, "F")
    return np.asarray(image.resize(size, Image.Resampling.BOX), dtype=np.float32)


def _window(values: np.ndarray, size: int, reduce: np.ufunc) -> np.ndarray:
    """A square minimum or maximum (`reduce`: np.minimum / np.maximum) filter of `size`, edges repeated.

    Separable, and along each axis by doubling: windows of 1, 2, 4... pixels, then the answer for
    `size` as two overlapping power-of-two windows (a handful of whole-array operations).
    """
    for axis in (0, 1):
        moved = np.moveaxis(values, axis, 0)
        pad = size // 2
        table = np.concatenate([np.repeat(moved[:1], pad, 0), moved, np.repeat(moved[-1:], size - 1 - pad, 0)])
        span = 1
        while span * 2 <= size:
            table = reduce(table[:-span], table[span:])
            span *= 2
        length = moved.shape[0]
        values = np.moveaxis(reduce(table[:length], table[size - span:size - span + length]), 0, axis)
    return values


def _find_paper(small: np.ndarray) -> _Paper:
    """The paper and the ink above it, with the ink's polarity.

    On a page the paper is most of the picture, so a coarse local median follows it (lighting
    included); the strokes depart from it one way, while noise, JPEG ringing and shadow edges depart
    both ways alike, so comparing the two sides' departures has a wide margin. In a picture cut
    tight to the digit the blocks are as much ink as paper and their medians follow the ink; what
    still surrounds the digit there is the picture's frame (`_frame_says_light`). The two agree on
    a page; when they disagree, the block medians win only with overwhelming evidence
    (POLARITY_EVIDENCE). On flat paper the local median is the paper's one level, and the ink is
    the departure from it.
    """
    blocks = _Blocks(small)
    frame = _frame(small)
    flat = _flat_level(blocks)
    if flat is not None and abs(float(_median(frame)) - flat) > FLAT:
        flat = None  # the blocks' common level is not the frame's: ink filling most of the blocks, not paper
    local = flat if flat is not None else blocks.local_median()
    departure = small - local
    if flat is not None:  # most of every neighbourhood is paper: the departures' median and spread are the paper's
        base, spread = _spread(departure[::2, ::2])
    else:
        base, spread = float(_median(departure[::2, ::2])), _pixel_noise(small)
    lighter, darker = _strength(departure - base, spread), _strength(base - departure, spread)
    light = lighter > darker
    if flat is None and light != _frame_says_light(small, frame):
        if max(lighter, darker) < POLARITY_EVIDENCE * (min(lighter, darker) + spread):
            light = not light
    if flat is not None:
        # The ink is the departure itself, or its negative.
        if light:
            return _Paper(True, departure, (base, spread), flat)
        return _Paper(False, -departure, (-base, spread), 255.0 - flat)
    return _ink_on_uneven_paper(small, light)


def _frame(small: np.ndarray) -> np.ndarray:
    """The picture's outermost ring of pixels."""
    if min(small.shape) < 3:
        return small.ravel()
    return np.concatenate([small[0], small[-1], small[1:-1, 0], small[1:-1, -1]])


def _frame_says_light(small: np.ndarray, frame: np.ndarray) -> bool:
    """Whether the ink is lighter than the paper, taking the paper to be what most of the frame is.

    The ink is the picture's extreme farther from the frame's level: its strongest pixels (as
    `_ink_level` measures them) on each side are compared.
    """
    level = float(_median(frame))
    ordered = np.sort(small, axis=None)
    count = _strongest_count(ordered.size)
    return float(_median(ordered[ordered.size - count:])) - level > level - float(_median(ordered[:count]))


def _spread(values: np.ndarray) -> tuple[float, float]:
    """Median and robust standard deviation (1.4826 median absolute deviations, at least 0.5) of values."""
    base = float(_median(values))
    return base, max(1.4826 * float(_median(np.abs(values - base))), 0.5)


def _pixel_noise(values: np.ndarray) -> float:
    """The picture's noise (a robust standard deviation) from differences of neighbouring pixels.

    Paper and the inside of strokes are both smooth, so this does not grow with the share of the
    picture that is ink (a median over the pixels does); only stroke edges depart. Differences
    across and down are measured apart and the smaller taken: noise is the same both ways, while a
    picture that is mostly strokes running one way (a 1 cut tight to its ink is edges from side to
    side) has edges in every difference across them and few along them.
    """
    estimates = []
    if values.shape[1] > 1:
        estimates.append(float(_median(np.abs(values[:, 1::2] - values[:, :-1:2]))))
    if values.shape[0] > 1:
        estimates.append(float(_median(np.abs(values[1::2] - values[:-1:2]))))
    return max(1.4826 * min(estimates, default=0.0) / float(np.sqrt(2.0)), 0.5)


def _ink_on_uneven_paper(small: np.ndarray, light: bool) -> _Paper:
    """Ink above an opening of the paper, relative to the light there.

    Light multiplies paper and ink alike, so ink is measured relative to the paper's brightness
    where it lies: a stroke in a shadow is as strong as one in the light. Paper much darker than
    the picture's brightest (a black board, the dark paper of a negative) shows the light too
    faintly to measure: its brightness is floored at GAIN_FLOOR of the brightest level, else the
    noise and error of its estimate would scale the strokes at random.
    """
    values = small if light else 255.0 - small
    paper, noise = _paper(values)
    ordered = np.sort(small, axis=None)
    brightest = float(_median(ordered[ordered.size - _strongest_count(ordered.size):]))
    brightness = np.maximum(paper if light else 255.0 - paper, max(MIN_CONTRAST, GAIN_FLOOR * brightest))
    gain = (float(_median(brightness[::3, ::3])) / brightness).astype(np.float32)
    if noise is not None:  # measured on the paper about the plane, in the ink image's units
        scale = float(_median(gain[::3, ::3]))
        noise = (noise[0] * scale, max(noise[1] * scale, 0.5))
    return _Paper(light, (values - paper) * gain, noise, paper, gain)


def _paper(values: np.ndarray) -> tuple[np.ndarray, tuple[float, float] | None]:
    """The paper under ink that is brighter than it: the opening, smoothed, or a plane where that misreads less.

    The opening cannot see paper narrower than its window: in a picture cut tight to a digit, or
    one mostly ink, it climbs onto the strokes and cuts them to fragments. A plane fitted to the
    paper's pixels (`_plane`) cannot follow a shadow's edge or a vignette. Each is judged by the
    same count (`_misfits`): the ink it would lose and the paper it would take for ink; the plane
    replaces the opening when it makes no more of them and the paper lies on it within its noise
    (`_flat_enough`). With the plane comes the paper's level and noise about it, measured on the
    paper's own pixels; with the opening, None (`_noise` measures them on the ink image).
    """
    size = max(3, int(PAPER_WINDOW * values.shape[0]) | 1)
    opened = _window(_window(values, size, np.minimum), size, np.maximum)
    # The opening is blocky at its corners; averaging over a third of its width smooths it.
    smoothed = _smooth(opened, max(3, size // 3))
    populations = _populations(values)
    if populations is None:
        return smoothed, None
    plane, noise = _plane(values, populations)
    if _flat_enough(values, plane, populations) and (
            _misfits(values, plane, populations) <= _misfits(values, smoothed, populations)):
        return plane, noise
    return smoothed, None


@dataclass
class _Populations:
    """A picture's pixels split in two, paper below and ink above (`_populations`)."""

    paper: np.ndarray  # bool: the lower population
    ink: np.ndarray  # bool: the upper population
    far: np.ndarray  # bool: paper farther than BLOB_MARGIN pixels from any ink (no anti-aliased edge)
    half: float  # half the ink's height above the paper


def _populations(values: np.ndarray) -> _Populations | None:
    """Paper and ink by Otsu's split (`_two_classes`), when the split shows two populations (TWO_POPULATIONS)
    and the upper one is strokes: no wider on average (`_stroke_width`) than MAX_STROKE of the picture."""
    ordered = np.sort(values, axis=None)
    if ordered.size < 4:
        return None
    split, explained = _two_classes(ordered)
    if explained < TWO_POPULATIONS:
        return None  # one population: noise or light alone, nothing to tell paper from ink by
    threshold = ordered[split]
    base, _ = _clipped(ordered[:split])
    ink = values >= threshold
    if _stroke_width(ink) > MAX_STROKE * max(values.shape):
        return None  # the upper population is no strokes but a region: lit paper beside a shadow, a table
    near = _grow(ink.astype(np.float32), BLOB_MARGIN) > 0
    return _Populations(~ink, ink, ~near, 0.5 * (float(_median(ordered[split:])) - base))


def _plane(values: np.ndarray, populations: _Populations) -> tuple[np.ndarray, tuple[float, float]]:
    """The plane under the paper's pixels: least squares on the paper away from the strokes, their edges clipped.

    Fitted to the lower population's pixels beyond the strokes' anti-aliased edges (`far`), then
    refitted CLIP_ROUNDS times to those within CLIP residual spreads above the residuals' median
    (the spread measured below it, where only the paper's noise is), as `_clipped` does for one
    level. A slope is fitted only along an axis the paper spreads over (PLANE_SPREAD); when almost
    no paper is clear of the strokes (a crop cut inside the ink's edges), the paper is one level:
    that of the lowest PLANE_MIN_PIXELS pixels, all the picture shows of it. Returned with the
    paper pixels' residual level and spread about it (`_spread`).
    """
    height, width = values.shape
    step = 2 if values.size >= 4 * SMALL_SAMPLE else 1  # a quarter of the pixels fit a plane as well
    level = values[::step, ::step].astype(np.float64).ravel()
    chosen = populations.far[::step, ::step].ravel()
    if np.count_nonzero(chosen) < PLANE_MIN_PIXELS:
        lowest = np.sort(values, axis=None)[:PLANE_MIN_PIXELS]
        level = float(_median(lowest))
        return np.full(values.shape, level, np.float32), _spread(lowest - level)
    rows, cols = np.mgrid[0:height:step, 0:width:step]
    spans = [rows.ravel() / height - 0.5, cols.ravel() / width - 0.5]
    along = [float(span[chosen].std()) >= PLANE_SPREAD for span in spans]
    design = np.stack([np.ones(level.size), *(span for span, used in zip(spans, along) if used)], axis=1)
    fit = np.zeros(design.shape[1])
    residual = level
    for _ in range(CLIP_ROUNDS):
        if np.count_nonzero(chosen) < PLANE_MIN_PIXELS:
            break
        picked = design[chosen]
        fit = np.linalg.solve(picked.T @ picked, picked.T @ level[chosen])
        residual = level - design @ fit
        base, spread = _lower_level_and_spread(np.sort(residual[chosen]))
        chosen = chosen & (residual <= base + CLIP * spread)
    coefficients = iter(fit[1:])
    slope_down = next(coefficients) if along[0] else 0.0
    slope_across = next(coefficients) if along[1] else 0.0
    plane = (fit[0] + slope_down * (np.arange(height) / height - 0.5)[:, None]
             + slope_across * (np.arange(width) / width - 0.5)[None, :])
    return plane.astype(np.float32), _spread(residual[chosen])


def _flat_enough(values: np.ndarray, plane: np.ndarray, populations: _Populations) -> bool:
    """Whether the paper clear of the strokes lies on `plane` to within its noise (PLANE_FIT, PLANE_SLACK).

    Measured on every such pixel, not only those the fit kept: under a shadow's edge or a
    vignette they stray from any plane by far more than the picture's pixel noise (and there the
    two populations may be lit and shadowed paper, not paper and ink).
    """
    residual = (values - plane)[populations.far]
    if residual.size < PLANE_MIN_PIXELS:
        return True  # nothing clear of the strokes to contradict one level
    _, spread = _spread(residual)
    return spread <= PLANE_FIT * _pixel_noise(values) + PLANE_SLACK


def _misfits(values: np.ndarray, paper: np.ndarray, populations: _Populations) -> int:
    """How many pixels a paper estimate misreads: ink it leaves under half the ink's height, far paper it puts over."""
    departure = values - paper
    lost = np.count_nonzero(populations.ink & (departure < populations.half))
    invented = np.count_nonzero(populations.far & (departure > populations.half))
    return lost + invented


def _smooth(values: np.ndarray, size: int) -> np.ndarray:
    """`values` averaged over blocks of about size x size pixels, spread back smoothly (bilinear)."""
    height, width = values.shape
    image = Image.fromarray(values, "F")
    coarse = image.resize((max(1, round(width / size)), max(1, round(height / size))), Image.Resampling.BOX)
    return np.asarray(coarse.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)


class _Blocks:
    """The analysis image cut into about PAPER_CELLS x PAPER_CELLS square blocks (edges repeated).

    Every other pixel of each block, both ways, is enough for its median, in a quarter of the time.
    """

    def __init__(self, values: np.ndarray) -> None:
        self.height, self.width = values.shape
        size = max(2, -(-max(self.height, self.width) // PAPER_CELLS))
        self.size = size + size % 2
        self.rows, self.cols = -(-self.height // self.size), -(-self.width // self.size)
        # Every other row and column, the edges repeated to whole blocks (indexing is far cheaper than np.pad).
        down = np.minimum(np.arange(0, self.rows * self.size, 2), self.height - 1)
        across = np.minimum(np.arange(0, self.cols * self.size, 2), self.width - 1)
        half = self.size // 2
        self.samples = values[down[:, None], across].reshape(self.rows, half, self.cols, half).transpose(
            0, 2, 1, 3).reshape(self.rows, self.cols, -1)

    def around(self, values: np.ndarray) -> np.ndarray:
        """Per-block `values` with a block's border around them, edges repeated."""
        down = [0, *range(self.rows), self.rows - 1]
        return values[down][:, [0, *range(self.cols), self.cols - 1]]

    def neighbourhoods(self, values: np.ndarray) -> list[np.ndarray]:
        """The 9 arrays of each block's 3x3 neighbours' values (edges repeated)."""
        around = self.around(values)
        return [around[r:r + self.rows, c:c + self.cols] for r in range(3) for c in range(3)]

    def local_median(self) -> np.ndarray:
        """Each block's median (a 3x3 median of blocks mends ink-filled ones), spread smoothly over the image."""
        medians = _median(self.samples, axis=2)
        mended = _median(np.stack(self.neighbourhoods(medians), axis=2), axis=2).astype(np.float32)
        spread = Image.fromarray(mended, "F").resize((self.cols * self.size, self.rows * self.size),
                                                     Image.Resampling.BILINEAR)
        return np.asarray(spread, dtype=np.float32)[:self.height, :self.width]


def _flat_level(blocks: _Blocks) -> float | None:
    """The paper's grey level if `blocks.local_median()` is provably within FLAT of it everywhere, else None.

    A block's median lies within FLAT of the level when more than half of its samples do; a 3x3
    median of blocks does when at least 5 of its 9 blocks do; and a bilinear spread of values within
    that interval stays in it. Sensor noise of a grey level or more fails the first step, a
    lighting gradient the second: such pictures take the full paper estimate.
    """
    level = float(_median(blocks.samples))
    near = 2 * np.add.reduce(np.abs(blocks.samples - level) <= FLAT, axis=2) > blocks.samples.shape[2]
    if near.all():  # (no block is mostly ink)
        return level
    around = blocks.around(near.astype(np.int8))
    columns = around[:-2] + around[1:-1] + around[2:]  # 3x3 sums, separably
    return level if bool((columns[:, :-2] + columns[:, 1:-1] + columns[:, 2:] >= 5).all()) else None


def _median(values: np.ndarray, axis: int | None = None) -> np.ndarray:
    """np.median (all values, or along `axis`) by sorting: several times faster where many values are equal."""
    ordered = np.sort(values, axis=axis)  # flattened when axis is None
    along = 0 if axis is None else axis
    count = ordered.shape[along]
    return (np.take(ordered, (count - 1) // 2, axis=along) + np.take(ordered, count // 2, axis=along)) / 2


def _strength(ink: np.ndarray, spread: float) -> float:
    """Ink standing clearly above the noise, summed."""
    return float(np.add.reduce(np.maximum(ink - 4.0 * spread, 0.0), axis=None))


def _noise(ink: np.ndarray) -> tuple[float, float]:
    """The paper's level and spread in an ink image (median and robust standard deviation of the paper's pixels).

    The paper is not always most of the picture (a digit cut tight to its ink may be mostly ink), so
    the pixels are first split in two (Otsu's threshold, which maximises the variance between the
    two sides). When the split explains most of their variance (TWO_POPULATIONS; noise alone, split
    anywhere, explains 2/pi of it) and the upper side's median stands MIN_SIGNAL_TO_NOISE of the
    lower side's spreads above it, there are two populations, paper below and ink above, and the
    paper is the lower; otherwise (a blank page, noise alone) every pixel is. The anti-aliased
    edges of the strokes, which lie between the two, are clipped off the paper's top (sigma
    clipping, CLIP spreads above its median, CLIP_ROUNDS times).
    """
    sample = ink[::2, ::2] if ink.size >= 4 * SMALL_SAMPLE else ink  # a quarter of the pixels estimate both as well
    ordered = np.sort(sample, axis=None)
    if ordered.size >= 4:
        split, explained = _two_classes(ordered)
        if explained >= TWO_POPULATIONS:
            base, spread = _clipped(ordered[:split])
            # Where the paper is a few pixels between wide anti-aliased edges (a tiny picture mostly
            # ink), neighbouring pixels tell its noise better than their levels do.
            spread = min(spread, _pixel_noise(ink))
            # ...and the upper population stands clearly above the lower: it is ink.
            if float(_median(ordered[split:])) - base >= MIN_SIGNAL_TO_NOISE * spread:
                return base, spread
    return _clipped(ordered)


def _clipped(ordered: np.ndarray) -> tuple[float, float]:
    """The paper's level and spread in sorted values whose top may hold ink and stroke edges.

    The spread is measured below the median only (1.4826 times the median deviation of the values
    under it: the standard deviation for symmetric noise), where no ink is; values more than CLIP
    spreads above the median are clipped off, CLIP_ROUNDS times (sigma clipping), which walks the
    median down off the strokes' anti-aliased edges onto the paper.
    """
    for _ in range(CLIP_ROUNDS):
        base, spread = _lower_level_and_spread(ordered)
        ordered = ordered[:max(1, int(np.searchsorted(ordered, base + CLIP * spread, "right")))]
    return _lower_level_and_spread(ordered)


def _lower_level_and_spread(ordered: np.ndarray) -> tuple[float, float]:
    """Median of sorted values, and their robust standard deviation measured below it (at least 0.5)."""
    base = float(_median(ordered))
    below = ordered[:(ordered.size + 1) // 2]
    return base, max(1.4826 * float(_median(base - below)), 0.5)


def _two_classes(ordered: np.ndarray) -> tuple[int, float]:
    """Otsu's split of sorted values: how many fall in the lower class, and the share of their variance it explains."""
    values = ordered.astype(np.float64)
    total = np.cumsum(values)
    count = np.arange(1, values.size, dtype=np.float64)  # the lower class's size at each split
    lower_mean = total[:-1] / count
    upper_mean = (total[-1] - total[:-1]) / (values.size - count)
    between = count * (values.size - count) * (upper_mean - lower_mean) ** 2 / values.size ** 2
    best = int(np.argmax(between))
    variance = float(values.var())
    return best + 1, float(between[best]) / variance if variance > 0 else 0.0


def _strongest_count(size: int) -> int:
    """How many of a picture's pixels are its strongest, whose median is the ink's level."""
    return min(size, max(16, size // 500))  # a tiny picture (1x1, 2x2) has fewer pixels than 16


def _ink_level(ink: np.ndarray, noise: tuple[float, float] | None = None) -> tuple[float, float]:
    """The ink's own level (of its strongest pixels) and the paper's noise; NoDigit if no ink stands out."""
    base, spread = noise if noise is not None else _noise(ink)
    count = _strongest_count(ink.size)
    strongest = np.sort(ink, axis=None)[ink.size - count:]  # (np.partition is slow on many equal values)
    level = float(_median(strongest)) - base
    if level < max(MIN_CONTRAST, MIN_SIGNAL_TO_NOISE * spread):
        raise no_digit()
    return level, spread


@dataclass
class _Blobs:
    """8-connected blobs of a mask, as runs of ink (row by row) and per-blob arrays."""

    shape: tuple[int, int]
    runs: tuple[np.ndarray, np.ndarray, np.ndarray]  # row, start, end (exclusive) of each run of ink
    label: np.ndarray  # which blob each run belongs to
    mass: np.ndarray  # each blob's ink
    top: np.ndarray
    bottom: np.ndarray  # exclusive
    left: np.ndarray
    right: np.ndarray  # exclusive


def _strokes(ink: np.ndarray, level: float) -> _Blobs:
    """The blobs of ink, by hysteresis: connected where the ink passes STROKE_CUT of its level, weighed where it passes INK_CUT.

    A stroke fades along its length (a pen lifting, a thin bar of a 5, a small picture's
    area-averaged hairline): cut at half the ink's level alone, it falls apart into pieces, the
    small ones are taken for specks and the digit is read from a fragment. Joined at the lower cut,
    they stay one blob. Each blob weighs only its ink above INK_CUT: faint, broad marks (paper
    texture, a shadow's soft edge) would otherwise gain far more weight from the lower cut than
    strokes do, and a blob that never reaches INK_CUT weighs nothing, as if it were not there.
    """
    strong = np.where(ink > INK_CUT * level, ink, np.float32(0))
    return _components(ink > STROKE_CUT * level, strong)


def _components(mask: np.ndarray, ink: np.ndarray) -> _Blobs:
    """8-connected components of `mask` (with their ink), found by joining runs of ink row by row."""
    height, width = mask.shape
    stride = width + 1  # of the flattened edges, where run i is [first[i], last[i]) on row rows[i]
    padded = np.zeros((height, width + 2), np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1).ravel()
    first, last = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    count = len(first)
    if count == 0:
        raise no_digit()
    rows = first // stride
    starts, ends = first - rows * stride, last - rows * stride
    # Each run's ink: sums over [start, end) of the flattened image (a zero appended, for a run ending it).
    bounds = np.stack((first - rows, last - rows), axis=1).ravel()
    mass = np.add.reduceat(np.append(ink.ravel(), np.float32(0)), bounds, dtype=np.float64)[0::2]
    # Runs on neighbouring rows touch, diagonals included, when each starts no later than the other
    # ends: the runs a run touches above are one range of the sorted runs, found by bisection.
    low = np.searchsorted(last, first - stride, "left")
    high = np.searchsorted(first, last - stride, "right")
    touching = np.maximum(high - low, 0)
    lower = np.repeat(np.arange(count), touching)
    upper = np.arange(len(lower)) + np.repeat(low - np.cumsum(touching) + touching, touching)
    parent = list(range(count))
    for i, j in zip(lower.tolist(), upper.tolist()):
        while parent[i] != i:
            parent[i] = i = parent[parent[i]]
        while parent[j] != j:
            parent[j] = j = parent[parent[j]]
        if i != j:
            parent[max(i, j)] = min(i, j)  # a blob's root stays its first run (in row order)
    for i in range(count):
        parent[i] = parent[parent[i]]  # roots come before their runs, so one pass settles every run
    roots = np.array(parent, dtype=np.int64)
    is_root = roots == np.arange(count)
    label = (np.cumsum(is_root) - 1)[roots]
    blobs = int(is_root.sum())
    bottom, left, right = np.zeros(blobs, np.int64), np.full(blobs, width), np.zeros(blobs, np.int64)
    np.maximum.at(bottom, label, rows + 1)
    np.minimum.at(left, label, starts)
    np.maximum.at(right, label, ends)
    return _Blobs((height, width), (rows, starts, ends), label, np.bincount(label, mass, blobs),
                  rows[is_root], bottom, left, right)


def _page_edges(blobs: _Blobs) -> np.ndarray:
    """Which blobs are a page's edge, a table, a shadow down one side or a ruled line rather than ink of the digit.

    Touching the border says nothing by itself: a digit cut tight to its ink touches one to four
    sides, and one hanging over the edge runs off it. What such a thing does that a digit does not
    is run *along* a border it touches, as a band: over most of that border's length (EDGE_SPAN),
    thin across it (BAND_DEPTH of its length), and farther along it than all the rest of the ink
    (a digit's own stroke along the edge of a tight crop, a 5's bar or a 2's base, spans no more
    than the digit does).
    """
    height, width = blobs.shape
    tall, wide = blobs.bottom - blobs.top, blobs.right - blobs.left
    across = (blobs.top == 0) | (blobs.bottom == height)  # touches a horizontal border...
    down = (blobs.left == 0) | (blobs.right == width)  # ...a vertical one
    band_across = across & (wide > EDGE_SPAN * width) & (tall < BAND_DEPTH * wide)
    band_down = down & (tall > EDGE_SPAN * height) & (wide < BAND_DEPTH * tall)
    candidates = np.flatnonzero(band_across | band_down)
    edges = np.zeros(len(blobs.mass), bool)
    if len(candidates) == 0:
        return edges
    ink = blobs.mass >= SPECK * blobs.mass.max()  # the rest of the ink, specks aside
    for blob in candidates.tolist():
        rest = ink.copy()
        rest[blob] = False
        if not rest.any():
            continue  # nothing else to be the digit
        if band_across[blob] and wide[blob] > blobs.right[rest].max() - blobs.left[rest].min():
            edges[blob] = True
        if band_down[blob] and tall[blob] > blobs.bottom[rest].max() - blobs.top[rest].min():
            edges[blob] = True
    return edges


def _digit_box(blobs: _Blobs) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """Top, bottom, left, right (exclusive) of the digit in the analysis image, and which blobs are kept."""
    height, width = blobs.shape
    tall, wide = blobs.bottom - blobs.top, blobs.right - blobs.left
    edges = _page_edges(blobs)
    weight = _weights(blobs, edges)
    main = int(np.argmax(weight))
    extent = max(int(tall[main]), int(wide[main]))
    if extent < max(2, max(height, width) // 25):
        raise no_digit()  # a speck on an empty page
    reach = 0.3 * extent
    kept = ((blobs.top < blobs.bottom[main] + reach) & (blobs.bottom > blobs.top[main] - reach)
            & (blobs.left < blobs.right[main] + reach) & (blobs.right > blobs.left[main] - reach)
            & (weight >= SPECK * blobs.mass[main]) & ~edges)
    kept[main] = True
    box = (int(blobs.top[kept].min()), int(blobs.bottom[kept].max()),
           int(blobs.left[kept].min()), int(blobs.right[kept].max()))
    return box, kept


def _weights(blobs: _Blobs, edges: np.ndarray | None = None) -> np.ndarray:
    """Each blob's ink, discounted (BORDER_WEIGHT squared) when it is a page edge (`_page_edges`).

    `edges` is `_page_edges(blobs)`, computed here when not given. A blob merely touching the border
    (a digit cut tight to its ink, or hanging over the edge) keeps all its weight.
    """
    if edges is None:
        edges = _page_edges(blobs)
    return blobs.mass * np.where(edges, BORDER_WEIGHT * BORDER_WEIGHT, 1.0)


def _paint(blobs: _Blobs, kept: np.ndarray) -> np.ndarray:
    """A float mask of the kept blobs, grown by BLOB_MARGIN pixels."""
    rows, starts, ends = (part[kept[blobs.label]] for part in blobs.runs)
    changes = np.zeros((blobs.shape[0], blobs.shape[1] + 1), np.int8)
    changes[rows, starts] = 1  # runs are maximal, so no two share a start or an end
    changes[rows, ends] = -1
    mask = np.cumsum(changes, axis=1, dtype=np.int8)[:, :-1] > 0
    return _grow(mask, BLOB_MARGIN).astype(np.float32)


def _grow(values: np.ndarray, by: int) -> np.ndarray:
    """A square maximum filter of 2 * by + 1 (edges repeated): `by` 3x3 maximum filters, each four whole-array steps."""
    for _ in range(by):
        rows = values.copy()
        np.maximum(rows[1:], values[:-1], out=rows[1:])
        np.maximum(rows[:-1], values[1:], out=rows[:-1])
        values = rows.copy()
        np.maximum(values[:, 1:], rows[:, :-1], out=values[:, 1:])
        np.maximum(values[:, :-1], rows[:, 1:], out=values[:, :-1])
    return values


def _is_mnist_style(grey: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """A 28x28 light-on-dark digit already sized and centred as MNIST's are: used as it is."""
    top, bottom, left, right = box
    if max(bottom - top, right - left) > BOX + 2 or max(bottom - top, right - left) < BOX - 3:
        return False
    total = float(grey.sum())
    rows = float((grey.sum(axis=1) * np.arange(SIZE)).sum()) / total
    cols = float((grey.sum(axis=0) * np.arange(SIZE)).sum()) / total
    return abs(rows - CENTRE) <= 1.5 and abs(cols - CENTRE) <= 1.5 and float(np.median(grey[0])) < MIN_CONTRAST


def _ink_crop(grey: np.ndarray, paper: _Paper, mask: np.ndarray | None, box: tuple[int, int, int, int],
              level: float, noise: float) -> np.ndarray:
    """The digit's ink in [0, 1] at full resolution, cropped to its box (paper, specks and other marks removed).

    `mask` (analysis scale) is where the kept blobs are; None keeps everything in the box.
    """
    top, bottom, left, right = box
    height, width = grey.shape
    down, across = height / paper.ink.shape[0], width / paper.ink.shape[1]  # full pixels per analysis pixel
    margin = 1  # an analysis pixel around the box, for the anti-aliased edges
    y0, y1 = max(0, int((top - margin) * down)), min(height, int(np.ceil((bottom + margin) * down)))
    x0, x1 = max(0, int((left - margin) * across)), min(width, int(np.ceil((right + margin) * across)))
    # Analysis-scale maps (paper, weights) are enlarged under the crop only.
    region = (x0 / across, y0 / down, x1 / across, y1 / down)
    size = (x1 - x0, y1 - y0)

    def enlarged(values: np.ndarray) -> np.ndarray:
        image = Image.fromarray(values, "F").resize(size, Image.Resampling.BILINEAR, box=region)
        return np.asarray(image, dtype=np.float32)

    crop = grey[y0:y1, x0:x1]
    if paper.gain is None:  # flat paper: one level, no gain (subtracting it makes floats of uint8 levels)
        if paper.light:
            ink = np.subtract(crop, paper.level, dtype=np.float32)
        else:
            ink = np.subtract(255.0 - paper.level, crop, dtype=np.float32)
        if mask is not None:
            ink *= enlarged(mask)
    else:
        crop = crop.astype(np.float32, copy=False)
        weight = paper.gain if mask is None else paper.gain * mask
        ink = ((crop if paper.light else 255.0 - crop) - enlarged(paper.level)) * enlarged(weight)
    # Full-resolution noise is about `down` times the analysis image's (area averaging divided it by that).
    floor = max(CROP_FLOOR * level, 3.0 * noise * max(down, across))
    peak = max(level, floor + 1.0)
    # The digit is where the ink passes half its level; only that part is scaled to [0, 1].
    inked = ink > floor + 0.5 * (peak - floor)
    rows, cols = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
    if len(rows) == 0:
        raise no_digit()
    return _unit((ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] - floor) * (1.0 / (peak - floor)))


def _unit(values: np.ndarray) -> np.ndarray:
    """`values` (a new array, changed in place) clipped to [0, 1]; ufuncs skip np.clip's Python-level checks."""
    return np.minimum(np.maximum(values, 0.0, out=values), 1.0, out=values)


def _resize(digit: np.ndarray, size: int) -> np.ndarray:
    """Scale so the longer side is `size`, keeping the aspect ratio."""
    height, width = digit.shape
    scale = size / max(height, width)
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = Image.fromarray(digit.astype(np.float32, copy=False), "F")
    if scale < 1:  # reducing averages (MNIST's anti-aliasing), which keeps values in [0, 1]
        return np.asarray(image.resize(new, Image.Resampling.BOX), dtype=np.float32)
    # Enlarging interpolates smoothly, overshooting a little at edges.
    return _unit(np.array(image.resize(new, Image.Resampling.BICUBIC), dtype=np.float32))


def _adjust_strokes(digit: np.ndarray) -> np.ndarray:
    """Strokes (at STROKE_SIZE) no thinner than MNIST's usual range, and made crisp as MNIST's binary originals."""
    target = MNIST_STROKE * STROKE_SIZE / BOX
    width = _stroke_width(digit > 0.5)
    if width < THIN * target:
        digit = _widen(digit, THIN * target - width)
    return _unit((digit - 0.3) * (1 / 0.4))  # soft edges steepened around half ink


def _widen(digit: np.ndarray, change: float) -> np.ndarray:
    """Strokes `change` pixels wider, a fraction of a pixel by blending two maximum filters' sizes."""
    size = 1 + change  # a maximum filter of size k widens a stroke by k - 1
    low = int(size) if int(size) % 2 else int(size) - 1
    fraction = (size - low) / 2
    near = _grow(digit, low // 2)
    far = _grow(near, 1)
    return (1 - fraction) * near + fraction * far


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary image: twice the area over the perimeter."""
    area = np.count_nonzero(mask)
    if area == 0:
        return 0.0
    # Edges between ink and paper inside the image, and ink on its border (paper lies beyond it).
    perimeter = (np.count_nonzero(mask[1:] != mask[:-1]) + np.count_nonzero(mask[:, 1:] != mask[:, :-1])
                 + np.count_nonzero(mask[0]) + np.count_nonzero(mask[-1])
                 + np.count_nonzero(mask[:, 0]) + np.count_nonzero(mask[:, -1]))
    return 2.0 * int(area) / int(perimeter)


def _centre(digit: np.ndarray) -> np.ndarray:
    """The digit (at STROKE_SIZE) reduced by area into 28x28, its centre of mass at MNIST's, to a fraction of a pixel.

    One area reduction of a window placed at fractional coordinates both gives MNIST's
    anti-aliasing and avoids rounding the shift to whole pixels (which a little noise would flip).
    """
    factor = STROKE_SIZE / BOX
    height, width = digit.shape
    rows, cols = digit.sum(axis=1), digit.sum(axis=0)
    total = float(rows.sum())
    if total <= 0:
        raise no_digit()
    com_row = float(rows @ np.arange(height)) / total + 0.5
    com_col = float(cols @ np.arange(width)) / total + 0.5
    span = SIZE * factor
    # Where the window starts (in the digit's coordinates), kept so that the digit stays inside it.
    top = min(max(com_row - factor * (CENTRE + 0.5), height - span), 0.0)
    left = min(max(com_col - factor * (CENTRE + 0.5), width - span), 0.0)
    out = _coverage(top, factor, height) @ digit @ _coverage(left, factor, width).T
    return _unit(out * np.float32(1.0 / (factor * factor)))


def _coverage(start: float, step: float, length: int) -> np.ndarray:
    """How much of each of `length` unit pixels each of SIZE output pixels [start + i step, start + (i + 1) step) covers."""
    # The part of pixel p left of x is clip(x - p, 0, 1); an output pixel covers the difference at its two edges.
    edges = (start + step * np.arange(SIZE + 1, dtype=np.float32))[:, None] - np.arange(length, dtype=np.float32)
    left = np.minimum(np.maximum(edges, 0.0, out=edges), 1.0, out=edges)
    return left[1:] - left[:-1]
