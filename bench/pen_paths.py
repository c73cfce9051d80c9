"""How faithful the pen paths are: digits re-drawn along their traced paths, against the digits themselves.

    python bench/pen_paths.py --export ml_model/exports/latest --digits 600

The pen-path kinds of `ml_model/corpus/digits.py` re-draw each MNIST test digit along the centre lines
`ml_model/corpus/pen_trace.py` traces, with an even-width round pen. Here the same digits are read by the
export three ways, all the plain way (`read_images.drawing_input`: crop, area-reduce into 20x20,
centre; no API preprocessing): as the arrays themselves (the ceiling); re-drawn with a pen of each
digit's *own* mean stroke width; and re-drawn with pens of fixed widths (pixels in MNIST's 20x20
box). With each digit's own width, the gap to the arrays is what the tracer loses (a path that does
not follow the digit); with fixed widths, what the pen's width costs. Neither is anything
preprocessing in the API could undo. Beside each accuracy, without the model: how much of the
digit the re-drawing reproduces, as the overlap of their inks (intersection over union of the
pixels over half ink) and the mean absolute difference of the two 28x28 images.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

from read_images import DEFAULT_EXPORT, drawing_input  # noqa: E402 - after the sys.path line above

from ml_model.corpus.pen_trace import FRAME, draw_strokes, stroke_width, trace  # noqa: E402 - after the sys.path line above

HEIGHT = 200  # the drawn digit's height in pixels (a 280x280 canvas's digit), MNIST's 20-pixel box scaled to it


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, default=DEFAULT_EXPORT, help="export folder (default: %(default)s)")
    parser.add_argument("--digits", type=int, default=600, help="first N MNIST test digits (default: %(default)s)")
    parser.add_argument(
        "--widths",
        type=float,
        nargs="+",
        default=[0.6, 1.2, 1.9, 2.5, 3.0, 4.0, 4.8],
        help="fixed pen widths, pixels of the 20x20 box",
    )
    args = parser.parse_args(argv)
    if not (args.export / "model.json").is_file():
        print(f"no export at {args.export}: pass --export", file=sys.stderr)
        return 2
    from api.runtime.predictor import open_export
    from ml_model.data import load_mnist

    mnist = load_mnist()
    predictor = open_export(args.export.absolute(), "tflite")
    digits, labels = mnist.test_images[: args.digits], mnist.test_labels[: args.digits]

    originals = digits.astype(np.float32) / 255.0

    def scores(inputs: list[np.ndarray]) -> str:
        """Accuracy, ink overlap with the digit, mean absolute difference from it."""
        stacked = np.stack(inputs)
        accuracy = float((predictor.predict(stacked[..., np.newaxis]).argmax(axis=1) == labels).mean())
        drawn, ink = stacked > 0.5, originals > 0.5
        overlap = ((drawn & ink).sum(axis=(1, 2)) / np.maximum(1, (drawn | ink).sum(axis=(1, 2)))).mean()
        return f"{accuracy:>9.2%} {overlap:>8.3f} {np.abs(stacked - originals).mean():>9.4f}"

    paths = [trace(d) for d in digits]  # once: only the pen changes below
    widths = [stroke_width(d) for d in digits]

    def redrawn(pens: list[float]) -> str:
        return scores(
            [
                drawing_input(draw_strokes(strokes, 280, 280, HEIGHT * FRAME / 20, pen * HEIGHT / 20))
                for strokes, pen in zip(paths, pens)
            ]
        )

    print(
        f"{args.digits} MNIST test digits; their own stroke width (20x20 box): median {np.median(widths):.2f}, "
        f"10th-90th percentiles {np.percentile(widths, 10):.2f}-{np.percentile(widths, 90):.2f}"
    )
    print(f"{'read as':<36} {'accuracy':>9} {'ink IoU':>8} {'mean|diff|':>9}")
    print(f"{'arrays (the ceiling)':<36} {scores(list(originals))}")
    print(f"{'pen path, each digit its own width':<36} {redrawn(widths)}")
    for width in args.widths:
        print(f"{f'pen path, width {width:g} px':<36} {redrawn([width] * len(digits))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
