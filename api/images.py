"""Digit images in, MNIST-style 28x28 arrays out (numpy and Pillow only).

Two kinds of input:

- arrays (28x28 nested lists or 784 numbers, 0-255 or 0-1), already MNIST-style: checked and scaled;
- encoded images (PNG, JPEG, GIF, BMP, WebP; raw bytes, base64 or a `data:` URL) of any size,
  colour and background: a drawing or a photo of one digit. These are normalised the way MNIST
  itself was made, so the network sees what it was trained on:
  grey → digit light on dark → even background and levels → crop to the ink → strokes not thinner
  than MNIST's → fit 20x20 keeping the aspect ratio → centre of mass at the centre of 28x28.

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
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from .errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

SIZE = 28  # MNIST images are 28x28...
BOX = 20  # ...with the digit fitted into the central 20x20
CENTRE = 14.0  # where MNIST puts the centre of mass (row and column index, measured on its test set)
PIXELS = SIZE * SIZE
# Images larger than this (either side) are reduced first: the digit ends up 20 pixels tall anyway.
WORK_SIZE = 512
# The digit is brought to this size to measure and thicken its strokes before the final reduction.
STROKE_SIZE = 4 * BOX
# MNIST's median stroke width in its 20x20 box (ink over half intensity), measured on the test set;
# strokes much thinner (a fine pen on a large canvas) are thickened towards it.
MNIST_STROKE = 1.9
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "MPO": "image/jpeg", "GIF": "image/gif",
           "BMP": "image/bmp", "WEBP": "image/webp"}
OPEN_FORMATS = ["PNG", "JPEG", "GIF", "BMP", "WEBP"]  # Pillow's JPEG reader also opens MPO (phone photos)
MEDIA_TYPES = frozenset(FORMATS.values()) | {"image/jpg", "image/x-ms-bmp", "image/pjpeg"}
# Contrast (of 255) below which an image is taken to show no digit at all.
MIN_CONTRAST = 24.0
# Spread (standard deviation, of 255) of the border's grey levels up to which the background is
# taken to be even (a drawing, a scan); photos of paper are never this even.
EVEN_BORDER = 6.0


@dataclass
class PixelBudget:
    """Decoded pixels left for one request (several images share one budget)."""

    per_image: int
    remaining: int

    def take(self, width: int, height: int) -> None:
        pixels = width * height
        if pixels > self.per_image:
            raise PayloadTooLarge(f"an image of {width}x{height} pixels is over the limit of "
                                  f"{self.per_image} pixels per image")
        if pixels > self.remaining:
            raise PayloadTooLarge("the images of this request have more pixels than one request may decode")
        self.remaining -= pixels


def from_array(value: Any) -> np.ndarray:
    """A 28x28 (or 784, or 28x28x1) array of 0-255 or 0-1 values → float32 [28, 28] in [0, 1]."""
    try:
        array = np.asarray(value, dtype=np.float32)
    except (ValueError, TypeError, OverflowError):  # OverflowError: an integer beyond float range
        raise InvalidRequest("an image array must hold only numbers, 28 rows of 28 or 784 in all") from None
    if array.shape == (PIXELS,) or array.shape == (SIZE, SIZE, 1):
        array = array.reshape(SIZE, SIZE)
    elif array.shape != (SIZE, SIZE):
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
            raise UnsupportedMediaType(f"{media_type} is not an image type this API reads; "
                                       "send PNG, JPEG, GIF, BMP or WebP")
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
    """An encoded image of one digit → float32 [28, 28] in [0, 1], white digit on black."""
    grey = _decode(data, budget)
    return normalise(grey)


def _decode(data: bytes, budget: PixelBudget) -> np.ndarray:
    """Grey levels (float32, 0-255) of the image's first frame, reduced to at most WORK_SIZE."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=OPEN_FORMATS)
            budget.take(*image.size)
            if image.format in ("JPEG", "MPO"):
                image.draft("L", (WORK_SIZE, WORK_SIZE))  # JPEG can decode at a fraction of its size
            image = ImageOps.exif_transpose(image)  # photos are often stored sideways
            if max(image.size) > WORK_SIZE:
                image.thumbnail((WORK_SIZE, WORK_SIZE), Image.Resampling.BOX)
            return np.asarray(_to_grey(image), dtype=np.float32)
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
    return (data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM"))
            or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"))


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
    grey_alpha = np.asarray(image.convert("LA"), dtype=np.float32)
    grey, alpha = grey_alpha[..., 0], grey_alpha[..., 1] / 255.0
    if alpha.min() >= 1.0:
        return Image.fromarray(grey.astype(np.uint8), "L")
    covered = float(alpha.sum())
    if covered < 1.0:
        raise InvalidRequest("the image is fully transparent: no digit found")
    # A canvas drawing is often dark strokes on a transparent background: put it on white then.
    background = 255.0 if float((grey * alpha).sum()) / covered < 128 else 0.0
    flat = grey * alpha + background * (1.0 - alpha)
    return Image.fromarray(np.clip(flat + 0.5, 0, 255).astype(np.uint8), "L")


def normalise(grey: np.ndarray) -> np.ndarray:
    """Grey levels of any size and polarity → MNIST-style float32 [28, 28] in [0, 1]."""
    grey = _light_on_dark(grey)
    if grey.shape == (SIZE, SIZE) and _is_mnist_style(grey):
        return grey / 255.0
    ink = _ink_levels(grey)
    top, bottom, left, right = _ink_box(ink)
    digit = ink[top:bottom, left:right]
    digit = _thicken(_resize(digit, STROKE_SIZE))
    digit = _resize(digit, BOX)
    return _centre(digit)


def _light_on_dark(grey: np.ndarray) -> np.ndarray:
    """The image with the digit lighter than its background (inverted if it was dark on light)."""
    low, high = (float(v) for v in np.percentile(grey, (0.05, 99.95)))
    if high - low < MIN_CONTRAST:
        raise InvalidRequest("the image is blank: no digit found")
    border = _border(grey)
    if float(border.std()) <= EVEN_BORDER:
        # A drawing (or an evenly lit page): the border is the background, the ink the far extreme.
        background = float(np.median(border))
        return 255.0 - grey if background - low > high - background else grey
    # A photo: compare each pixel with a coarse local average, so uneven light does not count,
    # and see which way the strongest departures (the ink) go.
    height, width = grey.shape
    cells = (max(1, width // 32), max(1, height // 32))
    local = Image.fromarray(grey, "F").resize(cells, Image.Resampling.BOX).resize((width, height),
                                                                                 Image.Resampling.BILINEAR)
    darker, lighter = np.percentile(grey - np.asarray(local, dtype=np.float32), (0.1, 99.9))
    return 255.0 - grey if -darker > lighter else grey


def _border(grey: np.ndarray) -> np.ndarray:
    width = max(1, min(grey.shape) // 20)
    return np.concatenate([grey[:width].ravel(), grey[-width:].ravel(), grey[:, :width].ravel(),
                           grey[:, -width:].ravel()])


def _is_mnist_style(grey: np.ndarray) -> bool:
    """A 28x28 light-on-dark digit already sized and centred as MNIST's are: used as it is."""
    if float(np.median(_border(grey))) >= MIN_CONTRAST:
        return False
    ink = grey > MIN_CONTRAST
    rows, cols = np.nonzero(ink)
    if len(rows) == 0:
        return False
    extent = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
    weights = grey[rows, cols]
    centre = np.array([np.average(rows, weights=weights), np.average(cols, weights=weights)])
    return BOX - 3 <= extent <= BOX + 2 and float(np.abs(centre - CENTRE).max()) <= 1.5


def _ink_levels(grey: np.ndarray) -> np.ndarray:
    """Ink in [0, 1] on a clean black background: uneven lighting removed, levels stretched."""
    threshold = _otsu(grey)
    if float(_border(grey).std()) > EVEN_BORDER:  # a photo: remove the uneven lighting first
        flat = grey
        for _ in range(2):  # the second fit sees the background the first one revealed
            flat = grey - _background_surface(grey, flat < threshold)
            threshold = _otsu(flat)
        grey = flat
    ink = grey > threshold
    if not ink.any() or ink.all():
        raise InvalidRequest("the image is blank: no digit found")
    background = float(np.median(grey[~ink]))
    ink_level = float(np.percentile(grey[ink], 90))
    if ink_level - background < MIN_CONTRAST:
        raise InvalidRequest("the image is blank: no digit found")
    # Half-way between background and threshold: keeps anti-aliased edges, drops paper noise.
    floor = background + 0.5 * (threshold - background)
    return np.clip((grey - floor) / (ink_level - floor), 0.0, 1.0)


def _otsu(values: np.ndarray) -> float:
    """The grey level that best splits the values into two classes (Otsu's method)."""
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-6:
        return high
    counts, edges = np.histogram(values, bins=256, range=(low, high))
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts)
    mass = np.cumsum(counts * centres)
    total, total_mass = weight[-1], mass[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_low = mass / weight
        mean_high = (total_mass - mass) / (total - weight)
        between = weight * (total - weight) * (mean_low - mean_high) ** 2
    between = np.nan_to_num(between[:-1])
    return float(edges[int(np.argmax(between)) + 1])


def _background_surface(grey: np.ndarray, background: np.ndarray) -> np.ndarray:
    """A smooth (quadratic) fit to the background pixels: the lighting to subtract."""
    height, width = grey.shape
    rows, cols = np.nonzero(background)
    if len(rows) < 16:
        return np.zeros_like(grey)
    step = max(1, len(rows) // 4096)
    y = rows[::step] / height - 0.5
    x = cols[::step] / width - 0.5
    terms = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)
    coeffs, *_ = np.linalg.lstsq(terms, grey[rows[::step], cols[::step]], rcond=None)
    yy, xx = np.mgrid[0:height, 0:width]
    yy, xx = yy / height - 0.5, xx / width - 0.5
    return (coeffs[0] + coeffs[1] * xx + coeffs[2] * yy + coeffs[3] * xx * xx + coeffs[4] * xx * yy
            + coeffs[5] * yy * yy).astype(np.float32)


def _ink_box(ink: np.ndarray) -> tuple[int, int, int, int]:
    """Top, bottom, left, right of the digit: its largest stroke and the strokes close to it.

    Photos bring other marks: paper edges and shadows (touching the border), specks. The digit is
    the heaviest connected component that keeps off the border (the heaviest of all if every
    one touches it), with the components near it that are more than specks (the bar of a 5 or 7).
    """
    components = _components(ink)
    if not components:
        raise InvalidRequest("the image is blank: no digit found")
    height, width = ink.shape

    def weight(c: _Component) -> float:
        touches = c.top == 0 or c.left == 0 or c.bottom == height or c.right == width
        return c.mass * (0.25 if touches else 1.0)

    main = max(components, key=weight)
    reach = 0.3 * max(main.bottom - main.top, main.right - main.left)
    top, bottom, left, right = main.top, main.bottom, main.left, main.right
    for c in components:
        near = (c.top < main.bottom + reach and c.bottom > main.top - reach
                and c.left < main.right + reach and c.right > main.left - reach)
        if near and c.mass >= 0.03 * main.mass and weight(c) == c.mass:
            top, bottom = min(top, c.top), max(bottom, c.bottom)
            left, right = min(left, c.left), max(right, c.right)
    return top, bottom, left, right


@dataclass
class _Component:
    mass: float
    top: int
    bottom: int  # exclusive
    left: int
    right: int  # exclusive


def _components(ink: np.ndarray, level: float = 0.5) -> list[_Component]:
    """8-connected components of `ink > level`, found by joining runs of ink row by row."""
    mask = np.pad(ink > level, ((0, 0), (1, 1))).astype(np.int8)
    edges = np.diff(mask, axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)  # row-major like the starts, so they pair up
    if len(rows) == 0:
        return []
    row_mass = np.concatenate([np.zeros((ink.shape[0], 1), np.float64), np.cumsum(ink, axis=1, dtype=np.float64)], 1)
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_run = np.searchsorted(rows, np.arange(ink.shape[0] + 1)).tolist()
    row_list, start_list, end_list = rows.tolist(), starts.tolist(), ends.tolist()
    for i, row in enumerate(row_list):
        for j in range(first_run[row - 1], first_run[row]) if row else ():
            # Runs [s, e) on neighbouring rows touch, diagonals included, when s_i <= e_j and s_j <= e_i.
            if start_list[j] <= end_list[i] and start_list[i] <= end_list[j]:
                a, b = find(i), find(j)
                if a != b:
                    parent[a] = b
    roots = np.array([find(i) for i in range(len(rows))])
    mass = row_mass[rows, ends] - row_mass[rows, starts]
    labels, index = np.unique(roots, return_inverse=True)
    count = len(labels)
    totals = np.bincount(index, weights=mass, minlength=count)
    tops = np.full(count, ink.shape[0]); bottoms = np.zeros(count, np.int64)
    lefts = np.full(count, ink.shape[1]); rights = np.zeros(count, np.int64)
    np.minimum.at(tops, index, rows)
    np.maximum.at(bottoms, index, rows + 1)
    np.minimum.at(lefts, index, starts)
    np.maximum.at(rights, index, ends)
    return [_Component(float(totals[k]), int(tops[k]), int(bottoms[k]), int(lefts[k]), int(rights[k]))
            for k in range(count)]


def _resize(digit: np.ndarray, size: int) -> np.ndarray:
    """Scale so the longer side is `size`, keeping the aspect ratio; brightest ink back to 1."""
    height, width = digit.shape
    scale = size / max(height, width)
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Reducing averages (MNIST's anti-aliasing); enlarging interpolates smoothly.
    method = Image.Resampling.BOX if scale < 1 else Image.Resampling.BICUBIC
    resized = np.asarray(Image.fromarray(digit.astype(np.float32), "F").resize(new, method), dtype=np.float32)
    resized = np.clip(resized, 0.0, None)
    peak = float(resized.max())
    return resized / peak if peak > 0 else resized


def _thicken(digit: np.ndarray) -> np.ndarray:
    """Strokes thinner than MNIST's (at STROKE_SIZE scale) widened towards its median width."""
    target = MNIST_STROKE * STROKE_SIZE / BOX
    width = _stroke_width(digit > 0.5)
    if width >= 0.8 * target:
        return digit
    size = int(round(target - width)) | 1  # rank filters need an odd size
    if size < 3:
        return digit
    image = Image.fromarray((digit * 255).astype(np.uint8), "L").filter(ImageFilter.MaxFilter(size))
    return np.asarray(image, dtype=np.float32) / 255.0


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary image: twice the area over the perimeter."""
    area = int(mask.sum())
    if area == 0:
        return 0.0
    padded = np.pad(mask, 1).astype(np.int8)
    perimeter = int(np.abs(np.diff(padded, axis=0)).sum() + np.abs(np.diff(padded, axis=1)).sum())
    return 2.0 * area / perimeter


def _centre(digit: np.ndarray) -> np.ndarray:
    """The digit pasted into 28x28 with its centre of mass at MNIST's centre."""
    height, width = digit.shape
    total = float(digit.sum())
    rows, cols = np.arange(height), np.arange(width)
    com_row = float((digit.sum(axis=1) * rows).sum()) / total
    com_col = float((digit.sum(axis=0) * cols).sum()) / total
    top = min(max(int(round(CENTRE - com_row)), 0), SIZE - height)
    left = min(max(int(round(CENTRE - com_col)), 0), SIZE - width)
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    out[top:top + height, left:left + width] = digit
    return out
