"""How well the API reads written numbers: the number reader on digits it never trained on, beside their ceiling.

    python bench/read_numbers.py --export ml_model/exports/latest            # 50 per cell (2,000), 100 per real kind
    python bench/read_numbers.py --per-cell 10 --real 20 --reader /tmp/reader-full/reader.tflite --sheet misread.png
    python bench/read_numbers.py --against 016a901 --per-cell 0 --real 0 --writers 0   # single digits bit for bit

Each picture of `ml_model/corpus/numbers.py` (8 kinds x 5 spacings) and, `--real N`, of `real_numbers.py` (cheques,
forms, low resolution) and, `--writers N`, of `numbers.py` again made of other writers' digits (Semeion's held-out
writers, `ml_model/corpus/writers.py`) is decoded as the API does and read from its bytes, timed, by the reader
(`api.pictures.line.to_line`, `api.pictures.reading.read_line`, `LiteRTReader` with `--reader`, default the reader
the export serves by `--precision`); a number is read when the whole string is right, a refusal (a 400) is a
miss. The ceiling "alone": each digit's ink alone on a page of the kind (no separators, boxes or lines) through
the single-digit path with the export's digit model, right when every digit is; "arrays": the 28x28 MNIST
arrays. Printed: string accuracy per kind and spacing, ratios to "alone", p50 ms, the targets; the reader's
size, training time and test line accuracy (from a `model.json` beside it or the export's listing that file).
Then warm requests through `api.handler`, interleaved: a 4-digit 560x280 canvas PNG with `"read": "number"`
(the export's reader, or a copy of the export holding `--reader`'s; none: not timed) beside a digit's 280x280 PNG.
`--against REVISION` reads the single-digit corpus with `api` at REVISION and now: same input bit for bit? and times.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from api.runtime.manifest import INT8, READER, READER_FILE, READER_INT8, READER_VARIANT_FILES  # noqa: E402 - after the sys.path line above
from ml_model.artifacts import artifact_entry  # noqa: E402
from ml_model.corpus.numbers import KINDS, SEPARATED, SPACINGS, canvas_number, number_indices, number_samples  # noqa: E402
from ml_model.corpus.real_numbers import KINDS as REAL_KINDS  # noqa: E402
from ml_model.corpus.real_numbers import real_indices, real_samples  # noqa: E402

DEFAULT_EXPORT = REPO / "ml_model" / "exports" / "latest"
READER_TARGETS = {"separated (wide + close)": 0.99, "touching": 0.95, "overlapping": 0.90}
KIND_TARGET = 0.95  # the reader, every kind of numbers.py
REQUEST_TARGET_MS = 5.0  # a 4-digit 560x280 canvas PNG read as a number, warm p50
TIMING_DIGITS = 4


def read_cell(samples: Iterable, digits: np.ndarray, predictor, reader) -> dict[str, list]:
    """Each number read whole by the reader, its digits alone and as arrays: per sample right or not,
    refused or not, ms; the misread ones as (sample, read)."""
    from api.app.inputs import read_picture
    from api.errors import InvalidRequest
    from api.pictures.images import PixelBudget, from_bytes
    from api.pictures.line import to_line
    from api.pictures.reading import read_line
    from api.runtime.settings import MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS

    limits = (MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS)  # a fresh PixelBudget per picture, as per request
    out: dict[str, list] = defaultdict(list)
    for sample in samples:
        started = time.perf_counter_ns()
        try:
            grey, size = read_picture(sample.data, PixelBudget(*limits))
            digits_read = read_line(to_line(grey, size), reader.run, reader.stride)
            read = "".join(str(int(d.probabilities.argmax())) for d in digits_read)
        except InvalidRequest:
            read = None
        out["reader_ms"].append((time.perf_counter_ns() - started) / 1e6)
        out["reader"].append(read == sample.number)
        out["reader_refused"].append(read is None)
        if read != sample.number:
            out["wrong"].append((sample, read))
        singles = []
        for data in sample.alone:
            try:
                singles.append(from_bytes(data, PixelBudget(*limits)))
            except InvalidRequest:
                singles.append(np.zeros((28, 28), np.float32))
        truth = np.array([int(c) for c in sample.number])
        alone = predictor.predict(np.stack(singles)[..., np.newaxis]).argmax(axis=1)
        arrays = (digits[list(sample.indices)] / 255.0).astype(np.float32)[..., np.newaxis]
        out["alone"].append(bool((alone == truth).all()))
        out["arrays"].append(bool((predictor.predict(arrays).argmax(axis=1) == truth).all()))
    return out


def merged(groups: Iterable[dict[str, list]]) -> dict[str, list]:
    out: dict[str, list] = defaultdict(list)
    for group in groups:
        for key, values in group.items():
            out[key] += values
    return out


def share(group: dict[str, list], key: str) -> float:
    return float(np.mean(group[key])) if group[key] else 0.0


def ratio(group: dict[str, list], key: str) -> float:
    return share(group, key) / max(share(group, "alone"), 1e-9)


COLUMNS: tuple[tuple[str, int, Callable[[dict[str, list]], str]], ...] = (  # title, width, value
    ("n", 5, lambda g: str(len(g["alone"]))),
    ("reader", 8, lambda g: f"{share(g, 'reader'):.2%}"),
    ("alone", 8, lambda g: f"{share(g, 'alone'):.2%}"),
    ("arrays", 8, lambda g: f"{share(g, 'arrays'):.2%}"),
    ("reader/alone", 12, lambda g: f"{ratio(g, 'reader'):.3f}" if share(g, "alone") else "-"),
    ("reader p50", 10, lambda g: f"{statistics.median(g['reader_ms']):.2f}ms"),
)


def line(label: str, group: dict[str, list] | None) -> None:
    """A table row for `group` (None: the header, `label` its first title)."""
    cells = [f"{label:<20}"]
    cells += [f"{title if group is None else value(group):>{width}}" for title, width, value in COLUMNS]
    print(" ".join(cells), flush=True)


def total(label: str, groups: Iterable[dict[str, list]]) -> None:
    """The row of all `groups` together, and their refusals."""
    everything = merged(groups)
    line(label, everything)
    print(f"refused ({label}; no digit / too many): {sum(everything['reader_refused'])}")


def targets(by_kind: dict[str, dict], by_spacing: dict[str, dict]) -> None:
    groups = {
        "separated (wide + close)": merged(by_spacing[s] for s in SEPARATED if s in by_spacing),
        "touching": by_spacing.get("touching"),
        "overlapping": by_spacing.get("overlapping"),
    }
    checks = [(name, groups[name], target) for name, target in READER_TARGETS.items()]
    lowest = min(by_kind, key=lambda kind: ratio(by_kind[kind], "reader"))
    checks.append((f"every kind (lowest {lowest})", by_kind[lowest], KIND_TARGET))
    for label, group, target in checks:
        if group and group["reader"]:
            value = ratio(group, "reader")
            print(f"target {label}: {value:.3f} x the ceiling (>= {target}: {'met' if value >= target else 'NOT met'})")


def describe_reader(path: Path, export: Path) -> str:
    """The reader's file and size; its training time and test line accuracy from a model.json listing it."""
    text, digest = f"reader {path}: {path.stat().st_size / 1e6:.2f} MB", hashlib.sha256(path.read_bytes()).hexdigest()
    for manifest_path in dict.fromkeys((path.parent / "model.json", export / "model.json")):
        manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
        listed = manifest.get("artifacts", {})
        if digest in (listed.get(key, {}).get("sha256") for key in (READER, READER_INT8)):
            section = manifest.get(READER, {})
            seconds = section.get("training", {}).get("seconds", float("nan"))
            accuracy = section.get("metrics", {}).get("test", {}).get("lineAccuracy", float("nan"))
            return f"{text}; trained in {seconds:.0f} s; test line accuracy {accuracy:.2%} (from {manifest_path})"
    return f"{text}; training time and test line accuracy unknown (no model.json beside it lists this file)"


def export_with_reader(export: Path, reader: Path, folder: Path) -> Path:
    """`export` itself when its reader is `reader`, else a copy of it (without the SavedModel) holding `reader`
    as its only reader (an int8 model of the export's own reader is left out, so `reader` is what is served)."""
    manifest = json.loads((export / "model.json").read_text())
    digest = hashlib.sha256(reader.read_bytes()).hexdigest()
    if digest in (manifest["artifacts"].get(key, {}).get("sha256") for key in (READER, READER_INT8)):
        return export  # one of its own readers, the one the API serves by MODEL_PRECISION
    copy = folder / export.name
    shutil.copytree(export, copy, ignore=shutil.ignore_patterns("saved_model", READER_VARIANT_FILES[INT8]))
    shutil.copyfile(reader, copy / READER_FILE)
    manifest["artifacts"][READER] = artifact_entry(copy, READER_FILE)
    manifest["artifacts"].pop(READER_INT8, None)
    manifest.get(READER, {}).pop("variants", None)
    (copy / "model.json").write_text(json.dumps(manifest, indent=2))
    return copy


def request_times(mnist, export: Path, repeats: int, seed: int, numbers: bool, precision: str) -> tuple[dict, int]:
    """Warm requests through the handler, interleaved: a 4-digit 560x280 canvas number (when `numbers`: the
    export has a reader) and a 280x280 single digit; and how many of the 5 numbers timed are read right."""
    from ml_model.corpus.digits import canvas_white

    os.environ["MODEL_URL"] = str(export)
    os.environ["MODEL_PRECISION"] = precision
    os.environ.setdefault("MODEL_CACHE_DIR", str(REPO / "bench" / "results" / "model-cache"))
    logging.getLogger("api.request").setLevel(logging.WARNING)
    from api.handler import get_number_prediction, use_model_store

    use_model_store(None)
    digits, rng = mnist.test_images, np.random.default_rng(seed)
    template = json.loads((REPO / "test.json").read_text())

    def event(png: bytes, **extra: object) -> dict:
        body = {"image": "data:image/png;base64," + base64.b64encode(png).decode("ascii"), **extra}
        return {**template, "body": json.dumps(body)}

    cases = {"digit": [event(canvas_white(digits[i], rng)) for i in range(5)]}
    for e in cases["digit"]:
        assert (answer := get_number_prediction(e, None))["statusCode"] == 200, answer["body"]
    right = 0
    if numbers:
        four = [list(range(k * TIMING_DIGITS, (k + 1) * TIMING_DIGITS)) for k in range(5)]
        cases["number"] = [event(canvas_number([digits[i] for i in k], rng), read="number") for k in four]
        for e, indices in zip(cases["number"], four):
            answer = get_number_prediction(e, None)  # 400 when the reader reads no digit: timed all the same
            assert answer["statusCode"] in (200, 400), answer["body"]
            read = json.loads(answer["body"]).get("number") if answer["statusCode"] == 200 else None
            right += read == "".join(str(int(mnist.test_labels[i])) for i in indices)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for round_ in range(max(1, repeats // 10)):
        for name, events in cases.items():
            for _ in range(10):
                started = time.perf_counter_ns()
                get_number_prediction(events[round_ % len(events)], None)
                times[name].append((time.perf_counter_ns() - started) / 1e6)
    return times, right


def against(revision: str, mnist, repeats: int, seed: int, per_kind: int) -> None:
    """The single-digit corpus (`per_kind` per kind) read with `api` at `revision` and with this tree's:
    how many inputs are the same bit for bit; preprocessing timed with both (p50 ms wall)."""
    from read_images import compare_with, images_module_at

    from api.pictures import images as now
    from api.runtime.settings import MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS
    from ml_model.corpus.digits import KINDS as DIGIT_KINDS
    from ml_model.corpus.digits import digit_indices, samples

    def read(module, data: bytes) -> object:
        try:
            return module.from_bytes(data, module.PixelBudget(MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS))
        except Exception as exc:  # noqa: BLE001 - a refusal must be the same refusal
            return f"{type(exc).__name__}: {exc}"

    indices, pairs = digit_indices(len(mnist.test_labels), per_kind, seed), []
    with tempfile.TemporaryDirectory() as folder:
        then = images_module_at(revision, Path(folder))
        for kind in DIGIT_KINDS:
            for sample in samples(mnist.test_images, mnist.test_labels, kind, indices[kind], seed):
                pairs.append((read(then, sample.data), read(now, sample.data)))
    sys.modules.pop("api_at_revision", None)
    same = sum(bool(np.array_equal(a, b)) if np.ndarray in (type(a), type(b)) else a == b for a, b in pairs)
    print(f"single digits at {revision} and now: {same} of {len(pairs)} pictures give the same input bit for bit")
    for case, times in compare_with(revision, mnist.test_images, repeats, seed).items():
        then, now_ms = times["then"][0], times["now"][0]
        print(f"  preprocessing {case:<7} then {then:7.3f} ms  now {now_ms:7.3f} ms  now/then {now_ms / then:.2f}")


def contact_sheet(wrong: Sequence[tuple], path: Path, limit: int = 60) -> None:
    """The misread pictures, two a row, each 80 pixels tall over 'truth>read kind/spacing'."""
    import io

    from PIL import Image, ImageDraw

    sheet = Image.new("L", (1404, 98 * max(1, (min(len(wrong), limit) + 1) // 2)), 160)
    for k, (sample, read) in enumerate(wrong[:limit]):
        image = Image.open(io.BytesIO(sample.data)).convert("RGBA")
        flat = Image.new("RGBA", image.size, (255, 255, 255, 255))
        flat.alpha_composite(image)
        tile = Image.new("L", (700, 94), 255)
        tile.paste(flat.convert("L").resize((max(1, image.width * 80 // image.height), 80)), (0, 0))
        where = getattr(sample, "spacing", None) or getattr(sample, "variant", "")  # numbers.py's, or real_numbers.py's
        ImageDraw.Draw(tile).text((2, 81), f"{sample.number}>{read or '-'} {sample.kind}/{where}", fill=0)
        sheet.paste(tile, (k % 2 * 704, k // 2 * 98))
    sheet.save(path)


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, default=DEFAULT_EXPORT, help="export folder (default: %(default)s)")
    parser.add_argument("--reader", type=Path, help="a reader's .tflite (default: the export's, as the API serves it)")
    parser.add_argument(
        "--precision", default="auto", help="MODEL_PRECISION picking the export's reader (default: %(default)s)"
    )
    parser.add_argument("--per-cell", type=int, default=50, help="numbers per kind and spacing (default: %(default)s)")
    parser.add_argument("--real", type=int, default=100, help="numbers per real-world kind (0: skip; default: 100)")
    parser.add_argument(
        "--writers", type=int, default=10, help="numbers per cell of other writers' digits (0: skip; default: 10)"
    )
    for flag, choices, what in (("--kinds", list(KINDS), "kinds"), ("--spacings", list(SPACINGS), "spacing classes")):
        parser.add_argument(
            flag, nargs="+", choices=choices, default=choices, metavar=flag[2:-1].upper(), help=f"{what}: {choices}"
        )
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default: %(default)s)")
    parser.add_argument("--sheet", type=Path, help="save the misread pictures (the reader's if any) to this PNG")
    parser.add_argument("--timing-repeats", type=int, default=200, help="timed requests per case (0: skip)")
    parser.add_argument(
        "--quick", action="store_true", help="1 number per cell (and other writers' cell), 2 per real kind, 10 requests"
    )
    parser.add_argument("--against", metavar="REVISION", help="check single digits against `api` at a revision")
    args = parser.parse_args(argv)
    if args.quick:
        args.per_cell, args.real, args.writers = min(args.per_cell, 1), min(args.real, 2), min(args.writers, 1)
        args.timing_repeats = min(args.timing_repeats, 10)
    return args


def number_tables(args: argparse.Namespace, images, labels, per_cell: int, predictor, reader) -> list[tuple]:
    """The numbers.py corpus made of `images` by kind and by spacing, refusals and targets; the misread numbers."""
    cells = number_indices(len(labels), per_cell, args.seed)
    by_kind: dict[str, dict[str, list]] = {}
    by_spacing: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    line("kind", None)
    for kind in args.kinds:
        results = []
        for spacing in args.spacings:
            samples = number_samples(images, labels, kind, spacing, cells[kind, spacing], args.seed)
            results.append(read_cell(samples, images, predictor, reader))
            by_spacing[spacing] = merged([by_spacing[spacing], results[-1]])
        by_kind[kind] = merged(results)
        line(kind, by_kind[kind])
    line("spacing", None)
    for spacing in args.spacings:
        line(spacing, by_spacing[spacing])
    total("all", by_kind.values())
    targets(by_kind, by_spacing)
    return merged(by_kind.values())["wrong"]


def writers_tables(args: argparse.Namespace, mnist, predictor, reader) -> list[tuple]:
    """The numbers.py corpus again, made of Semeion's held-out writers' digits (laid out as MNIST's)."""
    from ml_model.corpus.sources import digit_source, label_aspects
    from ml_model.corpus.writers import as_mnist, semeion

    digits, labels = semeion("held_out")
    images = as_mnist(digits, labels, label_aspects(digit_source(mnist.train_images, mnist.train_labels)))
    print(
        f"other writers: {len(labels)} digits of Semeion's held-out writers (never trained on), "
        f"{args.writers} numbers per kind and spacing"
    )
    return number_tables(args, images, labels, args.writers, predictor, reader)


def real_tables(args: argparse.Namespace, mnist, predictor, reader) -> list[tuple]:
    """The real-world kinds of real_numbers.py, and the misread numbers."""
    numbers = real_indices(len(mnist.test_labels), args.real, args.seed)
    print(f"real-world kinds, {args.real} each; 'alone': each digit's ink alone on the kind's paper, no marks or rules")
    line("kind", None)
    results = []
    for kind in REAL_KINDS:
        samples = real_samples(mnist.test_images, mnist.test_labels, kind, numbers[kind], args.seed)
        results.append(read_cell(samples, mnist.test_images, predictor, reader))
        line(kind, results[-1])
    total("real, all", results)
    return merged(results)["wrong"]


def timing(args: argparse.Namespace, mnist, export: Path, reader: Path | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        served = export_with_reader(export, reader, Path(folder)) if reader else export
        times, right = request_times(mnist, served, args.timing_repeats, args.seed, reader is not None, args.precision)
    digit = statistics.median(times["digit"])
    copy = f"; numbers by a copy of the export holding {reader}" if served != export else ""
    load = f"load average {os.getloadavg()[0]:.1f}{copy}"
    print(f"warm requests through api.handler (p50 of {len(times['digit'])}, interleaved; {load}):")
    label = f'  {TIMING_DIGITS}-digit number, 560x280 canvas PNG, "read": "number"'
    number = statistics.median(times["number"]) if reader else float("nan")
    if reader is None:
        print(f"{label}  not timed: no reader (the handler answers 400); pass --reader")
    else:
        met = "met" if number <= REQUEST_TARGET_MS else "NOT met"
        print(f"{label}  {number:7.2f} ms (target <= {REQUEST_TARGET_MS} ms: {met}; {right} of 5 numbers read right)")
    versus = f"   (number / digit {number / digit:.2f})" if reader else ""
    print(f"  one digit, 280x280 canvas PNG{digit:33.2f} ms{versus}")


def served_reader(export: Path, precision: str) -> str:
    """The reader file the API serves from `export` for MODEL_PRECISION `precision` (READER_FILE: none listed)."""
    from api.runtime.manifest import ManifestError, parse_manifest

    try:
        manifest = parse_manifest((export / "model.json").read_text())
        return manifest.artifact(manifest.reader_variant(precision).artifact).path
    except ManifestError:
        return READER_FILE


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    export = args.export.absolute()
    if not (export / "model.json").is_file():
        print(f"no export at {export}: train one (python -m ml_model train) or pass --export", file=sys.stderr)
        return 2
    path = (args.reader or export / served_reader(export, args.precision)).absolute()
    if args.reader and not path.is_file():
        print(f"no reader at {path}", file=sys.stderr)
        return 2
    path = path if path.is_file() else None
    if path is None and max(args.per_cell, args.real, args.writers) > 0:
        print(
            f"no number reader in {export}: train one (python -m ml_model train) or pass --reader; "
            "--per-cell 0 --real 0 --writers 0 times single digits only",
            file=sys.stderr,
        )
        return 2
    from api.runtime.predictor import open_export
    from api.runtime.reader import LiteRTReader
    from ml_model.data import load_mnist

    mnist = load_mnist()
    predictor = open_export(export, "tflite")
    reader = LiteRTReader(path) if path else None
    name = json.loads((export / "model.json").read_text()).get("name", export.name)
    print(
        f"export {export} ({name}); {args.per_cell} numbers per kind and spacing, {args.real} per real kind; "
        f"seed {args.seed}; load average {os.getloadavg()[0]:.1f}"
    )
    print(describe_reader(path, export) if path else f"no reader: {export} has none and no --reader given")
    wrong = []
    if args.per_cell > 0:
        wrong += number_tables(args, mnist.test_images, mnist.test_labels, args.per_cell, predictor, reader)
    wrong += real_tables(args, mnist, predictor, reader) if args.real > 0 else []
    wrong += writers_tables(args, mnist, predictor, reader) if args.writers > 0 else []
    if args.sheet:
        contact_sheet(wrong, args.sheet)
        print(f"{len(wrong)} numbers misread by the reader, in {args.sheet}")
    if args.timing_repeats > 0:
        timing(args, mnist, export, path)
    if args.against:
        try:
            against(args.against, mnist, max(args.timing_repeats, 10), args.seed, 2 if args.quick else 20)
        except subprocess.CalledProcessError as failure:
            print(f"error: git archive {args.against}: {failure.stderr.decode().strip()}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
