"""The written line put on its surface: paper, security patterns, printed rules, light and capture.

Paper and light: a white canvas, off-white or security paper (fine guilloche lines), coloured ink turned
grey, chalk on a dark board; uneven light, blur, sensor noise, JPEG, a low-resolution picture enlarged.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

from ml_model.corpus.ink import Element, choice, ink_box
from ml_model.corpus.marks import baseline_bottom, draw_rule
from ml_model.corpus.render import lighting

# Per line: what the paper and light are, with probability.
PAPERS = {"white_canvas": 0.14, "paper": 0.34, "security": 0.16, "low_contrast": 0.2, "inverted": 0.16}
P_LIGHT, P_BLUR, P_JPEG = 0.3, 0.3, 0.45


def compose(
    elements: list[Element], rules: list[tuple], height: float, rng: np.random.Generator, features: set[str]
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Ink and printed lines on paper, lit, blurred, noisy, maybe JPEG: (uint8 picture, digit boxes)."""
    x0 = min(e.x for e in elements)
    y0 = min(e.y for e in elements)
    x1 = max(e.x + e.ink.shape[1] for e in elements)
    y1 = max(e.y + e.ink.shape[0] for e in elements)
    form_box = None
    for rule in rules:
        if rule[0] == "cells":
            _, cell_w, cell_h, spread, n, _ = rule
            form_box = (0, 0, n * cell_w + (n - 1) * spread + 1, cell_h + 1)
            x0, y0 = min(x0, 0), min(y0, 0)
            x1, y1 = max(x1, form_box[2]), max(y1, form_box[3])
        elif rule[0] == "underline":
            y1 = max(y1, int(np.ceil(baseline_bottom(elements) + rule[1] + 3 + abs(rule[2]) * len(elements))))
        elif rule[0] == "guide":
            y1 = max(y1, int(np.ceil(rule[2] + rule[1] + 4)))

    def margin() -> int:
        draw = rng.random()
        if draw < 0.3:
            return int(rng.integers(2, 5))
        if draw < 0.8:
            return int(round(float(rng.uniform(0.1, 0.5)) * height)) + 2
        return int(round(float(rng.uniform(0.5, 1.5)) * height)) + 2

    left, right, top, bottom = margin(), margin(), margin(), margin()
    width, tall = x1 - x0 + left + right, y1 - y0 + top + bottom
    ox, oy = left - x0, top - y0  # element coordinates to picture coordinates
    ink = np.zeros((tall, width), np.float32)
    boxes = []
    for e in elements:
        region = ink[e.y + oy : e.y + oy + e.ink.shape[0], e.x + ox : e.x + ox + e.ink.shape[1]]
        np.maximum(region, e.ink, out=region)
        if e.digit is not None:
            bx, by, bw, bh = ink_box(e.ink)
            boxes.append((e.x + ox + bx, e.y + oy + by, bw, bh))
    printed = np.zeros_like(ink) if any(r[0] in ("guide", "cells") for r in rules) else None
    for rule in rules:
        draw_rule(rule, ink, printed, elements, ox, oy, height, rng)
    return on_paper(ink, printed, rng, features), boxes


def on_paper(ink: np.ndarray, printed: np.ndarray | None, rng: np.random.Generator, features: set[str]) -> np.ndarray:
    """The ink (and printed lines) on the line's paper, in its light, with blur, noise and maybe JPEG."""
    tall, width = ink.shape
    kind = choice(rng, PAPERS)
    features.add(kind)
    sigma, quality = float(rng.uniform(1, 6)), None
    if kind == "white_canvas":
        paper, pen = np.float32(255), float(rng.uniform(0, 40))
        sigma = 0.0 if rng.random() < 0.6 else float(rng.uniform(0.5, 2))
    elif kind == "paper":
        paper, pen = np.float32(rng.uniform(195, 250)), float(rng.uniform(5, 90))
    elif kind == "security":
        paper, pen = guilloche(tall, width, rng), float(rng.uniform(10, 90))
    elif kind == "low_contrast":  # coloured ink (blue, red, green) seen in grey
        paper = np.float32(rng.uniform(170, 245))
        pen = float(paper) - float(rng.uniform(40, 120))
    else:  # chalk or a light pen on a dark board
        paper, pen = np.float32(rng.uniform(15, 85)), float(rng.uniform(165, 250))
        ink = ink * (0.75 + 0.25 * rng.random(ink.shape, np.float32))
        sigma = float(rng.uniform(2, 6))
    values = paper * np.ones_like(ink) if np.ndim(paper) == 0 else paper
    if printed is not None:
        form_level = float(np.mean(paper)) + (pen - float(np.mean(paper))) * float(rng.uniform(0.4, 1.0))
        values = values + (form_level - values) * printed
    values = values + (pen - values) * ink
    if kind != "white_canvas" and rng.random() < P_LIGHT:
        values = values * lighting(tall, width, rng)[..., 0]
        features.add("light")
    picture = Image.fromarray(np.clip(values, 0, 255).astype(np.uint8))
    if rng.random() < P_BLUR:
        picture = picture.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.35, 1.1))))
        features.add("blur")
    array = np.asarray(picture)
    if sigma:
        noise = rng.normal(0, sigma, array.shape).astype(np.float32)
        array = np.clip(array + noise, 0, 255).astype(np.uint8)
        features.add("noise")
    if rng.random() < P_JPEG:
        quality = int(rng.integers(30, 91))
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, "JPEG", quality=quality)
        buffer.seek(0)
        array = np.asarray(Image.open(buffer).convert("L"))
        features.add("jpeg")
    return np.ascontiguousarray(array, np.uint8)


def guilloche(tall: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Security paper: fine wavy line patterns of low contrast on a tinted ground (grey levels)."""
    ys, xs = np.mgrid[0:tall, 0:width].astype(np.float32)
    ground = float(rng.uniform(185, 240))
    pattern = np.zeros((tall, width), np.float32)
    for _ in range(int(rng.integers(1, 3))):
        angle = float(rng.uniform(0, np.pi))
        period = float(rng.uniform(2.5, 7))
        wave, wave_period = float(rng.uniform(1, 6)), float(rng.uniform(15, 60))
        u = xs * np.cos(angle) + ys * np.sin(angle)
        v = -xs * np.sin(angle) + ys * np.cos(angle)
        pattern += np.sin(2 * np.pi * (u + wave * np.sin(2 * np.pi * v / wave_period)) / period)
    contrast = float(rng.uniform(3, 12))
    return ground + contrast * pattern / np.abs(pattern).max(initial=1.0)


def enlarge(
    picture: np.ndarray, boxes: list[tuple[int, int, int, int]], rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A small picture enlarged 1.5-3.5x (a low-resolution photo zoomed), its boxes with it."""
    factor = float(rng.uniform(1.5, 3.5))
    tall, width = picture.shape
    new_w, new_h = max(1, round(width * factor)), max(1, round(tall * factor))
    resample = [Image.Resampling.BILINEAR, Image.Resampling.BICUBIC, Image.Resampling.NEAREST][
        int(rng.choice(3, p=[0.45, 0.4, 0.15]))
    ]
    enlarged = np.asarray(Image.fromarray(picture).resize((new_w, new_h), resample))
    fx, fy = new_w / width, new_h / tall
    scaled = []
    for x, y, w, h in boxes:
        bx, by = int(np.floor(x * fx)), int(np.floor(y * fy))
        bx1, by1 = min(new_w, int(np.ceil((x + w) * fx))), min(new_h, int(np.ceil((y + h) * fy)))
        scaled.append((bx, by, bx1 - bx, by1 - by))
    return np.ascontiguousarray(enlarged), scaled
