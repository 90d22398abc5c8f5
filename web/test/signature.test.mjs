// Each model's page, from its real metadata: the control per input and the view per output.
import assert from "node:assert/strict";
import { test } from "node:test";
import { controlFor, formSpec, viewFor } from "../src/signature.js";
import { MODELS, golden, metadata } from "./fixtures.mjs";

const spec = (name) => formSpec(metadata(name), golden(name));
const kinds = (s) => s.controls.map((c) => `${c.input}:${c.kind}`);
const views = (s) => s.views.map((v) => `${v.output}:${v.kind}`);

test("digits: one drawn 8x8 grey image, classes named 0-9 from the metadata, the digits page", () => {
  const s = spec("digits");
  assert.deepEqual(kinds(s), ["image:image"]);
  const [image] = s.controls;
  assert.deepEqual([image.height, image.width, image.channels], [8, 8, 1]);
  assert.deepEqual(image.sources, ["draw", "upload", "paste", "camera"]);
  assert.equal(image.invertLight, true);
  assert.deepEqual(image.range, [0, 1]);
  assert.equal(image.normalization.divide_by, 16);
  assert.deepEqual(views(s), ["probabilities:classes"]);
  assert.deepEqual(s.views[0].classNames, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
  assert.equal(s.views[0].named, true);
  assert.equal(s.digits, true);
  assert.equal(s.tfjs, true);
});

test("zoo-image_cnn: an RGB image without drawing, ten classes by index", () => {
  const s = spec("zoo-image_cnn");
  assert.deepEqual(kinds(s), ["image:image"]);
  assert.deepEqual([s.controls[0].height, s.controls[0].width, s.controls[0].channels], [16, 16, 3]);
  assert.deepEqual(s.controls[0].sources, ["upload", "paste", "camera"]);
  assert.equal(s.controls[0].invertLight, false);
  assert.deepEqual(views(s), ["class_probabilities:classes"]);
  assert.equal(s.views[0].named, false);
  assert.deepEqual(s.views[0].classNames, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
  assert.equal(s.digits, false);
});

test("zoo-text: a text box; no TF.js artifact, so the page offers the server alone", () => {
  const s = spec("zoo-text");
  assert.deepEqual(kinds(s), ["text:text"]);
  // the golden texts to pick from (a full golden set has more than MAX_SUGGESTIONS: none then)
  const texts = golden("zoo-text").inputs.text.values.flat();
  assert.deepEqual(s.controls[0].suggestions, [...texts].sort());
  assert.deepEqual(views(s), ["sentiment:classes"]);
  assert.equal(s.tfjs, false);
  assert.equal(s.title, "Type a text");
});

test("zoo-sequence and zoo-transformer: int32 token ids go in a JSON array box", () => {
  for (const name of ["zoo-sequence", "zoo-transformer"]) {
    const s = spec(name);
    assert.deepEqual(kinds(s), ["tokens:json"], name);
    assert.equal(s.controls[0].tfjsDtype, "int32");
    assert.equal(s.controls[0].hint, "a JSON list of int32 numbers, 16");
    assert.deepEqual(views(s), ["class_probabilities:classes"], name);
    assert.equal(s.views[0].classes, 3);
  }
});

test("zoo-tabular: labelled number fields and a text box with the golden regions; a value and classes", () => {
  const s = spec("zoo-tabular");
  assert.deepEqual(kinds(s), ["numeric:numbers", "region:text"]);
  assert.equal(s.controls[0].fields.length, 11);
  assert.deepEqual(s.controls[0].fields[3], { index: 3, label: "numeric[3]" });
  assert.deepEqual(s.controls[1].suggestions, ["high", "mid"]);
  assert.deepEqual(views(s), ["alcohol:values", "cultivar:classes"]);
  // the metadata's class names describe the first output only: cultivar's are indices
  assert.deepEqual(s.views[1].classNames, ["0", "1", "2"]);
  assert.equal(s.title, "Fill in the inputs");
});

test("every model's spec is plain data: it survives JSON as it is", () => {
  for (const name of MODELS) {
    const s = spec(name);
    assert.deepEqual(JSON.parse(JSON.stringify(s)), s, name);
  }
});

test("anything else gets a JSON box: variable lengths, several strings, long vectors, 2-D numbers", () => {
  const meta = { class_names: null, normalization: null };
  const kind = (shape, dtype) => controlFor({ name: "x", shape: [null, ...shape], dtype }, meta).kind;
  assert.equal(kind([null], "int32"), "json");
  assert.equal(kind([3], "string"), "json");
  assert.equal(kind([64], "float32"), "json");
  assert.equal(kind([4, 4], "float32"), "json");
  assert.equal(kind([8, 8, 2], "float32"), "json"); // two channels is not an image
  assert.equal(kind([null, null, 3], "float32"), "json"); // an image of any size: no fixed grid
  assert.equal(kind([], "string"), "text");
  assert.equal(kind([null], "string"), "text");
  assert.equal(kind([5], "float64"), "numbers");
  assert.equal(kind([2], "complex64"), "unsupported");
});

test("feature names, when the metadata carries them, label the fields", () => {
  const meta = { feature_names: { f: ["width", "height"] } };
  const c = controlFor({ name: "f", shape: [null, 2], dtype: "float32" }, meta);
  assert.deepEqual(c.fields.map((f) => f.label), ["width", "height"]);
});

test("an output of one column or many dims shows numbers; the class names must match the width", () => {
  const meta = { class_names: ["a", "b"] };
  assert.equal(viewFor({ name: "y", shape: [null, 1], dtype: "float32" }, meta, 0).kind, "values");
  assert.equal(viewFor({ name: "y", shape: [null, 4, 2], dtype: "float32" }, meta, 0).kind, "values");
  assert.deepEqual(viewFor({ name: "y", shape: [null, 3], dtype: "float32" }, meta, 0).classNames, ["0", "1", "2"]);
  assert.deepEqual(viewFor({ name: "y", shape: [null, 2], dtype: "float32" }, meta, 0).classNames, ["a", "b"]);
});

test("metadata written before several inputs (flat input_* fields) still makes a page", () => {
  const old = { name: "old", input_name: "image", input_shape: [null, 8, 8, 1], output_name: "p", output_shape: [null, 10] };
  const s = formSpec(old);
  assert.deepEqual(kinds(s), ["image:image"]);
  assert.deepEqual(views(s), ["p:classes"]);
  assert.throws(() => formSpec({ inputs: [{ name: "x" }], outputs: [] }), /no name, shape and dtype/);
});
