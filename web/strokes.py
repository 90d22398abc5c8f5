"""Drawn strokes → the digits representation: a 32x32 bitmap, then 4x4 block counts over 16.

The web demo's web/src/preprocess.js does the same arithmetic in the same order, so both give
bit-identical bitmaps (JavaScript numbers and Python floats are both IEEE doubles). The shared
test vectors this module writes prove it on both sides:

python -m web.strokes web/test/vectors.json

How a drawing becomes a bitmap, the way the digits' source (UCI optdigits) normalized its scans:
strokes are polylines in canvas coordinates scaled to [0, 1] (x right, y down); the box around all
their points is scaled, keeping its aspect, so its longer side spans the bitmap less a margin, and
centred; a bitmap pixel is ink when its centre lies within PEN_RADIUS of a stroke. A pixel-exact
rule rather than the canvas's own anti-aliased rendering, which differs between browsers.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from pathlib import Path

import numpy as np

BITMAP = 32  # the digits' bitmaps are 32x32
BLOCK = 4  # and each of the 8x8 inputs counts the ink in one 4x4 block of it
PEN_RADIUS = 2.5  # bitmap pixels: strokes about 5 px wide, like the digits' thick pen
MARGIN = 2.5  # stroke centres keep this far from the edge, so the ink just fills the frame

Stroke = list[list[float]]  # [[x, y], ...] in [0, 1]


def strokes_to_bitmap(strokes: list[Stroke]) -> np.ndarray:
    """uint8 [32, 32], 1 where ink; mirrors strokesToBitmap in web/src/preprocess.js line by line."""
    bitmap = [0] * (BITMAP * BITMAP)
    points = [p for stroke in strokes for p in stroke]
    if not points:
        return np.zeros((BITMAP, BITMAP), np.uint8)
    min_x = min(p[0] for p in points)
    max_x = max(p[0] for p in points)
    min_y = min(p[1] for p in points)
    max_y = max(p[1] for p in points)
    size = max(max_x - min_x, max_y - min_y)
    scale = (BITMAP - 2 * MARGIN) / size if size > 0 else 0.0
    cx = (min_x + max_x) / 2
    cy = (min_y + max_y) / 2
    half = BITMAP / 2
    r2 = PEN_RADIUS * PEN_RADIUS
    for stroke in strokes:
        if not stroke:
            continue
        pts = [((p[0] - cx) * scale + half, (p[1] - cy) * scale + half) for p in stroke]
        segments = list(itertools.pairwise(pts)) if len(pts) > 1 else [(pts[0], pts[0])]
        for (ax, ay), (bx, by) in segments:
            dx = bx - ax
            dy = by - ay
            len2 = dx * dx + dy * dy
            # only pixels near the segment can be within the pen; the test below decides
            c0 = max(0, math.floor(min(ax, bx) - PEN_RADIUS) - 1)
            c1 = min(BITMAP - 1, math.ceil(max(ax, bx) + PEN_RADIUS) + 1)
            r0 = max(0, math.floor(min(ay, by) - PEN_RADIUS) - 1)
            r1 = min(BITMAP - 1, math.ceil(max(ay, by) + PEN_RADIUS) + 1)
            for r in range(r0, r1 + 1):
                py = r + 0.5
                for c in range(c0, c1 + 1):
                    px = c + 0.5
                    t = ((px - ax) * dx + (py - ay) * dy) / len2 if len2 > 0 else 0.0
                    t = min(1.0, max(0.0, t))
                    qx = px - (ax + t * dx)
                    qy = py - (ay + t * dy)
                    if qx * qx + qy * qy <= r2:
                        bitmap[r * BITMAP + c] = 1
    return np.array(bitmap, np.uint8).reshape(BITMAP, BITMAP)


def bitmap_to_counts(bitmap: np.ndarray) -> np.ndarray:
    """int [8, 8]: ink pixels per 4x4 block, 0..16, as the digits data stores them."""
    n = BITMAP // BLOCK
    return bitmap.reshape(n, BLOCK, n, BLOCK).sum(axis=(1, 3)).astype(np.int64)


def strokes_to_input(strokes: list[Stroke]) -> np.ndarray:
    """float32 [8, 8, 1] in [0, 1]: what the model takes, as pipeline/data.py scales the digits."""
    counts = bitmap_to_counts(strokes_to_bitmap(strokes))
    return (counts / float(BLOCK * BLOCK)).astype(np.float32)[..., np.newaxis]


def _polyline(fn, n: int, t0: float = 0.0, t1: float = 1.0) -> Stroke:
    return [list(fn(t0 + (t1 - t0) * i / (n - 1))) for i in range(n)]


def vector_cases() -> list[dict]:
    """Strokes that exercise every branch: empty, a dot, lines, curves, several strokes, edges."""
    rng = np.random.default_rng(6)

    def ring(cx, cy, rx, ry, n=48):
        return _polyline(
            lambda t: (cx + rx * math.cos(2 * math.pi * t), cy + ry * math.sin(2 * math.pi * t)), n
        )

    return [
        {"name": "empty", "strokes": []},
        {"name": "empty stroke list", "strokes": [[]]},
        {"name": "an empty stroke among others", "strokes": [[], [[0.2, 0.2], [0.4, 0.6]]]},
        {"name": "one dot", "strokes": [[[0.5, 0.5]]]},
        {"name": "two identical points", "strokes": [[[0.3, 0.7], [0.3, 0.7]]]},
        {"name": "vertical bar", "strokes": [_polyline(lambda t: (0.5, 0.15 + 0.7 * t), 20)]},
        {"name": "horizontal bar", "strokes": [_polyline(lambda t: (0.1 + 0.8 * t, 0.4), 9)]},
        {"name": "diagonal", "strokes": [[[0.2, 0.9], [0.8, 0.1]]]},
        {"name": "ring", "strokes": [ring(0.5, 0.5, 0.25, 0.35)]},
        {
            "name": "seven, two strokes",
            "strokes": [[[0.25, 0.2], [0.75, 0.2], [0.45, 0.85]], [[0.35, 0.5], [0.65, 0.5]]],
        },
        {"name": "corner to corner", "strokes": [[[0.0, 0.0], [1.0, 1.0]], [[1.0, 0.0]]]},
        {"name": "tiny scribble", "strokes": [[[0.5, 0.5], [0.5004, 0.5001], [0.5001, 0.5003]]]},
        {
            "name": "random walk",
            "strokes": [np.clip(0.5 + np.cumsum(rng.normal(0, 0.03, (60, 2)), 0), 0, 1).tolist()],
        },
        {
            "name": "random points, three strokes",
            "strokes": [rng.uniform(0, 1, (k, 2)).tolist() for k in (7, 1, 15)],
        },
    ]


def write_vectors(path: Path) -> dict:
    """Each case's strokes with the bitmap (rows of 0/1) and 8x8 counts they must produce."""
    cases = []
    for case in vector_cases():
        bitmap = strokes_to_bitmap(case["strokes"])
        cases.append(
            {
                **case,
                "bitmap": ["".join(str(v) for v in row) for row in bitmap],
                "counts": bitmap_to_counts(bitmap).tolist(),
            }
        )
    doc = {
        "generated_by": "python -m web.strokes",
        "constants": {
            "BITMAP": BITMAP,
            "BLOCK": BLOCK,
            "PEN_RADIUS": PEN_RADIUS,
            "MARGIN": MARGIN,
        },
        "cases": cases,
    }
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return doc


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m web.strokes OUT.json")
    out = Path(sys.argv[1])
    write_vectors(out)
    print(f"wrote {out}")
