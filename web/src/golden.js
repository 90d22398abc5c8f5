// The golden strip for any model: golden.json → samples with their exact inputs per input name
// and the Keras reference per output, so a click feeds the very values every runtime was
// verified on and shows the reference beside the browser's answer.
import { tensorsOf } from "./signature.js";
import { fromGolden, sizeOf, toTyped } from "./values.js";

export const SAMPLES_PER_CLASS = 2; // as the digits strip shows them
export const MAX_SAMPLES = 20; // a strip, not the whole set

/** How many samples the golden set holds. */
export function goldenCount(golden) {
  const first = Object.values(golden.inputs ?? {})[0];
  return (first?.values ?? golden.x ?? []).length;
}

/**
 * Sample `index` as the model takes it: { inputs: { name: { values, shape } },
 * references: { output: Float32Array }, label }. Every value is checked against the signature,
 * so a golden set from another model fails here with the input's name, not in TF.js.
 * A golden.json from before several inputs has only `x` and `reference`: the first input and output.
 */
export function goldenSample(golden, meta, index) {
  const { inputs, outputs } = tensorsOf(meta);
  const sample = { index, inputs: {}, references: {}, label: null };
  for (const tensor of inputs) {
    const stored = golden.inputs?.[tensor.name]?.values;
    if (stored) {
      sample.inputs[tensor.name] = fromGolden(stored[index], tensor);
    } else if (tensor === inputs[0] && golden.x) {
      // flat per sample, as the digits page has always read it
      const shape = tensor.shape.slice(1);
      if (golden.x[index].length !== sizeOf(shape)) {
        throw new Error(`the golden set's x has ${golden.x[index].length} values, ${tensor.name} takes ${sizeOf(shape)}`);
      }
      sample.inputs[tensor.name] = { values: toTyped(golden.x[index], tensor.dtype, tensor.name), shape };
    } else {
      throw new Error(`the golden set has no values for input ${tensor.name}`);
    }
  }
  for (const tensor of outputs) {
    const ref = golden.references?.[tensor.name] ?? (tensor === outputs[0] ? golden.reference : null);
    if (ref) sample.references[tensor.name] = Float32Array.from([ref[index]].flat(Infinity));
  }
  sample.label = labelOf(golden, outputs[0].name, index);
  return sample;
}

/** The first output's label for a sample: a class id, a value, or null when the set has none. */
function labelOf(golden, output, index) {
  const labels = golden.label_values?.[output] ?? golden.labels ?? null;
  if (!labels) return null;
  const v = labels[index];
  return Array.isArray(v) && v.length === 1 ? v[0] : v;
}

/**
 * Which samples the strip shows: for a classification first output with class labels,
 * SAMPLES_PER_CLASS of each class in class order (the digits strip's rule); otherwise the first
 * MAX_SAMPLES. `view` is the first output's view (signature.js viewFor).
 */
export function pickSamples(golden, view) {
  const n = goldenCount(golden);
  const labels = golden.label_values?.[view.output] ?? golden.labels ?? null;
  if (view.kind === "classes" && labels?.every((l) => Number.isInteger(l))) {
    const picked = [];
    for (let cls = 0; cls < view.classes; cls++) {
      let taken = 0;
      for (let i = 0; i < n && taken < SAMPLES_PER_CLASS; i++) {
        if (labels[i] === cls) {
          picked.push({ index: i, caption: view.classNames[cls] });
          taken++;
        }
      }
    }
    return picked.slice(0, MAX_SAMPLES);
  }
  return Array.from({ length: Math.min(n, MAX_SAMPLES) }, (_, i) => ({ index: i, caption: `#${i}` }));
}

/** A short text for a sample's button: its text, its first numbers, or nothing for images. */
export function preview(value, control, max = 40) {
  if (control.kind === "image") return "";
  const parts = Array.from(value.values, (v) => (typeof v === "string" ? v : formatNumber(v)));
  const text = control.kind === "text" ? parts.join(" ") : `[${parts.join(", ")}]`;
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function formatNumber(v) {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
}
