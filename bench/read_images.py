"""How well the API reads pictures of digits: a corpus of 13 kinds made from MNIST test digits.

    python bench/read_images.py --export ml_model/exports/latest
    python bench/read_images.py --per-kind 60 --sheet misread.png     # a quicker look, and a picture

For each kind of `bench/corpus.py` (canvas strokes, scans, photos, chalk on a board...), the same
MNIST *test* digits are sent two ways: as pictures, through the API's real preprocessing
(`api.images.from_bytes`: decoding, normalisation) and the export's LiteRT model, and as the
28x28 arrays themselves (the ceiling). Printed per kind: both accuracies, the gap, how many
pictures were refused as "no digit found" (counted as misread), and preprocessing time p50 (wall,
and this thread's CPU time, which a busy machine inflates less). For the pen-path kinds, which
re-draw the digit along its traced pen paths, "drawing" is the accuracy on the same clean drawings read the
plain way (crop, area-reduce, centre; not through the API): the drawing's own ceiling, since a
re-drawn digit can lose what made the original readable (a filled loop, a stroke's varying width).

Then the timing targets, each a median over interleaved repeats: preprocessing a 280x280 canvas
PNG and a 12-megapixel JPEG photo, and a whole warm request (`api.handler`) with the canvas PNG.
`--sheet` saves the 28x28 inputs of the misread pictures (with the label and the answer) as one PNG.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from corpus import KINDS, PEN_PATHS, Sample, digit_indices, encode, sample_rng, samples  # noqa: E402

DEFAULT_EXPORT = REPO / "ml_model" / "exports" / "latest"
TARGET_ACCURACY = 0.985
TARGET_GAP = 0.005
CANVAS_TARGET_MS, PHOTO_TARGET_MS, REQUEST_TARGET_MS = 2.0, 15.0, 3.0
PHOTO_SIZE = (4000, 3000)  # 12 megapixels, as a phone's camera


def read_kind(kind: str, digits: np.ndarray, labels: np.ndarray, indices: np.ndarray, predictor,
              seed: int) -> dict:
    """Accuracy as pictures and as arrays, refusals, preprocessing times, and the misread inputs."""
    from api.errors import InvalidRequest
    from api.images import PixelBudget, from_bytes
    from api.settings import MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS

    inputs, times, cpu_times, refused = [], [], [], []
    batch = list(samples(digits, labels, kind, indices, seed))
    for n, sample in enumerate(batch):
        started, cpu_started = time.perf_counter_ns(), time.thread_time_ns()
        try:
            image = from_bytes(sample.data, PixelBudget(MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS))
        except InvalidRequest:
            image = np.zeros((28, 28), np.float32)
            refused.append(n)
        times.append(time.perf_counter_ns() - started)
        cpu_times.append(time.thread_time_ns() - cpu_started)
        inputs.append(image)
    stacked = np.stack(inputs)[..., np.newaxis]
    answers = predictor.predict(stacked).argmax(axis=1)
    truth = labels[indices]
    answers[refused] = -1  # "no digit found" counts as misread
    ceiling = predictor.predict((digits[indices] / 255.0).astype(np.float32)[..., np.newaxis]).argmax(axis=1)
    wrong = [(batch[i], stacked[i, ..., 0], int(answers[i])) for i in np.nonzero(answers != truth)[0]]
    return {"count": len(batch), "accuracy": float((answers == truth).mean()),
            "ceiling": float((ceiling == truth).mean()), "refused": len(refused),
            "p50_ms": statistics.median(times) / 1e6, "cpu_p50_ms": statistics.median(cpu_times) / 1e6, "wrong": wrong}


def drawing_input(ink: np.ndarray) -> np.ndarray:
    """A clean drawing (ink in [0, 1]) read the plain way: cropped at half ink, area-reduced into
    20x20, pasted with its centre of mass at the centre of 28x28 (independent of api/normalise.py)."""
    from PIL import Image

    rows, cols = np.nonzero(ink > 0.5)
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1].astype(np.float32)
    scale = 20 / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = np.asarray(Image.fromarray(crop, "F").resize(size, Image.Resampling.BOX))
    total = small.sum()
    centre = [(small.sum(axis=1 - axis) * np.arange(small.shape[axis])).sum() / total for axis in (0, 1)]
    top, left = (int(np.clip(round(14 - c), 0, 28 - n)) for c, n in zip(centre, small.shape))
    out = np.zeros((28, 28), np.float32)
    out[top:top + small.shape[0], left:left + small.shape[1]] = small
    return out


def drawing_accuracy(kind: str, digits: np.ndarray, labels: np.ndarray, indices: np.ndarray, predictor,
                     seed: int) -> float | None:
    """For pen-path kinds: accuracy on the same drawings, clean and read the plain way (the drawing's own ceiling)."""
    if kind not in PEN_PATHS:
        return None
    inputs = [drawing_input(PEN_PATHS[kind](digits[i], sample_rng(kind, i, seed))) for i in indices.tolist()]
    return float((predictor.predict(np.stack(inputs)[..., np.newaxis]).argmax(axis=1) == labels[indices]).mean())


def contact_sheet(wrong: Sequence[tuple[Sample, np.ndarray, int]], path: Path, columns: int = 16) -> None:
    """The misread inputs, 4x enlarged, each over a caption strip 'label>answer kind'."""
    from PIL import Image, ImageDraw

    cell = 28 * 4
    rows = max(1, -(-len(wrong) // columns))
    sheet = Image.new("L", (columns * cell, rows * (cell + 12)), 40)
    draw = ImageDraw.Draw(sheet)
    for n, (sample, image, answer) in enumerate(wrong):
        x, y = n % columns * cell, n // columns * (cell + 12)
        sheet.paste(Image.fromarray((image * 255).astype(np.uint8)).resize((cell, cell), Image.Resampling.NEAREST), (x, y))
        draw.text((x + 2, y + cell), f"{sample.label}>{answer if answer >= 0 else '-'} {sample.kind[:9]}", fill=255)
    sheet.save(path)


def times_ms(call: Callable[[], object], repeats: int) -> tuple[list[float], list[float]]:
    """Wall and this thread's CPU times of `call` over `repeats` runs (ms), after one untimed run."""
    call()
    wall, cpu = [], []
    for _ in range(repeats):
        started, cpu_started = time.perf_counter_ns(), time.thread_time_ns()
        call()
        wall.append((time.perf_counter_ns() - started) / 1e6)
        cpu.append((time.thread_time_ns() - cpu_started) / 1e6)
    return wall, cpu


def photo_jpeg(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A 12-megapixel phone photo of the digit: made at a quarter size, enlarged, noise, JPEG 90."""
    from PIL import Image, ImageFilter

    from corpus import uneven_light

    small = Image.open(__import__("io").BytesIO(uneven_light(digit, rng))).convert("RGB")
    large = small.resize(PHOTO_SIZE, Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(2))
    noisy = np.asarray(large, np.int16) + rng.integers(-6, 7, (PHOTO_SIZE[1], PHOTO_SIZE[0], 1), dtype=np.int16)
    return encode(Image.fromarray(noisy.clip(0, 255).astype(np.uint8)), "JPEG", quality=90)


def timing_targets(digits: np.ndarray, export: Path, repeats: int, seed: int) -> dict[str, tuple[float, float]]:
    """Canvas PNG and 12-MP JPEG preprocessing, and the whole warm canvas request: (wall, CPU) p50 in ms."""
    from api.images import PixelBudget, decode, from_bytes
    from api.settings import MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS

    from corpus import canvas_white

    def budget() -> PixelBudget:
        return PixelBudget(MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS)

    rng = np.random.default_rng(seed)
    canvases = [canvas_white(digits[i], rng) for i in range(5)]
    photos = [photo_jpeg(digits[i], rng) for i in range(2)]
    os.environ["MODEL_URL"] = str(export)
    os.environ.setdefault("MODEL_CACHE_DIR", str(REPO / "bench" / "results" / "model-cache"))
    logging.getLogger("api.request").setLevel(logging.WARNING)  # one log line per request is not the point here
    from api.handler import get_number_prediction, use_model_store

    use_model_store(None)
    template = json.loads((REPO / "test.json").read_text())
    events = []
    for png in canvases:
        event = dict(template)
        event["body"] = json.dumps({"image": "data:image/png;base64," + base64.b64encode(png).decode("ascii")})
        events.append(event)
    assert get_number_prediction(events[0], None)["statusCode"] == 200
    cases: dict[str, Callable[[int], object]] = {
        "canvas": lambda n: from_bytes(canvases[n % 5], budget()),
        "photo decoding": lambda n: decode(photos[n % 2], budget()),
        "photo": lambda n: from_bytes(photos[n % 2], budget()),
        "request": lambda n: get_number_prediction(events[n % 5], None),
    }
    wall: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for round_ in range(max(1, repeats // 10)):  # interleaved, so machine drift hits every case alike
        for name, call in cases.items():
            w, c = times_ms(lambda: call(round_), 2 if name.startswith("photo") else 10)
            wall[name] += w
            cpu[name] += c
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in cases}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, default=DEFAULT_EXPORT, help="export folder (default: %(default)s)")
    parser.add_argument("--per-kind", type=int, default=250, help="pictures per kind (default: %(default)s)")
    parser.add_argument("--kinds", nargs="+", choices=list(KINDS), default=list(KINDS), metavar="KIND",
                        help=f"kinds to run (default: all): {', '.join(KINDS)}")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default: %(default)s)")
    parser.add_argument("--sheet", type=Path, help="save the misread pictures' 28x28 inputs to this PNG")
    parser.add_argument("--timing-repeats", type=int, default=200, help="timed runs per target case (0: skip)")
    args = parser.parse_args(argv)

    export = args.export.absolute()
    if not (export / "model.json").is_file():
        print(f"no export at {export}: train one (python -m ml_model train) or pass --export", file=sys.stderr)
        return 2
    from api.predictor import open_export
    from ml_model.data import load_mnist

    mnist = load_mnist()
    predictor = open_export(export, "tflite")
    indices = digit_indices(len(mnist.test_labels), args.per_kind, args.seed)
    name = json.loads((export / "model.json").read_text()).get("name", export.name)
    print(f"export {export} ({name}); {args.per_kind} MNIST test digits per kind; seed {args.seed}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'kind':<20} {'n':>5} {'images':>8} {'arrays':>8} {'gap':>7} {'drawing':>8} {'refused':>8} "
          f"{'prep p50':>9} {'cpu p50':>9}")
    totals, wrong = {"count": 0, "right": 0.0, "ceiling": 0.0}, []
    below = []
    for kind in args.kinds:
        r = read_kind(kind, mnist.test_images, mnist.test_labels, indices[kind], predictor, args.seed)
        drawing = drawing_accuracy(kind, mnist.test_images, mnist.test_labels, indices[kind], predictor, args.seed)
        gap = r["accuracy"] - r["ceiling"]
        flag = "" if r["accuracy"] >= TARGET_ACCURACY else "  < target"
        if flag:
            below.append(kind)
        print(f"{kind:<20} {r['count']:>5} {r['accuracy']:>8.2%} {r['ceiling']:>8.2%} {gap * 100:>+6.2f}p "
              f"{format(drawing, '8.2%') if drawing is not None else '':>8} {r['refused']:>8} {r['p50_ms']:>7.2f}ms {r['cpu_p50_ms']:>7.2f}ms{flag}", flush=True)
        totals["count"] += r["count"]
        totals["right"] += r["accuracy"] * r["count"]
        totals["ceiling"] += r["ceiling"] * r["count"]
        wrong.extend(r["wrong"])
    accuracy, ceiling = totals["right"] / totals["count"], totals["ceiling"] / totals["count"]
    print(f"{'overall':<20} {totals['count']:>5} {accuracy:>8.2%} {ceiling:>8.2%} {(accuracy - ceiling) * 100:>+6.2f}p")
    print(f"targets: every kind >= {TARGET_ACCURACY:.1%}: {'met' if not below else 'NOT met (' + ', '.join(below) + ')'}; "
          f"overall within {TARGET_GAP * 100:.1f} points of the arrays: "
          f"{'met' if ceiling - accuracy <= TARGET_GAP else 'NOT met'}")
    if args.sheet:
        contact_sheet(wrong, args.sheet)
        print(f"{len(wrong)} misread inputs saved to {args.sheet}")
    if args.timing_repeats > 0:
        t = timing_targets(mnist.test_images, export, args.timing_repeats, args.seed)
        print(f"load average {os.getloadavg()[0]:.1f}; figures are wall p50 / this thread's CPU p50")
        for name, label, target in (("canvas", "preprocessing, 280x280 canvas PNG", CANVAS_TARGET_MS),
                                    ("photo", "preprocessing, 12-MP JPEG photo", PHOTO_TARGET_MS),
                                    ("photo decoding", "  of which JPEG decoding", None),
                                    ("request", "whole warm request, canvas PNG", REQUEST_TARGET_MS)):
            wall, cpu = t[name]
            goal = f"(target <= {target} ms: {'met' if wall <= target else 'NOT met'})" if target else ""
            print(f"{label:<36} {wall:7.2f} ms / {cpu:7.2f} ms  {goal}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
