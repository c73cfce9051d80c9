"""Cut paths through a wide blob of ink: where two touching digits may be parted, and the pieces between.

A path runs from the blob's top to its bottom through the least ink (one dynamic programme over its
rows); the candidates are the locally cheapest paths that cross few strokes (`cut_paths`). The number
reader (`api.pictures.numbers`) tries every way of joining the pieces and lets the classifier choose.
"""

from __future__ import annotations

import numpy as np

from api.pictures.morphology import stroke_width

# In digit heights (the tallest blob's height): cuts lie at least this far from each other and from the blob's sides.
MIN_PIECE = 0.15
# A cut path pays this (in pixels of full ink) per column it moves sideways, and strays at most BAND
# digit heights from the column it starts from.
SIDE_COST = 0.15
BAND = 0.15
# A cut crossing more than this many strokes (its ink over the blob's stroke width) is not between two digits.
MAX_CROSSINGS = 1.6
# A piece between two cuts holding less than this fraction of its blob's ink is a sliver, not an atom.
SLIVER = 0.06


def pieces_between(region: np.ndarray, cuts: list[tuple[np.ndarray, float]]) -> list[tuple[np.ndarray, float]]:
    """A blob's pixels (its box) between consecutive cut paths, each with the crossings of the cut on its
    left; a cut that leaves a sliver (under SLIVER of the blob's ink) on either side is dropped."""
    columns = np.arange(region.shape[1])[np.newaxis, :]
    total = int(np.count_nonzero(region))
    while True:
        side = (
            sum((columns >= path[:, np.newaxis]).astype(np.int32) for path, _ in cuts)
            if cuts
            else np.zeros_like(region, np.int32)
        )
        counts = np.bincount(side[region], minlength=len(cuts) + 1)
        small = np.flatnonzero(counts < SLIVER * total)
        if len(small) == 0 or not cuts:
            break
        k = int(small[0])
        cuts = cuts[:k] + cuts[k + 1 :] if k < len(cuts) else cuts[:-1]  # the cut on its right, or the last one
    return [(region & (side == k), cuts[k - 1][1] if k > 0 else 0.0) for k in range(len(cuts) + 1)]


def cut_paths(strength: np.ndarray, region: np.ndarray, height: float) -> list[tuple[np.ndarray, float]]:
    """Candidate cuts of one wide blob: paths (a column per row of the blob) from its top to its bottom,
    each with the strokes it crosses (its ink over the blob's stroke width), ordered left to right.

    From every column of the top row, the path through the least ink that stays within BAND digit
    heights of that column (one step sideways per row at most, at SIDE_COST a column): one dynamic
    programme over the rows for all of them. The candidates are the cheapest of these paths that
    are the cheapest among their neighbours (within MIN_PIECE digit heights), start at least that
    far from the blob's sides, leave at least SLIVER of its ink on either side, and cross at most
    MAX_CROSSINGS strokes.
    """
    rows, width = strength.shape
    margin = max(1, int(round(MIN_PIECE * height)))
    if width <= 2 * margin:
        return []
    stroke = max(1.0, stroke_width(region))  # at least one pixel
    reach = max(1, int(round(BAND * height)))
    columns = np.clip(np.arange(width)[:, np.newaxis] + np.arange(-reach, reach + 1), 0, width - 1)
    cost = strength[0][columns].astype(np.float64)
    back = np.zeros((rows, *columns.shape), np.int8)  # -1, 0, 1: where each row's path came from
    edge = np.full((width, 1), np.inf)
    for r in range(1, rows):
        from_left = np.concatenate((edge, cost[:, :-1]), axis=1) + SIDE_COST
        from_right = np.concatenate((cost[:, 1:], edge), axis=1) + SIDE_COST
        best = np.minimum(from_left, cost)
        back[r] = np.where(from_right < best, 1, np.where(from_left < cost, -1, 0))
        cost = np.minimum(best, from_right) + strength[r][columns]
    ends = np.argmin(cost, axis=1)
    total = cost[np.arange(width), ends]
    # The cheapest path within `margin` columns either way (edges repeated): a candidate is its own neighbourhood's.
    padded = np.concatenate((np.full(margin, np.inf), total, np.full(margin, np.inf)))
    lowest = np.min(np.stack([padded[k : k + width] for k in range(2 * margin + 1)]), axis=0)
    starts = np.arange(margin, width - margin)
    starts = starts[(total[starts] <= lowest[starts]) & (total[starts] <= MAX_CROSSINGS * stroke)]
    ink = float(strength.sum())
    limit = max(1, int(width / (2 * MIN_PIECE * height)))
    chosen: list[tuple[int, np.ndarray, float]] = []
    for start in starts[np.argsort(total[starts], kind="stable")].tolist():
        if any(abs(start - other) < margin for other, _, _ in chosen):
            continue
        path = np.empty(rows, np.int64)
        at = int(ends[start])
        for r in range(rows - 1, -1, -1):
            path[r] = columns[start, at]
            at += int(back[r, start, at])
        left = float(strength[np.arange(width)[np.newaxis, :] < path[:, np.newaxis]].sum())
        if min(left, ink - left) < SLIVER * ink:
            continue
        chosen.append((start, path, float(total[start]) / stroke))
        if len(chosen) >= limit:
            break
    return [(path, crossings) for _, path, crossings in sorted(chosen, key=lambda c: c[0])]
