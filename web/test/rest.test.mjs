// Compare with the server for every model: the TF Serving REST body for a golden sample, the
// outputs read from the answer, and the largest difference per output.
import assert from "node:assert/strict";
import { test } from "node:test";
import { goldenSample } from "../src/golden.js";
import { compareOutputs, restBody, restOutputs } from "../src/rest.js";
import { formSpec } from "../src/signature.js";
import { golden, metadata } from "./fixtures.mjs";

const sampleOf = (model, i = 0) => goldenSample(golden(model), metadata(model), i);
const bodyOf = (model, i = 0) => JSON.parse(JSON.stringify(restBody(metadata(model), sampleOf(model, i).inputs)));
// the values as float32 holds them: what the browser's model and the server both see
const f32 = (nested) => JSON.parse(JSON.stringify(nested), (_, v) => (typeof v === "number" ? Math.fround(v) : v));

test("digits: the row body the page sends today, [1][8][8][1]", () => {
  const body = bodyOf("digits");
  assert.deepEqual(Object.keys(body), ["instances"]);
  assert.deepEqual(body.instances, [golden("digits").inputs.image.values[0]]);
});

test("zoo-image_cnn: the row body, [1][16][16][3] of float32 values", () => {
  const body = bodyOf("zoo-image_cnn");
  assert.deepEqual(body.instances, [f32(golden("zoo-image_cnn").inputs.image.values[0])]);
});

test("zoo-text: strings as plain JSON strings, as TF Serving encodes text", () => {
  assert.deepEqual(bodyOf("zoo-text"), { instances: [["broken support , slow sound on this phone"]] });
});

test("zoo-sequence and zoo-transformer: int32 token ids as JSON integers", () => {
  for (const model of ["zoo-sequence", "zoo-transformer"]) {
    const body = bodyOf(model, 2);
    assert.deepEqual(body, { instances: [golden(model).inputs.tokens.values[2]] }, model);
    assert.ok(body.instances[0].every(Number.isInteger));
  }
});

test("zoo-tabular: two inputs in the columnar format, each named once with its batch of one", () => {
  const g = golden("zoo-tabular");
  assert.deepEqual(bodyOf("zoo-tabular"), {
    inputs: { numeric: [f32(g.inputs.numeric.values[0])], region: [["mid"]] },
  });
  // the row format, when asked: one object per row
  const rows = restBody(metadata("zoo-tabular"), sampleOf("zoo-tabular").inputs, "row");
  assert.deepEqual(Object.keys(rows.instances[0]), ["numeric", "region"]);
  assert.throws(() => restBody(metadata("zoo-tabular"), { numeric: sampleOf("zoo-tabular").inputs.numeric }), /no value for input region/);
});

test("a binary input (name ending _bytes) goes as {b64}; bytes that are not UTF-8 too", () => {
  const meta = { inputs: [{ name: "image_bytes", shape: [null], dtype: "string" }], outputs: [] };
  const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47]);
  assert.deepEqual(restBody(meta, { image_bytes: { values: [png], shape: [] } }), {
    instances: [{ b64: "iVBORw==" }],
  });
  const text = { inputs: [{ name: "text", shape: [null, 1], dtype: "string" }], outputs: [] };
  assert.deepEqual(restBody(text, { text: { values: [Uint8Array.from([0xff, 0x00])], shape: [1] } }), {
    instances: [[{ b64: "/wA=" }]],
  });
  assert.deepEqual(restBody(text, { text: { values: [new TextEncoder().encode("été")], shape: [1] } }), {
    instances: [["été"]],
  });
});

test("answers: one output's bare predictions, several outputs' columns by name", () => {
  const digits = golden("digits").references.probabilities[0];
  assert.deepEqual(Array.from(restOutputs(metadata("digits"), { predictions: [digits] }).probabilities), digits.map(Math.fround));
  const g = golden("zoo-tabular");
  const answer = { outputs: { alcohol: [g.references.alcohol[0]], cultivar: [g.references.cultivar[0]] } };
  const out = restOutputs(metadata("zoo-tabular"), answer);
  assert.deepEqual(Object.keys(out), ["alcohol", "cultivar"]);
  assert.equal(out.alcohol.length, 1);
  assert.equal(out.cultivar.length, 3);
  const rows = restOutputs(metadata("zoo-tabular"), { predictions: [{ alcohol: [13.5], cultivar: [0, 1, 0] }] });
  assert.deepEqual(Array.from(rows.alcohol), [13.5]);
  assert.throws(() => restOutputs(metadata("zoo-tabular"), { outputs: { alcohol: [[1]] } }), /no output cultivar/);
  assert.throws(() => restOutputs(metadata("digits"), { error: "x" }), /neither predictions nor outputs/);
});

test("the largest difference per output, and the class each side picks", () => {
  const meta = metadata("zoo-tabular");
  const { views } = formSpec(meta);
  const server = sampleOf("zoo-tabular").references;
  const browser = { alcohol: Float32Array.from([server.alcohol[0] + 0.25]), cultivar: server.cultivar };
  const c = compareOutputs(views, browser, server);
  assert.deepEqual(c.rows.map((r) => [r.output, r.maxAbsDiff]), [["alcohol", 0.25], ["cultivar", 0]]);
  assert.equal(c.rows[1].sameClass, true);
  assert.equal(c.rows[1].serverClass, "2");
  assert.equal(c.maxAbsDiff, 0.25);
  assert.equal(c.text, "alcohol: largest difference 2.5e-1; cultivar: largest difference 0, server 2, browser 2");
  assert.throws(() => compareOutputs(views, { alcohol: browser.alcohol }, server), /cultivar is missing from the browser's answer/);
});
