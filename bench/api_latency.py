"""API latency: warm requests through the Lambda handler and cold starts, LiteRT and TensorFlow side by side.

    python bench/api_latency.py --export bench/results/cpu-v2
    python bench/api_latency.py --requests 500 --cold-runs 3        # a quicker look
    python bench/api_latency.py --export EXPORT --quick             # seconds: what the test suite runs

Needs an export (a folder with `model.json`, `model.tflite`, `saved_model.tar.gz`); the default is
`ml_model/exports/latest`, which `python -m ml_model train` writes. Exits 2 if there is none.

1. Warm: in a fresh process per runtime (`MODEL_RUNTIME=tflite` / `savedmodel`), the model loaded,
   `api.handler.get_number_prediction(event, None)` answers requests of each kind (test.json's
   784-array body, a 280x280 canvas PNG data URL, a batch of 32 arrays, a TensorFlow Serving
   `instances` body) and the bare predictor answers one-image and 32-image batches: `--requests`
   timed requests per kind, `--heavy-requests` for the kinds that take milliseconds. Kinds take
   turns in blocks of `--block` requests, each block led by one untimed request, so machine drift
   hits every kind alike and LiteRT's tensor reallocation on a batch-size change is not timed; the
   runtimes take turns over `--rounds` processes. Log lines are written (to /dev/null) as on Lambda.
2. Cold: a fresh Python process imports `api.handler` and answers test.json, with `MODEL_URL` the
   export's local path and, separately, `http://127.0.0.1:PORT/...` from the project's model server
   (`ml_model.serve`) on loopback; an empty `MODEL_CACHE_DIR` each time. Timed: interpreter start,
   import, first request (and the model load inside it); plus importing the runtime's library alone.
   Medians of `--cold-runs` processes, the cases interleaved.
3. Lambda bundle: if `.serverless/*.zip` (or `--bundle`) exists, the cold start of the unpacked
   bundle run by a matching CPython with `-I -S -B` (only the bundle and the standard library, no
   bytecode, as on Lambda's read-only /var/task). Not built here: `npx serverless package`.

Figures are milliseconds (warm) and seconds (cold); medians and ratios, since the machine is shared.
"""

from __future__ import annotations

import argparse
import base64
import copy
import glob
import io
import json
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_EXPORT = REPO / "ml_model" / "exports" / "latest"
TEST_EVENT = REPO / "test.json"
RUNTIMES = ("tflite", "savedmodel")
RUNTIME_LIBRARY = {"tflite": "ai_edge_litert.interpreter", "savedmodel": "tensorflow"}
WARM_TARGET_MS = 1.0
COLD_TARGET_S = 1.0
BATCH = 32
CANVAS = 280  # a drawing canvas of 10x MNIST's size...
DRAWN_HEIGHT = 200  # ...with the digit drawn 200 pixels tall, clear of the edges
WARM_UP_PER_KIND = 20
CHILD_TIMEOUT_S = 300

# Request kinds and their labels; handler kinds go through get_number_prediction.
HANDLER_KINDS = {
    "array": "test.json (784-array)",
    "png": f"PNG data URL {CANVAS}x{CANVAS}",
    "batch": f"batch of {BATCH} arrays",
    "instances": "instances (1 row, floats)",
}
PREDICTOR_KINDS = {"predict1": "predictor only, 1 image", f"predict{BATCH}": f"predictor only, {BATCH} images"}
# Kinds that take milliseconds each get `--heavy-requests` timed requests instead of `--requests`.
HEAVY_KINDS = frozenset({"png", "batch", f"predict{BATCH}"})

# A cold process: timestamps (CLOCK_MONOTONIC, shared by all processes on Linux) around the
# handler's import and its first request. argv: root to import `api` from, event file.
COLD_CHILD = """\
import time
started = time.monotonic()
import json, sys
sys.path.insert(0, sys.argv[1])
from api.handler import get_number_prediction, model_store
imported = time.monotonic()
event = json.load(open(sys.argv[2]))
read = time.monotonic()
response = get_number_prediction(event, None)
answered = time.monotonic()
loaded = model_store().loaded
print(json.dumps({"started": started, "imported": imported, "read": read, "answered": answered,
                  "status": response["statusCode"], "body": response["body"],
                  "load": loaded.load_seconds if loaded else None,
                  "tensorflow": "tensorflow" in sys.modules}))
"""

# Importing one runtime library alone, in a fresh process. argv: the module.
LIBRARY_CHILD = """\
import time
started = time.monotonic()
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps({"seconds": time.monotonic() - started}))
"""


# ---------------------------------------------------------------------------------------------
# Requests


def export_folder(path: Path) -> Path | None:
    """The export at `path` as an absolute folder, or None after saying on stderr how to get one."""
    export = path.absolute()
    if (export / "model.json").is_file():
        return export
    print(f"no export at {export}: train one (python -m ml_model train) or pass --export", file=sys.stderr)
    return None


def event_with_body(template: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """test.json's HTTP API event with another JSON body."""
    event = copy.deepcopy(template)
    event["body"] = json.dumps(body, separators=(",", ":"))
    return event


def canvas_png(digit: np.ndarray) -> bytes:
    """The digit drawn dark on an opaque white canvas with a margin, as `canvas.toDataURL()` exports it (RGBA PNG)."""
    from PIL import Image

    rows, cols = np.nonzero(digit)
    ink = Image.fromarray(digit[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].astype(np.uint8))
    scale = DRAWN_HEIGHT / ink.height
    ink = ink.resize((max(1, round(ink.width * scale)), DRAWN_HEIGHT), Image.Resampling.BICUBIC)
    grey = np.full((CANVAS, CANVAS), 255, np.uint8)
    top, left = (CANVAS - ink.height) // 2, (CANVAS - ink.width) // 2
    grey[top : top + ink.height, left : left + ink.width] = 255 - np.asarray(ink)
    rgba = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "PNG")
    return buffer.getvalue()


def make_events(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One event per handler kind, all from test.json's digit (MNIST test image 0)."""
    digit = np.asarray(json.loads(template["body"])["image"], dtype=np.uint8).reshape(28, 28)
    png = "data:image/png;base64," + base64.b64encode(canvas_png(digit)).decode("ascii")
    # Different images per batch slot (shifted copies), so nothing can be shared between them.
    batch = [np.roll(digit, (shift % 7 - 3, shift // 7 % 5 - 2), axis=(0, 1)).tolist() for shift in range(BATCH)]
    # A TensorFlow Serving client sends the model's input shape [28, 28, 1] in [0, 1].
    row = np.round(digit / 255.0, 4)[..., np.newaxis].tolist()
    return {
        "array": template,
        "png": event_with_body(template, {"image": png}),
        "batch": event_with_body(template, {"images": batch}),
        "instances": event_with_body(template, {"instances": [row]}),
    }


# ---------------------------------------------------------------------------------------------
# Warm requests (run in a worker process per runtime)


def time_blocks(calls: dict[str, Callable[[], object]], counts: dict[str, int], block: int) -> dict[str, list[int]]:
    """Nanoseconds of `counts[kind]` calls of each kind, kinds taking turns in blocks led by one untimed call."""
    samples: dict[str, list[int]] = {kind: [] for kind in calls}
    clock = time.perf_counter_ns
    while any(len(samples[kind]) < counts[kind] for kind in calls):
        for kind, call in calls.items():
            done = samples[kind]
            if len(done) >= counts[kind]:
                continue
            call()  # untimed: a batch-size change (LiteRT reallocates its tensors) is paid here
            for _ in range(min(block, counts[kind] - len(done))):
                start = clock()
                call()
                done.append(clock() - start)
    return samples


def first_answer(body: dict[str, Any]) -> int:
    """The digit a 200 body gives its first (or only) image, in any of the three answer forms."""
    if "prediction" in body:
        return int(body["prediction"])
    first = body["predictions"][0]
    return int(first["prediction"]) if isinstance(first, dict) else int(np.argmax(first))


def warm_worker(export: Path, runtime: str, counts: dict[str, int], block: int) -> dict[str, Any]:
    """Load the export on `runtime` through the handler, then time every kind (runs in its own process)."""
    sys.path.insert(0, str(REPO))
    from api import handler
    from api.runtime.model_store import ModelStore
    from api.runtime.settings import Settings

    # As on Lambda: the handler's INFO line per request is formatted and written somewhere.
    logging.getLogger().addHandler(logging.StreamHandler(open(os.devnull, "w")))
    cache = Path(tempfile.mkdtemp(prefix="api-latency-warm-"))
    try:
        environ = {"MODEL_URL": str(export), "MODEL_RUNTIME": runtime, "MODEL_CACHE_DIR": str(cache)}
        handler.use_model_store(ModelStore(Settings.from_env(environ)))
        template = json.loads(TEST_EVENT.read_text())
        events = make_events(template)
        answers: dict[str, int] = {}
        for kind, event in events.items():
            response = handler.get_number_prediction(event, None)
            if response["statusCode"] != 200:
                raise SystemExit(f"{kind}: status {response['statusCode']}: {response['body']}")
            answers[kind] = first_answer(json.loads(response["body"]))
        loaded = handler.model_store().loaded
        assert loaded is not None and loaded.runtime == runtime, loaded

        # The batch read_inputs makes of test.json: float32 [1, 28, 28, 1] in [0, 1].
        pixels = np.asarray(json.loads(template["body"])["image"], np.float32)
        single = (pixels.reshape(1, 28, 28, 1) / 255.0).astype(np.float32)
        many = np.repeat(single, BATCH, axis=0)
        predictor = loaded.predictor
        calls: dict[str, Callable[[], object]] = {
            kind: (lambda event=event: handler.get_number_prediction(event, None)) for kind, event in events.items()
        }
        calls["predict1"] = lambda: predictor.predict(single)
        calls[f"predict{BATCH}"] = lambda: predictor.predict(many)
        for call in calls.values():
            for _ in range(WARM_UP_PER_KIND):
                call()
        samples = time_blocks(calls, counts, block)
        sizes = {kind: len(event["body"]) for kind, event in events.items()}
        return {
            "runtime": runtime,
            "load_seconds": loaded.load_seconds,
            "answers": answers,
            "body_bytes": sizes,
            "samples": samples,
        }
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def run_warm_worker(export: Path, runtime: str, requests: int, heavy_requests: int, block: int) -> dict[str, Any]:
    """`warm_worker` in a fresh interpreter, so one runtime's libraries never share a process with the other's."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--export",
        str(export),
        "--warm-worker",
        runtime,
        "--requests",
        str(requests),
        "--heavy-requests",
        str(heavy_requests),
        "--block",
        str(block),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=child_env(), timeout=CHILD_TIMEOUT_S * 3)
    if done.returncode != 0:
        raise SystemExit(f"warm worker ({runtime}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# Cold starts


@dataclass(frozen=True)
class Cold:
    """One cold process, in seconds."""

    start: float  # spawn → the child's first line ran (interpreter and site start-up)
    imports: float  # `from api.handler import ...`
    first: float  # the first request: read model.json, fetch + verify, load, warm up, answer
    load: float  # of which the model store's load
    total: float  # spawn → the first answer


def child_env(**extra: str) -> dict[str, str]:
    """This environment, quiet TensorFlow, no stray model settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_", "AWS_"))}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def run_cold(command: Sequence[str], env: dict[str, str]) -> Cold:
    """One cold process answering test.json; raises if it does not answer 200."""
    spawned = time.monotonic()
    done = subprocess.run(list(command), capture_output=True, text=True, env=env, timeout=CHILD_TIMEOUT_S)
    if done.returncode != 0:
        raise SystemExit(f"cold run failed: {' '.join(command)}\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if report["status"] != 200:
        raise SystemExit(f"cold run answered {report['status']}: {report['body']}")
    return Cold(
        start=report["started"] - spawned,
        imports=report["imported"] - report["started"],
        first=report["answered"] - report["read"],
        load=report["load"],
        total=report["answered"] - spawned - (report["read"] - report["imported"]),
    )


def run_library_import(module: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", LIBRARY_CHILD, module],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=CHILD_TIMEOUT_S,
        check=True,
    )
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


@contextmanager
def model_server(root: Path) -> Iterator[str]:
    """The project's local model server on a free loopback port, serving `root`; yields its URL."""
    sys.path.insert(0, str(REPO))
    from ml_model.serve import make_server

    server = make_server(root, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def cold_starts(export: Path, runs: int) -> tuple[dict[tuple[str, str], list[Cold]], dict[str, list[float]]]:
    """`runs` cold processes per (runtime, source), interleaved; and the runtime libraries' import alone."""
    results: dict[tuple[str, str], list[Cold]] = {}
    libraries: dict[str, list[float]] = {runtime: [] for runtime in RUNTIMES}
    command = [sys.executable, "-c", COLD_CHILD, str(REPO), str(TEST_EVENT)]
    with model_server(export.parent) as url, tempfile.TemporaryDirectory(prefix="api-latency-cold-") as tmp:
        sources = {"local path": str(export), "http loopback": f"{url}{export.name}/model.json"}
        for run in range(runs):
            for runtime in RUNTIMES:
                for source, model_url in sources.items():
                    cache = Path(tmp) / f"{runtime}-{run}-{source.split()[0]}"  # fresh, empty: created by the API
                    env = child_env(MODEL_URL=model_url, MODEL_RUNTIME=runtime, MODEL_CACHE_DIR=str(cache))
                    results.setdefault((runtime, source), []).append(run_cold(command, env))
                libraries[runtime].append(run_library_import(RUNTIME_LIBRARY[runtime]))
            print(f"  cold round {run + 1}/{runs} done", file=sys.stderr, flush=True)
    return results, libraries


# ---------------------------------------------------------------------------------------------
# The Lambda bundle (only if one was built)


def bundle_python(bundle: zipfile.ZipFile) -> str | None:
    """A CPython of the version the bundle's extension modules were built for, or None."""
    tags = {m.group(1) for name in bundle.namelist() if (m := re.search(r"\.cpython-3(\d+)-", name))}
    if len(tags) != 1:
        return None
    version = f"3.{tags.pop()}"
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}*/bin/python{version}")))
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def bundle_cold_starts(zip_path: Path, export: Path, runs: int) -> tuple[list[Cold], str] | str:
    """Cold starts of the unpacked bundle over loopback HTTP, or why they were skipped."""
    with zipfile.ZipFile(zip_path) as bundle:
        python = bundle_python(bundle)
        if python is None:
            return f"no CPython matching the extension modules in {zip_path.name}"
        with tempfile.TemporaryDirectory(prefix="api-latency-bundle-") as tmp:
            task = Path(tmp) / "task"
            bundle.extractall(task)
            results: list[Cold] = []
            with model_server(export.parent) as url:
                for run in range(runs):
                    env = {
                        "MODEL_URL": f"{url}{export.name}/model.json",
                        "MODEL_CACHE_DIR": str(Path(tmp) / f"cache{run}"),
                        "PATH": "/usr/bin:/bin",
                        "LANG": "C.UTF-8",
                    }
                    command = [python, "-I", "-S", "-B", "-c", COLD_CHILD, str(task), str(TEST_EVENT)]
                    results.append(run_cold(command, env))
    return results, python


# ---------------------------------------------------------------------------------------------
# Report


def report_bundle(path: Path | None, export: Path, runs: int) -> list[Cold] | None:
    """Print the bundle's cold starts (`path`, else a built `.serverless/*.zip`), or why there are none."""
    built = sorted(REPO.glob(".serverless/*.zip"))
    zip_path = path or (built[0] if built else None)
    if zip_path is None or not zip_path.is_file():
        shown = path or "none built (npx serverless package writes .serverless/*.zip)"
        print(f"\nLambda bundle: skipped, {shown}{' does not exist' if path else ''}")
        return None
    outcome = bundle_cold_starts(zip_path, export, runs)
    if isinstance(outcome, str):
        print(f"\nLambda bundle: skipped, {outcome}")
        return None
    colds, python = outcome
    print(f"\nLambda bundle {zip_path.name}, unpacked, {python} -I -S -B, tflite over http loopback, s")
    print(cold_row("bundle, http loopback", colds))
    return colds


def percentiles_ms(samples_ns: Sequence[int]) -> tuple[float, float, float]:
    p50, p90, p99 = np.percentile(np.asarray(samples_ns, dtype=np.float64), [50, 90, 99]) / 1e6
    return float(p50), float(p90), float(p99)


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def report_warm(workers: list[dict[str, Any]]) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Print the warm table; return the percentiles per runtime and kind."""
    merged: dict[str, dict[str, list[int]]] = {runtime: {} for runtime in RUNTIMES}
    for worker in workers:
        for kind, samples in worker["samples"].items():
            merged[worker["runtime"]].setdefault(kind, []).extend(samples)
    stats = {runtime: {kind: percentiles_ms(s) for kind, s in kinds.items()} for runtime, kinds in merged.items()}
    sizes = workers[0]["body_bytes"]
    labels = {**HANDLER_KINDS, **PREDICTOR_KINDS}
    print("\nWarm requests, ms (p50 / p90 / p99 per runtime; N timed requests per row and runtime)")
    print(
        f"{'request':<30}{'body':>7}{'N':>6}  {'tflite p50':>10}{'p90':>7}{'p99':>7}  "
        f"{'savedmodel p50':>14}{'p90':>7}{'p99':>7}  {'p50 savedmodel/tflite':>21}"
    )
    for kind, label in labels.items():
        tfl, sm = stats["tflite"][kind], stats["savedmodel"][kind]
        body = f"{sizes[kind] / 1024:.1f}K" if kind in sizes else "-"
        print(
            f"{label:<30}{body:>7}{len(merged['tflite'][kind]):>6}  {tfl[0]:>10.3f}{tfl[1]:>7.3f}{tfl[2]:>7.3f}  "
            f"{sm[0]:>14.3f}{sm[1]:>7.3f}{sm[2]:>7.3f}  {sm[0] / tfl[0]:>21.1f}"
        )
    for runtime in RUNTIMES:
        handler_p50, predictor_p50 = stats[runtime]["array"][0], stats[runtime]["predict1"][0]
        answers = sorted({a for w in workers if w["runtime"] == runtime for a in w["answers"].values()})
        loads = [w["load_seconds"] for w in workers if w["runtime"] == runtime]
        print(
            f"{runtime}: test.json p50 = predictor {predictor_p50:.3f} + handler overhead "
            f"{handler_p50 - predictor_p50:.3f} ms ({(handler_p50 - predictor_p50) / handler_p50:.0%}); "
            f"digits answered {answers}; in-process model load {statistics.median(loads):.2f} s"
        )
    return stats


def cold_row(label: str, colds: Sequence[Cold]) -> str:
    med = {field: statistics.median(getattr(c, field) for c in colds) for field in Cold.__dataclass_fields__}
    return (
        f"{label:<34}{med['start']:>8.3f}{med['imports']:>9.3f}{med['first']:>9.3f}{med['load']:>9.3f}"
        f"{med['total']:>9.3f}  {min(c.total for c in colds):.3f}-{max(c.total for c in colds):.3f}"
    )


def report_cold(results: dict[tuple[str, str], list[Cold]], libraries: dict[str, list[float]], runs: int) -> None:
    print(f"\nCold start, s (median of {runs} fresh processes, empty model cache each)")
    print(f"{'runtime, MODEL_URL':<34}{'python':>8}{'import':>9}{'1st req':>9}{'(load)':>9}{'total':>9}  total range")
    for (runtime, source), colds in results.items():
        print(cold_row(f"{runtime}, {source}", colds))
    for source in sorted({source for _, source in results}):
        tfl = statistics.median(c.total for c in results[("tflite", source)])
        sm = statistics.median(c.total for c in results[("savedmodel", source)])
        print(f"ratio savedmodel / tflite total, {source}: {sm / tfl:.1f}")
    for runtime, seconds in libraries.items():
        print(
            f"importing {RUNTIME_LIBRARY[runtime]} alone (part of {runtime}'s load): {statistics.median(seconds):.3f} s"
        )


def report_targets(
    stats: dict[str, dict[str, tuple[float, float, float]]], results: dict[tuple[str, str], list[Cold]]
) -> None:
    print(f"\nTargets: warm request < {WARM_TARGET_MS:g} ms at p99; cold start < {COLD_TARGET_S:g} s (median total)")
    for runtime in RUNTIMES:
        for kind, label in HANDLER_KINDS.items():
            p50, _, p99 = stats[runtime][kind]
            per_image = f"  ({p50 / BATCH:.3f} ms per image at p50)" if kind == "batch" else ""
            print(
                f"  warm {runtime:<10} {label:<30} p50 {p50:7.3f}  p99 {p99:7.3f} ms  "
                f"{verdict(p99 < WARM_TARGET_MS)}{per_image}"
            )
    for (runtime, source), colds in results.items():
        total = statistics.median(c.total for c in colds)
        print(f"  cold {runtime:<10} {source:<30} total {total:7.3f} s   {verdict(total < COLD_TARGET_S)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, default=DEFAULT_EXPORT, help="export folder (default: %(default)s)")
    parser.add_argument("--requests", type=int, default=2000, help="timed requests per kind and runtime")
    parser.add_argument(
        "--heavy-requests",
        type=int,
        default=1000,
        help="timed requests for the kinds that take milliseconds (PNG, batches)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="worker processes per runtime, alternating")
    parser.add_argument("--block", type=int, default=100, help="requests of one kind in a row")
    parser.add_argument("--cold-runs", type=int, default=5, help="cold processes per case")
    parser.add_argument("--bundle", type=Path, help="Lambda bundle zip (default: .serverless/*.zip if built)")
    parser.add_argument("--skip-cold", action="store_true", help="warm requests only")
    parser.add_argument("--quick", action="store_true", help="a few requests of everything: checks the bench runs")
    parser.add_argument("--warm-worker", choices=RUNTIMES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.heavy_requests, args.rounds, args.block, args.cold_runs = 10, 4, 1, 5, 1

    export = export_folder(args.export)
    if export is None:
        return 2
    if args.warm_worker:
        kinds = [*HANDLER_KINDS, *PREDICTOR_KINDS]
        counts = {kind: args.heavy_requests if kind in HEAVY_KINDS else args.requests for kind in kinds}
        print(json.dumps(warm_worker(export, args.warm_worker, counts, args.block)))
        return 0

    print(
        f"export {export} ({json.loads((export / 'model.json').read_text())['name']}); "
        f"python {sys.version.split()[0]}; {os.cpu_count()} cpus; load average {os.getloadavg()[0]:.1f} at start"
    )
    requests, heavy_requests = -(-args.requests // args.rounds), -(-args.heavy_requests // args.rounds)
    workers = []
    for round_ in range(args.rounds):
        order = RUNTIMES if round_ % 2 == 0 else RUNTIMES[::-1]
        for runtime in order:
            workers.append(run_warm_worker(export, runtime, requests, heavy_requests, args.block))
        print(f"  warm round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    stats = report_warm(workers)
    if args.skip_cold:
        return 0

    results, libraries = cold_starts(export, args.cold_runs)
    report_cold(results, libraries, args.cold_runs)

    bundle = report_bundle(args.bundle, export, args.cold_runs)
    if bundle:
        results[("bundle", "http loopback")] = bundle
    report_targets(stats, results)
    print(f"load average {os.getloadavg()[0]:.1f} at end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
