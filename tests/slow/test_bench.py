"""The benchmarks run end to end in their `--quick` mode, on the trained test export, so they cannot rot.

Nothing here asserts a time: speed figures live in BENCHMARKS.md. What is checked is that each
bench finishes, answers every request right (each exits non-zero otherwise) and prints its tables.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_bench(script: str, export: Path, timeout: int, *options: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_", "AWS_"))}
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), "--export", str(export), "--quick", *options],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.network
def test_api_latency_quick(mnist_export: Path) -> None:
    out = run_bench("api_latency.py", mnist_export, 600)
    assert "Warm requests, ms" in out and "Cold start, s" in out and "Targets:" in out


@pytest.mark.network
@pytest.mark.serverless
def test_serving_quick(mnist_export: Path, serverless: Path) -> None:
    out = run_bench("serving.py", mnist_export, 1500)
    for line in (
        "raw int8 1",
        "handler test.json",
        "handler 256",
        "naive handler test.json",
        "with .pyc (shipped)",
        "without .pyc (before)",
        "cold start median",
        "peak RSS serving",
    ):
        assert line in out, out


def test_batch_arrangements_quick(mnist_export: Path) -> None:
    out = run_bench("batch_arrangements.py", mnist_export, 600)
    for line in (
        "1 interpreter, 2 threads, chunks of 32",
        "2 interpreters x 1 thread, chunks of 64",
        "multiply-adds per image",
        "theoretical FP32 peak",
        "numpy's BLAS",
    ):
        assert line in out, out


@pytest.mark.network
@pytest.mark.serverless
def test_http_load_quick(mnist_export: Path, serverless: Path) -> None:
    out = run_bench("http_load.py", mnist_export, 600)
    assert "80 requests, concurrency 4" in out and ", 0 errors" in out, out


def test_read_images_quick(mnist_export: Path) -> None:
    out = run_bench("read_images.py", mnist_export, 600, "--against", "HEAD")
    for line in (
        "canvas_white",
        "chalkboard",
        "overall",
        "preprocessing, 280x280 canvas PNG",
        "Pillow alone: open, draft 1/8 grey, load",
        "whole warm request, canvas PNG",
        "preprocessing at HEAD and now",
    ):
        assert line in out, out


def test_read_numbers_quick(mnist_export: Path) -> None:
    out = run_bench("read_numbers.py", mnist_export, 600, "--against", "HEAD")
    for line in (
        "canvas_white",
        "chalkboard",
        "touching",
        "overlapping",
        "target separated",
        "target touching",
        "4-digit number, 560x280 canvas PNG",
        "one digit, 280x280 canvas PNG",
        "other writers: ",
        "give the same input bit for bit",
    ):
        assert line in out, out
    same = out.split("single digits at HEAD and now: ")[1].split()
    assert same[0] == same[2], out  # this tree reads every single-digit picture as HEAD does


def test_line_normaliser_against_head() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_", "AWS_"))}
    options = ["--revision", "HEAD", "--lines", "12", "--per-cell", "1", "--rounds", "1"]
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "line_normaliser.py"), *options],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # HEAD is this very tree on a clean checkout: every line must come out the same.
    assert "training lines" in done.stdout and "benchmark numbers" in done.stdout and "now/then" in done.stdout
    assert "the same bit for bit: 12 of 12" in done.stdout
