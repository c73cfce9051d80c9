"""Fuzzing the handler: generated events and hostile images, and the invariants every answer keeps.

Hypothesis builds well over 10,000 events per run (each property counts its own and asserts the
count): API Gateway payload 2.0 and 1.0, every route and method of `handler.ROUTES` (so routes added
later are fuzzed too) plus unknown ones, hostile headers, `isBase64Encoded` lies, JSON documents of
every shape and depth, huge numbers and strings, invalid UTF-8, and a corpus of hostile images
(truncated and bit-flipped PNG/JPEG/GIF/WebP, decompression bombs, 16-bit, palette, CMYK, LA,
animated, EXIF-rotated, 1x1, 10000x1, blank). The handler runs the real small MNIST model, so valid
requests are answered 200 and the checks cover success as well as every error path.

Invariants, for every event: no exception leaves the handler; no 5xx; every error is the documented
JSON shape with CORS headers; no stack trace or file path in any body; a generous per-request time
ceiling (a hang detector, not a speed figure); resident memory does not grow across the run.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from api import handler
from api.app.http import event_path
from api.runtime.model_store import ModelStore
from tests.support.api_support import LambdaContext, http_event, png_claiming, rest_event, rss_mb, serving
from tests.support.digit_images import encode
from tests.support.strategies import FUZZ, bodies, image_like, json_values

REPO = Path(__file__).resolve().parents[2]
CORS_ORIGIN = ("Access-Control-Allow-Origin", "*")
# A hang detector, far above any real request (a 12-megapixel photo takes ~0.1 s), not a benchmark.
CEILING_SECONDS = 10.0
# Resident memory the whole fuzz run may add once warm (Hypothesis keeps some state of its own).
RSS_GROWTH_LIMIT_MB = 150
# Anything that would betray the server's insides in a body.
LEAKS = re.compile(r'Traceback|File "|/tmp/|/var/task|/home/|/root/|site-packages|' + re.escape(str(REPO)))
# And in errors, not even a source file's name (a page or an API document may name one on purpose).
SOURCE_FILE = re.compile(r"\.py\b")


@pytest.fixture(scope="module")
def fuzz_store(loaded_store: ModelStore) -> Iterator[ModelStore]:
    """The real small MNIST model, loaded before the first event, behind the handler for the whole module."""
    loaded_store.model()
    with serving(loaded_store):
        yield loaded_store


class Checker:
    """Sends events through the handler, checks every invariant, counts events and statuses."""

    def __init__(self) -> None:
        self.events = 0
        self.statuses: dict[int, int] = {}

    def __call__(self, event: Any) -> dict[str, Any]:
        started = time.perf_counter()
        response = handler.get_number_prediction(event, LambdaContext())
        elapsed = time.perf_counter() - started
        self.events += 1
        assert elapsed < CEILING_SECONDS, f"a request took {elapsed:.1f} s"
        assert isinstance(response, dict) and set(response) == {"statusCode", "headers", "body", "isBase64Encoded"}
        status, headers, body = response["statusCode"], response["headers"], response["body"]
        self.statuses[status] = self.statuses.get(status, 0) + 1
        assert isinstance(status, int) and 200 <= status < 500, (status, body[:300])
        assert headers.get(CORS_ORIGIN[0]) == CORS_ORIGIN[1]
        assert isinstance(body, str)
        text = body if not response["isBase64Encoded"] else base64.b64decode(body).decode("latin-1")
        text = _without_echoes(text, event)
        assert not LEAKS.search(text), text[:500]
        if status >= 400:
            assert not SOURCE_FILE.search(text), text[:500]
            assert headers.get("Content-Type", "").startswith("application/json")
            assert_error_shape(json.loads(body), event_path(event))  # the path as the handler routes it
        return response


def assert_error_shape(document: Any, path: str) -> None:
    """`{"error": {"code", "message"}}`; the Open Inference Protocol routes (/v2 and below) use `{"error": "..."}`."""
    assert isinstance(document, dict) and set(document) == {"error"}, document
    error = document["error"]
    if (path == "/v2" or path.startswith("/v2/")) and isinstance(error, str):
        assert error
        return
    assert isinstance(error, dict) and set(error) == {"code", "message"}, document
    assert isinstance(error["code"], str) and re.fullmatch(r"[a-z_]+", error["code"])
    assert isinstance(error["message"], str) and error["message"]


def _without_echoes(text: str, event: Any) -> str:
    """`text` without the caller's own path and method, which a 404 or 405 may quote back."""
    echoes = [_path_of(event)]
    if isinstance(event, dict):
        context = event.get("requestContext")
        http = context.get("http") if isinstance(context, dict) else None
        echoes += [event.get("httpMethod"), http.get("method") if isinstance(http, dict) else None]
    for echo in filter(None, echoes):
        if isinstance(echo, str):
            text = text.replace(json.dumps(echo)[1:-1], "").replace(json.dumps(echo.upper())[1:-1], "")
    return text


def _path_of(event: Any) -> str:
    if isinstance(event, dict):
        for key in ("rawPath", "path"):
            if isinstance(event.get(key), str):
                return "/" + event[key].strip("/")
    return ""


def run_property(test: Callable[..., None], checker: Checker, minimum: int) -> None:
    """Run a Hypothesis property and hold it to the number of events it promised."""
    test()
    assert checker.events >= minimum, f"only {checker.events} events were generated"


# ------------------------------------------------------------------------ strategies


def header_maps() -> st.SearchStrategy[dict[str, Any]]:
    content_types = st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-16",
            "text/plain",
            "image/png",
            "image/jpeg",
            "application/octet-stream",
            "multipart/form-data",
            "application/vnd.api+json",
            "",
            ";;;",
            "image/",
            "APPLICATION/JSON",
        ]
    )
    huge = st.builds(
        lambda text, times: text * times, st.sampled_from(["a", "\x00", "é", " ;", "\r\n"]), st.integers(1_000, 20_000)
    )  # repeated, not drawn character by character: cheap
    values = st.text(max_size=40) | huge
    names = st.text(max_size=20) | st.sampled_from(
        ["content-type", "Content-Type", "CONTENT-TYPE", "origin", "content-length", "authorization", "x-forwarded-for"]
    )
    return st.builds(
        lambda extra, ctype, key: {**extra, key: ctype} if ctype is not None else extra,
        st.dictionaries(names, values, max_size=3),
        st.none() | content_types | values,
        st.sampled_from(["content-type", "Content-Type", "CONTENT-TYPE"]),
    )


def known_routes() -> st.SearchStrategy[tuple[str, str]]:
    """(method, path) of every route in handler.ROUTES, each method it has and others, or an unknown path."""
    # Path parameters filled in: the model's name, and a version (right or wrong, both are answered).
    paths = [pattern.replace("{name}", "number-prediction").replace("{version}", "1") for pattern in handler.ROUTES]
    pairs = [(method, path) for path, route in zip(paths, handler.ROUTES.values()) for method in route.methods]
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "get", "", "TRACE"]
    unknown = st.text(max_size=30).map(lambda text: "/" + text) | st.sampled_from(
        [
            "/",
            "//predict",
            "/predict/",
            "/predict/../model",
            "/%2e%2e/etc/passwd",
            "/v2/models/x/infer",
            "/PREDICT",
            "/predict?x=1",
            "/model\x00",
        ]
    )
    return (
        st.sampled_from(pairs)
        | st.tuples(st.sampled_from(methods), st.sampled_from(paths))
        | st.tuples(st.sampled_from(methods) | st.text(max_size=8), unknown)
    )


def encode_body(body: bytes, as_base64: bool | Any) -> tuple[Any, Any]:
    """(body, isBase64Encoded) as API Gateway would send them, or as a liar would."""
    if as_base64 is True:
        return base64.b64encode(body).decode(), True
    if as_base64 is False:
        return body.decode("utf-8", errors="surrogateescape"), False
    return as_base64  # a lie: (body, flag) drawn as they come


# Built once: a strategy made inside a draw is validated again on every example.
ROUTE_PAIRS = known_routes()
BODIES = bodies()
HEADERS = header_maps()
BASE64_FLAGS = st.sampled_from([True, False]) | st.tuples(  # the truth, or a lie: any body, any flag
    st.text(max_size=50) | st.none() | st.integers(), st.sampled_from([True, False, "true", "false", 1, 0, None])
)
STAGES = st.sampled_from(["$default", "dev"])
DAMAGE = json_values(6)


@st.composite
def events(draw: st.DrawFn) -> list[dict[str, Any]]:
    """One drawn request as both API Gateway payload versions (2.0, then 1.0): two events."""
    method, path = draw(ROUTE_PAIRS)
    raw, flag = encode_body(draw(BODIES), draw(BASE64_FLAGS))
    headers = draw(HEADERS)
    v2 = http_event(method, path, None, content_type=None, stage=draw(STAGES))
    v2["headers"] = headers
    v1 = rest_event(method, path, None, content_type=None)
    v1["headers"] = draw(st.sampled_from([headers, None, {}]))
    v1["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    pair = [v2, v1]
    for event in pair:
        event["body"], event["isBase64Encoded"] = raw, flag
        if draw(st.integers(0, 9)) == 0:  # damage the event itself
            key = draw(st.sampled_from(sorted(event)))
            event[key] = draw(DAMAGE)
    return pair


# ------------------------------------------------------------------------ properties


def test_generated_events(fuzz_store: ModelStore) -> None:
    checker = Checker()

    @settings(FUZZ, max_examples=2_500)
    @given(events())
    def prop(pair: list[dict[str, Any]]) -> None:
        for event in pair:
            checker(event)

    run_property(prop, checker, 5_000)
    assert checker.statuses.get(200, 0) + checker.statuses.get(204, 0) > 0, checker.statuses


def test_generated_events_that_almost_work(fuzz_store: ModelStore) -> None:
    """POST /predict with the right content type and a near-valid body: reaches the model's checks."""
    checker = Checker()

    @settings(FUZZ, max_examples=2_000)
    @given(st.sampled_from(["image", "images", "instances"]), image_like(), st.booleans(), st.booleans())
    def prop(key: str, value: Any, batch: bool, rest: bool) -> None:
        document = {key: [value] if batch or key != "image" else value}
        build = rest_event if rest else http_event
        response = checker(build("POST", "/predict", document))
        if response["statusCode"] == 200:
            answer = json.loads(response["body"])
            rows = [answer] if "prediction" in answer else answer["predictions"]
            for row in rows:
                probabilities = row["probabilities"] if isinstance(row, dict) else row
                assert len(probabilities) == 10 and abs(sum(probabilities) - 1) < 1e-3

    run_property(prop, checker, 2_000)
    assert checker.statuses.get(200, 0) > 0 and checker.statuses.get(400, 0) > 0, checker.statuses


def test_direct_invocations_and_foreign_events(fuzz_store: ModelStore) -> None:
    """`serverless invoke --data` events, other AWS events, and values that are not events at all."""
    checker = Checker()

    @settings(FUZZ, max_examples=1_000)
    @given(
        json_values(30)
        | st.dictionaries(
            st.sampled_from(["image", "images", "instances", "version", "httpMethod", "requestContext", "Records"]),
            json_values(10),
            min_size=1,
            max_size=3,
        )
    )
    def prop(event: Any) -> None:
        checker(event)

    run_property(prop, checker, 1_000)


# ------------------------------------------------------------------------ hostile images


def digit_picture(size: tuple[int, int] = (120, 120), mode: str = "L") -> Image.Image:
    """A hand-drawn-looking 7, dark on light, in any size and mode."""
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.line([(w * 0.25, h * 0.2), (w * 0.75, h * 0.2), (w * 0.45, h * 0.85)], fill=0, width=max(1, min(w, h) // 12))
    return image.convert(mode)


def gif_bomb() -> bytes:
    """A valid GIF whose logical screen claims 65535x65535."""
    data = bytearray(encode(digit_picture((16, 16)).convert("P"), "GIF"))
    data[6:10] = (65535).to_bytes(2, "little") * 2
    return bytes(data)


def animated(fmt: str) -> bytes:
    frames = [digit_picture((60, 60)), Image.new("L", (60, 60), 255), digit_picture((60, 60)).rotate(90)]
    if fmt == "GIF":
        frames = [frame.convert("P") for frame in frames]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    return encode(digit_picture((80, 120)).convert("RGB"), "JPEG", exif=exif.tobytes())


def sixteen_bit() -> bytes:
    values = np.asarray(digit_picture((64, 64)), dtype=np.uint16) * 257
    return encode(Image.fromarray(values))  # uint16 → mode I;16


def _base() -> Image.Image:
    return digit_picture()


# name → maker of the image bytes: every kind of image the issue lists, valid and broken. Built on
# first use (not at collection), once per run.
CORPUS_MAKERS: dict[str, Callable[[], bytes]] = {
    "png": lambda: encode(_base()),
    "jpeg": lambda: encode(_base().convert("RGB"), "JPEG"),
    "gif": lambda: encode(_base().convert("P"), "GIF"),
    "webp": lambda: encode(_base().convert("RGB"), "WEBP"),
    "bmp": lambda: encode(_base(), "BMP"),
    "png-16-bit": sixteen_bit,
    "png-palette": lambda: encode(_base().convert("P")),
    "png-palette-transparent": lambda: encode(_base().convert("P"), transparency=255),
    "jpeg-cmyk": lambda: encode(_base().convert("CMYK"), "JPEG"),
    "png-la": lambda: encode(_base().convert("LA")),
    "png-rgba": lambda: encode(_base().convert("RGBA")),
    "png-1-bit": lambda: encode(_base().convert("1")),
    "tiff-float": lambda: encode(_base().convert("F"), "TIFF"),
    "gif-animated": lambda: animated("GIF"),
    "webp-animated": lambda: animated("WEBP"),
    "png-animated": lambda: animated("PNG"),
    "jpeg-exif-rotated": exif_rotated,
    "png-1x1": lambda: encode(Image.new("L", (1, 1), 0)),
    "png-10000x1": lambda: encode(digit_picture((10000, 1))),
    "png-1x10000": lambda: encode(digit_picture((1, 10000))),
    "png-blank-white": lambda: encode(Image.new("L", (64, 64), 255)),
    "png-blank-black": lambda: encode(Image.new("L", (64, 64), 0)),
    "png-transparent": lambda: encode(Image.new("RGBA", (64, 64))),
    "png-4096-square-blank": lambda: encode(Image.new("L", (4096, 4096), 255)),
    "bomb-png": lambda: png_claiming(100_000, 100_000),
    "bomb-png-wide": lambda: png_claiming(2**31 - 1, 1),
    "bomb-gif": gif_bomb,
    "empty": lambda: b"",
    "text": lambda: b"hello, world",
}
VALID_FORMATS = [
    "png",
    "jpeg",
    "gif",
    "webp",
    "bmp",
    "png-16-bit",
    "jpeg-cmyk",
    "gif-animated",
    "webp-animated",
    "jpeg-exif-rotated",
]


@functools.cache
def corpus(name: str) -> bytes:
    return CORPUS_MAKERS[name]()


def image_events(data: bytes) -> list[dict[str, Any]]:
    """The same bytes as a raw body, as base64 in JSON, as a data: URL, and as an instance."""
    b64 = base64.b64encode(data).decode()
    return [
        http_event("POST", "/predict", data, content_type="image/png", base64_body=True),
        rest_event("POST", "/predict", data, content_type="application/octet-stream", base64_body=True),
        http_event("POST", "/predict", {"image": b64}),
        http_event("POST", "/predict", {"images": [f"data:image/png;base64,{b64}"]}),
        http_event("POST", "/predict", {"instances": [{"b64": b64}]}),
    ]


@pytest.mark.parametrize("name", sorted(CORPUS_MAKERS))
def test_the_hostile_image_corpus(fuzz_store: ModelStore, name: str) -> None:
    checker = Checker()
    for event in image_events(corpus(name)):
        status = checker(event)["statusCode"]
        if name in VALID_FORMATS:
            assert status == 200, (name, status)
        elif name.startswith("bomb"):
            assert status == 413, (name, status)
        else:
            assert status in (200, 400, 413, 415), (name, status)


def test_truncated_and_bit_flipped_images(fuzz_store: ModelStore) -> None:
    """Every valid format, cut at any point or with bytes flipped anywhere (headers included)."""
    checker = Checker()

    @settings(FUZZ, max_examples=1_200)
    @given(st.sampled_from(VALID_FORMATS), st.data())
    def prop(name: str, data: st.DataObject) -> None:
        image = bytearray(corpus(name))
        if data.draw(st.booleans(), label="truncate"):
            image = image[: data.draw(st.integers(0, len(image) - 1), label="cut")]
        else:
            for _ in range(data.draw(st.integers(1, 8), label="flips")):
                at = data.draw(st.integers(0, min(len(image) - 1, data.draw(st.sampled_from([64, 512, 1 << 30])))))
                image[at] ^= data.draw(st.integers(1, 255), label="mask")
        event = data.draw(st.sampled_from(image_events(bytes(image))), label="event")
        checker(event)

    run_property(prop, checker, 1_200)


def test_memory_does_not_grow_across_a_fuzz_run(fuzz_store: ModelStore) -> None:
    """The same mix again after warm-up: resident memory stays within a fixed bound."""
    checker = Checker()

    @settings(FUZZ, max_examples=800)
    @given(events())
    def prop(pair: list[dict[str, Any]]) -> None:
        for event in pair:
            checker(event)

    for name in VALID_FORMATS:  # warm every decoder once
        checker(image_events(corpus(name))[0])
    before = rss_mb()
    run_property(prop, checker, 1_600)
    for name in sorted(CORPUS_MAKERS):
        for event in image_events(corpus(name)):
            checker(event)
    growth = rss_mb() - before
    assert growth < RSS_GROWTH_LIMIT_MB, f"RSS grew by {growth:.0f} MB over {checker.events} events"


# ------------------------------------------------------------------------ coverage-guided (atheris)

ATHERIS_RUNS = 20_000


@pytest.mark.timeout(300)
@pytest.mark.skipif(sys.platform != "linux", reason="atheris is installed on Linux only (pyproject.toml)")
def test_atheris_finds_nothing_in_the_body_parser(tmp_path: Path) -> None:
    """tests/support/fuzz_body.py under libFuzzer for a bounded number of inputs, from a few valid seeds."""
    seeds = tmp_path / "corpus"
    seeds.mkdir()
    (seeds / "array").write_text(json.dumps({"image": [[0] * 28] * 28}))
    (seeds / "batch").write_text(json.dumps({"images": [[0.5] * 784], "x": None}))
    (seeds / "png").write_text(json.dumps({"image": base64.b64encode(corpus("png")).decode()}))
    (seeds / "instances").write_text(json.dumps({"instances": [{"b64": base64.b64encode(corpus("gif")).decode()}]}))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [
            sys.executable,
            str(REPO / "tests" / "support" / "fuzz_body.py"),
            f"-runs={ATHERIS_RUNS}",
            "-max_total_time=120",
            "-timeout=10",
            "-rss_limit_mb=2048",
            str(seeds),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"Done {ATHERIS_RUNS} runs" in run.stderr, run.stderr[-1000:]
