"""Image inputs: arrays, base64 / data URLs, decoding limits, and EXIF orientation.

The shape of MNIST-style normalisation on real digits is tests/slow/test_images.py; how well
normalised pictures are *read* (the corpus of ml_model/corpus/digits.py, and each failure mode found
with it) is tests/slow/test_read_images.py.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest
from PIL import Image

from api.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from api.pictures import images
from tests.support.api_support import png_claiming
from tests.support.digit_images import encode
from tests.support.pictures_support import budget, png

# ---------------------------------------------------------------- arrays


@pytest.mark.parametrize("shape", [(28, 28), (784,), (28, 28, 1)])
def test_arrays_of_every_accepted_shape(shape: tuple[int, ...]) -> None:
    values = np.arange(784, dtype=np.float64).reshape(shape) % 256
    out = images.from_array(values.tolist())
    assert out.shape == (28, 28) and out.dtype == np.float32
    np.testing.assert_allclose(out.ravel(), (np.arange(784) % 256) / 255.0, atol=1e-6)


def test_arrays_of_unit_floats_are_used_as_they_are() -> None:
    values = np.linspace(0, 1, 784).reshape(28, 28)
    np.testing.assert_allclose(images.from_array(values.tolist()), values, atol=1e-6)


@pytest.mark.parametrize(
    "value, fragment",
    [
        ([[0] * 28] * 27, "28x28 or 784"),
        ([0] * 783, "28x28 or 784"),
        ([[[0] * 28] * 28] * 2, "28x28 or 784"),
        ([[0] * 28] * 27 + [[0] * 27], "only numbers"),
        ([["a"] * 28] * 28, "only numbers"),
        ([[None] * 28] * 28, "only numbers"),
        ([[256] + [0] * 27] + [[0] * 28] * 27, "between 0 and 255"),
        ([[-1] + [0] * 27] + [[0] * 28] * 27, "between 0 and 255"),
        ([[float("nan")] + [0] * 27] + [[0] * 28] * 27, "only numbers"),
        ([[float("inf")] + [0] * 27] + [[0] * 28] * 27, "only numbers"),
        ([], "28x28 or 784"),
    ],
)
def test_bad_arrays_are_refused(value: object, fragment: str) -> None:
    with pytest.raises(InvalidRequest, match=fragment):
        images.from_array(value)


# ---------------------------------------------------------------- strings


def test_base64_and_data_urls_decode_to_the_same_bytes() -> None:
    data = png(np.zeros((5, 5), np.uint8))
    plain = base64.b64encode(data).decode()
    forms = [
        plain,
        plain.rstrip("="),
        "\n".join(plain[i : i + 20] for i in range(0, len(plain), 20)),
        base64.urlsafe_b64encode(data).decode(),
        f"data:image/png;base64,{plain}",
        f"DATA:image/png;charset=binary;base64,{plain}",
        f"data:;base64,{plain}",
    ]
    for form in forms:
        assert images.decode_string(form)[0] == data, form


@pytest.mark.parametrize(
    "text, error, fragment",
    [
        ("not base64 at all!", InvalidRequest, "base64"),
        ("data:image/png;base64", InvalidRequest, "comma"),
        ("data:text/plain;base64,aGVsbG8=", UnsupportedMediaType, "text/plain"),
        ("data:image/tiff;base64,aGVsbG8=", UnsupportedMediaType, "image/tiff"),
    ],
)
def test_bad_strings_are_refused(text: str, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        images.decode_string(text)


# ---------------------------------------------------------------- decoding


def _tiff() -> bytes:
    return encode(Image.new("L", (8, 8)), "TIFF")


@pytest.mark.parametrize(
    "data, error, fragment",
    [
        (b"", UnsupportedMediaType, "PNG, JPEG"),
        (b"hello, world", UnsupportedMediaType, "PNG, JPEG"),
        (_tiff(), UnsupportedMediaType, "PNG, JPEG"),
        (png(np.zeros((64, 64), np.uint8))[:60], InvalidRequest, "decoded"),
        (png_claiming(50_000, 50_000), PayloadTooLarge, "pixels"),
        (png_claiming(4097, 4096), PayloadTooLarge, "pixels"),
        (png(np.full((64, 64), 255, np.uint8)), InvalidRequest, "blank"),
        (png(np.zeros((64, 64, 4), np.uint8), "RGBA"), InvalidRequest, "transparent"),
        (png(np.zeros((1, 1), np.uint8)), InvalidRequest, "1x1 pixels: too small"),
        (png(np.eye(3, dtype=np.uint8) * 255), InvalidRequest, "3x3 pixels: too small"),
        (png(np.eye(7, 5, dtype=np.uint8) * 255), InvalidRequest, "5x7 pixels: too small"),
    ],
    ids=["empty", "text", "tiff", "truncated", "bomb", "just-over-limit", "blank", "transparent", "1x1", "3x3", "5x7"],
)
def test_undecodable_and_oversized_images_are_refused(data: bytes, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        images.from_bytes(data, budget())


def test_the_request_budget_is_shared_by_its_images() -> None:
    shared = images.PixelBudget(per_image=100 * 100, remaining=3 * 100 * 100)
    digit = np.zeros((100, 100), np.uint8)
    digit[30:70, 45:55] = 255
    for _ in range(3):
        images.from_bytes(png(digit), shared)
    with pytest.raises(PayloadTooLarge, match="request"):
        images.from_bytes(png(digit), shared)


# ---------------------------------------------------------------- orientation


def test_exif_orientation_is_applied() -> None:
    """A phone stores a portrait photo sideways with an EXIF rotation; the digit must come out upright."""
    upright = np.full((200, 100), 255, np.uint8)
    upright[40:160, 45:55] = 0  # a "1": tall and thin
    stored = Image.fromarray(upright).rotate(90, expand=True)  # lying on its side
    exif = Image.Exif()
    exif[0x0112] = 8  # "rotate 90 CW to display"
    out = images.from_bytes(encode(stored, "JPEG", exif=exif.tobytes(), quality=95), budget())
    rows, cols = np.nonzero(out > 0.5)
    assert np.ptp(rows) > 3 * np.ptp(cols)
