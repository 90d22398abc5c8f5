// Uploaded, pasted or camera pixels become an image input as the pipeline's predict_image makes one.
import assert from "node:assert/strict";
import { test } from "node:test";
import { inputToPixels, pixelsToInput, resizeArea } from "../src/image.js";
import { preprocess } from "../src/preprocess.js";
import { formSpec } from "../src/signature.js";
import { metadata } from "./fixtures.mjs";

const controlOf = (model) => formSpec(metadata(model)).controls[0];

/** ImageData-like RGBA from a function of (x, y) → [r, g, b]. */
function imageData(width, height, rgb) {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set([...rgb(x, y), 255], 4 * (y * width + x));
  return { width, height, data };
}

test("a picture of a drawn digit, dark on white, gives the input drawing it gives", () => {
  // the page's own 32x32 bitmap of a seven, as black ink on white paper: area to 8x8 is the
  // 4x4 block count over 16, so the upload path and the drawing path agree exactly
  const { bitmap, input } = preprocess([[[0.2, 0.1], [0.8, 0.1], [0.4, 0.9]]]);
  const photo = imageData(32, 32, (x, y) => (bitmap[y * 32 + x] ? [0, 0, 0] : [255, 255, 255]));
  const { values, shape } = pixelsToInput(photo, controlOf("digits"));
  assert.deepEqual(shape, [8, 8, 1]);
  assert.deepEqual(Array.from(values), Array.from(input));
});

test("ink already bright on dark paper is not inverted", () => {
  const { bitmap, input } = preprocess([[[0.5, 0.1], [0.5, 0.9]]]);
  const photo = imageData(32, 32, (x, y) => (bitmap[y * 32 + x] ? [255, 255, 255] : [0, 0, 0]));
  assert.deepEqual(Array.from(pixelsToInput(photo, controlOf("digits")).values), Array.from(input));
});

test("an RGB model keeps its three channels in [0, 1], resized by area", () => {
  const control = controlOf("zoo-image_cnn");
  const half = imageData(64, 64, (x) => (x < 32 ? [255, 0, 51] : [0, 255, 0]));
  const { values, shape } = pixelsToInput(half, control);
  assert.deepEqual(shape, [16, 16, 3]);
  assert.deepEqual(Array.from(values.slice(0, 3)), [1, 0, Math.fround(0.2)]);
  assert.deepEqual(Array.from(values.slice(15 * 3, 16 * 3)), [0, 1, 0]);
});

test("area resizing weighs the pixels a cell covers in part, as tf.image.resize 'area' does", () => {
  const out = resizeArea(Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8]), 3, 3, 2, 2);
  // cell (0, 0) covers 1.5 x 1.5 pixels: pixel 0 whole, 1 and 3 by half, 4 by a quarter
  assert.deepEqual(Array.from(out), [3 / 2.25, 6 / 2.25, 12 / 2.25, 15 / 2.25].map(Math.fround));
});

test("an input shown as pixels reads back as itself, within a byte", () => {
  for (const model of ["digits", "zoo-image_cnn"]) {
    const control = controlOf(model);
    const n = control.height * control.width * control.channels;
    const values = Float32Array.from({ length: n }, (_, i) => (i % 17) / 16);
    const back = pixelsToInput(inputToPixels(values, control), control).values;
    assert.ok(back.every((v, i) => Math.abs(v - values[i]) <= 1 / 255), model);
  }
});

test("an image without pixels is refused", () => {
  assert.throws(() => pixelsToInput({ width: 0, height: 0, data: new Uint8ClampedArray() }, controlOf("digits")), /no pixels/);
});
