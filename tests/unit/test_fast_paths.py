"""The handler's fast paths answer exactly as the plain paths do, on generated bodies.

Two fast paths serve the common request: orjson reads the body (`api.app.http._fast_json`) and `bytes()`
converts arrays of whole numbers 0-255 (`api.app.inputs._whole_pixels`); answers are written by orjson
(`api.app.http.dumps`). Each steps aside (returns None, or raises TypeError) for whatever it does not
read exactly as `json` and `numpy.asarray` would, and the plain path then reads or refuses it with
its own words. Here every generated body is read both ways, through `read_inputs` as it is and with
the fast paths switched off, and the results (the model's input bytes, or the error's status and
message) must be identical; the fuzz suite's body strategies supply the hostile cases.

Pillow staying unrun on a cold start that answers an array (`api.lazy`): tests/integration/test_fast_paths.py;
a big batch run in passes of `api.runtime.predictor.CHUNK` images: tests/slow/test_fast_paths.py.
"""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from api.app import http, inputs
from api.app.http import Request
from api.runtime.settings import MAX_BATCH
from tests.support.strategies import FUZZ, bodies, image_like, json_values

EXAMPLES = settings(FUZZ, max_examples=400)


@st.composite
def whole_images(draw: st.DrawFn) -> Any:
    """Image-like values (some poisoned, some misshapen), mostly with their whole numbers as ints,
    which is what the `bytes()` path reads."""
    value = draw(image_like())
    if draw(st.integers(0, 3)) == 0:
        return value  # floats, as image_like draws them
    ints = lambda item: int(item) if isinstance(item, float) and item.is_integer() else item  # noqa: E731 - a one-line key function, named for the assertion that reads it
    return [[ints(x) for x in row] if isinstance(row, list) else ints(row) for row in value]


def common_bodies() -> st.SearchStrategy[bytes]:
    """`{"image": A}`, `{"images": [A, ...]}` and `{"instances": [...]}` as clients write them (either
    spacing), with an occasional `debug` key."""
    document = st.one_of(
        st.builds(lambda image: {"image": image}, whole_images()),
        st.builds(lambda images: {"images": images}, st.lists(whole_images(), min_size=1, max_size=4)),
        st.builds(lambda rows: {"instances": rows}, st.lists(whole_images(), min_size=1, max_size=2)),
    )
    with_debug = st.builds(
        lambda doc, debug: {**doc, "debug": debug} if debug is not None else doc,
        document,
        st.none() | st.booleans() | st.just(1),
    )
    separators = st.sampled_from([(",", ":"), (", ", ": ")])
    return st.builds(lambda doc, sep: json.dumps(doc, separators=sep).encode(), with_debug, separators)


def outcome(body: bytes) -> tuple[Any, ...]:
    """What `read_inputs` makes of `body`: the inputs' form, debug flag and exact bytes, or the error."""
    try:
        read = inputs.read_inputs(Request("POST", "/predict", {"content-type": "application/json"}, body), MAX_BATCH)
    except Exception as exc:  # noqa: BLE001 - the error itself is what is compared
        return ("error", type(exc).__name__, getattr(exc, "status", None), getattr(exc, "message", str(exc)))
    return ("inputs", read.form, read.debug, read.batch.dtype.str, read.batch.shape, read.batch.tobytes())


def plain_outcome(body: bytes) -> tuple[Any, ...]:
    """The same with both fast paths switched off: `json` and `numpy.asarray` only."""
    with (
        mock.patch.object(http, "_fast_json", lambda body: None),
        mock.patch.object(inputs, "_whole_pixels", lambda items: None),
    ):
        return outcome(body)


def test_the_fast_paths_serve_the_common_bodies() -> None:
    """Without this the comparisons below would pass with the fast paths never taken."""
    digit = np.arange(784).reshape(28, 28) % 256
    for body in (
        json.dumps({"image": digit.tolist()}).encode(),
        json.dumps({"image": digit.ravel().tolist()}).encode(),
    ):
        assert http._fast_json(body) == json.loads(body)
    assert inputs._whole_pixels([digit.tolist(), digit.ravel().tolist()]) is not None
    assert inputs._whole_pixels([digit.tolist()]).tobytes() == digit.astype(np.float32).tobytes()
    for not_taken in ([digit.tolist()[:27]], [(digit / 255).tolist()], [[[*row[:-1], 256] for row in digit.tolist()]]):
        assert inputs._whole_pixels(not_taken) is None


@EXAMPLES
@given(common_bodies())
def test_common_bodies_are_read_as_the_plain_path_reads_them(body: bytes) -> None:
    assert outcome(body) == plain_outcome(body)


@EXAMPLES
@given(bodies())
def test_hostile_bodies_are_refused_as_the_plain_path_refuses_them(body: bytes) -> None:
    assert outcome(body) == plain_outcome(body)


@EXAMPLES
@given(bodies() | common_bodies())
def test_orjson_reads_what_json_reads_or_steps_aside(body: bytes) -> None:
    fast = http._fast_json(body)
    if fast is not None:
        # repr tells 1 from 1.0 and -0.0 from 0.0, and shows key order.
        assert repr(fast) == repr(json.loads(body))


@EXAMPLES
@given(json_values())
def test_answers_are_written_as_json_would_write_them(value: Any) -> None:
    try:
        expected = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except ValueError:  # NaN or infinity: never in an answer (it used to end the request unanswered)
        return
    written = http.dumps(value)
    assert repr(json.loads(written)) == repr(json.loads(expected))
