// The golden strip for any model: each sample's exact inputs by name, and its reference outputs.
import assert from "node:assert/strict";
import { test } from "node:test";
import { goldenCount, goldenSample, pickSamples, preview } from "../src/golden.js";
import { formSpec } from "../src/signature.js";
import { MODELS, golden, metadata } from "./fixtures.mjs";

const sample = (model, i = 0) => goldenSample(golden(model), metadata(model), i);

test("every model's sample holds one value per input and a reference per output, by name", () => {
  for (const model of MODELS) {
    const meta = metadata(model);
    const s = sample(model);
    assert.deepEqual(Object.keys(s.inputs), meta.inputs.map((t) => t.name), model);
    assert.deepEqual(Object.keys(s.references), meta.outputs.map((t) => t.name), model);
    for (const t of meta.inputs) assert.deepEqual(s.inputs[t.name].shape, t.shape.slice(1), `${model} ${t.name}`);
    for (const t of meta.outputs) assert.equal(s.references[t.name].length, t.shape.at(-1), `${model} ${t.name}`);
  }
});

test("inputs come in their dtype's array, with the golden set's exact values", () => {
  const digits = sample("digits");
  assert.ok(digits.inputs.image.values instanceof Float32Array);
  assert.deepEqual(Array.from(digits.inputs.image.values), golden("digits").x[0]);
  assert.equal(digits.label, 6);
  const tokens = sample("zoo-sequence").inputs.tokens.values;
  assert.ok(tokens instanceof Int32Array);
  assert.deepEqual(Array.from(tokens), golden("zoo-sequence").inputs.tokens.values[0]);
  assert.deepEqual(sample("zoo-text", 1).inputs.text.values, golden("zoo-text").inputs.text.values[1]);
  const tabular = sample("zoo-tabular", 2);
  assert.ok(tabular.inputs.numeric.values instanceof Float32Array);
  assert.deepEqual(tabular.inputs.region.values, ["mid"]);
  assert.deepEqual(Array.from(tabular.references.cultivar), golden("zoo-tabular").references.cultivar[2].map(Math.fround));
  assert.equal(tabular.references.alcohol.length, 1);
  assert.equal(tabular.label, golden("zoo-tabular").label_values.alcohol[2][0]); // the first output's
});

test("a golden.json from before several inputs (x and reference only) still feeds the first input", () => {
  const { x, reference, labels, shape } = golden("digits");
  const s = goldenSample({ x, reference, labels, shape }, metadata("digits"), 1);
  assert.deepEqual(s.inputs.image.shape, [8, 8, 1]);
  assert.deepEqual(Array.from(s.inputs.image.values), x[1]);
  assert.equal(s.references.probabilities.length, 10);
});

test("a golden set that does not fit the model fails with the input's name", () => {
  const noRegion = golden("zoo-tabular");
  delete noRegion.inputs.region;
  assert.throws(() => goldenSample(noRegion, metadata("zoo-tabular"), 0), /no values for input region/);
  assert.throws(() => goldenSample(golden("zoo-sequence"), metadata("zoo-tabular"), 0), /x has 16 values, numeric takes 11/);
  assert.throws(() => goldenSample(golden("digits"), metadata("zoo-image_cnn"), 0), /image should be shaped \[16, 16, 3\] but is \[8, 8, 1\]/);
});

test("the strip: two samples per class in class order, or the first ones when the first output is a value", () => {
  const digits = pickSamples(golden("digits"), formSpec(metadata("digits")).views[0]);
  assert.deepEqual(digits, [
    { index: 1, caption: "3" },
    { index: 0, caption: "6" },
    { index: 2, caption: "7" },
  ]);
  const tabular = pickSamples(golden("zoo-tabular"), formSpec(metadata("zoo-tabular")).views[0]);
  assert.deepEqual(tabular.map((s) => s.caption), ["#0", "#1", "#2"]);
  assert.equal(goldenCount(golden("zoo-text")), 3);
});

test("a sample's button text: its text, its first numbers, nothing for an image", () => {
  const caption = (model, name, i = 0) => {
    const control = formSpec(metadata(model)).controls.find((c) => c.input === name);
    return preview(sample(model, i).inputs[name], control);
  };
  assert.equal(caption("digits", "image"), "");
  assert.equal(caption("zoo-text", "text"), "broken support , slow sound on this pho…");
  assert.equal(caption("zoo-sequence", "tokens"), "[15, 15, 14, 22, 17, 2, 1, 23, 17, 8, 8…");
  assert.equal(caption("zoo-tabular", "numeric"), "[3.7, 2.6, 23, 111, 1.7, 0.92, 0.43, 1.…");
  assert.equal(caption("zoo-tabular", "region"), "mid");
});
