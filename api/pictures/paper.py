"""The paper under the ink and its light, and the ink's polarity: a picture → the ink standing above its paper."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from api.lazy import lazy_import
from api.pictures.blobs import BLOB_MARGIN
from api.pictures.ink import MIN_CONTRAST, SMALL_SAMPLE, TWO_POPULATIONS, strength
from api.pictures.morphology import grow, stroke_width, window
from api.pictures.robust import (
    CLIP,
    CLIP_ROUNDS,
    MIN_SPREAD,
    clipped,
    lower_level_and_spread,
    median,
    median_and_spread,
    pixel_noise,
    strongest_count,
    two_classes,
)

# Pillow loads when an image first arrives (api.lazy).
Image = lazy_import("PIL.Image")

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


@dataclass
class Paper:
    """The paper under the ink, and the ink standing above it at the analysis scale."""

    light: bool  # the ink is lighter than its paper (chalk on a board), as MNIST's is
    ink: np.ndarray  # grey levels above the paper, relative to the light, at the analysis scale
    noise: tuple[float, float] | None  # the ink image's paper level and noise spread, when already known
    # Flat paper: its grey level (ink-positive: of the picture itself when `light`, else of its
    # negative). Otherwise the paper and the light's gain at the analysis scale.
    level: float | np.ndarray
    gain: np.ndarray | None = None


def analysis_copy(grey: np.ndarray, longest: int = ANALYSIS_SIZE) -> np.ndarray:
    """The image area-averaged to at most `longest` (default ANALYSIS_SIZE) pixels a side."""
    height, width = grey.shape
    scale = max(height, width) / longest
    if scale <= 1.0:
        return grey.astype(np.float32)
    size = (max(1, round(width / scale)), max(1, round(height / scale)))
    image = Image.fromarray(grey).convert("F") if grey.dtype == np.uint8 else Image.fromarray(grey, "F")
    return np.asarray(image.resize(size, Image.Resampling.BOX), dtype=np.float32)


def find_paper(small: np.ndarray) -> Paper:
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
    blocks = Blocks(small)
    frame = _frame(small)
    flat = flat_level(blocks)
    if flat is not None and abs(float(median(frame)) - flat) > FLAT:
        flat = None  # the blocks' common level is not the frame's: ink filling most of the blocks, not paper
    local = flat if flat is not None else blocks.local_median()
    departure = small - local
    if flat is not None:  # most of every neighbourhood is paper: the departures' median and spread are the paper's
        base, spread = median_and_spread(departure[::2, ::2])
    else:
        base, spread = float(median(departure[::2, ::2])), pixel_noise(small)
    lighter, darker = strength(departure - base, spread), strength(base - departure, spread)
    light = lighter > darker
    if flat is not None:
        # The ink is the departure itself, or its negative.
        if light:
            return Paper(True, departure, (base, spread), flat)
        return Paper(False, -departure, (-base, spread), 255.0 - flat)
    ordered = np.sort(small, axis=None)  # the picture's levels in order, sorted once for all that needs them
    if light != _frame_says_light(ordered, frame):
        if max(lighter, darker) < POLARITY_EVIDENCE * (min(lighter, darker) + spread):
            light = not light
    return _ink_on_uneven_paper(small, ordered, light)


def _frame(small: np.ndarray) -> np.ndarray:
    """The picture's outermost ring of pixels."""
    if min(small.shape) < 3:
        return small.ravel()
    return np.concatenate([small[0], small[-1], small[1:-1, 0], small[1:-1, -1]])


def _frame_says_light(ordered: np.ndarray, frame: np.ndarray) -> bool:
    """Whether the ink is lighter than the paper, taking the paper to be what most of the frame is.

    The ink is the picture's extreme farther from the frame's level: its strongest pixels (as
    `ink_level` measures them) on each side are compared. `ordered`: the picture's levels in order.
    """
    level = float(median(frame))
    count = strongest_count(ordered.size)
    return float(median(ordered[ordered.size - count :])) - level > level - float(median(ordered[:count]))


def _ink_on_uneven_paper(small: np.ndarray, ordered: np.ndarray, light: bool) -> Paper:
    """Ink above an opening of the paper, relative to the light there.

    Light multiplies paper and ink alike, so ink is measured relative to the paper's brightness
    where it lies: a stroke in a shadow is as strong as one in the light. Paper much darker than
    the picture's brightest (a black board, the dark paper of a negative) shows the light too
    faintly to measure: its brightness is floored at GAIN_FLOOR of the brightest level, else the
    noise and error of its estimate would scale the strokes at random. `ordered`: `small`'s levels in order.
    """
    values = small if light else 255.0 - small
    # The ink image's levels in order: `ordered` itself, or its negative read backwards.
    paper, noise = _paper(values, ordered if light else np.ascontiguousarray((255.0 - ordered)[::-1]))
    brightest = float(median(ordered[ordered.size - strongest_count(ordered.size) :]))
    brightness = np.maximum(paper if light else 255.0 - paper, max(MIN_CONTRAST, GAIN_FLOOR * brightest))
    gain = (float(median(brightness[::3, ::3])) / brightness).astype(np.float32)
    if noise is not None:  # measured on the paper about the plane, in the ink image's units
        scale = float(median(gain[::3, ::3]))
        noise = (noise[0] * scale, max(noise[1] * scale, MIN_SPREAD))
    return Paper(light, (values - paper) * gain, noise, paper, gain)


def _paper(values: np.ndarray, ordered: np.ndarray) -> tuple[np.ndarray, tuple[float, float] | None]:
    """The paper under ink that is brighter than it: the opening, smoothed, or a plane where that misreads less.

    The opening cannot see paper narrower than its window: in a picture cut tight to a digit, or
    one mostly ink, it climbs onto the strokes and cuts them to fragments. A plane fitted to the
    paper's pixels (`_plane`) cannot follow a shadow's edge or a vignette. Each is judged by the
    same count (`_misfits`): the ink it would lose and the paper it would take for ink; the plane
    replaces the opening when it makes no more of them and the paper lies on it within its noise
    (`_flat_enough`). With the plane comes the paper's level and noise about it, measured on the
    paper's own pixels; with the opening, None (`_noise` measures them on the ink image). `ordered`:
    `values` in order.
    """
    size = max(3, int(PAPER_WINDOW * values.shape[0]) | 1)
    opened = window(window(values, size, np.minimum), size, np.maximum)
    # The opening is blocky at its corners; averaging over a third of its width smooths it.
    smoothed = _smooth(opened, max(3, size // 3))
    populations = _populations(values, ordered)
    if populations is None:
        return smoothed, None
    plane, noise = _plane(values, populations)
    if _flat_enough(values, plane, populations) and (
        _misfits(values, plane, populations) <= _misfits(values, smoothed, populations)
    ):
        return plane, noise
    return smoothed, None


@dataclass
class _Populations:
    """A picture's pixels split in two, paper below and ink above (`_populations`)."""

    paper: np.ndarray  # bool: the lower population
    ink: np.ndarray  # bool: the upper population
    far: np.ndarray  # bool: paper farther than BLOB_MARGIN pixels from any ink (no anti-aliased edge)
    half: float  # half the ink's height above the paper


def _populations(values: np.ndarray, ordered: np.ndarray) -> _Populations | None:
    """Paper and ink by Otsu's split (`two_classes`), when the split shows two populations (TWO_POPULATIONS)
    and the upper one is strokes: no wider on average (`stroke_width`) than MAX_STROKE of the picture.
    `ordered`: `values` in order."""
    if ordered.size < 4:
        return None
    split, explained = two_classes(ordered)
    if explained < TWO_POPULATIONS:
        return None  # one population: noise or light alone, nothing to tell paper from ink by
    threshold = ordered[split]
    base, _ = clipped(ordered[:split])
    ink = values >= threshold
    if stroke_width(ink) > MAX_STROKE * max(values.shape):
        return None  # the upper population is no strokes but a region: lit paper beside a shadow, a table
    near = grow(ink.astype(np.float32), BLOB_MARGIN) > 0
    return _Populations(~ink, ink, ~near, 0.5 * (float(median(ordered[split:])) - base))


def _plane(values: np.ndarray, populations: _Populations) -> tuple[np.ndarray, tuple[float, float]]:
    """The plane under the paper's pixels: least squares on the paper away from the strokes, their edges clipped.

    Fitted to the lower population's pixels beyond the strokes' anti-aliased edges (`far`), then
    refitted CLIP_ROUNDS times to those within CLIP residual spreads above the residuals' median
    (the spread measured below it, where only the paper's noise is), as `clipped` does for one
    level. A slope is fitted only along an axis the paper spreads over (PLANE_SPREAD); when almost
    no paper is clear of the strokes (a crop cut inside the ink's edges), the paper is one level:
    that of the lowest PLANE_MIN_PIXELS pixels, all the picture shows of it. Returned with the
    paper pixels' residual level and spread about it (`median_and_spread`).
    """
    height, width = values.shape
    step = 2 if values.size >= 4 * SMALL_SAMPLE else 1  # a quarter of the pixels fit a plane as well
    level = values[::step, ::step].astype(np.float64).ravel()
    chosen = populations.far[::step, ::step].ravel()
    if np.count_nonzero(chosen) < PLANE_MIN_PIXELS:
        lowest = np.sort(values, axis=None)[:PLANE_MIN_PIXELS]
        level = float(median(lowest))
        return np.full(values.shape, level, np.float32), median_and_spread(lowest - level)
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
        base, spread = lower_level_and_spread(np.sort(residual[chosen]))
        kept = chosen & (residual <= base + CLIP * spread)
        if np.array_equal(kept, chosen):
            break  # nothing clipped: every further round would fit the same pixels again
        chosen = kept
    coefficients = iter(fit[1:])
    slope_down = next(coefficients) if along[0] else 0.0
    slope_across = next(coefficients) if along[1] else 0.0
    plane = (
        fit[0]
        + slope_down * (np.arange(height) / height - 0.5)[:, None]
        + slope_across * (np.arange(width) / width - 0.5)[None, :]
    )
    return plane.astype(np.float32), median_and_spread(residual[chosen])


def _flat_enough(values: np.ndarray, plane: np.ndarray, populations: _Populations) -> bool:
    """Whether the paper clear of the strokes lies on `plane` to within its noise (PLANE_FIT, PLANE_SLACK).

    Measured on every such pixel, not only those the fit kept: under a shadow's edge or a
    vignette they stray from any plane by far more than the picture's pixel noise (and there the
    two populations may be lit and shadowed paper, not paper and ink).
    """
    residual = (values - plane)[populations.far]
    if residual.size < PLANE_MIN_PIXELS:
        return True  # nothing clear of the strokes to contradict one level
    _, spread = median_and_spread(residual)
    return spread <= PLANE_FIT * pixel_noise(values) + PLANE_SLACK


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


class Blocks:
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
        self.samples = (
            values[down[:, None], across]
            .reshape(self.rows, half, self.cols, half)
            .transpose(0, 2, 1, 3)
            .reshape(self.rows, self.cols, -1)
        )

    def around(self, values: np.ndarray) -> np.ndarray:
        """Per-block `values` with a block's border around them, edges repeated."""
        down = [0, *range(self.rows), self.rows - 1]
        return values[down][:, [0, *range(self.cols), self.cols - 1]]

    def neighbourhoods(self, values: np.ndarray) -> list[np.ndarray]:
        """The 9 arrays of each block's 3x3 neighbours' values (edges repeated)."""
        around = self.around(values)
        return [around[r : r + self.rows, c : c + self.cols] for r in range(3) for c in range(3)]

    def local_median(self) -> np.ndarray:
        """Each block's median (a 3x3 median of blocks mends ink-filled ones), spread smoothly over the image."""
        medians = median(self.samples, axis=2)
        mended = median(np.stack(self.neighbourhoods(medians), axis=2), axis=2).astype(np.float32)
        spread = Image.fromarray(mended, "F").resize(
            (self.cols * self.size, self.rows * self.size), Image.Resampling.BILINEAR
        )
        return np.asarray(spread, dtype=np.float32)[: self.height, : self.width]


def flat_level(blocks: Blocks) -> float | None:
    """The paper's grey level if `blocks.local_median()` is provably within FLAT of it everywhere, else None.

    A block's median lies within FLAT of the level when more than half of its samples do; a 3x3
    median of blocks does when at least 5 of its 9 blocks do; and a bilinear spread of values within
    that interval stays in it. Sensor noise of a grey level or more fails the first step, a
    lighting gradient the second: such pictures take the full paper estimate.
    """
    level = float(median(blocks.samples))
    near = 2 * np.add.reduce(np.abs(blocks.samples - level) <= FLAT, axis=2) > blocks.samples.shape[2]
    if near.all():  # (no block is mostly ink)
        return level
    around = blocks.around(near.astype(np.int8))
    columns = around[:-2] + around[1:-1] + around[2:]  # 3x3 sums, separably
    return level if bool((columns[:, :-2] + columns[:, 1:-1] + columns[:, 2:] >= 5).all()) else None
