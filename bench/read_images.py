"""How well the API reads pictures of digits: a corpus of 18 kinds made from MNIST test digits.

    python bench/read_images.py --export ml_model/exports/latest
    python bench/read_images.py --per-kind 60 --sheet misread.png     # a quicker look, and a picture
    python bench/read_images.py --against 6798261     # also the API then: its accuracy, and timing interleaved

For each kind of `ml_model/corpus/digits.py` (canvas strokes, scans, photos, chalk on a board...), the same
MNIST *test* digits are read three ways: as pictures, through the API's real preprocessing
(`api.pictures.images.from_bytes`: decoding, normalisation) and the export's LiteRT model, and as the
28x28 arrays themselves (the ceiling), and through the plain tutorial pipeline a user would
otherwise write (`bench/plain_pipeline.py`: the fair baseline). Printed per kind: the accuracies, the gap, how many
pictures were refused as "no digit found" (counted as misread), and preprocessing time p50 (wall,
and this thread's CPU time, which a busy machine inflates less). For the pen-path kinds, which
re-draw the digit along its traced pen paths, "drawing" is the accuracy on the same clean drawings read the
plain way (crop, area-reduce, centre; not through the API): the drawing's own ceiling, since a
re-drawn digit can lose what made the original readable (a filled loop, a stroke's varying width).

Then the timing targets, each a median over interleaved repeats: preprocessing a 280x280 canvas
PNG and a 12-megapixel JPEG photo, and a whole warm request (`api.handler`) with the canvas PNG;
beside them, our decoding alone and Pillow's alone (open, decode to grey; the JPEG at 1/8 scale),
the floor that no preprocessing can go under.
`--against REVISION` also reads every picture through `api` as it was at that git revision (same
pictures, same model): its accuracy and refusals per kind, how many answers changed, and how many
were gained and lost, so a change to the normaliser is judged picture by picture.
`--sheet` saves the 28x28 inputs of the misread pictures (with the label and the answer) as one PNG.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import importlib.util
import io
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

import plain_pipeline  # noqa: E402 - after the sys.path line above

from ml_model.corpus.digits import KINDS, PEN_PATHS, Sample, digit_indices, sample_rng, samples  # noqa: E402 - after the sys.path line above
from ml_model.corpus.render import encode  # noqa: E402 - after the sys.path line above

DEFAULT_EXPORT = REPO / "ml_model" / "exports" / "latest"
TARGET_ACCURACY = 0.985
TARGET_GAP = 0.005
CANVAS_TARGET_MS, PHOTO_TARGET_MS, REQUEST_TARGET_MS = 2.0, 15.0, 3.0
PHOTO_SIZE = (4000, 3000)  # 12 megapixels, as a phone's camera


def read_kind(
    kind: str,
    digits: np.ndarray,
    labels: np.ndarray,
    indices: np.ndarray,
    predictor,
    seed: int,
    then: ModuleType | None = None,
) -> dict:
    """Accuracy as pictures (through the API, the plain pipeline, and `then`'s API if given) and as
    arrays, refusals, preprocessing times, and the misread inputs."""
    from api.errors import InvalidRequest
    from api.pictures.images import PixelBudget, from_bytes
    from api.runtime.settings import MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS

    inputs, times, cpu_times, refused = [], [], [], []
    plain_inputs, plain_refused, then_inputs, then_refused = [], [], [], []
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
        try:
            plain_inputs.append(plain_pipeline.to_mnist(sample.data))
        except plain_pipeline.Blank:
            plain_inputs.append(np.zeros((28, 28), np.float32))
            plain_refused.append(n)
        if then is not None:
            try:
                then_inputs.append(then.from_bytes(sample.data, then.PixelBudget(MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS)))
            except Exception as error:
                if type(error).__name__ not in ("InvalidRequest", "NoDigit"):
                    raise
                then_inputs.append(np.zeros((28, 28), np.float32))
                then_refused.append(n)
    truth = labels[indices]

    def answers(pictures: list[np.ndarray], refusals: list[int]) -> np.ndarray:
        read = predictor.predict(np.stack(pictures)[..., np.newaxis]).argmax(axis=1)
        read[refusals] = -1  # "no digit found" counts as misread
        return read

    stacked = np.stack(inputs)[..., np.newaxis]
    read = answers(inputs, refused)
    plain = answers(plain_inputs, plain_refused)
    ceiling = predictor.predict((digits[indices] / 255.0).astype(np.float32)[..., np.newaxis]).argmax(axis=1)
    wrong = [(batch[i], stacked[i, ..., 0], int(read[i])) for i in np.nonzero(read != truth)[0]]
    result = {
        "count": len(batch),
        "accuracy": float((read == truth).mean()),
        "ceiling": float((ceiling == truth).mean()),
        "refused": len(refused),
        "plain": float((plain == truth).mean()),
        "plain_refused": len(plain_refused),
        "p50_ms": statistics.median(times) / 1e6,
        "cpu_p50_ms": statistics.median(cpu_times) / 1e6,
        "wrong": wrong,
    }
    if then is not None:
        before = answers(then_inputs, then_refused)
        result.update(
            then=float((before == truth).mean()),
            then_refused=len(then_refused),
            changed=int((before != read).sum()),
            gained=int(((read == truth) & (before != truth)).sum()),
            lost=int(((read != truth) & (before == truth)).sum()),
        )
    return result


def drawing_input(ink: np.ndarray) -> np.ndarray:
    """A clean drawing (ink in [0, 1]) read the plain way: cropped at half ink, area-reduced into
    20x20, pasted with its centre of mass at the centre of 28x28 (independent of api/pictures/normalise.py)."""
    from PIL import Image

    rows, cols = np.nonzero(ink > 0.5)
    crop = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].astype(np.float32)
    scale = 20 / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = np.asarray(Image.fromarray(crop, "F").resize(size, Image.Resampling.BOX))
    total = small.sum()
    centre = [(small.sum(axis=1 - axis) * np.arange(small.shape[axis])).sum() / total for axis in (0, 1)]
    top, left = (int(np.clip(round(14 - c), 0, 28 - n)) for c, n in zip(centre, small.shape))
    out = np.zeros((28, 28), np.float32)
    out[top : top + small.shape[0], left : left + small.shape[1]] = small
    return out


def drawing_accuracy(
    kind: str, digits: np.ndarray, labels: np.ndarray, indices: np.ndarray, predictor, seed: int
) -> float | None:
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
        sheet.paste(
            Image.fromarray((image * 255).astype(np.uint8)).resize((cell, cell), Image.Resampling.NEAREST), (x, y)
        )
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

    from ml_model.corpus.digits import uneven_light

    small = Image.open(io.BytesIO(uneven_light(digit, rng))).convert("RGB")
    large = small.resize(PHOTO_SIZE, Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(2))
    noisy = np.asarray(large, np.int16) + rng.integers(-6, 7, (PHOTO_SIZE[1], PHOTO_SIZE[0], 1), dtype=np.int16)
    return encode(Image.fromarray(noisy.clip(0, 255).astype(np.uint8)), "JPEG", quality=90)


def pillow_grey(data: bytes, draft: bool = False) -> object:
    """The floor under decoding: Pillow alone opening the image and decoding it to grey (a JPEG at 1/8 scale)."""
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    if draft:
        image.draft("L", (image.width // 8, image.height // 8))
    return image.convert("L")


def timing_pictures(digits: np.ndarray, seed: int) -> tuple[list[bytes], list[bytes]]:
    """The timing targets' pictures: five 280x280 canvas PNGs and two 12-megapixel JPEG photos."""
    from ml_model.corpus.digits import canvas_white

    rng = np.random.default_rng(seed)
    canvases = [canvas_white(digits[i], rng) for i in range(5)]
    return canvases, [photo_jpeg(digits[i], rng) for i in range(2)]


def images_module_at(revision: str, folder: Path) -> ModuleType:
    """`api.pictures.images` as it was at a git revision, importable beside this tree's.

    The revision's `api` is imported as `api_at_revision`, its absolute imports of `api` rewritten to
    that name; before the layers, the module was `api/images.py`.
    """
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", revision, "api"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    for source in (folder / "api").rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        source.write_text(re.sub(r"\b(from|import) api\b", r"\1 api_at_revision", text), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(
        "api_at_revision", folder / "api" / "__init__.py", submodule_search_locations=[str(folder / "api")]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules["api_at_revision"] = package
    spec.loader.exec_module(package)
    layered = (folder / "api" / "pictures" / "images.py").is_file()
    return importlib.import_module("api_at_revision.pictures.images" if layered else "api_at_revision.images")


def compare_with(
    revision: str, digits: np.ndarray, repeats: int, seed: int
) -> dict[str, dict[str, tuple[float, float]]]:
    """Preprocessing the timing targets' pictures with `api` at `revision` and with this tree's, interleaved:
    {case: {"then" / "now": (wall, CPU) p50 in ms}}. One run, so a busy machine slows both alike."""
    from api.pictures import images as now
    from api.runtime.settings import MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS

    canvases, photos = timing_pictures(digits, seed)
    with tempfile.TemporaryDirectory() as folder:
        then = images_module_at(revision, Path(folder))
        versions = {"then": then, "now": now}
        cases = {"canvas": (canvases, 10), "photo": (photos, 2)}
        wall = {(case, version): [] for case in cases for version in versions}
        cpu = {(case, version): [] for case in cases for version in versions}
        for round_ in range(max(1, repeats // 10)):
            for case, (pictures, runs) in cases.items():
                for version, module in versions.items():
                    picture = pictures[round_ % len(pictures)]
                    w, c = times_ms(
                        lambda m=module, p=picture: m.from_bytes(
                            p, m.PixelBudget(MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS)
                        ),
                        runs,
                    )
                    wall[case, version] += w
                    cpu[case, version] += c
    return {
        case: {
            version: (statistics.median(wall[case, version]), statistics.median(cpu[case, version]))
            for version in versions
        }
        for case in cases
    }


def timing_targets(digits: np.ndarray, export: Path, repeats: int, seed: int) -> dict[str, tuple[float, float]]:
    """Canvas PNG and 12-MP JPEG preprocessing, and the whole warm canvas request: (wall, CPU) p50 in ms."""
    from api.pictures.images import PixelBudget, decode, from_bytes
    from api.runtime.settings import MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS

    def budget() -> PixelBudget:
        return PixelBudget(MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS)

    canvases, photos = timing_pictures(digits, seed)
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
        "canvas decoding": lambda n: decode(canvases[n % 5], budget()),
        "canvas Pillow": lambda n: pillow_grey(canvases[n % 5]),
        "photo": lambda n: from_bytes(photos[n % 2], budget()),
        "photo decoding": lambda n: decode(photos[n % 2], budget()),
        "photo Pillow": lambda n: pillow_grey(photos[n % 2], draft=True),
        "request": lambda n: get_number_prediction(events[n % 5], None),
    }
    wall: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for round_ in range(max(1, repeats // 10)):  # interleaved, so machine drift hits every case alike
        for name, call in cases.items():
            w, c = times_ms(lambda call=call, r=round_: call(r), 2 if name.startswith("photo") else 10)
            wall[name] += w
            cpu[name] += c
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in cases}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, default=DEFAULT_EXPORT, help="export folder (default: %(default)s)")
    parser.add_argument("--per-kind", type=int, default=250, help="pictures per kind (default: %(default)s)")
    parser.add_argument(
        "--kinds",
        nargs="+",
        choices=list(KINDS),
        default=list(KINDS),
        metavar="KIND",
        help=f"kinds to run (default: all): {', '.join(KINDS)}",
    )
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default: %(default)s)")
    parser.add_argument("--sheet", type=Path, help="save the misread pictures' 28x28 inputs to this PNG")
    parser.add_argument("--timing-repeats", type=int, default=200, help="timed runs per target case (0: skip)")
    parser.add_argument("--quick", action="store_true", help="10 pictures per kind and 10 timed runs per case")
    parser.add_argument(
        "--against",
        metavar="REVISION",
        help="also read every picture through `api` at this git revision (accuracy, refusals, answers gained and "
        "lost) and time its preprocessing, interleaved with this tree's",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.per_kind, args.timing_repeats = min(args.per_kind, 10), min(args.timing_repeats, 10)

    export = args.export.absolute()
    if not (export / "model.json").is_file():
        print(f"no export at {export}: train one (python -m ml_model train) or pass --export", file=sys.stderr)
        return 2
    from api.runtime.predictor import open_export
    from ml_model.data import load_mnist

    mnist = load_mnist()
    predictor = open_export(export, "tflite")
    indices = digit_indices(len(mnist.test_labels), args.per_kind, args.seed)
    name = json.loads((export / "model.json").read_text()).get("name", export.name)
    print(
        f"export {export} ({name}); {args.per_kind} MNIST test digits per kind; seed {args.seed}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    then = None
    then_folder = tempfile.TemporaryDirectory() if args.against else None
    if args.against:
        try:
            then = images_module_at(args.against, Path(then_folder.name))
        except subprocess.CalledProcessError as failure:
            print(f"error: git archive {args.against}: {failure.stderr.decode().strip()}", file=sys.stderr)
            return 2
    print(
        f"{'kind':<20} {'n':>5} {'images':>8} {'arrays':>8} {'gap':>7} {'plain':>8} {'drawing':>8} {'refused':>8} "
        f"{'plain ref':>9} {'prep p50':>9} {'cpu p50':>9}"
        + (f" {'then':>8} {'then ref':>8} {'changed':>7} {'+/-':>7}" if then else "")
    )
    totals = {"count": 0, "right": 0.0, "ceiling": 0.0, "plain": 0.0, "then": 0.0}
    wrong, below, under_plain = [], [], []
    for kind in args.kinds:
        r = read_kind(kind, mnist.test_images, mnist.test_labels, indices[kind], predictor, args.seed, then)
        drawing = drawing_accuracy(kind, mnist.test_images, mnist.test_labels, indices[kind], predictor, args.seed)
        gap = r["accuracy"] - r["ceiling"]
        flag = "" if r["accuracy"] >= TARGET_ACCURACY else "  < target"
        if flag:
            below.append(kind)
        if r["accuracy"] < r["plain"]:
            under_plain.append(kind)
            flag += "  < plain"
        extra = (
            f" {r['then']:>8.2%} {r['then_refused']:>8} {r['changed']:>7}"
            f" {'+' + str(r['gained']) + '/-' + str(r['lost']):>7}"
            if then
            else ""
        )
        print(
            f"{kind:<20} {r['count']:>5} {r['accuracy']:>8.2%} {r['ceiling']:>8.2%} {gap * 100:>+6.2f}p"
            f" {r['plain']:>8.2%} "
            f"{format(drawing, '8.2%') if drawing is not None else '':>8} {r['refused']:>8} {r['plain_refused']:>9} "
            f"{r['p50_ms']:>7.2f}ms {r['cpu_p50_ms']:>7.2f}ms{extra}{flag}",
            flush=True,
        )
        totals["count"] += r["count"]
        for key, value in (
            ("right", r["accuracy"]),
            ("ceiling", r["ceiling"]),
            ("plain", r["plain"]),
            ("then", r.get("then", 0.0)),
        ):
            totals[key] += value * r["count"]
        wrong.extend(r["wrong"])
    if then_folder is not None:
        then_folder.cleanup()
    accuracy, ceiling = totals["right"] / totals["count"], totals["ceiling"] / totals["count"]
    plain = totals["plain"] / totals["count"]
    print(
        f"{'overall':<20} {totals['count']:>5} {accuracy:>8.2%} {ceiling:>8.2%} {(accuracy - ceiling) * 100:>+6.2f}p "
        f"{plain:>8.2%}" + (f"   then {totals['then'] / totals['count']:.2%}" if then else "")
    )
    print(
        f"targets: every kind >= {TARGET_ACCURACY:.1%}: "
        f"{'met' if not below else 'NOT met (' + ', '.join(below) + ')'}; "
        f"overall within {TARGET_GAP * 100:.1f} points of the arrays: "
        f"{'met' if ceiling - accuracy <= TARGET_GAP else 'NOT met'}; "
        f"no kind below the plain pipeline: {'met' if not under_plain else 'NOT met (' + ', '.join(under_plain) + ')'}"
    )
    if args.sheet:
        contact_sheet(wrong, args.sheet)
        print(f"{len(wrong)} misread inputs saved to {args.sheet}")
    if args.timing_repeats > 0:
        t = timing_targets(mnist.test_images, export, args.timing_repeats, args.seed)
        print(f"load average {os.getloadavg()[0]:.1f}; figures are wall p50 / this thread's CPU p50")
        for name, label, target in (
            ("canvas", "preprocessing, 280x280 canvas PNG", CANVAS_TARGET_MS),
            ("canvas decoding", "  of which PNG decoding", None),
            ("canvas Pillow", "  Pillow alone: open, convert to grey", None),
            ("photo", "preprocessing, 12-MP JPEG photo", PHOTO_TARGET_MS),
            ("photo decoding", "  of which JPEG decoding", None),
            ("photo Pillow", "  Pillow alone: open, draft 1/8 grey, load", None),
            ("request", "whole warm request, canvas PNG", REQUEST_TARGET_MS),
        ):
            wall, cpu = t[name]
            goal = ""
            if target:
                verdict = "met" if wall <= target else "met in CPU time only" if cpu <= target else "NOT met"
                goal = f"(target <= {target} ms: {verdict})"
            print(f"{label:<40} {wall:7.2f} ms / {cpu:7.2f} ms  {goal}")
    if args.against:
        try:
            compared = compare_with(args.against, mnist.test_images, max(args.timing_repeats, 10), args.seed)
        except subprocess.CalledProcessError as failure:
            print(f"error: git archive {args.against}: {failure.stderr.decode().strip()}", file=sys.stderr)
            return 2
        print(f"preprocessing at {args.against} and now, interleaved (wall p50 / CPU p50; now/then):")
        for case, label in (("canvas", "280x280 canvas PNG"), ("photo", "12-MP JPEG photo")):
            (then_wall, then_cpu), (now_wall, now_cpu) = compared[case]["then"], compared[case]["now"]
            print(
                f"{label:<20} then {then_wall:7.2f} / {then_cpu:7.2f} ms   now {now_wall:7.2f} / {now_cpu:7.2f} ms"
                f"   now/then {now_wall / then_wall:.2f} / {now_cpu / then_cpu:.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
