// What a user types becomes the input's dtype and shape, or a message that says what is wrong.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formSpec } from "../src/signature.js";
import { InputError, nest, parseFields, parseJson, parseText } from "../src/values.js";
import { golden, metadata } from "./fixtures.mjs";

const input = (model, name) => metadata(model).inputs.find((t) => t.name === name);
const tokens = input("zoo-sequence", "tokens");
const numeric = input("zoo-tabular", "numeric");
const region = input("zoo-tabular", "region");
const text = input("zoo-text", "text");
const image = input("digits", "image");

test("token ids: a JSON list of 16 ints becomes an Int32Array shaped [16]", () => {
  const ids = golden("zoo-sequence").inputs.tokens.values[0];
  const { values, shape } = parseJson(JSON.stringify(ids), tokens);
  assert.ok(values instanceof Int32Array);
  assert.deepEqual(Array.from(values), ids);
  assert.deepEqual(shape, [16]);
});

test("token ids: wrong length, fractions, words, out of range and bad JSON each say so", () => {
  const sixteen = (v) => JSON.stringify([v, ...new Array(15).fill(1)]);
  assert.throws(() => parseJson("[1, 2, 3]", tokens), { name: "InputError", message: "tokens takes 16 values, got 3" });
  assert.throws(() => parseJson(sixteen(1.5), tokens), /tokens\[0\]: 1\.5 is not a whole number \(int32\)/);
  assert.throws(() => parseJson(sixteen("one"), tokens), /tokens\[0\]: "one" is not a number/);
  assert.throws(() => parseJson(sixteen(2 ** 31), tokens), /outside int32's range/);
  assert.throws(() => parseJson(sixteen(null), tokens), /tokens\[0\]: null is not a number/);
  assert.throws(() => parseJson("[1, 2,", tokens), /tokens: not valid JSON/);
  assert.throws(() => parseJson("[[1, 2], [3]]", tokens), /item 1 is shaped \[1\] but item 0 is \[2\]: the list is not rectangular/);
  assert.throws(() => parseJson("[1, 2,", tokens), InputError);
});

test("numeric fields: eleven typed strings become a Float32Array, each bad field named", () => {
  const row = golden("zoo-tabular").inputs.numeric.values[0].map(String);
  const { values, shape } = parseFields(row, numeric);
  assert.ok(values instanceof Float32Array);
  assert.deepEqual(Array.from(values), row.map((v) => Math.fround(Number(v))));
  assert.deepEqual(shape, [11]);
  const bad = (i, v) => row.map((x, j) => (j === i ? v : x));
  assert.throws(() => parseFields(bad(3, ""), numeric), { message: "numeric[3] is empty" });
  assert.throws(() => parseFields(bad(4, "1,5"), numeric), { message: 'numeric[4]: "1,5" is not a number' });
  assert.throws(() => parseFields(bad(5, "Infinity"), numeric), { message: "numeric[5]: Infinity is not a finite number" });
  assert.throws(() => parseFields(row.slice(1), numeric), { message: "numeric takes 11 values, got 10" });
  assert.deepEqual(Array.from(parseFields(bad(0, " 2e1 "), numeric).values.slice(0, 1)), [20]);
});

test("a text box gives one string shaped [1], for the text model and the tabular region", () => {
  assert.deepEqual(parseText("great phone, slow battery", text), { values: ["great phone, slow battery"], shape: [1] });
  assert.deepEqual(parseText("mid", region), { values: ["mid"], shape: [1] });
  assert.throws(() => parseText(3, text), /text: expected text/);
});

test("a JSON box for an image: nested [8][8][1] or flat 64, and the wrong shape named", () => {
  const nested = golden("digits").inputs.image.values[0];
  const a = parseJson(JSON.stringify(nested), image);
  const b = parseJson(JSON.stringify(nested.flat(2)), image);
  assert.deepEqual(a.shape, [8, 8, 1]);
  assert.deepEqual(b, a);
  assert.throws(() => parseJson(JSON.stringify(nested.slice(1)), image), {
    message: "image should be shaped [8, 8, 1] but is [7, 8, 1]",
  });
});

test("a variable-length input takes any length, and strings where it holds strings", () => {
  const any = { name: "ids", shape: [null, null], dtype: "int64" };
  assert.deepEqual(parseJson("[4, 5, 6]", any).shape, [3]);
  const words = { name: "words", shape: [null, 3], dtype: "string" };
  assert.deepEqual(parseJson('["a", "b", "c"]', words).values, ["a", "b", "c"]);
  assert.throws(() => parseJson('["a", 2, "c"]', words), /words\[1\]: 2 is not a string/);
});

test("nest puts flat values back in the shape, for the server's JSON", () => {
  assert.deepEqual(nest([1, 2, 3, 4, 5, 6], [2, 3]), [[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(nest(["mid"], [1]), ["mid"]);
  assert.equal(nest([7], []), 7);
});

test("every model's golden sample parses back through its own control", () => {
  // the page's presets: a sample shown in a control, read back, is the sample
  const cases = { "zoo-sequence": "tokens", "zoo-transformer": "tokens", "zoo-tabular": "numeric" };
  for (const [model, name] of Object.entries(cases)) {
    const control = formSpec(metadata(model)).controls.find((c) => c.input === name);
    const row = golden(model).inputs[name].values[1];
    const parsed = control.kind === "numbers" ? parseFields(row.map(String), input(model, name)) : parseJson(JSON.stringify(row), input(model, name));
    assert.deepEqual(Array.from(parsed.values), row.map((v) => Math.fround(v)), model);
  }
});
