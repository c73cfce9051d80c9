"""What a number carries besides its digits: separators and marks drawn with the pen, rules and form boxes.

Marks are kept from looking like digits: no upright stroke alone (a "/-" is written as ".-"), no closed
loop; a comma is a short tail under the baseline, a dot a small blob. Rules are a pen underline, a printed
guide line, or a form's cells (boxes, or a comb: a bottom line with ticks).
"""

from __future__ import annotations

import numpy as np

from ml_model.corpus.ink import Element, raster, stroke_width


def separators(count: int, form: str, labels: list[int], rng: np.random.Generator) -> dict[int, str]:
    """Separators after digit i (0-based): "comma", "dot", "dash", "space"; may rewrite labels (cents, years)."""
    if form == "thousands" and count >= 4:
        decimals = 2 if count >= 6 and rng.random() < 0.55 else 0
        if decimals and rng.random() < 0.4:
            labels[-2:] = [0, 0]
        thousands, point = [("comma", "dot"), ("dot", "comma"), ("space", "comma"), ("space", "dot")][
            int(rng.choice(4, p=[0.45, 0.3, 0.15, 0.1]))
        ]
        whole = count - decimals
        out = {i: thousands for i in range(whole - 4, -1, -3)}
        if decimals:
            out[whole - 1] = point
        return out
    if form == "decimal" and count >= 2:
        decimals = int(rng.integers(1, min(3, count - 1) + 1))
        if decimals == 2 and rng.random() < 0.35:
            labels[-2:] = [0, 0]
        return {count - decimals - 1: "dot" if rng.random() < 0.6 else "comma"}
    if form == "date" and count >= 4:
        kind = "dash" if rng.random() < 0.6 else "dot"
        sizes = {4: [(2, 2)], 5: [(1, 2, 2), (2, 1, 2)], 6: [(2, 2, 2)], 7: [(1, 2, 4), (2, 1, 4)]}.get(
            count, [(4, 2, 2), (2, 2, 4)] if count == 8 else [(2, 2, count - 4)]
        )
        chosen = sizes[int(rng.integers(len(sizes)))]
        for start, size in zip(np.cumsum((0, *chosen[:-1])), chosen, strict=True):
            if size == 4 and rng.random() < 0.6:  # a year
                labels[start : start + 2] = [1, 9] if rng.random() < 0.4 else [2, 0]
        ends = np.cumsum(chosen)[:-1] - 1
        return {int(e): kind for e in ends}
    if form == "code" and count >= 3:
        out, i = {}, 0
        kind = "dash" if rng.random() < 0.7 else "space"
        while True:
            i += int(rng.integers(2, 5))
            if i >= count:
                return out
            out[i - 1] = kind
    return {}


def mark_strokes(
    name: str, height: float, stroke: float, slant: float, rng: np.random.Generator
) -> tuple[list[np.ndarray], tuple[tuple[float, float, float], ...]]:
    """A mark's pen strokes and dots, in px with y = 0 on the baseline (up is negative), slanted."""
    h = height
    jitter = 0.015 * h

    def path(*points: tuple[float, float]) -> np.ndarray:
        p = np.array(points, np.float64) * h
        p += rng.normal(0, jitter, p.shape)
        p[:, 0] -= slant * p[:, 1]  # up (negative y) leans right with the digits
        return p

    strokes: list[np.ndarray] = []
    dots: tuple[tuple[float, float, float], ...] = ()
    if name == "dot":
        r = max(0.8, stroke * float(rng.uniform(0.55, 0.9)), 0.04 * h)
        dots = ((0.0, -r - float(rng.uniform(0, 0.04)) * h, r),)
    elif name == "comma":
        r = max(0.7, stroke * float(rng.uniform(0.45, 0.7)))
        length = float(rng.uniform(0.14, 0.26))
        strokes = [path((0, -0.03), (-0.02, length * 0.5), (-0.08, length))]
        dots = ((float(strokes[0][0, 0]), float(strokes[0][0, 1]), r),)
    elif name == "dash":
        y, length = -float(rng.uniform(0.35, 0.55)), float(rng.uniform(0.25, 0.45))
        tilt = float(rng.normal(0, 0.03))
        strokes = [path((0, y + tilt), (length, y - tilt))]
    elif name == "equals":
        y, length, apart = (
            -float(rng.uniform(0.35, 0.5)),
            float(rng.uniform(0.3, 0.45)),
            float(rng.uniform(0.14, 0.22)),
        )
        strokes = [path((0, y - apart / 2), (length, y - apart / 2)), path((0, y + apart / 2), (length, y + apart / 2))]
    elif name == "asterisk":
        size, y = float(rng.uniform(0.2, 0.3)), -float(rng.uniform(0.5, 0.75))
        turn = float(rng.uniform(0, np.pi / 3))
        for k in range(3):
            a = turn + k * np.pi / 3
            dx, dy = size * np.cos(a), size * np.sin(a)
            strokes.append(path((size - dx, y - dy), (size + dx, y + dy)))
    elif name == "hash":
        size = float(rng.uniform(0.6, 0.85))
        lean = 0.12 * size
        top, bottom = -size - 0.05, -0.05
        strokes = [
            path((0.22 * size + lean, top), (0.22 * size, bottom)),
            path((0.55 * size + lean, top), (0.55 * size, bottom)),
            path((0.0, top + 0.33 * size), (0.8 * size, top + 0.33 * size)),
            path((0.0, top + 0.66 * size), (0.8 * size, top + 0.66 * size)),
        ]
    elif name == "currency":  # an S with a bar through it
        size, width = float(rng.uniform(0.8, 1.05)), float(rng.uniform(0.45, 0.62))
        rx, ry = 0.5 * width, 0.25 * size
        upper = np.radians(np.linspace(float(rng.uniform(10, 40)), 270, 14))  # round the top-left bowl
        lower = np.radians(np.linspace(90, -float(rng.uniform(140, 170)), 14))  # round the bottom-right bowl
        xs = np.concatenate([rx + rx * np.cos(upper), rx + rx * np.cos(lower)])
        ys = np.concatenate([-3 * ry - ry * np.sin(upper), -ry - ry * np.sin(lower)])
        strokes = [path(*zip(xs, ys, strict=True))]
        bars = 1 if rng.random() < 0.7 else 2
        for k in range(bars):
            x = rx + (k - (bars - 1) / 2) * 0.25 * width
            strokes.append(path((x, -size - 0.12), (x, 0.1)))
    return strokes, dots


def form_cells(
    inks: list[np.ndarray], labels: list[int], height: float, comb: bool, rng: np.random.Generator, features: set[str]
) -> tuple[list[Element], list[tuple]]:
    """Digits written into a form's cells; the cells' rules (boxes, or a comb's bottom line and ticks)."""
    features.add("comb" if comb else "cells")
    widest = max(ink.shape[1] for ink in inks)
    cell_w = int(round(max(widest * float(rng.uniform(1.05, 1.35)), 0.6 * height) + 2))
    cell_h = int(round(height * float(rng.uniform(1.15, 1.5)) + 2))
    spread = 0 if comb or rng.random() < 0.6 else int(round(float(rng.uniform(0.05, 0.3)) * height)) + 2
    elements = []
    for i, (ink, label) in enumerate(zip(inks, labels, strict=True)):
        left = i * (cell_w + spread)
        x = left + (cell_w - ink.shape[1]) // 2 + int(round(rng.normal(0, 0.06) * cell_w))
        room = cell_h - ink.shape[0]
        y = int(round(room * float(rng.uniform(0.3, 0.75))))
        elements.append(Element(ink, x, y, label))
    rules = [("cells", cell_w, cell_h, spread, len(inks), comb)]
    return elements, rules


def baseline_bottom(elements: list[Element]) -> float:
    """The digits' median bottom edge: about where the line's baseline ended up."""
    return float(np.median([e.y + e.ink.shape[0] for e in elements if e.digit is not None]))


def draw_rule(
    rule: tuple,
    ink: np.ndarray,
    printed: np.ndarray | None,
    elements: list[Element],
    ox: int,
    oy: int,
    height: float,
    rng: np.random.Generator,
) -> None:
    """Draw one rule: a pen underline into the ink, a guide line or a form's cells into `printed`."""
    tall, width = ink.shape
    thickness = 1 if rng.random() < 0.6 else 2
    if rule[0] == "underline":
        _, below, slope = rule
        digits = [e for e in elements if e.digit is not None]
        start = min(e.x for e in elements) + ox - float(rng.uniform(0, 0.3)) * height
        end = max(e.x + e.ink.shape[1] for e in elements) + ox + float(rng.uniform(0, 0.3)) * height
        y = baseline_bottom(elements) + oy + below
        rise = slope * (len(digits) - 1)
        xs = np.linspace(start, end, 6)
        ys = y + rise * (xs - start) / max(end - start, 1) + rng.normal(0, 0.015 * height, 6)
        stroke = float(np.clip(np.median([stroke_width(e.ink) for e in digits]), 1, 0.2 * height))
        line, lx, ly = raster([np.stack([xs, ys], axis=1)], stroke * float(rng.uniform(0.6, 1.0)))
        lx0, ly0 = max(lx, 0), max(ly, 0)
        lx1, ly1 = min(lx + line.shape[1], width), min(ly + line.shape[0], tall)
        if lx1 > lx0 and ly1 > ly0:
            region = ink[ly0:ly1, lx0:lx1]
            np.maximum(region, line[ly0 - ly : ly1 - ly, lx0 - lx : lx1 - lx], out=region)
        return
    assert printed is not None
    level = float(rng.uniform(0.35, 1.0))
    if rule[0] == "guide":
        _, below, base = rule
        y = int(round(base + oy + below))
        y = min(max(y, 0), tall - thickness)
        row = np.full(width, level, np.float32)
        style = rng.random()
        if style < 0.35:  # dotted or dashed, as printed on cheques and forms
            period = int(rng.integers(3, 9))
            row[(np.arange(width) % period) >= max(1, period // 2)] = 0
        printed[y : y + thickness] = np.maximum(printed[y : y + thickness], row)
        return
    _, cell_w, cell_h, spread, n, comb = rule
    top, bottom = oy, oy + cell_h
    walls = []
    for i in range(n):
        left = ox + i * (cell_w + spread)
        walls += [left, left + cell_w] if spread else [left] + ([left + cell_w] if i == n - 1 else [])
    lefts = [ox + i * (cell_w + spread) for i in range(n)]
    if comb:
        tick = int(round(cell_h * float(rng.uniform(0.25, 0.5))))
        printed[bottom : bottom + thickness, ox : ox + n * cell_w + 1] = level
        for x in walls:
            printed[bottom - tick : bottom + thickness, x : x + thickness] = level
        return
    for left in lefts:
        right = left + cell_w
        printed[top : top + thickness, left : right + thickness] = level
        printed[bottom : bottom + thickness, left : right + thickness] = level
    for x in walls:
        printed[top : bottom + thickness, x : x + thickness] = level
