"""How to run a big batch on this machine: chunk sizes, interpreter threads, one or two interpreters, side by side.

    python bench/batch_arrangements.py --export bench/results/seed-quantized
    python bench/batch_arrangements.py --export EXPORT --quick       # seconds: what the test suite runs

One batch of 256 digits (`bench/serving.py`'s) goes through the float32 `.tflite` of the export (the variant the
API serves on this CPU) in each arrangement:

- one interpreter with 1 or 2 threads, fed in chunks of 1, 8, 16, 32, 64 or 256 images;
- two interpreters of one thread each on two Python threads, each taking half the batch in chunks
  (LiteRT releases the GIL while it runs, so the two can use both cores).

Arrangements take turns, `--rounds` times; each figure is the median of its rounds in µs per image,
beside the best one as a ratio. Then the arithmetic: the multiply-adds per image, counted from the
model's own convolution and dense layers, and the GFLOP/s each arrangement sustains against the
CPU's theoretical peak (`--peak-flops-per-cycle` x clock x cores; 32 is an AVX2 core with two 256-bit
FMA units, as on AMD Zen 2/3 and Intel since Haswell).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serving

REPO = serving.REPO
BATCH = serving.BIG_BATCH
CHUNKS = (1, 8, 16, 32, 64, 256)
TARGET_IMAGES_PER_S = serving.TARGET_BATCH_IMAGES_PER_S
SGEMM_SIZE = 2048
SGEMM_CHILD = """\
import sys, time
import numpy as np
n = int(sys.argv[1])
a, b = np.ones((n, n), np.float32), np.ones((n, n), np.float32)
a @ b
best = float("inf")
for _ in range(5):
    started = time.perf_counter()
    a @ b
    best = min(best, time.perf_counter() - started)
print(2 * n**3 / best / 1e9)
"""


def multiply_adds(interpreter: object) -> int:
    """Multiply-adds of one image through the model's CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED ops."""
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}  # type: ignore[attr-defined]
    total = 0
    for op in interpreter._get_ops_details():  # type: ignore[attr-defined]  # the only public view of the graph
        name = op["op_name"]
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        weights = tensors[op["inputs"][1]]["shape"]
        output = tensors[op["outputs"][0]]["shape"]
        if name == "FULLY_CONNECTED":  # weights [units, inputs]
            total += int(weights[0] * weights[1])
        elif name == "CONV_2D":  # weights [out, kh, kw, in]; output [N, h, w, out]
            total += int(np.prod(output[1:]) * weights[1] * weights[2] * weights[3])
        else:  # depthwise: weights [1, kh, kw, out]
            total += int(np.prod(output[1:]) * weights[1] * weights[2])
    return total


def clock_ghz() -> float:
    """The CPU's reported clock (the first core's `cpu MHz` in /proc/cpuinfo), GHz."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("cpu MHz"):
            return float(line.split(":")[1]) / 1000
    return float("nan")


def sgemm_gflops(threads: int) -> float:
    """GFLOP/s of a large float32 matrix product through numpy's BLAS on `threads` threads (a fresh
    process: BLAS reads its thread count at import), best of 5: as close to the CPU's peak as a
    well-tuned kernel gets here."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(
        [sys.executable, "-c", SGEMM_CHILD, str(SGEMM_SIZE)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return float(done.stdout.strip())


def make_interpreter(path: Path, threads: int) -> object:
    sys.path.insert(0, str(REPO))
    from api.runtime.predictor import LiteRTPredictor

    return LiteRTPredictor(path, num_threads=threads)


def chunked(predictor: object, images: np.ndarray, chunk: int) -> Callable[[], None]:
    def run() -> None:
        for start in range(0, len(images), chunk):
            # One pass each: `_run`, not `predict`, which would split a chunk over api.runtime.predictor.CHUNK.
            predictor._run(images[start : start + chunk])  # type: ignore[attr-defined]

    return run


def two_interpreters(left: object, right: object, images: np.ndarray, chunk: int) -> Callable[[], None]:
    half = len(images) // 2
    parts = (chunked(left, images[:half], chunk), chunked(right, images[half:], chunk))

    def run() -> None:
        workers = [threading.Thread(target=part) for part in parts]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    return run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, default=REPO / "ml_model" / "exports" / "latest")
    parser.add_argument("--rounds", type=int, default=15, help="timed batches per arrangement")
    parser.add_argument("--peak-flops-per-cycle", type=float, default=32.0, help="FP32 FLOP per cycle per core")
    parser.add_argument("--quick", action="store_true", help="two rounds: checks the bench runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = 2
    model = args.export / "model.tflite"
    if not model.is_file():
        print(f"no model.tflite in {args.export}: pass --export", file=sys.stderr)
        return 2

    # The serving bench's batch: 256 shifted copies of test.json's digit.
    template = json.loads(serving.api_latency.TEST_EVENT.read_text())
    body = json.loads(serving.big_batch_event(template)["body"])
    images = np.asarray(body["images"], dtype=np.float32)[..., np.newaxis] / 255.0
    cores = len(os.sched_getaffinity(0))
    one, two = make_interpreter(model, 1), make_interpreter(model, 2)
    left, right = make_interpreter(model, 1), make_interpreter(model, 1)
    arrangements: dict[str, Callable[[], None]] = {}
    for chunk in CHUNKS:
        arrangements[f"1 interpreter, 1 thread, chunks of {chunk}"] = chunked(one, images, chunk)
        arrangements[f"1 interpreter, 2 threads, chunks of {chunk}"] = chunked(two, images, chunk)
        if chunk <= BATCH // 2:
            arrangements[f"2 interpreters x 1 thread, chunks of {chunk}"] = two_interpreters(left, right, images, chunk)

    print(f"load average {os.getloadavg()[0]:.1f} at start; {cores} cores; {model}")
    seconds: dict[str, list[float]] = {name: [] for name in arrangements}
    for run in arrangements.values():
        run()  # warm-up; also sizes each interpreter's tensors for this chunk
    for _ in range(args.rounds):
        for name, run in arrangements.items():
            run()  # untimed: a chunk-size change reallocates the interpreter's tensors
            started = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - started)

    macs = multiply_adds(one._interpreter)  # type: ignore[attr-defined]
    flops = 2 * macs
    ghz = clock_ghz()
    peak = args.peak_flops_per_cycle * ghz * cores
    medians = {name: statistics.median(times) for name, times in seconds.items()}
    best = min(medians.values())
    print(f"\n{'arrangement (256 images)':<44}{'us/image':>10}{'images/s':>10}{'GFLOP/s':>9}{'x best':>8}")
    for name, median in medians.items():
        per_image = median / BATCH
        print(
            f"{name:<44}{per_image * 1e6:>10.1f}{1 / per_image:>10,.0f}{flops / per_image / 1e9:>9.1f}"
            f"{median / best:>8.2f}"
        )
    print(f"\nmodel: {macs:,} multiply-adds per image = {flops / 1e6:.1f} MFLOP")
    print(f"{TARGET_IMAGES_PER_S:,} images/s needs {TARGET_IMAGES_PER_S * flops / 1e9:.0f} GFLOP/s sustained")
    print(
        f"theoretical FP32 peak at the reported clock: {args.peak_flops_per_cycle:.0f} FLOP/cycle"
        f" x {ghz:.2f} GHz x {cores} cores "
        f"= {peak:.0f} GFLOP/s ({args.peak_flops_per_cycle * ghz:.0f} per core)"
    )
    print(
        f"best measured: {flops * BATCH / best / 1e9:.1f} GFLOP/s"
        f" ({flops * BATCH / best / 1e9 / peak:.0%} of that peak)"
    )
    for threads in (1, cores):
        print(
            f"practical ceiling, numpy's BLAS float32 matrix product {SGEMM_SIZE}x{SGEMM_SIZE} on {threads} "
            f"thread(s): {sgemm_gflops(threads):.0f} GFLOP/s"
        )
    print(f"load average {os.getloadavg()[0]:.1f} at end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
