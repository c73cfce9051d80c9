"""Digit collections the line generator draws from: images, labels, each digit's ink box, indices by label."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFilter

from ml_model.corpus.pen_trace import trace

CROP_LEVEL = 50  # a source digit's ink, for cropping it (of 255)


@dataclass
class DigitSource:
    """Digits of one collection: the uint8 images, labels, ink boxes, indices by label, aspect override."""

    digits: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray  # [N, 4] rows y0, y1, x0, x1 of the ink (> CROP_LEVEL)
    by_label: list[np.ndarray]
    stretched: np.ndarray  # bool [N]: the digit fills its frame both ways (scaled to a square): width unknown
    traced: dict[int, list] = field(default_factory=dict)  # pen paths of digits traced so far, by index

    def pen_paths(self, index: int) -> list:
        """The pen paths of digit `index` (`pen_trace.trace`), traced once (about 7 ms) and kept."""
        if index not in self.traced:
            self.traced[index] = trace(self.digits[index])
        return self.traced[index]


def ink_boxes(digits: np.ndarray) -> np.ndarray:
    """Per digit the rows y0, y1 and columns x0, x1 (exclusive ends) of its ink; all zero for an empty one."""
    mask = digits > CROP_LEVEL
    rows, cols = mask.any(axis=2), mask.any(axis=1)
    side_h, side_w = digits.shape[1:]
    y0, x0 = rows.argmax(axis=1), cols.argmax(axis=1)
    y1, x1 = side_h - rows[:, ::-1].argmax(axis=1), side_w - cols[:, ::-1].argmax(axis=1)
    empty = ~rows.any(axis=1)
    boxes = np.stack([y0, y1, x0, x1], axis=1)
    boxes[empty] = 0
    return boxes


def digit_source(digits: np.ndarray, labels: np.ndarray) -> DigitSource:
    """The collection checked (uint8 [N, h, w] white on black, labels 0-9), small binary digits smoothed."""
    digits = np.asarray(digits)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if digits.ndim != 3 or digits.shape[0] != labels.shape[0] or digits.shape[0] == 0:
        raise ValueError(f"digits must be [N, h, w] with N labels, not {digits.shape} and {labels.shape}")
    if digits.dtype != np.uint8:
        digits = np.clip(digits, 0, 255).astype(np.uint8)
    if np.any((labels < 0) | (labels > 9)):
        raise ValueError("labels must be digits 0-9")
    side = min(digits.shape[1:])
    if side < 24:  # small binary digits (Semeion's 16x16): enlarge and soften once, so they scale smoothly
        size = int(np.ceil(28 / side)) * side
        digits = np.stack(
            [
                np.asarray(
                    Image.fromarray(d)
                    .resize((size, size), Image.Resampling.BILINEAR)
                    .filter(ImageFilter.GaussianBlur(size / side * 0.45))
                )
                for d in digits
            ]
        )
    boxes = ink_boxes(digits)
    height, width = boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 2]
    usable = height >= 3
    by_label = [np.flatnonzero(usable & (labels == d)) for d in range(10)]
    stretched = (height >= 0.9 * digits.shape[1]) & (width >= 0.9 * digits.shape[2])
    return DigitSource(digits, labels, boxes, by_label, stretched)


def label_aspects(source: DigitSource) -> np.ndarray:
    """Per label the median width over height of its digits' ink (0.7 for a label it lacks)."""
    box = source.boxes
    ratio = (box[:, 3] - box[:, 2]) / np.maximum(box[:, 1] - box[:, 0], 1)
    return np.array([float(np.median(ratio[idx])) if idx.size else 0.7 for idx in source.by_label], np.float64)
