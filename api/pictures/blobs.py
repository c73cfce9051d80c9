"""Blobs of ink: 8-connected components by hysteresis, page edges and specks told from the digit, its box and mask."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from api.pictures.ink import no_digit
from api.pictures.morphology import grow

# A blob is a speck, not part of the digit, below this fraction of the digit's main blob's ink.
SPECK = 0.04

# A blob that runs along a border as a band (a page edge, a table, a shadow down one side, a ruled
# line: `_page_edges`) counts BORDER_WEIGHT squared of its ink, and is never kept beside the digit.
BORDER_WEIGHT = 0.25

# Such a band spans more than EDGE_SPAN of the border's length and is at most BAND_DEPTH of its
# length thick.
EDGE_SPAN = 0.6

BAND_DEPTH = 0.35

# A blob beside the digit is another digit (`side_by_side`) when it is at least this tall and heavy,
# as fractions of the digit's blob.
SIDE_HEIGHT, SIDE_MASS = 0.5, 0.25
# The kept blobs' mask is grown by this many analysis pixels: their soft edges, faint bits of stroke.
BLOB_MARGIN = 2

# Ink is where the ink image passes this fraction of the ink's own level; a blob of it extends
# along its strokes as far as they pass STROKE_CUT (hysteresis: `strokes`).
INK_CUT = 0.5

STROKE_CUT = 0.25


@dataclass
class Blobs:
    """8-connected blobs of a mask, as runs of ink (row by row) and per-blob arrays."""

    shape: tuple[int, int]
    runs: tuple[np.ndarray, np.ndarray, np.ndarray]  # row, start, end (exclusive) of each run of ink
    label: np.ndarray  # which blob each run belongs to
    mass: np.ndarray  # each blob's ink
    top: np.ndarray
    bottom: np.ndarray  # exclusive
    left: np.ndarray
    right: np.ndarray  # exclusive


def strokes(ink: np.ndarray, level: float) -> Blobs:
    """The blobs of ink, by hysteresis: joined where the ink passes STROKE_CUT of its level, weighed past INK_CUT.

    A stroke fades along its length (a pen lifting, a thin bar of a 5, a small picture's
    area-averaged hairline): cut at half the ink's level alone, it falls apart into pieces, the
    small ones are taken for specks and the digit is read from a fragment. Joined at the lower cut,
    they stay one blob. Each blob weighs only its ink above INK_CUT: faint, broad marks (paper
    texture, a shadow's soft edge) would otherwise gain far more weight from the lower cut than
    strokes do, and a blob that never reaches INK_CUT weighs nothing, as if it were not there.
    """
    strong = np.where(ink > INK_CUT * level, ink, np.float32(0))
    return components(ink > STROKE_CUT * level, strong)


def components(mask: np.ndarray, ink: np.ndarray) -> Blobs:
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
    return Blobs(
        (height, width),
        (rows, starts, ends),
        label,
        np.bincount(label, mass, blobs),
        rows[is_root],
        bottom,
        left,
        right,
    )


def _page_edges(blobs: Blobs) -> np.ndarray:
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


def digit_box(blobs: Blobs) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """Top, bottom, left, right (exclusive) of the digit in the analysis image, and which blobs are kept."""
    height, width = blobs.shape
    tall, wide = blobs.bottom - blobs.top, blobs.right - blobs.left
    edges = _page_edges(blobs)
    weight = weights(blobs, edges)
    main = int(np.argmax(weight))
    extent = max(int(tall[main]), int(wide[main]))
    if extent < max(2, max(height, width) // 25):
        raise no_digit()  # a speck on an empty page
    reach = 0.3 * extent
    kept = (
        (blobs.top < blobs.bottom[main] + reach)
        & (blobs.bottom > blobs.top[main] - reach)
        & (blobs.left < blobs.right[main] + reach)
        & (blobs.right > blobs.left[main] - reach)
        & (weight >= SPECK * blobs.mass[main])
        & ~edges
    )
    kept[main] = True
    box = (
        int(blobs.top[kept].min()),
        int(blobs.bottom[kept].max()),
        int(blobs.left[kept].min()),
        int(blobs.right[kept].max()),
    )
    return box, kept


def weights(blobs: Blobs, edges: np.ndarray | None = None) -> np.ndarray:
    """Each blob's ink, discounted (BORDER_WEIGHT squared) when it is a page edge (`_page_edges`).

    `edges` is `_page_edges(blobs)`, computed here when not given. A blob merely touching the border
    (a digit cut tight to its ink, or hanging over the edge) keeps all its weight.
    """
    if edges is None:
        edges = _page_edges(blobs)
    return blobs.mass * np.where(edges, BORDER_WEIGHT * BORDER_WEIGHT, 1.0)


def paint(blobs: Blobs, kept: np.ndarray) -> np.ndarray:
    """A float mask of the kept blobs, grown by BLOB_MARGIN pixels."""
    rows, starts, ends = (part[kept[blobs.label]] for part in blobs.runs)
    changes = np.zeros((blobs.shape[0], blobs.shape[1] + 1), np.int8)
    changes[rows, starts] = 1  # runs are maximal, so no two share a start or an end
    changes[rows, ends] = -1
    mask = np.cumsum(changes, axis=1, dtype=np.int8)[:, :-1] > 0
    return grow(mask, BLOB_MARGIN).astype(np.float32)


def side_by_side(blobs: Blobs) -> bool:
    """Whether the picture plainly holds several digits side by side, not one: beside the heaviest blob,
    another at least SIDE_HEIGHT of its height and SIDE_MASS of its ink, level with it (their rows
    overlapping by half the shorter's height) and apart from it (no column in common). A digit's own
    strokes overlap in columns (a 4 in two strokes) or are small (a 5's flag); page edges do not count.
    """
    edges = _page_edges(blobs)
    weight = weights(blobs, edges)
    main = int(np.argmax(weight))
    tall = blobs.bottom - blobs.top
    rows = np.minimum(blobs.bottom, blobs.bottom[main]) - np.maximum(blobs.top, blobs.top[main])
    apart = (blobs.right <= blobs.left[main]) | (blobs.left >= blobs.right[main])
    other = (
        ~edges
        & apart
        & (tall >= SIDE_HEIGHT * tall[main])
        & (weight >= SIDE_MASS * weight[main])
        & (rows >= 0.5 * np.minimum(tall, tall[main]))
    )
    return bool(other.any())
