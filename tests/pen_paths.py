"""Pen paths traced from MNIST digits: how a person would draw the digit, stroke by stroke.

The digit is enlarged, thresholded and thinned to a one-pixel skeleton (Zhang and Suen's parallel
thinning, 1984); the skeleton's pixels are then walked into polylines, from the stroke ends first
and then around any closed loops (a 0, the holes of an 8). Points come out in [0, 1] x [0, 1] of
the 28x28 frame, ready to be scaled onto a drawing canvas.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

Point = tuple[float, float]
Stroke = list[Point]

SCALE = 4  # thin at 112x112: smoother paths than at 28x28
INK = 0.35  # of full intensity: the part of MNIST's anti-aliased stroke a pen would cover
STEP = 5  # keep every fifth skeleton pixel: ~1.25 MNIST pixels between points
MIN_STROKE = 6  # skeleton pixels; shorter branches are thinning spurs, not strokes
# The eight neighbours, clockwise from north, as (row, column) offsets: P2..P9 in Zhang and Suen.
RING = [(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)]


def skeleton(mask: np.ndarray) -> np.ndarray:
    """The one-pixel-wide skeleton of a boolean mask (Zhang-Suen thinning)."""
    image = np.pad(mask.astype(np.uint8), 1)
    height, width = mask.shape
    while True:
        changed = False
        for sub_iteration in (0, 1):
            p = [image[1 + dr:1 + dr + height, 1 + dc:1 + dc + width] for dr, dc in RING]
            neighbours = sum(q.astype(np.int32) for q in p)
            transitions = sum(((p[i] == 0) & (p[(i + 1) % 8] == 1)).astype(np.int32) for i in range(8))
            north, east, south, west = p[0], p[2], p[4], p[6]
            if sub_iteration == 0:
                side = (north * east * south == 0) & (east * south * west == 0)
            else:
                side = (north * east * west == 0) & (north * south * west == 0)
            centre = image[1:-1, 1:-1]
            remove = (centre == 1) & (neighbours >= 2) & (neighbours <= 6) & (transitions == 1) & side
            if remove.any():
                centre[remove] = 0
                changed = True
        if not changed:
            return image[1:-1, 1:-1].astype(bool)


def _neighbours(pixel: tuple[int, int], pixels: set[tuple[int, int]]) -> list[tuple[int, int]]:
    r, c = pixel
    # 4-neighbours first, so a walk follows the line rather than cutting its corners.
    order = [RING[i] for i in (0, 2, 4, 6, 1, 3, 5, 7)]
    return [(r + dr, c + dc) for dr, dc in order if (r + dr, c + dc) in pixels]


def trace(bones: np.ndarray) -> list[list[tuple[int, int]]]:
    """The skeleton's pixels as walks (row, column), stroke ends first, then loops."""
    pixels = {(int(r), int(c)) for r, c in zip(*np.nonzero(bones))}
    unvisited = set(pixels)
    walks = []
    while unvisited:
        ends = sorted(p for p in unvisited if len(_neighbours(p, unvisited)) <= 1)
        start = ends[0] if ends else min(unvisited)
        walk = [start]
        unvisited.discard(start)
        while True:
            ahead = _neighbours(walk[-1], unvisited)
            if not ahead:
                break
            walk.append(ahead[0])
            unvisited.discard(ahead[0])
        # Join the walk's end to the line it ran into (a junction, or its own start round a loop).
        touching = [q for q in _neighbours(walk[-1], pixels) if q not in walk[-3:]]
        if touching:
            walk.append(touching[0])
        if len(walk) >= MIN_STROKE:
            walks.append(walk)
    return walks


def pen_strokes(digit: np.ndarray) -> list[Stroke]:
    """Strokes (x, y in [0, 1] of the 28x28 frame) that redraw an MNIST digit (uint8, white on black)."""
    size = 28 * SCALE
    enlarged = np.asarray(Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC), np.float32)
    walks = trace(skeleton(enlarged >= INK * 255))
    strokes = []
    for walk in walks:
        kept = walk[::STEP] + ([walk[-1]] if (len(walk) - 1) % STEP else [])
        strokes.append([((c + 0.5) / size, (r + 0.5) / size) for r, c in kept])
    return strokes


def traced_digits(images: np.ndarray, labels: np.ndarray, per_class: int) -> list[tuple[int, list[Stroke]]]:
    """The first `per_class` digits of every class (in data-set order), as (label, strokes)."""
    return [(label, pen_strokes(images[index]))
            for label in range(10) for index in np.flatnonzero(labels == label)[:per_class]]
