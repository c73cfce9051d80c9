"""Serving at the limit, side by side in one run: raw LiteRT, our handler, a naive Keras one; the bundle's cold start.

    python bench/serving.py --export ml_model/exports/latest
    python bench/serving.py --export EXPORT --quick          # seconds: what the test suite runs

The export should carry its quantised variants (`python -m ml_model quantize EXPORT --out DIR` adds
them to an older one). Exits 2 without an export. Five parts, each a fresh process:

1. Warm, ours (LiteRT only, no TensorFlow in the process): the raw forward pass of each `.tflite`
   variant (one image, one thread; and 256 images on the default threads), then
   `api.handler.get_number_prediction` with the default settings (MODEL_PRECISION=auto, MODEL_THREADS
   from the machine) on test.json and on a batch of 256 arrays, and the raw forward pass of the model
   it actually serves. Kinds take turns in blocks (`api_latency.time_blocks`). Peak RSS of the process.
2. Warm, naive: a handler that parses the body with `json` + numpy and calls `keras.Model.predict`
   on the same SavedModel (a `TFSMLayer` in a `keras.Sequential`), as a first attempt would.
3. Accuracy of the served variant on the MNIST test set, beside float32's (`ml_model.evaluate`).
4. Cold start of the real bundle: `serverless package` builds the zip (bytecode included), it is
   unpacked into a read-only folder and run by CPython 3.12 with `-I -S -B`, answering test.json
   from the export's local path; beside it the same folder without its `.pyc` files (what the zip
   held before). Medians of `--cold-runs`, interleaved. Unzipped size.
5. Targets, each with its verdict.

Figures are medians (ms, s) and ratios; the machine is shared, so p99s carry other processes' bursts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api_latency

REPO = api_latency.REPO
BIG_BATCH = 256
PRECISIONS = ("float32", "float16", "int8")
TARGET_WARM_P50_MS = 0.30
TARGET_RAW_RATIO = 1.5
TARGET_NAIVE_RATIO = 100.0
TARGET_BATCH_IMAGES_PER_S = 10_000
TARGET_COLD_S = 0.30
TARGET_RSS_MB = 150
TARGET_BUNDLE_MB = 150
TARGET_ACCURACY_DROP = 0.001

# One cold Lambda-like process: import the handler, answer test.json, report times and peak RSS.
COLD_CHILD = """\
import time
started = time.monotonic()
import json, sys
sys.path.insert(0, sys.argv[1])
from api.handler import get_number_prediction
imported = time.monotonic()
response = get_number_prediction(json.load(open(sys.argv[2])), None)
answered = time.monotonic()
print(json.dumps({"imports": imported - started, "total": answered - started, "status": response["statusCode"],
                  "rss_mb": int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024}))
"""


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; unlike ru_maxrss it does not count the parent's
    memory before exec, which a child forked from a process holding TensorFlow would inherit)."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def big_batch_event(template: dict[str, Any]) -> dict[str, Any]:
    """256 different MNIST-like arrays (shifted copies of test.json's digit) in one `images` body."""
    digit = np.asarray(json.loads(template["body"])["image"], dtype=np.uint8).reshape(28, 28)
    images = [np.roll(digit, (i % 7 - 3, i // 7 % 5 - 2), axis=(0, 1)).tolist() for i in range(BIG_BATCH)]
    return api_latency.event_with_body(template, {"images": images})


def ours_worker(export: Path, counts: dict[str, int]) -> dict[str, Any]:
    """Raw variants and the handler with default settings, in this process (no TensorFlow)."""
    sys.path.insert(0, str(REPO))
    from api import handler
    from api.runtime.manifest import MANIFEST_NAME, parse_manifest
    from api.runtime.predictor import LiteRTPredictor
    from api.runtime.settings import Settings

    cache = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    try:
        os.environ.update(MODEL_URL=str(export), MODEL_CACHE_DIR=str(cache))  # the rest at their defaults
        settings = Settings.from_env()
        handler.use_model_store(None)
        template = json.loads(api_latency.TEST_EVENT.read_text())
        batch_event = big_batch_event(template)
        first = handler.get_number_prediction(template, None)
        assert first["statusCode"] == 200, first["body"]
        assert handler.get_number_prediction(batch_event, None)["statusCode"] == 200
        model = handler.model_store().loaded
        assert model is not None
        serving_rss = peak_rss_mb()  # the handler's model and a 256-image batch, before the bench's own interpreters

        manifest = parse_manifest((export / MANIFEST_NAME).read_bytes())
        single = np.asarray(json.loads(template["body"])["image"], np.float32).reshape(1, 28, 28, 1) / 255.0
        many = np.asarray(json.loads(batch_event["body"])["images"], np.float32)[..., None] / 255.0
        calls: dict[str, Callable[[], object]] = {}
        for precision in manifest.variants:
            path = export / manifest.artifact(manifest.variants[precision].artifact).path
            one, threaded = LiteRTPredictor(path, num_threads=1), LiteRTPredictor(path, num_threads=settings.threads)
            calls[f"raw {precision} 1"] = lambda p=one: p.predict(single)
            calls[f"raw {precision} {BIG_BATCH}"] = lambda p=threaded: p.predict(many)  # in passes of CHUNK
            if precision == "float32":  # beside it, the whole batch in one pass (what `predict` did before)
                calls[f"raw {precision} one pass {BIG_BATCH}"] = lambda p=threaded: p._run(many)
        calls["served raw 1"] = lambda: model.predictor.predict(single)
        calls["handler test.json"] = lambda: handler.get_number_prediction(template, None)
        calls[f"handler {BIG_BATCH}"] = lambda: handler.get_number_prediction(batch_event, None)
        for call in calls.values():
            for _ in range(api_latency.WARM_UP_PER_KIND):
                call()
        heavy = {kind: counts["heavy"] if kind.endswith(str(BIG_BATCH)) else counts["light"] for kind in calls}
        samples = api_latency.time_blocks(calls, heavy, counts["block"])
        answer = json.loads(handler.get_number_prediction(batch_event, None)["body"])
        return {
            "samples": samples,
            "precision": model.info["precision"],
            "threads": settings.threads,
            "batch_ok": len(answer["predictions"]) == BIG_BATCH,
            "rss_mb": serving_rss,
            "bench_rss_mb": peak_rss_mb(),
            "variants": {
                p: {"accuracy": v.accuracy, "msPerImage": v.ms_per_image} for p, v in manifest.variants.items()
            },
        }
    finally:
        handler.use_model_store(None)
        shutil.rmtree(cache, ignore_errors=True)


def naive_worker(export: Path, counts: dict[str, int]) -> dict[str, Any]:
    """A first-attempt handler: json + numpy in, `keras.Model.predict` on the SavedModel, json out."""
    import keras

    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.TFSMLayer(str(export / "saved_model"), call_endpoint="serving_default")]
    )

    def naive_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        pixels = np.asarray(json.loads(event["body"])["image"], dtype=np.float32).reshape(1, 28, 28, 1) / 255.0
        output = model.predict(pixels, verbose=0)
        probabilities = np.asarray(next(iter(output.values())) if isinstance(output, dict) else output)[0]
        body = {"prediction": int(probabilities.argmax()), "probabilities": probabilities.tolist()}
        return {"statusCode": 200, "body": json.dumps(body)}

    template = json.loads(api_latency.TEST_EVENT.read_text())
    answer = json.loads(naive_handler(template, None)["body"])["prediction"]
    calls = {"naive handler test.json": lambda: naive_handler(template, None)}
    for _ in range(5):
        calls["naive handler test.json"]()
    samples = api_latency.time_blocks(calls, {"naive handler test.json": counts["naive"]}, counts["block"])
    return {"samples": samples, "answer": answer}


def run_worker(kind: str, export: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--export",
        str(export),
        "--worker",
        kind,
        "--requests",
        str(args.requests),
        "--heavy-requests",
        str(args.heavy_requests),
        "--naive-requests",
        str(args.naive_requests),
        "--block",
        str(args.block),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, env=api_latency.child_env(), timeout=api_latency.CHILD_TIMEOUT_S * 3
    )
    if done.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# Cold start of the real package


def build_package(out: Path) -> Path:
    """`serverless package` into `out`, for CPython 3.12 (the Lambda's), bytecode included; the zip."""
    serverless = REPO / "node_modules" / ".bin" / "serverless"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MODEL_"))}
    env.update(
        MODEL_URL="unused-for-packaging",
        MODEL_BUCKET_NAME="unused-for-packaging",
        SLS_TELEMETRY_DISABLED="1",
        SLS_NOTIFICATIONS_MODE="off",
        LAMBDA_PYTHON_VERSION="3.12",
    )
    done = subprocess.run(
        [str(serverless), "package", "--package", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise SystemExit(f"serverless package failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return out / "number-prediction.zip"


def read_only_copy(source: Path, target: Path, *, keep_bytecode: bool) -> Path:
    shutil.copytree(source, target, ignore=None if keep_bytecode else shutil.ignore_patterns("__pycache__"))
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    return target


def make_writable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)


def cold_starts(zip_path: Path, export: Path, runs: int) -> dict[str, Any]:
    """Medians of `runs` cold processes per folder (with and without bytecode), interleaved."""
    with zipfile.ZipFile(zip_path) as bundle:
        python = api_latency.bundle_python(bundle)
        unzipped = sum(info.file_size for info in bundle.infolist())
        pyc = sum(info.file_size for info in bundle.infolist() if info.filename.endswith(".pyc"))
        if python is None:
            raise SystemExit(f"no CPython matching the extension modules in {zip_path}")
        with tempfile.TemporaryDirectory(prefix="bench-serving-cold-") as tmp:
            unpacked = Path(tmp) / "unpacked"
            bundle.extractall(unpacked)
            folders = {
                "with .pyc (shipped)": read_only_copy(unpacked, Path(tmp) / "task", keep_bytecode=True),
                "without .pyc (before)": read_only_copy(unpacked, Path(tmp) / "task-src", keep_bytecode=False),
            }
            results: dict[str, list[dict[str, float]]] = {label: [] for label in folders}
            try:
                for run in range(runs):
                    for label, folder in folders.items():
                        env = {
                            "MODEL_URL": str(export),
                            "MODEL_CACHE_DIR": str(Path(tmp) / f"cache-{run}-{len(label)}"),
                            "PATH": "/usr/bin:/bin",
                            "LANG": "C.UTF-8",
                        }
                        done = subprocess.run(
                            [python, "-I", "-S", "-B", "-c", COLD_CHILD, str(folder), str(api_latency.TEST_EVENT)],
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=api_latency.CHILD_TIMEOUT_S,
                        )
                        report = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None
                        if report is None or report["status"] != 200:
                            raise SystemExit(f"cold run failed ({label}):\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
                        results[label].append(report)
            finally:
                for folder in folders.values():
                    make_writable(folder)
    return {
        "python": python,
        "unzipped_mb": unzipped / 2**20,
        "pyc_mb": pyc / 2**20,
        "zip_mb": zip_path.stat().st_size / 2**20,
        "runs": results,
    }


# ---------------------------------------------------------------------------------------------
# Report


def p50(samples: Sequence[int]) -> float:
    return api_latency.percentiles_ms(samples)[0]


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def report(
    ours: dict[str, Any], naive: dict[str, Any], accuracy: dict[str, float], cold: dict[str, Any] | None
) -> None:
    samples = {**ours["samples"], **naive["samples"]}
    print(
        f"\nWarm, ms (p50 / p90 / p99, N timed calls); MODEL_THREADS default here: {ours['threads']}; "
        f"MODEL_PRECISION=auto serves {ours['precision']}"
    )
    print(f"{'what':<34}{'N':>6}{'p50':>9}{'p90':>9}{'p99':>9}{'images/s at p50':>17}")
    for kind, times in samples.items():
        q50, q90, q99 = api_latency.percentiles_ms(times)
        images = BIG_BATCH if kind.endswith(str(BIG_BATCH)) else 1
        print(f"{kind:<34}{len(times):>6}{q50:>9.3f}{q90:>9.3f}{q99:>9.3f}{images / q50 * 1000:>17,.0f}")
    print(
        f"peak RSS: serving (handler, its model, a {BIG_BATCH}-image batch) {ours['rss_mb']:.0f} MB; "
        f"the whole bench process, with {len(PRECISIONS) * 2} more interpreters, {ours['bench_rss_mb']:.0f} MB"
    )
    print(
        "\nTest accuracy (10,000 MNIST test images, LiteRT): " + ", ".join(f"{p} {a:.4f}" for p, a in accuracy.items())
    )
    handler_p50, raw_p50 = p50(samples["handler test.json"]), p50(samples["served raw 1"])
    naive_p50 = p50(samples["naive handler test.json"])
    batch_rate = BIG_BATCH / p50(samples[f"handler {BIG_BATCH}"]) * 1000
    drop = accuracy["float32"] - accuracy[ours["precision"]]
    print(
        f"\nRatios: handler / raw forward pass of the served model {handler_p50 / raw_p50:.2f}; "
        f"naive / ours {naive_p50 / handler_p50:.0f}x; handler overhead {handler_p50 - raw_p50:.3f} ms"
    )
    rows = [
        (f"warm test.json p50 <= {TARGET_WARM_P50_MS} ms", f"{handler_p50:.3f} ms", handler_p50 <= TARGET_WARM_P50_MS),
        (
            f"  and <= {TARGET_RAW_RATIO}x the raw forward pass",
            f"{handler_p50 / raw_p50:.2f}x",
            handler_p50 <= TARGET_RAW_RATIO * raw_p50,
        ),
        (
            f"  and >= {TARGET_NAIVE_RATIO:.0f}x faster than naive Keras",
            f"{naive_p50 / handler_p50:.0f}x",
            naive_p50 >= TARGET_NAIVE_RATIO * handler_p50,
        ),
        (
            f"batch of {BIG_BATCH} >= {TARGET_BATCH_IMAGES_PER_S:,} images/s",
            f"{batch_rate:,.0f}/s",
            batch_rate >= TARGET_BATCH_IMAGES_PER_S,
        ),
        (f"peak RSS serving <= {TARGET_RSS_MB} MB", f"{ours['rss_mb']:.0f} MB", ours["rss_mb"] <= TARGET_RSS_MB),
        ("served accuracy >= float32 - 0.1 points", f"{drop * 100:+.2f} points", drop <= TARGET_ACCURACY_DROP + 1e-12),
    ]
    if cold is not None:
        print(
            f"\nCold start of the real `serverless package` zip, unpacked read-only, {cold['python']} -I -S -B, "
            f"median of {len(next(iter(cold['runs'].values())))} (s); zip {cold['zip_mb']:.1f} MB, "
            f"unzipped {cold['unzipped_mb']:.1f} MB of which .pyc {cold['pyc_mb']:.1f} MB"
        )
        print(f"{'bundle':<24}{'import':>9}{'total':>9}{'range':>15}{'peak RSS MB':>13}")
        medians = {}
        for label, runs in cold["runs"].items():
            totals = [r["total"] for r in runs]
            medians[label] = statistics.median(totals)
            print(
                f"{label:<24}{statistics.median(r['imports'] for r in runs):>9.3f}{medians[label]:>9.3f}"
                f"{min(totals):>8.3f}-{max(totals):.3f}{statistics.median(r['rss_mb'] for r in runs):>13.0f}"
            )
        shipped, before = medians["with .pyc (shipped)"], medians["without .pyc (before)"]
        print(f"ratio without / with bytecode: {before / shipped:.2f}")
        rows += [
            (f"cold start median <= {TARGET_COLD_S} s", f"{shipped:.3f} s", shipped <= TARGET_COLD_S),
            (
                f"bundle <= {TARGET_BUNDLE_MB} MB unzipped",
                f"{cold['unzipped_mb']:.1f} MB",
                cold["unzipped_mb"] <= TARGET_BUNDLE_MB,
            ),
        ]
    print("\nTargets")
    for label, value, ok in rows:
        print(f"  {label:<46}{value:>16}  {verdict(ok)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, default=api_latency.DEFAULT_EXPORT, help="export folder")
    parser.add_argument("--requests", type=int, default=3000, help="timed calls per single-image kind")
    parser.add_argument("--heavy-requests", type=int, default=300, help=f"timed calls per {BIG_BATCH}-image kind")
    parser.add_argument("--naive-requests", type=int, default=300, help="timed calls of the naive handler")
    parser.add_argument("--block", type=int, default=50, help="calls of one kind in a row")
    parser.add_argument("--cold-runs", type=int, default=9, help="cold processes per bundle folder")
    parser.add_argument("--bundle", type=Path, help="use this `serverless package` zip instead of building one")
    parser.add_argument("--quick", action="store_true", help="a few calls of everything: checks the bench runs")
    parser.add_argument("--worker", choices=("ours", "naive"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.heavy_requests, args.naive_requests, args.block, args.cold_runs = 20, 4, 5, 5, 1

    export = api_latency.export_folder(args.export)
    if export is None:
        return 2
    counts = {"light": args.requests, "heavy": args.heavy_requests, "naive": args.naive_requests, "block": args.block}
    if args.worker == "ours":
        print(json.dumps(ours_worker(export, counts)))
        return 0
    if args.worker == "naive":
        print(json.dumps(naive_worker(export, counts)))
        return 0

    print(
        f"export {export}; python {sys.version.split()[0]}; {os.cpu_count()} cpus; "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    ours = run_worker("ours", export, args)
    naive = run_worker("naive", export, args)
    if not ours["batch_ok"]:
        raise SystemExit(f"the handler did not answer all {BIG_BATCH} images")

    sys.path.insert(0, str(REPO))
    from ml_model.evaluate import evaluate_export

    accuracy = {r["precision"]: float(r["accuracy"]) for r in evaluate_export(export, runtime="tflite")}
    with tempfile.TemporaryDirectory(prefix="bench-serving-package-") as tmp:
        zip_path = args.bundle or build_package(Path(tmp) / "package")
        cold = cold_starts(zip_path, export, args.cold_runs)
    report(ours, naive, accuracy, cold)
    print(f"load average {os.getloadavg()[0]:.1f} at end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
