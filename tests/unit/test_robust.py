"""The robust statistics' shortcuts give what the plain computation gives, bit for bit.

The paper estimate (`api.pictures.paper`) sorts a picture once and reads medians of values already in
order off their middle (`sorted_median`), stops sigma clipping once a round clips nothing (`clipped`),
and takes the negative picture's order from the picture's own, reversed. Each is checked here against
the computation it replaces, written out plainly, on generated grey levels with many ties (as 8-bit
pictures have them). `bench/line_normaliser.py --revision REV` checks whole lines against a revision.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from api.pictures.robust import CLIP, CLIP_ROUNDS, MAD_TO_SIGMA, MIN_SPREAD, clipped, median, sorted_median

LEVELS = hnp.arrays(
    np.float32, st.integers(1, 400), elements=st.one_of(st.integers(0, 255).map(float), st.floats(0, 255, width=32))
)


def plain_lower_level_and_spread(ordered: np.ndarray) -> tuple[float, float]:
    base = float(median(ordered))
    below = ordered[: (ordered.size + 1) // 2]
    return base, max(MAD_TO_SIGMA * float(median(base - below)), MIN_SPREAD)


def plain_clipped(ordered: np.ndarray) -> tuple[float, float]:
    """Sigma clipping for all CLIP_ROUNDS rounds, whether or not a round clips anything."""
    for _ in range(CLIP_ROUNDS):
        base, spread = plain_lower_level_and_spread(ordered)
        ordered = ordered[: max(1, int(np.searchsorted(ordered, base + CLIP * spread, "right")))]
    return plain_lower_level_and_spread(ordered)


@settings(max_examples=300, deadline=None)
@given(LEVELS)
def test_a_median_read_off_ordered_values_is_the_sorted_median(values: np.ndarray) -> None:
    rising = np.sort(values)
    assert sorted_median(rising) == median(values)
    assert sorted_median(rising[::-1]) == median(values)
    # As lower_level_and_spread uses it: a level minus rising values runs from high to low.
    falling = float(sorted_median(rising)) - rising
    assert sorted_median(falling) == median(falling)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(20, 400), st.integers(0, 80), st.floats(0.3, 12))
def test_clipping_that_stops_once_nothing_is_clipped_gives_every_round_s_answer(
    seed: int, paper: int, edges: int, noise: float
) -> None:
    # Paper's noise, then strokes' anti-aliased edges rising from it to the ink: clipped over several rounds.
    rng = np.random.default_rng(seed)
    level = float(rng.uniform(20, 230))
    ink = float(rng.uniform(level, 255))
    values = np.concatenate(
        [rng.normal(level, noise, paper), rng.uniform(level, ink, edges), np.full(int(rng.integers(0, 40)), ink)]
    )
    values = np.sort(np.round(values) if rng.random() < 0.5 else values).astype(np.float32)
    assert clipped(values) == plain_clipped(values)


@settings(max_examples=200, deadline=None)
@given(LEVELS)
def test_the_negative_s_order_is_the_picture_s_reversed(values: np.ndarray) -> None:
    ordered = np.sort(values)
    assert np.array_equal(np.ascontiguousarray((255.0 - ordered)[::-1]), np.sort(255.0 - values))
