"""Digits by writers other than MNIST's: Semeion's Italian writers (`semeion.txt`), split by writer.

MNIST's writers are American; many of the world's write a 1 with a long upstroke, cross their 7s and
leave their 4s open, and a reader trained on MNIST alone reads those badly. Semeion's 1,593 digits come
in six groups of writers (`semeion.txt` says how): groups 1-5 (about 60 writers) are for training, and
group 6 (about 20 writers, 398 digits) is held out for the benchmark's other-writers corpus, so the
reader is measured on people it never saw.

`semeion(part)` gives the digits as the line generator takes them (uint8 16x16, white ink on black);
`as_mnist` lays them out as MNIST's are (28x28, the ink in a 20-pixel box centred on its mass), for
the corpora that expect MNIST's layout. numpy and Pillow only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

SEMEION = Path(__file__).with_name("semeion.txt")
SIDE = 16  # Semeion's digits are 16x16
HELD_OUT_GROUPS = (6,)  # never trained on: the benchmark's other writers
PARTS = ("train", "held_out", "all")


def semeion(part: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Semeion's digits of `part` ("train": groups 1-5, "held_out": group 6, "all"): uint8 [N, 16, 16],
    255 on ink and 0 off it, and their labels int64 [N], in the collection's order."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, not {part!r}")
    groups, labels, rows = [], [], []
    for number, text in enumerate(SEMEION.read_text().splitlines(), 1):
        if not text or text.startswith("#"):
            continue
        fields = text.split()
        if len(fields) != 3 or len(fields[2]) != SIDE * SIDE // 4 or not fields[1].isdigit():
            raise ValueError(f"{SEMEION.name} line {number}: not '<group> <label> <64 hex digits>'")
        groups.append(int(fields[0]))
        labels.append(int(fields[1]))
        rows.append(bytes.fromhex(fields[2]))
    bits = np.unpackbits(np.frombuffer(b"".join(rows), np.uint8)).reshape(-1, SIDE, SIDE)
    held_out = np.isin(np.array(groups), HELD_OUT_GROUPS)
    keep = {"train": ~held_out, "held_out": held_out, "all": np.ones_like(held_out)}[part]
    return (bits[keep] * 255).astype(np.uint8), np.array(labels, np.int64)[keep]


def as_mnist(digits: np.ndarray, labels: np.ndarray, aspects: np.ndarray) -> np.ndarray:
    """The 16x16 digits laid out as MNIST's: uint8 [N, 28, 28], each enlarged smoothly, its ink's width over
    height set to `aspects[label]` (Semeion stretched every digit to a square, so its own is lost), fitted
    in a 20x20 box and centred on its centre of mass."""
    out = np.zeros((len(digits), 28, 28), np.uint8)
    for k, (digit, label) in enumerate(zip(digits, labels)):
        soft = Image.fromarray(digit).resize((4 * SIDE, 4 * SIDE), Image.Resampling.BILINEAR)
        soft = soft.filter(ImageFilter.GaussianBlur(1.8))
        aspect = float(aspects[int(label)])
        width, height = (20, max(1, round(20 / aspect))) if aspect > 1 else (max(1, round(20 * aspect)), 20)
        ink = np.asarray(soft.resize((width, height), Image.Resampling.LANCZOS), np.float32).clip(0, 255)
        total = ink.sum()
        if total == 0:
            continue
        rows, cols = np.indices(ink.shape)
        top = int(round(14 - float((rows * ink).sum() / total)))
        left = int(round(14 - float((cols * ink).sum() / total)))
        top, left = min(max(top, 0), 28 - height), min(max(left, 0), 28 - width)
        out[k, top : top + height, left : left + width] = ink.astype(np.uint8)
    return out
