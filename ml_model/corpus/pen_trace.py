"""Pen paths traced from MNIST digits: the centre lines a pen follows to draw the digit the writer meant.

The 28x28 digit is enlarged smoothly SCALE times and cut at half ink (where MNIST's strokes have
their edge); blobs wider than two stroke widths (loops the writer's pen filled in) get their core
cut out, so that they thin to a ring along their edge rather than to a short line; and the mask is
thinned to a one-pixel centre line (Zhang and Suen's parallel thinning, 1984). At this scale the
line follows the stroke's middle to a fraction of an MNIST pixel. It is then cut into
branches between its free ends and junctions, and branches that run from a junction to a free end
but are shorter than the digit's own stroke width are dropped: thinning grows such spurs into
corners and blunt stroke ends, a pen of the stroke's width would cover them anyway. What is left is
smoothed along its length (a Gaussian of half an MNIST pixel: the pixel staircase goes, corners stay)
with every branch ending on its junction's centre, so loops stay closed when drawn.

`trace(digit)` gives the strokes, points (x, y) in [0, 1] of the 28x28 frame; `stroke_width(digit)`
the digit's own mean stroke width; `draw_strokes` paints strokes with a round pen, anti-aliased as a
browser's canvas is. Used by the picture corpus (`digits.py`), `bench/pen_paths.py`, and the browser
tests, which draw the same strokes with the mouse (`tests/support/pen_paths.py`). numpy and Pillow only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from api.pictures.morphology import stroke_width as pixel_stroke_width

Point = tuple[float, float]
Stroke = list[Point]

FRAME = 28  # MNIST's frame, in its pixels
SCALE = 8  # the digit is thinned at 224x224: the centre line is placed to 1/8 of an MNIST pixel
INK = 0.5  # of full intensity: where an MNIST stroke's anti-aliased edge is
SMOOTH = 0.5  # MNIST pixels: the Gaussian along a path that removes the thinning grid's staircase
SPACING = 0.5  # MNIST pixels between a stroke's points
SPUR = 0.75  # of the stroke width: shorter branches from a junction to a free end are thinning's, not the pen's
CORE = 1.0  # of the stroke width: ink farther than this from any edge is inside a loop the pen filled in
SUPERSAMPLE = 4  # strokes are painted this much larger, then area-reduced (a canvas's anti-aliasing)
# The eight neighbours, clockwise from north, as (row, column) offsets: P2..P9 in Zhang and Suen.
RING = [(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)]


def stroke_width(digit: np.ndarray) -> float:
    """A 28x28 digit's mean stroke width in its pixels, as a round pen would draw it (ink over half).

    Twice the area over the perimeter (`api.pictures.morphology.stroke_width`) counts the perimeter
    along pixel edges: a staircase, on average 4/pi times the length of the curved edge it follows
    (Cauchy's formula for lines at every angle); taking that out gives the width a round pen needs
    to cover the same ink.
    """
    return pixel_stroke_width(digit > 255 * INK) * 4 / np.pi


def _mask(digit: np.ndarray) -> np.ndarray:
    """The digit enlarged SCALE times and cut at half ink."""
    size = FRAME * SCALE
    enlarged = Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC)
    # Bicubic leaves a faint ripple along the edges; a blur of a quarter MNIST pixel takes it off the cut.
    enlarged = enlarged.filter(ImageFilter.GaussianBlur(SCALE / 4))
    return np.asarray(enlarged) > 255 * INK


def _hollowed(mask: np.ndarray, width: float) -> np.ndarray:
    """The mask with its blobs' cores cut out: where ink lies more than CORE x `width` from any edge.

    A blob of ink more than two stroke widths across is a loop a pen filled in (the top of a thick
    8 or 9): one pass of a round pen of the digit's width leaves no ink farther than that width
    from an edge (the inside of an acute corner comes closest). Thinning makes a short line of a
    blob, which that pen redraws as a thin stroke where the digit has a blob; with the core cut
    out it thins to a ring inside the blob's edge, which the pen redraws as the blob's outline
    around a small hole where the core was.
    """
    core = mask.copy()
    for step in range(int(round(CORE * width * SCALE))):  # alternating 4- and 8-neighbour erosions: nearly a disc
        padded = np.pad(core, 1)
        offsets = RING[0::2] if step % 2 == 0 else RING
        for dr, dc in offsets:
            core = core & padded[1 + dr : 1 + dr + mask.shape[0], 1 + dc : 1 + dc + mask.shape[1]]
        if not core.any():
            return mask
    return mask & ~core


def _removable(sub_iteration: int) -> np.ndarray:
    """Per neighbourhood code (bit i set where RING[i] is ink) whether Zhang and Suen's `sub_iteration`
    takes the pixel off: 2-6 ink neighbours, one 0 → 1 transition round the ring, and the side condition
    (P2·P4·P6 = P4·P6·P8 = 0 in the first sub-iteration, P2·P4·P8 = P2·P6·P8 = 0 in the second)."""
    table = np.zeros(256, bool)
    for code in range(256):
        p = [(code >> i) & 1 for i in range(8)]
        transitions = sum(p[i] == 0 and p[(i + 1) % 8] == 1 for i in range(8))
        north, east, south, west = p[0], p[2], p[4], p[6]
        if sub_iteration == 0:
            side = north * east * south == 0 and east * south * west == 0
        else:
            side = north * east * west == 0 and north * south * west == 0
        table[code] = 2 <= sum(p) <= 6 and transitions == 1 and side
    return table


REMOVABLE = (_removable(0), _removable(1))


def skeleton(mask: np.ndarray) -> np.ndarray:
    """The one-pixel-wide centre lines of a boolean mask (Zhang-Suen thinning).

    Each sub-iteration packs every pixel's eight neighbours into one byte and looks its removal up in
    REMOVABLE: the same test as evaluating the conditions pixel by pixel, a few array passes instead of
    dozens (a whole MNIST digit's trace 9.3 → 7.0 ms; thinning was most of it)."""
    image = np.pad(mask.astype(np.uint8), 1)
    height, width = mask.shape
    code = np.empty((height, width), np.uint8)
    while True:
        changed = False
        for sub_iteration in (0, 1):
            code[:] = 0
            for bit, (dr, dc) in enumerate(RING):
                code |= image[1 + dr : 1 + dr + height, 1 + dc : 1 + dc + width] << bit
            centre = image[1:-1, 1:-1]
            remove = REMOVABLE[sub_iteration][code] & (centre == 1)
            if remove.any():
                centre[remove] = 0
                changed = True
        if not changed:
            return image[1:-1, 1:-1].astype(bool)


# ---------------------------------------------------------------- the centre line as a graph

Pixel = tuple[int, int]


def _linked(pixels: set[Pixel]) -> dict[Pixel, list[Pixel]]:
    """Each pixel's neighbours on the line. A diagonal neighbour counts only where no side neighbour
    already links the two (m-adjacency), so a staircase is a line, not a chain of little triangles."""
    links = {}
    for r, c in pixels:
        sides = [(r + dr, c + dc) for dr, dc in RING[0::2] if (r + dr, c + dc) in pixels]
        corners = [
            (r + dr, c + dc)
            for dr, dc in RING[1::2]
            if (r + dr, c + dc) in pixels and (r + dr, c) not in pixels and (r, c + dc) not in pixels
        ]
        links[(r, c)] = sides + corners
    return links


@dataclass
class _Branch:
    """A run of the line between two nodes (free ends or junctions; None for a loop with neither)."""

    start: int | None
    end: int | None
    points: np.ndarray  # (n, 2) rows and columns of the enlarged digit

    @property
    def length(self) -> float:
        return float(np.hypot(*np.diff(self.points, axis=0).T).sum())


def _branches(bones: np.ndarray) -> list[_Branch]:
    """The line cut at its free ends and junctions; the pixels of one junction make one node at their centre."""
    pixels = {(int(r), int(c)) for r, c in zip(*np.nonzero(bones))}
    links = _linked(pixels)
    is_node = {p for p, near in links.items() if len(near) != 2}
    node_of: dict[Pixel, int] = {}
    centres: list[np.ndarray] = []
    for p in sorted(is_node):  # neighbouring junction pixels are one junction
        if p in node_of:
            continue
        group, todo = [p], [p]
        node_of[p] = len(centres)
        while todo:
            q = todo.pop()
            for n in links[q]:
                if n in is_node and n not in node_of and len(links[n]) > 2 and len(links[q]) > 2:
                    node_of[n] = node_of[p]
                    group.append(n)
                    todo.append(n)
        centres.append(np.mean(group, axis=0))
    branches, walked, seen_pairs = [], set(), set()
    for p in sorted(is_node):
        for first in links[p]:
            if first in is_node:  # two nodes side by side: a branch of one step, unless one junction
                pair = frozenset((p, first))
                if node_of[p] != node_of[first] and pair not in seen_pairs:
                    seen_pairs.add(pair)
                    branches.append(
                        _Branch(node_of[p], node_of[first], np.array([centres[node_of[p]], centres[node_of[first]]]))
                    )
                continue
            if first in walked:
                continue
            path, previous, here = [p, first], p, first
            while here not in is_node:
                walked.add(here)
                previous, here = here, next(n for n in links[here] if n != previous)
                path.append(here)
            points = np.array(path, np.float64)
            points[0], points[-1] = centres[node_of[p]], centres[node_of[here]]
            branches.append(_Branch(node_of[p], node_of[here], points))
    for p in sorted(pixels - is_node - walked):  # closed loops with no junction on them (an O)
        if p in walked:
            continue
        path, previous, here = [p], None, p
        while True:
            walked.add(here)
            ahead = [n for n in links[here] if n != previous and n not in walked]
            if not ahead:
                break
            previous, here = here, ahead[0]
            path.append(here)
        path.append(p)
        branches.append(_Branch(None, None, np.array(path, np.float64)))
    for node in set(range(len(centres))) - {b.start for b in branches} - {b.end for b in branches}:
        branches.append(_Branch(node, node, centres[node][np.newaxis]))  # a dot
    return branches


def _degrees(branches: list[_Branch]) -> dict[int, int]:
    degree: dict[int, int] = {}
    for b in branches:
        for node in (b.start, b.end):
            if node is not None:
                degree[node] = degree.get(node, 0) + 1
    return degree


def _prune(branches: list[_Branch], spur: float) -> list[_Branch]:
    """Drop branches from a junction to a free end shorter than `spur`, joining what meets at a node of two."""
    while True:
        degree = _degrees(branches)
        spurs = [
            b
            for b in branches
            if b.start != b.end
            and b.length < spur
            and min(degree[b.start], degree[b.end]) == 1
            and max(degree[b.start], degree[b.end]) >= 3
        ]
        # One at a time, shortest first: dropping one spur can turn its junction into a plain bend.
        if not spurs:
            return branches
        branches = _join([b for b in branches if b is not min(spurs, key=lambda b: b.length)])


def _join(branches: list[_Branch]) -> list[_Branch]:
    """Branches that meet at a node where nothing else meets, made one (a loop if they are the same)."""
    while True:
        degree = _degrees(branches)
        node = next((n for n, d in degree.items() if d == 2 and not any(b.start == b.end == n for b in branches)), None)
        if node is None:
            return branches
        first, second = [b for b in branches if node in (b.start, b.end)]
        a = first.points if first.end == node else first.points[::-1]
        b = second.points if second.start == node else second.points[::-1]
        start = first.start if first.end == node else first.end
        end = second.end if second.start == node else second.start
        joined = _Branch(start, end, np.concatenate([a, b[1:]]))
        if start == end == node:  # nothing else on this loop: it closes on itself
            joined = _Branch(None, None, joined.points)
        branches = [x for x in branches if x is not first and x is not second] + [joined]


def _smoothed(points: np.ndarray, closed: bool) -> np.ndarray:
    """The path smoothed along its length, resampled every SPACING; open paths keep their ends."""
    if len(points) < 3:
        return points
    sigma = SMOOTH * SCALE
    reach = int(3 * sigma)
    offsets = np.arange(-reach, reach + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    if closed:  # the loop's start and end are the same point: smooth round it
        ring = points[:-1]
        padded = np.take(ring, np.arange(-reach, len(ring) + reach), axis=0, mode="wrap")
    else:  # mirrored through the end points, so a straight end stays straight and stays put
        last = len(points) - 1
        before = 2 * points[0] - points[np.clip(np.arange(reach, 0, -1), 0, last)]
        after = 2 * points[-1] - points[np.clip(last - np.arange(1, reach + 1), 0, last)]
        padded = np.concatenate([before, points, after])
    smooth = np.stack([np.convolve(padded[:, axis], kernel, mode="valid") for axis in (0, 1)], axis=1)
    if closed:
        smooth = np.concatenate([smooth, smooth[:1]])
    else:
        smooth[0], smooth[-1] = points[0], points[-1]
    along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(smooth, axis=0).T))])
    count = max(2, int(np.ceil(along[-1] / (SPACING * SCALE))) + 1)
    at = np.linspace(0.0, along[-1], count)
    return np.stack([np.interp(at, along, smooth[:, axis]) for axis in (0, 1)], axis=1)


def trace(digit: np.ndarray, width: float | None = None) -> list[Stroke]:
    """Strokes, points (x, y) in [0, 1] of the 28x28 frame, that redraw an MNIST digit (uint8, white on black).

    `width` is the digit's stroke width in its pixels (default: its own, `stroke_width`): blobs more
    than twice as wide are traced round their edge, spurs shorter than it are pruned.
    """
    width = stroke_width(digit) if width is None else width
    mask = _hollowed(_mask(digit), width)
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        return []
    top, left = max(0, rows.min() - 2), max(0, cols.min() - 2)  # thin only the digit's box: 2-3x faster
    bones = skeleton(mask[top : rows.max() + 3, left : cols.max() + 3])
    branches = _prune(_branches(bones), SPUR * width * SCALE)
    size = FRAME * SCALE
    strokes = []
    for branch in sorted(branches, key=lambda b: (b.points[:, 0].min(), b.points[:, 1].min())):
        points = _smoothed(branch.points, closed=branch.start is None)
        strokes.append([((c + left + 0.5) / size, (r + top + 0.5) / size) for r, c in points.tolist()])
    return strokes


def draw_strokes(
    strokes: Sequence[Stroke], height: int, width: int, frame: float, pen: float, top: float = 0.0, left: float = 0.0
) -> np.ndarray:
    """Ink in [0, 1] on a height x width field: the strokes painted with a round pen `pen` pixels wide.

    `frame` is the 28x28 frame's side in field pixels and (top, left) where its corner lands.
    """
    image = Image.new("L", (width * SUPERSAMPLE, height * SUPERSAMPLE), 0)
    paint = ImageDraw.Draw(image)
    radius = pen * SUPERSAMPLE / 2
    for stroke in strokes:
        points = [((left + x * frame) * SUPERSAMPLE, (top + y * frame) * SUPERSAMPLE) for x, y in stroke]
        if len(points) > 1:
            paint.line(points, fill=255, width=max(1, round(2 * radius)), joint="curve")
        for x, y in points:  # round ends and joins, as a canvas's round cap and join
            paint.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return np.asarray(image.resize((width, height), Image.Resampling.BOX), np.float32) / 255.0
