// Pixels (an uploaded, pasted or camera image, as canvas ImageData) → an image input's values.
// The browser twin of the pipeline's predict_image (pipeline/data.py preprocess_image_bytes):
// [0, 1], single-channel images grey with a light background inverted so ink is bright, then
// area-averaged to the model's [H, W]. ImageData is { width, height, data: RGBA bytes }, so this
// runs in node on plain objects.
//
// Grey is ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B), the weights libjpeg and TensorFlow use;
// a decoder's own rounding can differ from it by a step of 1/255.

/** Resamples one channel plane [h, w] to [H, W] by area: each output pixel is the mean of the
 * input it covers, fractional pixels weighted by their overlap, as tf.image.resize "area". */
export function resizeArea(plane, h, w, H, W) {
  const out = new Float32Array(H * W);
  const sy = h / H;
  const sx = w / W;
  for (let oy = 0; oy < H; oy++) {
    const y0 = oy * sy;
    const y1 = y0 + sy;
    for (let ox = 0; ox < W; ox++) {
      const x0 = ox * sx;
      const x1 = x0 + sx;
      let sum = 0;
      for (let y = Math.floor(y0); y < Math.min(h, Math.ceil(y1)); y++) {
        const wy = Math.min(y + 1, y1) - Math.max(y, y0);
        for (let x = Math.floor(x0); x < Math.min(w, Math.ceil(x1)); x++) {
          const wx = Math.min(x + 1, x1) - Math.max(x, x0);
          sum += plane[y * w + x] * wy * wx;
        }
      }
      out[oy * W + ox] = sum / (sy * sx);
    }
  }
  return out;
}

/**
 * ImageData → { values: Float32Array(H * W * C), shape: [H, W, C] } for an image control
 * (signature.js controlFor): channels 1 (grey), 3 (RGB) or 4 (RGBA), scaled to the control's range.
 */
export function pixelsToInput(image, control) {
  const { width: w, height: h, data } = image;
  const { height: H, width: W, channels: C } = control;
  if (!(w > 0 && h > 0) || data.length !== w * h * 4) throw new Error("the image has no pixels");
  const planes = [];
  const n = w * h;
  if (C === 1) {
    const grey = new Float32Array(n);
    let mean = 0;
    for (let i = 0; i < n; i++) {
      grey[i] = (0.299 * data[4 * i] + 0.587 * data[4 * i + 1] + 0.114 * data[4 * i + 2]) / 255;
      mean += grey[i] / n;
    }
    if (control.invertLight && mean > 0.5) for (let i = 0; i < n; i++) grey[i] = 1 - grey[i];
    planes.push(grey);
  } else {
    for (let c = 0; c < C; c++) {
      const plane = new Float32Array(n);
      for (let i = 0; i < n; i++) plane[i] = data[4 * i + c] / 255;
      planes.push(plane);
    }
  }
  const [lo, hi] = control.range ?? [0, 1];
  const resized = planes.map((p) => resizeArea(p, h, w, H, W));
  const values = new Float32Array(H * W * C);
  for (let i = 0; i < H * W; i++) {
    for (let c = 0; c < C; c++) {
      const v = Math.min(1, Math.max(0, resized[c][i]));
      values[i * C + c] = lo + v * (hi - lo);
    }
  }
  return { values, shape: [H, W, C] };
}

/** An image input's values → RGBA bytes to show it (a golden sample's thumbnail), range to 0..255. */
export function inputToPixels(values, control) {
  const { height: H, width: W, channels: C } = control;
  const [lo, hi] = control.range ?? [0, 1];
  const data = new Uint8ClampedArray(H * W * 4);
  const byte = (v) => Math.round(((v - lo) / (hi - lo || 1)) * 255);
  for (let i = 0; i < H * W; i++) {
    if (C === 1) {
      const g = 255 - byte(values[i]); // ink bright in the input: drawn dark on paper
      data.set([g, g, g, 255], 4 * i);
    } else {
      data.set([byte(values[i * C]), byte(values[i * C + 1]), byte(values[i * C + 2]), C === 4 ? byte(values[i * C + 3]) : 255], 4 * i);
    }
  }
  return { width: W, height: H, data };
}
