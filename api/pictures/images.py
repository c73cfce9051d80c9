"""Image inputs with their limits: 28x28 arrays checked and scaled, encoded images decoded to grey.

Two kinds of input:

- arrays (28x28 nested lists or 784 numbers, 0-255 or 0-1), already MNIST-style: checked and scaled;
- encoded images (PNG, JPEG, GIF, BMP, WebP; raw bytes, base64 or a `data:` URL) of any size and
  colour: decoded to grey levels, transparent parts flattened onto the background their strokes
  stand out on. Turning those into MNIST-style inputs is `api.pictures.normalise`'s job (`from_bytes` does both).

Sizes are checked from the image header before any pixel is decoded (no decompression bombs).
"""

from __future__ import annotations

import base64
import binascii
import io
import urllib.parse
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import UnidentifiedImageError

from api.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from api.lazy import lazy_import
from api.runtime.manifest import IMAGE_PIXELS, IMAGE_SIZE

# Pillow loads when an image first arrives (api.lazy).
Image = lazy_import("PIL.Image")
ImageOps = lazy_import("PIL.ImageOps")
# The normaliser loads with the first picture: a request with an array (test.json) never needs it.
normalise = lazy_import("api.pictures.normalise")

# Images larger than this (either side) are reduced while decoding: the digit ends up 20 pixels
# tall anyway, and this keeps a thin pen stroke on a large page more than a pixel wide.
WORK_SIZE = 512
FORMATS = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "WEBP": "image/webp",
}
OPEN_FORMATS = ["PNG", "JPEG", "GIF", "BMP", "WEBP"]  # Pillow's JPEG reader also opens MPO (phone photos)
MEDIA_TYPES = frozenset(FORMATS.values()) | {"image/jpg", "image/x-ms-bmp", "image/pjpeg"}


@dataclass
class PixelBudget:
    """Decoded pixels left for one request (several images share one budget)."""

    per_image: int
    remaining: int

    def take(self, width: int, height: int) -> None:
        pixels = width * height
        if pixels > self.per_image:
            raise PayloadTooLarge(
                f"an image of {width}x{height} pixels is over the limit of {self.per_image} pixels per image"
            )
        if pixels > self.remaining:
            raise PayloadTooLarge("the images of this request have more pixels than one request may decode")
        self.remaining -= pixels


def from_array(value: Any) -> np.ndarray:
    """A 28x28 (or 784, or 28x28x1) array of 0-255 or 0-1 values → float32 [28, 28] in [0, 1]."""
    try:
        array = np.asarray(value, dtype=np.float32)
    except (ValueError, TypeError, OverflowError):  # OverflowError: an integer beyond float range
        raise InvalidRequest("an image array must hold only numbers, 28 rows of 28 or 784 in all") from None
    if array.shape == (IMAGE_PIXELS,) or array.shape == (IMAGE_SIZE, IMAGE_SIZE, 1):
        array = array.reshape(IMAGE_SIZE, IMAGE_SIZE)
    elif array.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise InvalidRequest(f"an image array must be 28x28 or 784 numbers, got shape {list(array.shape)}")
    low, high = float(array.min()), float(array.max())
    if not (np.isfinite(low) and np.isfinite(high)):  # null becomes NaN
        raise InvalidRequest("an image array must hold only numbers (no null, NaN or infinity)")
    if low < 0 or high > 255:
        raise InvalidRequest("image values must be between 0 and 255 (or 0 and 1)")
    # 0-1 floats are used as they are; anything above 1 means the 0-255 scale.
    return array / 255.0 if high > 1.0 else array


def decode_string(text: str) -> tuple[bytes, str | None]:
    """The bytes of a base64 string or `data:` URL, and the URL's media type if it gives one."""
    media_type = None
    text = text.strip()
    if text[:5].lower() == "data:":
        header, sep, payload = text[5:].partition(",")
        if not sep:
            raise InvalidRequest("a data: URL needs a comma before its data")
        params = [p.strip().lower() for p in header.split(";")]
        media_type = params[0] or None
        if media_type and media_type not in MEDIA_TYPES:
            raise UnsupportedMediaType(
                f"{media_type} is not an image type this API reads; send PNG, JPEG, GIF, BMP or WebP"
            )
        if "base64" not in params[1:]:
            return urllib.parse.unquote_to_bytes(payload), media_type
        text = payload
    compact = "".join(text.split())
    compact += "=" * (-len(compact) % 4)
    try:
        if "-" in compact or "_" in compact:
            return base64.urlsafe_b64decode(compact), media_type
        return base64.b64decode(compact, validate=True), media_type
    except (binascii.Error, ValueError):
        raise InvalidRequest("an image string must be base64 or a data: URL of an image") from None


def from_bytes(data: bytes, budget: PixelBudget) -> np.ndarray:
    """An encoded image of one digit → its MNIST-style float32 [28, 28] input (`api.pictures.normalise`).

    A 400 if it shows none.
    """
    return normalise.to_mnist(decode(data, budget))


def digit_from_bytes(data: bytes, budget: PixelBudget) -> tuple[np.ndarray, bool]:
    """`from_bytes`'s input, and whether the picture plainly holds several digits side by side."""
    return normalise.read_digit(decode(data, budget))


def decode(data: bytes, budget: PixelBudget) -> np.ndarray:
    """Grey levels (uint8) of the image's first frame, reduced to at most WORK_SIZE."""
    return decode_sized(data, budget)[0]


def decode_sized(
    data: bytes, budget: PixelBudget, grey_first: bool = False, work_size: int = WORK_SIZE
) -> tuple[np.ndarray, tuple[int, int]]:
    """`decode`, and the picture's own (width, height), upright as EXIF says: what the grey levels were reduced from.

    `grey_first` turns a large picture grey before reducing it, not after: a third of the pixels to
    reduce (a 560x280 canvas is ~2 ms faster), levels that differ by a rounding; numbers are read so,
    from a larger `work_size` (a number is wider than a digit).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=OPEN_FORMATS)
            budget.take(*image.size)
            own = image.size  # before a JPEG's draft reduces it
            if image.format in ("JPEG", "MPO"):
                # JPEG decodes at 1/2, 1/4 or 1/8 of its size for a fraction of the time; half of
                # WORK_SIZE still leaves a digit a third of a photo's height over 80 pixels tall.
                image.draft("L", (work_size // 2, work_size // 2))
            ImageOps.exif_transpose(image, in_place=True)  # photos are often stored sideways
            if (image.width > image.height) != (own[0] > own[1]):  # turned a quarter
                own = (own[1], own[0])
            if grey_first:
                image = _to_grey(image)
            if max(image.size) > work_size:
                image.thumbnail((work_size, work_size), Image.Resampling.BOX)
            return np.asarray(image if grey_first else _to_grey(image)), own
    except (PayloadTooLarge, InvalidRequest):
        raise
    except UnidentifiedImageError:
        if _looks_like_a_known_format(data):
            raise InvalidRequest("the image could not be decoded (truncated or corrupt)") from None
        raise UnsupportedMediaType("the image is not PNG, JPEG, GIF, BMP or WebP") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PayloadTooLarge(f"the image has more pixels than the limit of {budget.per_image} per image") from None
    except (OSError, ValueError, SyntaxError, EOFError):
        raise InvalidRequest("the image could not be decoded (truncated or corrupt)") from None


def _looks_like_a_known_format(data: bytes) -> bool:
    """Whether the bytes start as one of the accepted formats do (so a failure means corrupt)."""
    return data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")) or (
        data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    )


def _to_grey(image: Image.Image) -> Image.Image:
    """Grey ("L"); transparent parts become the background the visible strokes stand out on."""
    if image.mode.startswith(("I", "F")):  # 16/32-bit integer or float grey: scale, do not clip
        values = np.asarray(image, dtype=np.float32)
        top = 65535.0 if image.mode.startswith("I;16") else max(float(values.max()), 1.0)
        return Image.fromarray(np.clip(values * (255.0 / top), 0, 255).astype(np.uint8), "L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode not in ("RGBA", "LA", "PA", "RGBa", "La"):
        return image.convert("L")
    if image.mode not in ("RGBA", "LA"):
        image = image.convert("RGBA")
    grey, alpha = image.convert("L"), image.getchannel("A")  # (twice as fast as one conversion to "LA")
    if alpha.getextrema()[0] == 255:
        return grey
    weights = np.asarray(alpha, dtype=np.float32).ravel()
    covered = float(weights.sum())
    if covered < 255.0:
        raise InvalidRequest("the image is fully transparent: no digit found")
    # A canvas drawing is often dark strokes on a transparent background: put it on white then.
    mean = float(np.asarray(grey, dtype=np.float32).ravel() @ weights) / covered
    return Image.composite(grey, Image.new("L", grey.size, 255 if mean < 128 else 0), alpha)
