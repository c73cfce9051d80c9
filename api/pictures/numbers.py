"""A picture of a written number (a year, an amount, a code) → its digits, left to right, each as MNIST's input.

The ink is found as a single digit's is (`api.pictures.normalise`: the paper and its light, the ink's
polarity and level, 8-connected blobs, specks and page edges discounted), on an analysis copy
larger than a single digit's (ANALYSIS_HEIGHT and ANALYSIS_LENGTH: a number is wider than a digit). Then:

1. **Atoms.** Every blob that is kept is an atom, except blobs wide enough to hold two digits
   (SPLIT_WIDTH digit heights: touching digits, joined by a stroke in fast writing): those are
   over-segmented by candidate cut paths. A cut path runs from the blob's top to its bottom
   through as little ink as it can while staying within BAND digit heights of its start (a
   minimum-cost path, one column sideways per row at most, a small cost per sideways step: it
   slips between two digits that touch at one point, and crosses a joining stroke where it is
   thinnest); the cheapest such paths, at least MIN_PIECE digit heights apart, crossing at most
   MAX_CROSSINGS strokes and leaving no sliver, are the candidates. Atoms are ordered left to
   right by the middle of their column span.
2. **Segments.** A digit is a run of consecutive atoms: one blob, a 5's detached flag with its
   body, a 4 or 7 written in two strokes, a broken stroke, or the pieces between two cuts of one
   blob. Neighbouring atoms may share a digit when they are pieces of one blob, when their column
   spans overlap by OVERLAP of the narrower's width (a 4's two strokes, not two digits written
   close), or when one of them is too short to be a digit alone and the gap between them is
   under JOIN_GAP digit heights; a run is at most MAX_WIDTH digit heights wide and must be at least
   MIN_HEIGHT of it tall. The digit height is the tallest blob's, so digits of different heights,
   a slanted baseline and uneven spacing change nothing here.
3. **The best path.** Every candidate segment is normalised exactly as a single digit is
   (`digit_input`: the ink cropped under its mask, sized into 20x20, centred by centre
   of mass), all of them in ONE forward pass; then dynamic programming over the atoms picks the
   segmentation whose digits the classifier is surest of: the sum of each segment's log top
   probability, less DIGIT_PENALTY per digit, a penalty for a segment wider than a digit (two
   digits read as one), a term for how many strokes the cut a digit starts at crosses, and a
   penalty for each atom left out (only atoms too short to be digits may be: a stray mark, a dash).

`segment` needs no model (a blank picture or one of more than MAX_DIGITS digits is refused before
the model loads); `choose` runs the one forward pass and the path search.

numpy and Pillow only, like `api.pictures.normalise`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from api.pictures.blobs import BLOB_MARGIN, Blobs
from api.pictures.cuts import cut_paths, pieces_between
from api.pictures.frame import digit_input
from api.pictures.ink import no_digit
from api.pictures.line import MAX_DIGITS, Ink, TooManyDigits, find_ink, too_many
from api.pictures.morphology import grow

# Atoms (kept blobs and the pieces cut from them) one picture may have: a 16-digit number broken
# into several pieces per digit stays far under it; a page of thousands of dots is refused at once.
MAX_ATOMS = 6 * MAX_DIGITS
# In digit heights (the tallest blob's height):
MIN_HEIGHT = 0.45  # an atom or segment shorter than this is not a digit alone (a 5's flag, a 7's bar, a dash)
SPLIT_WIDTH = 0.85  # a blob at least this wide (and tall enough to be a digit) is searched for cuts
MAX_WIDTH = 1.6  # a segment (a run of atoms) is at most this wide
JOIN_GAP = 0.25  # a short atom may join a neighbour this far away
OVERLAP = 0.5  # of the narrower's width: how much two tall atoms' column spans overlap to share a digit
WIDE = 1.0  # a digit is seldom wider than this; each digit height beyond costs WIDE_PENALTY
WIDE_PENALTY = 4.0
# Log-probability cost of leaving out one short atom (a stray mark): a digit whose top probability
# drops by more than half without the atom takes it in instead.
SKIP_PENALTY = float(np.log(2.0))
MAX_RUN = 5  # atoms per segment
# Each digit read costs this much log-probability: the classifier is sure of many pieces of digits
# (a 9's loop is a fine 0, its stem a fine 1), so a segmentation into more digits must be surer by
# that much to win.
DIGIT_PENALTY = 0.1
# Where a digit starts at a cut, the cut's cost speaks too: two digits that touch are joined by less
# than a stroke (a path slips between them crossing a fraction of one), while a path through one
# digit crosses a stroke or more. A digit starting at a cut of c crossings scores
# CUT_WEIGHT * (CUT_EVEN - c): a bonus below CUT_EVEN strokes, a penalty above. These weights and
# the penalties above were chosen on a tuning corpus (seed 7, 40 numbers per spacing class), not
# on the benchmark's (seed 0).
CUT_WEIGHT = 0.2
CUT_EVEN = 1.0
FLOOR = 1e-6  # probabilities are floored here before their log

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Digit:
    """One digit of a number: its MNIST-style input, the model's probabilities, and its box."""

    input: np.ndarray  # float32 [28, 28] in [0, 1]
    probabilities: np.ndarray  # float32 [10]
    box: tuple[int, int, int, int]  # x, y, width, height in the picture's own pixels


@dataclass
class _Atoms:
    """The atoms of a picture, in reading order, as a label image and per-atom spans (analysis scale)."""

    label: np.ndarray  # int32, the atom of each pixel, -1 for none
    top: np.ndarray
    bottom: np.ndarray  # exclusive
    left: np.ndarray
    right: np.ndarray  # exclusive
    blob: np.ndarray  # the blob each atom is (a piece of)
    cut: np.ndarray  # bool: a piece of a blob that was cut
    crossings: np.ndarray  # strokes the cut between this atom and the one before crosses (0: no cut there)


@dataclass(frozen=True)
class Candidates:
    """A picture cut into candidate digits, before the classifier chooses among them (`segment`)."""

    atoms: _Atoms
    segments: list[tuple[int, int]]  # runs [start, end) of atoms
    inputs: np.ndarray  # float32 [len(segments), 28, 28]: each segment as MNIST's input
    height: float  # the digit height, analysis pixels
    scale: tuple[float, float]  # the picture's own pixels per analysis pixel (across, down)


def segment(grey: np.ndarray, size: tuple[int, int]) -> Candidates:
    """The candidate digits of a number written in `grey` (decoded grey levels of a picture whose own
    size is `size`, width and height); NoDigit for a blank picture, TooManyDigits when every way of
    reading it has more than MAX_DIGITS digits. Needs no model."""
    ink = find_ink(grey)
    marks = int(ink.kept.sum())
    if marks > MAX_ATOMS:  # before any per-blob work: a page of dots is refused at once
        raise too_many(f"{marks} separate marks")
    height = _digit_height(ink.blobs, ink.kept)
    atoms = _atoms(ink, height)
    segments = _segments(atoms, height)
    fewest = _fewest_digits(len(atoms.top), segments, _skippable(atoms, height))
    if fewest > MAX_DIGITS:
        raise too_many(f"at least {fewest} digits")
    inputs = np.stack([_segment_input(ink, atoms, start, end) for start, end in segments])
    shape = ink.paper.ink.shape
    return Candidates(atoms, segments, inputs, height, (size[0] / shape[1], size[1] / shape[0]))


def choose(candidates: Candidates, predict: Predict) -> list[Digit]:
    """The digits of the segmentation the classifier is surest of, left to right: every candidate in
    one forward pass; TooManyDigits past MAX_DIGITS."""
    probabilities = np.asarray(predict(candidates.inputs[..., np.newaxis]), dtype=np.float32)
    chosen = _best_path(candidates.atoms, candidates.segments, probabilities, candidates.height)
    if len(chosen) > MAX_DIGITS:
        raise too_many(f"{len(chosen)} digits")
    if not chosen:
        raise no_digit()
    return [
        Digit(
            candidates.inputs[k],
            probabilities[k],
            _own_box(candidates.atoms, *candidates.segments[k], candidates.scale),
        )
        for k in chosen
    ]


def read_number(grey: np.ndarray, size: tuple[int, int], predict: Predict) -> list[Digit]:
    """`choose(segment(grey, size), predict)`: the digits of the number written in `grey`, left to right."""
    return choose(segment(grey, size), predict)


def _digit_height(blobs: Blobs, kept: np.ndarray) -> float:
    """The digits' height: the tallest kept blob's (a digit is never much shorter than its number's tallest)."""
    return float((blobs.bottom - blobs.top)[kept].max())


def _label_image(blobs: Blobs, kept: np.ndarray) -> np.ndarray:
    """int32 image of each pixel's blob (-1: paper, specks and page edges), from the blobs' runs."""
    rows, starts, ends = blobs.runs
    labels = np.where(kept[blobs.label], blobs.label, -1).astype(np.int32) + 1
    changes = np.zeros((blobs.shape[0], blobs.shape[1] + 1), np.int32)
    changes[rows, starts] = labels  # runs are maximal, so no two share a start or an end
    changes[rows, ends] -= labels
    return np.cumsum(changes, axis=1, dtype=np.int32)[:, :-1] - 1


def _atoms(ink: Ink, height: float) -> _Atoms:
    """Kept blobs, wide ones cut at their candidate cuts, in reading order."""
    blobs, kept = ink.blobs, ink.kept
    label = _label_image(blobs, kept)
    # (middle column, blob, cut, box, the piece's pixels in the blob's box or None, crossings of the cut on its left)
    pieces: list[tuple[float, int, bool, tuple[int, int, int, int], np.ndarray | None, float]] = []
    for b in np.flatnonzero(kept).tolist():
        top, bottom, left, right = int(blobs.top[b]), int(blobs.bottom[b]), int(blobs.left[b]), int(blobs.right[b])
        cuts: list[tuple[np.ndarray, float]] = []
        if right - left >= SPLIT_WIDTH * height and bottom - top >= MIN_HEIGHT * height:
            region = label[top:bottom, left:right] == b
            strength = np.where(region, np.minimum(ink.paper.ink[top:bottom, left:right] / ink.level, 1.0), 0.0)
            cuts = cut_paths(strength.astype(np.float32), region, height)
        if not cuts:
            pieces.append(((left + right) / 2, b, False, (top, bottom, left, right), None, 0.0))
            continue
        for piece, crossings in pieces_between(label[top:bottom, left:right] == b, cuts):
            rows, cols = np.flatnonzero(piece.any(axis=1)), np.flatnonzero(piece.any(axis=0))
            box = (top + int(rows[0]), top + int(rows[-1]) + 1, left + int(cols[0]), left + int(cols[-1]) + 1)
            pieces.append(((box[2] + box[3]) / 2, b, True, box, piece, crossings))
    pieces.sort(key=lambda piece: piece[0])
    if len(pieces) > MAX_ATOMS:
        raise too_many(f"{len(pieces)} separate marks")
    lookup = np.full(len(blobs.mass) + 1, -1, np.int32)
    for n, (_, b, was_cut, _, _, _) in enumerate(pieces):
        if not was_cut:
            lookup[b + 1] = n
    atom_label = lookup[label + 1]
    for n, (_, b, was_cut, _, piece, _) in enumerate(pieces):
        if was_cut:
            atom_label[blobs.top[b] : blobs.bottom[b], blobs.left[b] : blobs.right[b]][piece] = n
    boxes = np.array([piece[3] for piece in pieces], np.int64).reshape(-1, 4)
    blob_of = np.array([piece[1] for piece in pieces], np.int64)
    was_cut = np.array([piece[2] for piece in pieces], bool)
    crossings = np.array([piece[5] for piece in pieces], np.float64)
    # A crossing counts only between two pieces of one blob, next to each other in reading order.
    first = np.ones(len(pieces), bool)
    first[1:] = ~(was_cut[1:] & was_cut[:-1] & (blob_of[1:] == blob_of[:-1]))
    crossings[first] = 0.0
    return _Atoms(atom_label, boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3], blob_of, was_cut, crossings)


def _mergeable(atoms: _Atoms, height: float) -> np.ndarray:
    """Whether each atom may share a digit with the next one in reading order: pieces of one blob; a
    short atom and a neighbour less than JOIN_GAP away; two tall ones whose column spans overlap by
    OVERLAP of the narrower's width (a 4 in two strokes), not two digits written close (kerned)."""
    same_blob = (atoms.blob[1:] == atoms.blob[:-1]) & atoms.cut[1:] & atoms.cut[:-1]
    overlap = np.minimum(atoms.right[1:], atoms.right[:-1]) - np.maximum(atoms.left[1:], atoms.left[:-1])
    narrower = np.minimum(atoms.right[1:] - atoms.left[1:], atoms.right[:-1] - atoms.left[:-1])
    short = (atoms.bottom - atoms.top) < MIN_HEIGHT * height
    near = (-overlap <= JOIN_GAP * height) & (short[1:] | short[:-1])
    return same_blob | (overlap >= OVERLAP * narrower) | near


def _segments(atoms: _Atoms, height: float) -> list[tuple[int, int]]:
    """Candidate digits: runs [start, end) of atoms that may share one (every tall atom alone among them)."""
    count = len(atoms.top)
    joins = _mergeable(atoms, height)
    tall = (atoms.bottom - atoms.top) >= MIN_HEIGHT * height
    segments = []
    for start in range(count):
        top, bottom, left, right = atoms.top[start], atoms.bottom[start], atoms.left[start], atoms.right[start]
        for end in range(start + 1, min(count, start + MAX_RUN) + 1):
            if end > start + 1:
                if not joins[end - 2]:
                    break
                top, bottom = min(top, atoms.top[end - 1]), max(bottom, atoms.bottom[end - 1])
                left, right = min(left, atoms.left[end - 1]), max(right, atoms.right[end - 1])
                if right - left > MAX_WIDTH * height:
                    break
            if (end == start + 1 and tall[start]) or (end > start + 1 and bottom - top >= MIN_HEIGHT * height):
                segments.append((start, end))
    return segments


def _skippable(atoms: _Atoms, height: float) -> np.ndarray:
    """Atoms that may be left out of the number: those too short to be a digit."""
    return (atoms.bottom - atoms.top) < MIN_HEIGHT * height


def _fewest_digits(count: int, segments: list[tuple[int, int]], skippable: np.ndarray) -> int:
    """The fewest digits any segmentation of the atoms reads (no classifier needed): what bounds the work."""
    fewest = np.full(count + 1, np.inf)
    fewest[0] = 0
    ending: dict[int, list[int]] = {}
    for start, end in segments:
        ending.setdefault(end, []).append(start)
    for end in range(1, count + 1):
        if skippable[end - 1]:
            fewest[end] = fewest[end - 1]
        for start in ending.get(end, ()):
            fewest[end] = min(fewest[end], fewest[start] + 1)
    return int(fewest[count]) if np.isfinite(fewest[count]) else 0


def _segment_input(ink: Ink, atoms: _Atoms, start: int, end: int) -> np.ndarray:
    """One candidate digit as MNIST's 28x28: its atoms' ink (grown by BLOB_MARGIN, never into another
    atom's), cropped and normalised as a single digit is."""
    top, bottom = int(atoms.top[start:end].min()), int(atoms.bottom[start:end].max())
    left, right = int(atoms.left[start:end].min()), int(atoms.right[start:end].max())
    shape = atoms.label.shape
    y0, y1 = max(0, top - BLOB_MARGIN - 1), min(shape[0], bottom + BLOB_MARGIN + 1)
    x0, x1 = max(0, left - BLOB_MARGIN - 1), min(shape[1], right + BLOB_MARGIN + 1)
    labels = atoms.label[y0:y1, x0:x1]
    mine = (labels >= start) & (labels < end)
    others = (labels >= 0) & ~mine
    mask = np.zeros(shape, np.float32)
    mask[y0:y1, x0:x1] = grow(mine.astype(np.float32), BLOB_MARGIN) * ~others
    return digit_input(ink.grey, ink.paper, mask, (top, bottom, left, right), ink.level, ink.noise)


def _best_path(atoms: _Atoms, segments: list[tuple[int, int]], probabilities: np.ndarray, height: float) -> list[int]:
    """The segments (indices into `segments`) of the segmentation the classifier is surest of, left to right."""
    count = len(atoms.top)
    skippable = _skippable(atoms, height)
    score = np.log(np.maximum(probabilities.max(axis=1).astype(np.float64), FLOOR)) - DIGIT_PENALTY
    cut_before = np.zeros(count, bool)  # the atom and the one before it are two pieces of one cut blob
    cut_before[1:] = atoms.cut[1:] & atoms.cut[:-1] & (atoms.blob[1:] == atoms.blob[:-1])
    for k, (start, end) in enumerate(segments):
        width = (int(atoms.right[start:end].max()) - int(atoms.left[start:end].min())) / height
        score[k] -= WIDE_PENALTY * max(0.0, width - WIDE)
        if cut_before[start]:  # a digit starts at a cut: as likely as the cut is cheap
            score[k] += CUT_WEIGHT * (CUT_EVEN - atoms.crossings[start])
    best = np.full(count + 1, -np.inf)
    best[0] = 0.0
    came: list[tuple[int, int] | None] = [None] * (count + 1)  # (previous position, segment or -1 for a skip)
    ending: dict[int, list[int]] = {}
    for k, (_, end) in enumerate(segments):
        ending.setdefault(end, []).append(k)
    for end in range(1, count + 1):
        if skippable[end - 1] and best[end - 1] - SKIP_PENALTY > best[end]:
            best[end], came[end] = best[end - 1] - SKIP_PENALTY, (end - 1, -1)
        for k in ending.get(end, ()):
            start = segments[k][0]
            if best[start] + score[k] > best[end]:
                best[end], came[end] = best[start] + score[k], (start, k)
    chosen = []
    position = count
    while position > 0 and came[position] is not None:
        position, k = came[position]
        if k >= 0:
            chosen.append(k)
    return chosen[::-1]


def _own_box(atoms: _Atoms, start: int, end: int, scale: tuple[float, float]) -> tuple[int, int, int, int]:
    """A segment's box (x, y, width, height) in the picture's own pixels."""
    across, down = scale
    x0 = int(np.floor(atoms.left[start:end].min() * across))
    y0 = int(np.floor(atoms.top[start:end].min() * down))
    x1 = int(np.ceil(atoms.right[start:end].max() * across))
    y1 = int(np.ceil(atoms.bottom[start:end].max() * down))
    return x0, y0, x1 - x0, y1 - y0


__all__ = ["Candidates", "Digit", "MAX_DIGITS", "TooManyDigits", "choose", "read_number", "segment"]
