"""How well the API reads written numbers: 2-8 digits from MNIST test digits, 8 picture kinds, 5 spacings.

    python bench/read_numbers.py --export ml_model/exports/latest            # 50 numbers per cell: 2,000
    python bench/read_numbers.py --per-cell 10 --sheet misread.png           # a quicker look, and a picture
    python bench/read_numbers.py --against 016a901 --per-cell 0              # single digits bit for bit, and timing

Each number of `ml_model/corpus/numbers.py` (a kind x a spacing class) is read through the API's real
path: `api.pictures.images.decode_sized`, then `api.pictures.numbers.read_number` with the export's LiteRT model (one
forward pass per picture). A number counts as read when the whole string is right. Beside it, the
ceiling a perfect segmenter reaches: each of its digits' ink *alone* on a page of the same kind,
read through the single-digit path (`api.pictures.images.from_bytes`), and the number counted right when
every digit is ("alone"); and the same for the 28x28 MNIST arrays ("arrays"). Printed: string
accuracy per kind and per spacing class with both ceilings and the ratio to "alone", refusals, and
the time per picture (p50).

Then, interleaved in one run, warm requests through `api.handler`: a 4-digit number on a 560x280
canvas PNG with `"read": "number"`, beside the single-digit 280x280 canvas PNG request.
`--against REVISION` also reads the single-digit corpus (ml_model/corpus/digits.py, 20 per kind) with `api`
at that revision and with this tree's and checks the inputs are the same bit for bit, and times both.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from ml_model.corpus.numbers import (  # noqa: E402 - after the sys.path line above
    KINDS,
    SEPARATED,
    SPACINGS,
    NumberSample,
    canvas_number,
    number_indices,
    number_samples,
)

DEFAULT_EXPORT = REPO / "ml_model" / "exports" / "latest"
SEPARATED_TARGET, TOUCHING_TARGET = 0.97, 0.90  # of the ceiling
REQUEST_TARGET_MS = 8.0
TIMING_DIGITS = 4


def read_cell(samples: list[NumberSample], digits: np.ndarray, predictor) -> dict:
    """Each number read whole, its digits alone and as arrays; times per picture; the misread ones."""
    from api.app.inputs import read_picture
    from api.errors import InvalidRequest
    from api.pictures.images import PixelBudget, from_bytes
    from api.pictures.numbers import read_number
    from api.runtime.settings import MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS

    def budget() -> PixelBudget:
        return PixelBudget(MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS)

    right, alone_right, array_right, refused, times, wrong = [], [], [], 0, [], []
    for sample in samples:
        started = time.perf_counter_ns()
        try:
            grey, size = read_picture(sample.data, budget())
            read = "".join(str(int(d.probabilities.argmax())) for d in read_number(grey, size, predictor.predict))
        except InvalidRequest:
            read, refused = "", refused + 1
        times.append((time.perf_counter_ns() - started) / 1e6)
        right.append(read == sample.number)
        if read != sample.number:
            wrong.append((sample, read))
        singles = []
        for data in sample.alone:
            try:
                singles.append(from_bytes(data, budget()))
            except InvalidRequest:
                singles.append(np.zeros((28, 28), np.float32))
        truth = np.array([int(c) for c in sample.number])
        alone = predictor.predict(np.stack(singles)[..., np.newaxis]).argmax(axis=1)
        arrays = predictor.predict((digits[list(sample.indices)] / 255.0).astype(np.float32)[..., np.newaxis]).argmax(
            axis=1
        )
        alone_right.append(bool((alone == truth).all()))
        array_right.append(bool((arrays == truth).all()))
    return {
        "right": right,
        "alone": alone_right,
        "arrays": array_right,
        "refused": refused,
        "times": times,
        "wrong": wrong,
    }


def request_times(digits: np.ndarray, export: Path, repeats: int, seed: int) -> dict[str, list[float]]:
    """Warm requests through the handler, interleaved: a 4-digit 560x280 canvas number and a 280x280 single digit."""
    from ml_model.corpus.digits import canvas_white

    os.environ["MODEL_URL"] = str(export)
    os.environ.setdefault("MODEL_CACHE_DIR", str(REPO / "bench" / "results" / "model-cache"))
    logging.getLogger("api.request").setLevel(logging.WARNING)
    from api.handler import get_number_prediction, use_model_store

    use_model_store(None)
    rng = np.random.default_rng(seed)
    template = json.loads((REPO / "test.json").read_text())

    def event(png: bytes, **extra: object) -> dict:
        body = {"image": "data:image/png;base64," + base64.b64encode(png).decode("ascii"), **extra}
        return {**template, "body": json.dumps(body)}

    numbers = [
        event(canvas_number([digits[i] for i in range(k * TIMING_DIGITS, (k + 1) * TIMING_DIGITS)], rng), read="number")
        for k in range(5)
    ]
    singles = [event(canvas_white(digits[i], rng)) for i in range(5)]
    for e in numbers + singles:
        answer = get_number_prediction(e, None)
        assert answer["statusCode"] == 200, answer["body"]
    cases = {"number": numbers, "digit": singles}
    times: dict[str, list[float]] = {name: [] for name in cases}
    for round_ in range(max(1, repeats // 10)):
        for name, events in cases.items():
            for _ in range(10):
                started = time.perf_counter_ns()
                get_number_prediction(events[round_ % len(events)], None)
                times[name].append((time.perf_counter_ns() - started) / 1e6)
    return times


def check_single_digits(
    revision: str, repeats: int, seed: int, per_kind: int = 20
) -> tuple[int, int, dict[str, tuple[float, float]]]:
    """The single-digit corpus (`per_kind` per kind) read with `api` at `revision` and with this tree's:
    (pictures, identical inputs, {"then"/"now": canvas preprocessing p50 ms wall, photo p50 ms})."""
    from read_images import compare_with, images_module_at

    from api.pictures import images as now
    from api.runtime.settings import MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS
    from ml_model.corpus.digits import KINDS as DIGIT_KINDS
    from ml_model.corpus.digits import digit_indices, samples
    from ml_model.data import load_mnist

    mnist = load_mnist()
    indices = digit_indices(len(mnist.test_labels), per_kind, seed)
    same = total = 0
    with tempfile.TemporaryDirectory() as folder:
        then = images_module_at(revision, Path(folder))
        for kind in DIGIT_KINDS:
            for sample in samples(mnist.test_images, mnist.test_labels, kind, indices[kind], seed):
                results = []
                for module in (then, now):
                    try:
                        results.append(
                            module.from_bytes(sample.data, module.PixelBudget(MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS))
                        )
                    except Exception as exc:  # noqa: BLE001 - a refusal must be the same refusal
                        results.append(f"{type(exc).__name__}: {exc}")
                total += 1
                a, b = results
                same += (
                    bool(np.array_equal(a, b)) if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) else a == b
                )
    sys.modules.pop("api_at_revision", None)
    compared = compare_with(revision, mnist.test_images, repeats, seed)
    return total, same, {case: (compared[case]["then"][0], compared[case]["now"][0]) for case in compared}


def contact_sheet(wrong: Sequence[tuple[NumberSample, str]], path: Path, limit: int = 60) -> None:
    """The misread pictures, each scaled to 80 pixels tall over 'truth>read kind/spacing'."""
    import io

    from PIL import Image, ImageDraw

    tiles = []
    for sample, read in wrong[:limit]:
        image = Image.open(io.BytesIO(sample.data)).convert("RGBA")
        flat = Image.new("RGBA", image.size, (255, 255, 255, 255))
        flat.alpha_composite(image)
        flat = flat.convert("L")
        flat = flat.resize((max(1, flat.width * 80 // flat.height), 80))
        tile = Image.new("L", (max(flat.width, 200), 94), 255)
        tile.paste(flat, (0, 0))
        ImageDraw.Draw(tile).text((2, 81), f"{sample.number}>{read or '-'} {sample.kind}/{sample.spacing}", fill=0)
        tiles.append(tile)
    width = 1400
    rows, x, row = [], 0, []
    for tile in tiles:
        if x + tile.width > width and row:
            rows.append(row)
            row, x = [], 0
        row.append(tile)
        x += tile.width + 4
    rows.append(row)
    sheet = Image.new("L", (width, 98 * len(rows)), 160)
    for r, tiles_in_row in enumerate(rows):
        x = 0
        for tile in tiles_in_row:
            sheet.paste(tile, (x, r * 98))
            x += tile.width + 4
    sheet.save(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, default=DEFAULT_EXPORT, help="export folder (default: %(default)s)")
    parser.add_argument("--per-cell", type=int, default=50, help="numbers per kind and spacing (default: %(default)s)")
    parser.add_argument(
        "--kinds",
        nargs="+",
        choices=list(KINDS),
        default=list(KINDS),
        metavar="KIND",
        help=f"kinds to run (default: all): {', '.join(KINDS)}",
    )
    parser.add_argument(
        "--spacings",
        nargs="+",
        choices=SPACINGS,
        default=list(SPACINGS),
        metavar="SPACING",
        help=f"spacing classes (default: all): {', '.join(SPACINGS)}",
    )
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default: %(default)s)")
    parser.add_argument("--sheet", type=Path, help="save the misread pictures to this PNG")
    parser.add_argument("--timing-repeats", type=int, default=200, help="timed requests per case (0: skip)")
    parser.add_argument("--quick", action="store_true", help="1 number per cell and 10 timed requests per case")
    parser.add_argument(
        "--against",
        metavar="REVISION",
        help="also check single-digit inputs bit for bit against `api` at this git revision",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.per_cell, args.timing_repeats = min(args.per_cell, 1), min(args.timing_repeats, 10)

    export = args.export.absolute()
    if not (export / "model.json").is_file():
        print(f"no export at {export}: train one (python -m ml_model train) or pass --export", file=sys.stderr)
        return 2
    from api.runtime.predictor import open_export
    from ml_model.data import load_mnist

    mnist = load_mnist()
    predictor = open_export(export, "tflite")
    cells = number_indices(len(mnist.test_labels), args.per_cell, args.seed)
    name = json.loads((export / "model.json").read_text()).get("name", export.name)
    print(
        f"export {export} ({name}); {args.per_cell} numbers per kind and spacing; seed {args.seed}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    by_kind: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    by_spacing: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    wrong: list[tuple[NumberSample, str]] = []
    refused = 0
    if args.per_cell > 0:
        header = f"{'':<20} {'n':>5} {'numbers':>8} {'alone':>8} {'arrays':>8} {'/alone':>7} {'p50':>8}"
        print(f"{'kind':<20}" + header[20:])
        for kind in args.kinds:
            for spacing in args.spacings:
                samples = list(
                    number_samples(mnist.test_images, mnist.test_labels, kind, spacing, cells[kind, spacing], args.seed)
                )
                result = read_cell(samples, mnist.test_images, predictor)
                for key in ("right", "alone", "arrays", "times"):
                    by_kind[kind][key] += result[key]
                    by_spacing[spacing][key] += result[key]
                refused += result["refused"]
                wrong += result["wrong"]
            row(kind, by_kind[kind])
        print(f"{'spacing':<20}" + header[20:])
        for spacing in args.spacings:
            row(spacing, by_spacing[spacing])
        everything = {key: sum((by_kind[k][key] for k in by_kind), []) for key in ("right", "alone", "arrays", "times")}
        row("all", everything)
        separated = {key: sum((by_spacing[s][key] for s in SEPARATED if s in by_spacing), []) for key in everything}
        print(f"refused (no digit / too many): {refused}")
        for label, group, target in (
            ("separated (wide + close)", separated, SEPARATED_TARGET),
            ("touching", by_spacing.get("touching"), TOUCHING_TARGET),
        ):
            if group and group["right"]:
                ratio = np.mean(group["right"]) / max(np.mean(group["alone"]), 1e-9)
                print(
                    f"target {label}: {ratio:.3f} x the ceiling"
                    f" (>= {target}: {'met' if ratio >= target else 'NOT met'})"
                )
        if args.sheet:
            contact_sheet(wrong, args.sheet)
            print(f"{len(wrong)} misread numbers; the first 60 saved to {args.sheet}")
    if args.timing_repeats > 0:
        times = request_times(mnist.test_images, export, args.timing_repeats, args.seed)
        number, digit = statistics.median(times["number"]), statistics.median(times["digit"])
        print(
            f"warm requests through api.handler (p50 of {len(times['number'])}, interleaved; load average "
            f"{os.getloadavg()[0]:.1f}):"
        )
        print(
            f'  {TIMING_DIGITS}-digit number, 560x280 canvas PNG, "read": "number"  {number:7.2f} ms '
            f"(target <= {REQUEST_TARGET_MS} ms: {'met' if number <= REQUEST_TARGET_MS else 'NOT met'})"
        )
        print(
            f"  one digit, 280x280 canvas PNG                          {digit:7.2f} ms"
            f"   (number / digit {number / digit:.2f})"
        )
    if args.against:
        try:
            total, same, timing = check_single_digits(
                args.against, max(args.timing_repeats, 10), args.seed, 2 if args.quick else 20
            )
        except subprocess.CalledProcessError as failure:
            print(f"error: git archive {args.against}: {failure.stderr.decode().strip()}", file=sys.stderr)
            return 2
        print(
            f"single digits at {args.against} and now: {same} of {total} corpus pictures"
            " give the same input bit for bit"
        )
        for case, (then, now) in timing.items():
            print(f"  preprocessing {case:<7} then {then:7.3f} ms  now {now:7.3f} ms  now/then {now / then:.2f}")
    return 0


def row(label: str, group: dict[str, list]) -> None:
    right, alone, arrays = (float(np.mean(group[key])) if group[key] else 0.0 for key in ("right", "alone", "arrays"))
    print(
        f"{label:<20} {len(group['right']):>5} {right:>8.2%} {alone:>8.2%} {arrays:>8.2%} "
        f"{right / max(alone, 1e-9):>7.3f} {statistics.median(group['times']):>6.2f}ms",
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
