"""The line normaliser (`api.pictures.line.to_line`) of this tree beside the one at a git revision, in one run.

    python bench/line_normaliser.py --revision 26ac65d [--lines 600] [--per-cell 3] [--rounds 5]

`to_line` makes every picture of a number into the line the reader reads, in the API and in training,
where it runs on every composed line of every epoch. For a change meant to make it cheaper and
nothing else, the same pictures go through both versions:
- the reader's training lines (`ml_model.corpus.lines.LineGenerator` on MNIST's training digits and
  Semeion's training writers, seeded), as `train` composes them;
- the benchmark's numbers (`ml_model.corpus.numbers`: every kind and spacing, `--per-cell` each, decoded
  as the API decodes them).
Printed: how many lines are the same bit for bit (a refusal must be the same refusal), and the time a
line, the median over `--rounds` rounds in which the two versions take turns on every picture (so a busy
machine slows both alike).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from read_images import images_module_at  # noqa: E402 - after the sys.path line above


def training_pictures(count: int, seed: int) -> list[np.ndarray]:
    """`count` composed lines as `train` composes them (MNIST's training digits and Semeion's training writers)."""
    from ml_model.corpus.lines import LineGenerator
    from ml_model.corpus.writers import semeion
    from ml_model.data import load_mnist

    mnist = load_mnist()
    generator = LineGenerator(mnist.train_images, mnist.train_labels, writers=semeion("train"))
    rng = np.random.default_rng(seed)
    return [generator.line(rng).picture for _ in range(count)]


def corpus_pictures(per_cell: int, seed: int) -> list[np.ndarray]:
    """The benchmark's numbers (`numbers.py`, every kind and spacing), decoded as the API decodes them."""
    from api.app.inputs import read_picture
    from api.pictures.images import PixelBudget
    from api.runtime.settings import MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS
    from ml_model.corpus.numbers import KINDS, SPACINGS, number_indices, number_samples
    from ml_model.data import load_mnist

    mnist = load_mnist()
    indices = number_indices(len(mnist.test_labels), per_cell, seed)
    pictures = []
    for kind in KINDS:
        for spacing in SPACINGS:
            for sample in number_samples(
                mnist.test_images, mnist.test_labels, kind, spacing, indices[kind, spacing], seed
            ):
                pictures.append(read_picture(sample.data, PixelBudget(MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS))[0])
    return pictures


def outcome(to_line: Callable, grey: np.ndarray) -> object:
    """The line's image, or the refusal's class and message."""
    try:
        return to_line(grey).image
    except Exception as exc:  # noqa: BLE001 - a refusal must be the same refusal
        return f"{type(exc).__name__}: {exc}"


def same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b))
    return a == b


def ms_per_line(versions: dict[str, Callable], pictures: Sequence[np.ndarray], rounds: int) -> dict[str, float]:
    """Each version's time a line (ms), the median over `rounds` rounds; the versions take turns on every
    picture, each going first on every other one, so a busy machine slows both alike."""
    per_round: dict[str, list[float]] = {name: [] for name in versions}
    for round_ in range(rounds):
        spent = dict.fromkeys(versions, 0)
        for i, grey in enumerate(pictures):
            for name in sorted(versions, reverse=(i + round_) % 2 == 1):
                started = time.perf_counter_ns()
                outcome(versions[name], grey)
                spent[name] += time.perf_counter_ns() - started
        for name in versions:
            per_round[name].append(spent[name] / 1e6 / len(pictures))
    return {name: statistics.median(times) for name, times in per_round.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revision", required=True, help="the git revision to compare with")
    parser.add_argument("--lines", type=int, default=600, help="composed training lines (default: %(default)s)")
    parser.add_argument("--per-cell", type=int, default=3, help="numbers per kind and spacing (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the lines and numbers (default: %(default)s)")
    args = parser.parse_args(argv)

    from api.pictures import line as now

    cases = {
        "training lines": training_pictures(args.lines, args.seed),
        "benchmark numbers": corpus_pictures(args.per_cell, args.seed),
    }
    with tempfile.TemporaryDirectory() as folder:
        images_module_at(args.revision, Path(folder))
        from api_at_revision.pictures import line as then  # the revision's `api`, imported beside this tree's

        versions = {"then": then.to_line, "now": now.to_line}
        for case, pictures in cases.items():
            equal = sum(same(outcome(then.to_line, grey), outcome(now.to_line, grey)) for grey in pictures)
            times = ms_per_line(versions, pictures, args.rounds)
            then_ms, now_ms = times["then"], times["now"]
            print(
                f"{case:<18} {len(pictures):5d} pictures, the same bit for bit: {equal} of {len(pictures)}; "
                f"ms a line (median of {args.rounds} rounds): then {then_ms:.3f}, now {now_ms:.3f}, "
                f"now/then {now_ms / then_ms:.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
