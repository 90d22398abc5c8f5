// Drawn strokes → the digits representation: a 32x32 bitmap, then 4x4 block counts over 16.
// The twin of web/strokes.py, the same arithmetic in the same order, so both give identical
// bitmaps; web/test/vectors.json (written by `python -m web.strokes`) proves it.
// Strokes are polylines of [x, y] in [0, 1] (x right, y down); their bounding box is scaled,
// keeping its aspect, to span the bitmap less a margin, and centred, as the digits were normalized.

export const BITMAP = 32; // the digits' bitmaps are 32x32
export const BLOCK = 4; // each of the 8x8 inputs counts the ink in one 4x4 block
export const PEN_RADIUS = 2.5; // bitmap pixels: strokes about 5 px wide
export const MARGIN = 2.5; // stroke centres keep this far from the edge
export const GRID = BITMAP / BLOCK;
export const MAX_COUNT = BLOCK * BLOCK; // a full block: the 16 the digits data divides by

/** Uint8Array(32 * 32), row-major, 1 where a pixel centre lies within the pen of a stroke. */
export function strokesToBitmap(strokes) {
  const bitmap = new Uint8Array(BITMAP * BITMAP);
  const points = strokes.flat();
  if (points.length === 0) return bitmap;
  let minX = Infinity;
  let maxX = -Infinity;
  let minY = Infinity;
  let maxY = -Infinity;
  for (const [x, y] of points) {
    minX = Math.min(minX, x);
    maxX = Math.max(maxX, x);
    minY = Math.min(minY, y);
    maxY = Math.max(maxY, y);
  }
  const size = Math.max(maxX - minX, maxY - minY);
  const scale = size > 0 ? (BITMAP - 2 * MARGIN) / size : 0;
  const cx = (minX + maxX) / 2;
  const cy = (minY + maxY) / 2;
  const half = BITMAP / 2;
  const r2 = PEN_RADIUS * PEN_RADIUS;
  for (const stroke of strokes) {
    if (stroke.length === 0) continue;
    const pts = stroke.map(([x, y]) => [(x - cx) * scale + half, (y - cy) * scale + half]);
    const segments = pts.length > 1 ? pts.slice(1).map((b, i) => [pts[i], b]) : [[pts[0], pts[0]]];
    for (const [[ax, ay], [bx, by]] of segments) {
      const dx = bx - ax;
      const dy = by - ay;
      const len2 = dx * dx + dy * dy;
      // only pixels near the segment can be within the pen; the test below decides
      const c0 = Math.max(0, Math.floor(Math.min(ax, bx) - PEN_RADIUS) - 1);
      const c1 = Math.min(BITMAP - 1, Math.ceil(Math.max(ax, bx) + PEN_RADIUS) + 1);
      const r0 = Math.max(0, Math.floor(Math.min(ay, by) - PEN_RADIUS) - 1);
      const r1 = Math.min(BITMAP - 1, Math.ceil(Math.max(ay, by) + PEN_RADIUS) + 1);
      for (let r = r0; r <= r1; r++) {
        const py = r + 0.5;
        for (let c = c0; c <= c1; c++) {
          const px = c + 0.5;
          let t = len2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / len2 : 0;
          t = Math.min(1, Math.max(0, t));
          const qx = px - (ax + t * dx);
          const qy = py - (ay + t * dy);
          if (qx * qx + qy * qy <= r2) bitmap[r * BITMAP + c] = 1;
        }
      }
    }
  }
  return bitmap;
}

/** Int array(8 * 8): ink pixels per 4x4 block, 0..16, as the digits data stores them. */
export function bitmapToCounts(bitmap) {
  const counts = new Array(GRID * GRID).fill(0);
  for (let r = 0; r < BITMAP; r++) {
    for (let c = 0; c < BITMAP; c++) {
      counts[Math.floor(r / BLOCK) * GRID + Math.floor(c / BLOCK)] += bitmap[r * BITMAP + c];
    }
  }
  return counts;
}

/** Float32Array(64) in [0, 1]: the model's [8, 8, 1] input, row-major. */
export function countsToInput(counts) {
  return Float32Array.from(counts, (k) => k / MAX_COUNT);
}

/** Everything the page shows and the model takes, from one set of strokes. */
export function preprocess(strokes) {
  const bitmap = strokesToBitmap(strokes);
  const counts = bitmapToCounts(bitmap);
  return { bitmap, counts, input: countsToInput(counts) };
}

/** A [0, 1] input (a golden sample) as the 0..16 counts the grid shows. */
export function inputToCounts(input) {
  return Array.from(input, (v) => Math.round(v * MAX_COUNT));
}
