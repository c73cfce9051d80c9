"""End-to-end HTTP load through `serverless offline` on loopback: a fixed number of mixed requests, then it stops.

    python bench/http_load.py --export ml_model/exports/latest                  # 5,000 requests, 8 at a time
    python bench/http_load.py --export EXPORT --quick                          # 80 requests: what the suite runs

Starts the real Serverless CLI (`serverless offline`, as `npm run offline` does) on free loopback
ports with `MODEL_URL` the export's local path, sends one untimed request of each kind, then
`--requests` requests from `--concurrency` client threads, each on its own keep-alive connection.
The mix, by weight: test.json's 784-array body (60 %), a 280x280 canvas PNG sent raw as
`application/octet-stream` (15 %), a batch of 32 arrays (15 %), `GET /model` (10 %). Every answer
must be a 200 naming the right digit; anything else counts as an error and makes the exit code 1.
Prints requests/s and p50/p99 per kind and overall.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api_latency

REPO = api_latency.REPO
sys.path.insert(0, str(REPO))
from tests.support.loopback import free_port  # noqa: E402 - after the sys.path line above
from tests.support.serverless_support import SERVERLESS, Offline  # noqa: E402 - after the sys.path line above

MIX = {"array": 60, "png": 15, "batch": 15, "model": 10}
READY_TIMEOUT_S = 180
REQUEST_TIMEOUT_S = 60


def requests_of(template: dict[str, Any]) -> dict[str, tuple[str, str, bytes, str]]:
    """method, path, body and content type per kind, from the in-process bench's events."""
    events = api_latency.make_events(template)
    png = base64.b64decode(json.loads(events["png"]["body"])["image"].split(",", 1)[1])
    return {
        "array": ("POST", "/predict", template["body"].encode(), "application/json"),
        "png": ("POST", "/predict", png, "application/octet-stream"),
        "batch": ("POST", "/predict", events["batch"]["body"].encode(), "application/json"),
        "model": ("GET", "/model", b"", "application/json"),
    }


class Client:
    """One keep-alive connection per thread."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.local = threading.local()

    def send(self, method: str, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = self.local.connection = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S
            )
        try:
            connection.request(method, path, body=body or None, headers={"Content-Type": content_type})
            response = connection.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            self.local.connection = None
            raise


def check(kind: str, status: int, body: bytes, digit: int) -> str | None:
    """None if the answer is right, else what is wrong with it."""
    if status != 200:
        return f"{kind}: status {status}: {body[:200]!r}"
    answer = json.loads(body)
    if kind == "model":
        # A fresh instance (serverless offline starts one per concurrent request, as Lambda does) has
        # not loaded the model before its first prediction: `loaded` is then rightly false.
        model = answer["model"]
        return None if model.get("version") and isinstance(model.get("loaded"), bool) else f"model: {model}"
    got = api_latency.first_answer(answer)
    return None if got == digit else f"{kind}: answered {got}, not {digit}"


def run(export: Path, total: int, concurrency: int, seed: int) -> int:
    template = json.loads(api_latency.TEST_EVENT.read_text())
    kinds = requests_of(template)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MODEL_"))}
    env.update(
        MODEL_URL=str(export),
        MODEL_CACHE_DIR=str(Path(os.environ.get("TMPDIR", "/tmp")) / f"http-load-{os.getpid()}"),
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        SLS_TELEMETRY_DISABLED="1",
        SLS_NOTIFICATIONS_MODE="off",
    )
    if not SERVERLESS.exists():
        print(f"{SERVERLESS} is missing: run npm ci", file=sys.stderr)
        return 2
    offline = Offline(SERVERLESS, env, free_port(), free_port())
    try:
        offline.wait_ready(READY_TIMEOUT_S)
        client = Client(offline.port)
        # The first request loads the model; its digit is the one every later answer must name.
        status, body = client.send(*kinds["array"])
        if status != 200:
            raise SystemExit(f"first request: status {status}: {body[:300]!r}\n{''.join(offline.output)[-3000:]}")
        digit = api_latency.first_answer(json.loads(body))
        for kind, request in kinds.items():
            status, body = client.send(*request)
            problem = check(kind, status, body, digit)
            if problem:
                raise SystemExit(f"warm-up failed: {problem}\n{''.join(offline.output)[-3000:]}")
        rng = random.Random(seed)
        plan = rng.choices(list(MIX), weights=list(MIX.values()), k=total)
        times: dict[str, list[float]] = {kind: [] for kind in MIX}
        errors: list[str] = []
        lock = threading.Lock()

        def one(kind: str) -> None:
            start = time.perf_counter()
            try:
                status, body = client.send(*kinds[kind])
                problem = check(kind, status, body, digit)
            except (OSError, http.client.HTTPException) as exc:
                problem = f"{kind}: {type(exc).__name__}: {exc}"
            elapsed = time.perf_counter() - start
            with lock:
                times[kind].append(elapsed)
                if problem:
                    errors.append(problem)

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(one, plan))
        wall = time.perf_counter() - started
    finally:
        offline.stop()

    every = [t for samples in times.values() for t in samples]
    print(
        f"serverless offline, {total} requests, concurrency {concurrency}, {wall:.1f} s: "
        f"{total / wall:.1f} requests/s, {len(errors)} errors"
    )
    print(f"{'kind':<8}{'share':>7}{'N':>7}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}")
    for kind, samples in [*times.items(), ("all", every)]:
        if not samples:
            continue
        p50, p90, p99 = np.percentile(np.asarray(samples) * 1000, [50, 90, 99])
        share = f"{len(samples) / total:.0%}"
        print(f"{kind:<8}{share:>7}{len(samples):>7}{p50:>9.1f}{p90:>9.1f}{p99:>9.1f}")
    if errors:
        print("errors (first 5):", *errors[:5], sep="\n  ")
        return 1
    print(f"median of all {statistics.median(every) * 1000:.1f} ms; load average {os.getloadavg()[0]:.1f} at end")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, default=api_latency.DEFAULT_EXPORT, help="export folder")
    parser.add_argument("--requests", type=int, default=5000, help="requests in all (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the request mix")
    parser.add_argument("--quick", action="store_true", help="80 requests, 4 at a time: checks the bench runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.concurrency = 80, 4
    export = api_latency.export_folder(args.export)
    if export is None:
        return 2
    print(f"export {export}; {os.cpu_count()} cpus; load average {os.getloadavg()[0]:.1f} at start")
    return run(export, args.requests, args.concurrency, args.seed)


if __name__ == "__main__":
    raise SystemExit(main())
