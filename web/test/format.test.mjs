import assert from "node:assert/strict";
import { test } from "node:test";
import * as fmt from "../src/format.js";

const names = ["zero", "one", "two", "three"];

test("topK gives the best classes first, labelled from the metadata", () => {
  const top = fmt.topK([0.1, 0.6, 0.05, 0.25], names);
  assert.deepEqual(
    top.map((t) => [t.index, t.label, t.percent]),
    [
      [1, "one", "60.0%"],
      [3, "three", "25.0%"],
      [0, "zero", "10.0%"],
    ],
  );
});

test("topK breaks ties by class index and falls back to indices without names", () => {
  const top = fmt.topK(Float32Array.from([0.5, 0.5, 0]), null, 2);
  assert.deepEqual(
    top.map((t) => t.label),
    ["0", "1"],
  );
});

test("percentages", () => {
  assert.equal(fmt.formatPercent(0.97314), "97.3%");
  assert.equal(fmt.formatPercent(1), "100.0%");
  assert.equal(fmt.formatPercent(0), "0.0%");
  assert.equal(fmt.formatPercent(0.00001), "<0.1%");
  assert.equal(fmt.formatPercent(NaN), "–");
});

test("milliseconds keep a useful precision", () => {
  assert.equal(fmt.formatMs(0.4237), "0.42 ms");
  assert.equal(fmt.formatMs(3.14), "3.1 ms");
  assert.equal(fmt.formatMs(123.6), "124 ms");
  assert.equal(fmt.formatMs(undefined), "–");
});

test("comparison with the server names both classes and the largest difference", () => {
  const c = fmt.compare([0.1, 0.9, 0, 0], [0.1, 0.89995, 0.00005, 0], names);
  assert.equal(c.sameClass, true);
  assert.equal(c.serverClass, "one");
  assert.ok(Math.abs(c.maxAbsDiff - 5e-5) < 1e-12);
  assert.match(c.text, /^server: one \(90\.0%\), browser: one \(90\.0%\); largest difference 5\.0e-5$/);
  assert.throws(() => fmt.maxAbsDiff([1], [1, 2]), /lengths differ/);
});

test("argmax and percentiles", () => {
  assert.equal(fmt.argmax([0.2, 0.7, 0.1]), 1);
  assert.equal(fmt.percentile([1, 2, 3, 4], 0.5), 2.5);
  assert.equal(fmt.percentile([5], 0.99), 5);
  assert.ok(Number.isNaN(fmt.percentile([], 0.5)));
});
