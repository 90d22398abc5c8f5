// The page's preprocessing equals the Python twin's: the vectors come from web/strokes.py.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import * as pre from "../src/preprocess.js";

const vectors = JSON.parse(readFileSync(new URL("./vectors.json", import.meta.url), "utf8"));

test("constants equal the Python twin's", () => {
  for (const [name, value] of Object.entries(vectors.constants)) {
    assert.equal(pre[name], value, name);
  }
});

for (const c of vectors.cases) {
  test(`bitmap and 8x8 counts equal Python's: ${c.name}`, () => {
    const { bitmap, counts, input } = pre.preprocess(c.strokes);
    const rows = [];
    for (let r = 0; r < pre.BITMAP; r++) {
      rows.push(Array.from(bitmap.slice(r * pre.BITMAP, (r + 1) * pre.BITMAP)).join(""));
    }
    assert.deepEqual(rows, c.bitmap);
    assert.deepEqual(counts, c.counts.flat());
    assert.deepEqual(Array.from(input), c.counts.flat().map((k) => Math.fround(k / 16)));
  });
}

test("inputs are in [0, 1] and a full block is 1", () => {
  const { input } = pre.preprocess([[[0, 0], [1, 1]]]);
  assert.ok(input.every((v) => v >= 0 && v <= 1));
  assert.ok(input.some((v) => v === 1));
});

test("a golden input turns back into the counts it was made from", () => {
  const counts = Array.from({ length: 64 }, (_, i) => i % 17);
  assert.deepEqual(pre.inputToCounts(pre.countsToInput(counts)), counts);
});

test("drawing is translation- and scale-invariant, as the digits' normalization is", () => {
  const small = [[[0.1, 0.1], [0.1, 0.3], [0.2, 0.3]]];
  const big = [[[0.3, 0.2], [0.3, 0.8], [0.6, 0.8]]];
  assert.deepEqual(pre.preprocess(small).counts, pre.preprocess(big).counts);
});
