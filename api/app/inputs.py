"""`POST /predict` bodies → a batch of model inputs, and probabilities → response bodies.

Accepted (docs/http-api.md, "Requests and answers"): `{"image": X}`, `{"images": [X, ...]}`, TensorFlow Serving's
`{"instances": [...]}` (rows, or `{"b64": ...}` objects), and a raw image body (`image/*`).
X is a 28x28 / 784 array, or a base64 string / `data:` URL of an image. `"debug": true` adds
the normalised 28x28 inputs to the answer (numbers and a PNG data URL), to show what the model saw.
Every answer says whether the model is sure (`"confident"`: the top probability at least CONFIDENT).

`"read": "number"` (or `?read=number`, for a raw image body) reads every picture as a written number
instead, by the number reader (`api.pictures.line`, `api.pictures.reading`): the answer gives the
digits left to right, each with its box, and the number's confidence, the product of its digits' (the
chance that every digit is right, if each digit's confidence is the chance it is); it is `"confident"`
when every digit is.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from api.app.http import REPLACEMENT, Request, json_object
from api.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from api.lazy import lazy_import
from api.pictures import images
from api.pictures.ink import no_digit
from api.runtime.manifest import IMAGE_PIXELS, IMAGE_SIZE
from api.runtime.settings import MAX_BATCH, MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS

if TYPE_CHECKING:
    from api.pictures.line import Line
    from api.pictures.reading import ReadDigit

# Pillow loads when an image first arrives (api.lazy).
Image = lazy_import("PIL.Image")
# The number reader loads with the first `"read": "number"` request.
line_of = lazy_import("api.pictures.line")

# The request forms, each named by its body key (`{"image": ...}`; not the model input's name, INPUT_NAME).
FORM_IMAGE = "image"
FORM_IMAGES = "images"
FORM_INSTANCES = "instances"
FORMS = (FORM_IMAGE, FORM_IMAGES, FORM_INSTANCES)
# Content types whose body is read as JSON. `curl -d` sends form-urlencoded by default.
JSON_TYPES = frozenset({"", "application/json", "text/json", "text/plain", "application/x-www-form-urlencoded"})
RAW_TYPES = images.MEDIA_TYPES | {"application/octet-stream"}
DECIMALS = 6
DEBUG = "debug"
# Beside a single digit's answer for a picture that plainly holds several digits side by side.
SEVERAL = "several"
SEVERAL_HINT = 'the picture holds several digits side by side: send "read": "number" to read them as a number'
# Pictures per request read as numbers: each costs its own line (the paper, the ink, the scaling) and a
# forward pass of the reader, where a digit shares one batched pass.
NUMBER_BATCH = 32
# A picture read as a number is decoded to at most this many pixels a side (a digit's: images.WORK_SIZE):
# eight digits in a row on a 2000-pixel-wide photo stay over 40 pixels tall.
NUMBER_WORK_SIZE = 1024
READ = "read"
DIGIT, NUMBER = "digit", "number"  # what a picture is read as: one digit (the default) or a number
DEBUG_DECIMALS = 3
# Below this top probability an answer is flagged `"confident": false`: the model's guess on a
# scribble, a letter or a blank is often 0.2-0.5, while ~99% of MNIST test digits score above 0.9.
CONFIDENT = 0.6
# An array whose values span less than this (of 1) holds no digit (all black, all white, uniform).
MIN_ARRAY_CONTRAST = 0.1
# How the signatures of PNG (89 'PNG' 0D 0A 1A 0A) and JPEG (FF D8 FF) read after that decoding.
MANGLED_SIGNATURES = {"PNG": REPLACEMENT + b"PNG\r\n\x1a\n", "JPEG": REPLACEMENT * 3}


@dataclass(frozen=True)
class Inputs:
    """The images of one request, as the model takes them, and which form they came in."""

    batch: np.ndarray  # float32 [N, 28, 28, 1] in [0, 1]; for a number, [0, 28, 28, 1]
    form: str
    debug: bool = False
    # Read as numbers: each picture's line for the reader (`api.pictures.line.to_line`); None for digits.
    numbers: tuple[Line, ...] | None = None
    # Per image: a picture that plainly holds several digits side by side (read as one digit all the same).
    several: tuple[bool, ...] = ()


def read_inputs(request: Request, max_batch: int = MAX_BATCH) -> Inputs:
    """The model inputs of a `POST /predict` request (at most `max_batch` images); raises 400, 413 or 415 errors."""
    media_type = request.media_type
    budget = images.PixelBudget(MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS)
    if media_type in RAW_TYPES:
        if READ in request.query and _read_as(request.query[READ], "?read=") == NUMBER:
            return _numbers([_raw_image(request, budget, number_line)], FORM_IMAGE, False)
        return _digits([_raw_image(request, budget)], FORM_IMAGE, False)
    if media_type not in JSON_TYPES and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"Content-Type {media_type} is not read here; send application/json "
            "or an image (image/png, image/jpeg, ...)"
        )
    document = json_object(request.body, '{"image": ...}')
    present = [form for form in FORMS if form in document]
    if len(present) != 1:
        raise InvalidRequest('the body must have exactly one of "image", "images" or "instances"')
    form = present[0]
    debug = document.get(DEBUG, False)
    if not isinstance(debug, bool):
        raise InvalidRequest('"debug" must be true or false')
    if READ in document or READ in request.query:
        read = _read_as(document[READ], '"read"') if READ in document else _read_as(request.query[READ], "?read=")
        if read == NUMBER:
            return _number_inputs(document, form, debug, max_batch, budget)
    if form == FORM_IMAGE:
        return _digits([_image(document[FORM_IMAGE], budget)], FORM_IMAGE, debug)
    items = document[form]
    if not isinstance(items, list) or not items:
        raise InvalidRequest(f'"{form}" must be a non-empty list')
    if len(items) > max_batch:
        raise PayloadTooLarge(f'"{form}" has {len(items)} images; at most {max_batch} per request')
    if form == FORM_IMAGES and (arrays := _arrays(items)) is not None:
        return Inputs(arrays[..., np.newaxis], form, debug)
    read = _image if form == FORM_IMAGES else _instance
    batch = []
    for index, item in enumerate(items):
        try:
            batch.append(read(item, budget))
        except (InvalidRequest, UnsupportedMediaType, PayloadTooLarge) as exc:
            raise type(exc)(f"{form}[{index}]: {exc.message}", exc.headers) from None
    return _digits(batch, form, debug)


def _digits(read: list[tuple[np.ndarray, bool]], form: str, debug: bool) -> Inputs:
    several = tuple(s for _, s in read)
    return Inputs(_stack([array for array, _ in read]), form, debug, several=several if any(several) else ())


def _read_as(value: Any, where: str) -> str:
    """What `"read"` (or `?read=`) asks pictures to be read as; 400 for anything but "digit" or "number"."""
    if isinstance(value, str) and value in (DIGIT, NUMBER):
        return value
    shown = json.dumps(value)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    raise InvalidRequest(
        f'{where} must be "{DIGIT}" (one digit, the default) or "{NUMBER}" (a written number), not {shown}'
    )


def _number_inputs(
    document: dict[str, Any], form: str, debug: bool, max_batch: int, budget: images.PixelBudget
) -> Inputs:
    """The pictures of a `"read": "number"` request: "image" or "images", pictures only (an array holds one digit)."""
    if form == FORM_INSTANCES:
        raise InvalidRequest('"read": "number" reads "image" or "images", not "instances"')
    items = [document[FORM_IMAGE]] if form == FORM_IMAGE else document[FORM_IMAGES]
    if form == FORM_IMAGES:
        if not isinstance(items, list) or not items:
            raise InvalidRequest(f'"{form}" must be a non-empty list')
        limit = min(max_batch, NUMBER_BATCH)
        if len(items) > limit:
            raise PayloadTooLarge(f'"{form}" has {len(items)} images; at most {limit} per request read as numbers')
    pictures = []
    for index, item in enumerate(items):
        where = f"{form}[{index}]: " if form == FORM_IMAGES else ""
        if isinstance(item, list):
            raise InvalidRequest(
                f'{where}"read": "number" needs a picture (a base64 string or data: URL '
                "of an image); an array is one 28x28 digit"
            )
        if not isinstance(item, str):
            raise InvalidRequest(f"{where}an image must be a base64 / data: URL string")
        try:
            data, _ = images.decode_string(item)
            pictures.append(number_line(data, budget))
        except (InvalidRequest, UnsupportedMediaType, PayloadTooLarge) as exc:
            raise type(exc)(f"{where}{exc.message}", exc.headers) from None
    return _numbers(pictures, form, debug)


def read_picture(data: bytes, budget: images.PixelBudget) -> tuple[np.ndarray, tuple[int, int]]:
    """A picture to read a number from: its grey levels and its own (width, height)."""
    return images.decode_sized(data, budget, grey_first=True, work_size=NUMBER_WORK_SIZE)


def number_line(data: bytes, budget: images.PixelBudget) -> Line:
    """An encoded picture of a number → the line the reader reads (`api.pictures.line`); 400 if it shows none."""
    grey, size = read_picture(data, budget)
    return line_of.to_line(grey, size)


def _numbers(pictures: list[Line], form: str, debug: bool) -> Inputs:
    return Inputs(np.zeros((0, IMAGE_SIZE, IMAGE_SIZE, 1), np.float32), form, debug, tuple(pictures))


def read_array(value: Any) -> np.ndarray:
    """A 28x28 / 784 array → float32 [28, 28] in [0, 1]; a blank (uniform) one is refused like a blank image."""
    pixels = _whole_pixels([value]) if isinstance(value, list) else None
    array = images.from_array(value if pixels is None else pixels[0])
    if float(array.max()) - float(array.min()) < MIN_ARRAY_CONTRAST:
        raise no_digit("the image array")
    return array


def _arrays(items: list[Any]) -> np.ndarray | None:
    """A batch of valid 28x28 / 784 arrays converted in one step, as `images.from_array` would each;
    None for anything else (strings, other shapes, bad values), which the per-image path reads and
    reports by index. Converting a big batch at once is what lets it run as one forward pass
    without paying Python's per-image overhead 256 times."""
    if not all(isinstance(item, list) for item in items):
        return None
    batch = _whole_pixels(items)
    try:
        batch = np.asarray(items, dtype=np.float32) if batch is None else batch
    except (ValueError, TypeError, OverflowError):
        return None
    if batch.shape[1:] == (IMAGE_PIXELS,) or batch.shape[1:] == (IMAGE_SIZE, IMAGE_SIZE, 1):
        batch = batch.reshape(len(items), IMAGE_SIZE, IMAGE_SIZE)
    elif batch.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        return None
    flat = batch.reshape(len(items), -1)
    low, high = flat.min(axis=1), flat.max(axis=1)
    if not (np.isfinite(low).all() and np.isfinite(high).all()) or (low < 0).any() or (high > 255).any():
        return None
    # Per image, as from_array: 0-1 floats as they are, anything above 1 on the 0-255 scale.
    divisor = np.where(high > 1.0, 255.0, 1.0).astype(np.float32)
    if ((high - low) / divisor < MIN_ARRAY_CONTRAST).any():
        return None  # a blank one: the per-image path refuses it, naming its index
    return batch / divisor[:, np.newaxis, np.newaxis]


_LISTS, _ROW = {list}, {IMAGE_SIZE}  # what every row's type and length must be (checked in C, not a loop)


def _whole_pixels(items: list[Any]) -> np.ndarray | None:
    """Arrays of whole numbers 0-255 (28 rows of 28, or 784; what canvases and MNIST send) as float32
    [N, 28, 28], or None if any is otherwise. `bytes()` converts such lists in C, several times
    faster than numpy's per-number conversion, and refuses anything else (floats, out of range)."""
    rows: list[bytes] = []
    try:
        for item in items:
            if type(item) is not list:
                return None
            if len(item) == IMAGE_PIXELS:
                rows.append(bytes(item))
            elif len(item) == IMAGE_SIZE and set(map(type, item)) == _LISTS and set(map(len, item)) == _ROW:
                rows.extend(map(bytes, item))
            else:
                return None
    except (TypeError, ValueError):
        return None
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(items), IMAGE_SIZE, IMAGE_SIZE).astype(np.float32)


def _raw_image(request: Request, budget: images.PixelBudget, read: Any = images.digit_from_bytes) -> Any:
    """A raw image body read by `read` (default: as one digit's input); one that reached us as text
    with its binary bytes replaced is named as such."""
    try:
        return read(request.body, budget)
    except (InvalidRequest, UnsupportedMediaType):
        # A body passed as text is intact only if it was UTF-8 to begin with (then it decoded above).
        # `serverless offline` passes image/* bodies that way, where API Gateway base64-encodes them.
        if request.base64_encoded or REPLACEMENT not in request.body:
            raise
    kind = next((name for name, start in MANGLED_SIGNATURES.items() if request.body.startswith(start)), None)
    what = f"a {kind} image" if kind else "binary data"
    raise UnsupportedMediaType(
        f"the body looks like {what} that reached the API as text: every byte that was not valid UTF-8 "
        f"was replaced (U+FFFD), which `serverless offline` does to {request.media_type} bodies, so the "
        "image cannot be recovered. Send it with Content-Type: application/octet-stream, or as JSON "
        '{"image": "<base64 of the file>"}'
    ) from None


def _image(value: Any, budget: images.PixelBudget) -> tuple[np.ndarray, bool]:
    """One image's input, and whether it is a picture of several digits side by side."""
    if isinstance(value, list):
        return read_array(value), False
    if isinstance(value, str):
        data, _ = images.decode_string(value)
        return images.digit_from_bytes(data, budget)
    raise InvalidRequest("an image must be a 28x28 array, 784 numbers, or a base64 / data: URL string")


def _instance(value: Any, budget: images.PixelBudget) -> tuple[np.ndarray, bool]:
    """A TensorFlow Serving row: an image, `{"b64": ...}`, or `{"<input name>": image}`."""
    if isinstance(value, dict):
        if "b64" in value and isinstance(value["b64"], str):
            data, _ = images.decode_string(value["b64"])
            return images.digit_from_bytes(data, budget)
        if len(value) != 1:
            raise InvalidRequest('an instance object must be {"b64": ...} or have one input')
        value = next(iter(value.values()))
        if isinstance(value, dict):
            return _instance(value, budget)
    return _image(value, budget)


def _stack(batch: list[np.ndarray]) -> np.ndarray:
    if len(batch) == 1:  # a view, not a copy: np.stack costs more than the rest of a small request's reading
        return batch[0][np.newaxis, ..., np.newaxis]
    return np.stack(batch)[..., np.newaxis]


def response_body(inputs: Inputs, probabilities: np.ndarray, model: dict[str, str]) -> dict[str, Any]:
    """The 200 body for the form the request came in (docs/http-api.md, "Requests and answers")."""
    rows = np.round(probabilities.astype(np.float64), DECIMALS).tolist()
    labels = probabilities.argmax(axis=1).tolist()
    several = inputs.several or (False,) * len(rows)
    # A picture of several digits is never a confident single digit, whatever the model's probabilities.
    confident = [row[label] >= CONFIDENT and not many for label, row, many in zip(labels, rows, several)]
    seen = [debug_input(image[..., 0]) for image in inputs.batch] if inputs.debug else None
    if inputs.form == FORM_INSTANCES:
        body: dict[str, Any] = {"predictions": rows, "confident": confident}
        if seen:
            body[DEBUG] = seen
        return {**body, "model": model}
    results = [
        {"prediction": label, "confidence": row[label], "confident": sure, "probabilities": row}
        for label, row, sure in zip(labels, rows, confident)
    ]
    if seen:
        for result, debug in zip(results, seen):
            result[DEBUG] = debug
    for result, many in zip(results, several):
        if many:
            result[SEVERAL] = SEVERAL_HINT
    if inputs.form == FORM_IMAGE:
        return {**results[0], "model": model}
    return {"predictions": results, "model": model}


def debug_input(image: np.ndarray) -> dict[str, Any]:
    """What the model saw: the 28x28 input in [0, 1] as numbers and as a PNG data URL (white on black)."""
    buffer = io.BytesIO()
    Image.fromarray(np.round(image * 255).astype(np.uint8), "L").save(buffer, "PNG")
    return {
        "input": np.round(image.astype(np.float64), DEBUG_DECIMALS).tolist(),
        "png": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"),
    }


def number_body(inputs: Inputs, readings: list[list[ReadDigit]], model: dict[str, str]) -> dict[str, Any]:
    """The 200 body of a `"read": "number"` request: one number per picture (docs/reading-numbers.md)."""
    results = [_number(digits) for digits in readings]
    if inputs.debug:  # what the reader saw: each picture's line
        for result, line in zip(results, inputs.numbers or ()):
            result[DEBUG] = debug_input(line.image)
    if inputs.form == FORM_IMAGE:
        return {**results[0], "model": model}
    return {"predictions": results, "model": model}


def _number(digits: list[ReadDigit]) -> dict[str, Any]:
    rows = np.round(np.stack([d.probabilities for d in digits]).astype(np.float64), DECIMALS).tolist()
    labels = [int(np.argmax(row)) for row in rows]
    answers = []
    for digit, label, row in zip(digits, labels, rows):
        answers.append({"prediction": label, "confidence": row[label], "probabilities": row, "box": list(digit.box)})
    confidence = float(np.prod([row[label] for label, row in zip(labels, rows)]))
    return {
        "number": "".join(map(str, labels)),
        "confidence": round(confidence, DECIMALS),
        "confident": all(row[label] >= CONFIDENT for label, row in zip(labels, rows)),
        "digits": answers,
    }
