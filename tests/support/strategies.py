"""Hypothesis strategies for what callers send the API, shared by the fuzz tests (tests/slow/test_fuzz.py)
and the fast paths' equivalence tests (tests/unit/test_fast_paths.py): JSON of every shape, values shaped
almost like an image, and whole request bodies (near-valid, deeply nested, huge numbers, invalid UTF-8).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Many examples per property, none remembered between runs, no per-example deadline (a slow
# machine is not a bug), and the seed printed when one fails. Under CI (`CI=true`) the examples are
# derandomised: every CI run tries the same ones, so its verdict is the code's, not the draw's;
# a developer's run draws new ones each time and so keeps searching.
IN_CI = os.environ.get("CI", "").lower() == "true"
FUZZ = settings(
    deadline=None, database=None, suppress_health_check=list(HealthCheck), print_blob=True, derandomize=IN_CI
)


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.integers(min_value=-(10**400), max_value=10**400)
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text(max_size=30)
        | st.sampled_from([0, 1, 255, 256, -1, 0.5, 1e308, "", "data:", "data:image/png;base64,", "b64"])
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=6)
            | st.dictionaries(
                st.text(max_size=12) | st.sampled_from(["image", "images", "instances", "b64"]), children, max_size=4
            )
        ),
        max_leaves=max_leaves,
    )


@st.composite
def image_like(draw: st.DrawFn) -> Any:
    """Values shaped almost like an image, so the array checks are reached, not just the key check.

    Drawn compactly (a shape, a seed, a few poisoned cells), not cell by cell: 784 draws per
    example would make each one cost milliseconds.
    """
    rows, cols = draw(st.sampled_from([(28, 28), (28, 28), (28, 28), (784, 0), (27, 28), (28, 29), (783, 0), (785, 0)]))
    scale = draw(st.sampled_from([255, 1.0, 256, 300]))
    pixels = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).uniform(0, 1, rows * (cols or 1)) * scale
    values: list[Any] = pixels.round(0 if scale != 1.0 else 3).tolist()
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(values) - 1))
        values[at] = draw(
            st.none()
            | st.booleans()
            | st.text(max_size=3)
            | st.floats()
            | st.lists(st.integers(), max_size=2)
            | st.integers(min_value=-(10**400), max_value=10**400)
        )
    return values if not cols else [values[r * cols : (r + 1) * cols] for r in range(rows)]


def deep(depth: int, opener: str, closer: str) -> str:
    return '{"image": ' + opener * depth + closer * depth + "}"


def bodies() -> st.SearchStrategy[bytes]:
    """Bodies of every kind: documents, near-valid requests, deep nesting, huge numbers, invalid UTF-8."""
    documents = json_values().map(lambda value: json.dumps(value).encode())
    requests = st.builds(
        lambda key, value: json.dumps({key: value}).encode(),
        st.sampled_from(["image", "images", "instances"]),
        image_like() | st.lists(image_like(), max_size=3) | json_values(12),
    )
    nesting = st.builds(
        deep, st.integers(1, 200_000), st.sampled_from(["[", '{"a":', '[{"image":']), st.sampled_from(["]", "}", "}]"])
    ).map(lambda text: text.encode())
    numbers = st.builds(
        lambda digits, sign: ('{"image": ' + sign + "9" * digits + "}").encode(),
        st.integers(1, 100_000),
        st.sampled_from(["", "-", "0."]),
    )
    long_strings = st.builds(
        lambda n, c: ('{"image": "' + c * n + '"}').encode(),
        st.integers(0, 200_000),
        st.sampled_from(["A", "=", "\\u0000", "\\ud800", "é", " "]),
    )
    return documents | requests | nesting | numbers | long_strings | st.binary(max_size=300)
