// A model's signature (its metadata.json) → the page it gets, as plain data: a "form spec".
// For each input the control that fits it, for each output the view that fits it. ui.js renders
// the spec; nothing here touches the DOM, so test/signature.test.mjs checks it on real metadata.
//
// Controls:
//   image   [H, W, C] float, C 1, 3 or 4: upload, paste, camera; drawing too when C is 1
//   text    a string input holding one string ([1] or []): a text box
//   numbers a float vector of at most MAX_FIELDS: labelled number fields
//   json    anything else (token ids, variable lengths, several strings): a JSON array box
//   unsupported  a dtype the page cannot hold (complex, …): the spec says why
// Views:
//   classes an output [K] with K > 1: bars, named from the metadata when it names them
//   values  anything else (a regression [1], a vector, a map): the numbers
// The classes rule is the pipeline's own (pipeline/verify.py score_output): an output with
// more than one column is a classification.
import { InputError, dtypeInfo, isFixed, sampleShape } from "./values.js";

export const MAX_FIELDS = 32; // a longer vector is easier to paste as a JSON list
export const MAX_SUGGESTIONS = 20; // distinct golden strings offered under a text box
export const IMAGE_CHANNELS = [1, 3, 4];

/** Inputs and outputs, from the metadata's lists or the flat first-input fields older files have. */
export function tensorsOf(meta) {
  const inputs = meta.inputs ?? [{ name: meta.input_name, shape: meta.input_shape, dtype: meta.input_dtype ?? "float32" }];
  const outputs = meta.outputs ?? [{ name: meta.output_name, shape: meta.output_shape, dtype: "float32" }];
  for (const t of [...inputs, ...outputs]) {
    if (typeof t?.name !== "string" || !Array.isArray(t.shape) || typeof t.dtype !== "string") {
      throw new InputError(`the metadata's tensor ${JSON.stringify(t)} has no name, shape and dtype`);
    }
  }
  return { inputs, outputs };
}

/** The control for one input; `golden` (optional) supplies presets and suggestions. */
export function controlFor(tensor, meta, golden = null) {
  const shape = sampleShape(tensor);
  const base = { input: tensor.name, dtype: tensor.dtype, shape, tfjsDtype: safeTfjsDtype(tensor.dtype) };
  if (base.tfjsDtype === null) {
    return { ...base, kind: "unsupported", reason: `${tensor.name} is ${tensor.dtype}, which the page cannot feed` };
  }
  const kind = dtypeInfo(tensor.dtype).kind;
  if (kind === "float" && shape.length === 3 && isFixed(shape) && IMAGE_CHANNELS.includes(shape[2])) {
    const [height, width, channels] = shape;
    const norm = meta.normalization ?? null;
    return {
      ...base,
      kind: "image",
      height,
      width,
      channels,
      sources: channels === 1 ? ["draw", "upload", "paste", "camera"] : ["upload", "paste", "camera"],
      // what a pixel becomes: [0, 1] unless the metadata states a range
      range: norm?.range ?? [0, 1],
      // single-channel models take ink bright on dark paper (pipeline predict_image's rule)
      invertLight: channels === 1,
      normalization: norm,
    };
  }
  if (kind === "string" && shape.every((d) => d === null || d === 1)) {
    return { ...base, kind: "text", suggestions: suggestions(golden, tensor.name) };
  }
  if (kind === "float" && shape.length === 1 && isFixed(shape) && shape[0] >= 1 && shape[0] <= MAX_FIELDS) {
    const names = meta.feature_names?.[tensor.name];
    const fields = Array.from({ length: shape[0] }, (_, i) => ({
      index: i,
      label: names?.[i] ?? `${tensor.name}[${i}]`,
    }));
    return { ...base, kind: "numbers", fields };
  }
  return {
    ...base,
    kind: "json",
    hint: jsonHint(tensor.dtype, shape),
  };
}

/** The view for one output; class names come from the metadata (they describe its first output). */
export function viewFor(tensor, meta, index) {
  const shape = sampleShape(tensor);
  if (shape.length === 1 && Number.isInteger(shape[0]) && shape[0] > 1) {
    const k = shape[0];
    const named = index === 0 && Array.isArray(meta.class_names) && meta.class_names.length === k;
    return {
      output: tensor.name,
      kind: "classes",
      classes: k,
      classNames: named ? meta.class_names : Array.from({ length: k }, (_, i) => String(i)),
      named,
      top: Math.min(3, k),
    };
  }
  return { output: tensor.name, kind: "values", shape };
}

/**
 * The whole page for a model: title, controls, views, and whether the browser can run it.
 * `tfjs` is false for a model without a TF.js artifact: the page then offers the server alone.
 */
export function formSpec(meta, golden = null) {
  const { inputs, outputs } = tensorsOf(meta);
  const controls = inputs.map((t) => controlFor(t, meta, golden));
  const views = outputs.map((t, i) => viewFor(t, meta, i));
  const unsupported = controls.filter((c) => c.kind === "unsupported").map((c) => c.reason);
  return {
    name: meta.name,
    version: meta.version ?? null,
    controls,
    views,
    tfjs: Boolean(meta.artifacts?.tfjs) && unsupported.length === 0,
    unsupported, // why the browser cannot feed an input, beside a missing TF.js artifact
    // the digits page: one [8, 8, 1] image, drawn; the page keeps its own pad, grid and figures
    digits: controls.length === 1 && controls[0].kind === "image" && controls[0].height === 8 &&
      controls[0].width === 8 && controls[0].channels === 1,
    title: title(controls),
  };
}

function safeTfjsDtype(dtype) {
  try {
    return dtypeInfo(dtype).tfjs;
  } catch {
    return null;
  }
}

function title(controls) {
  if (controls.length !== 1) return "Fill in the inputs";
  return { image: "Give it an image", text: "Type a text", numbers: "Fill in the values", json: "Enter the input" }[
    controls[0].kind
  ];
}

function jsonHint(dtype, shape) {
  const dims = shape.map((d) => d ?? "n").join(" x ") || "one value";
  const what = dtypeInfo(dtype).kind === "string" ? "strings" : `${dtype} numbers`;
  return `a JSON list of ${what}, ${dims}`;
}

/** Distinct strings a golden set feeds this input, when few enough to offer as choices. */
function suggestions(golden, name) {
  const values = golden?.inputs?.[name]?.values;
  if (!Array.isArray(values)) return [];
  const seen = new Set(values.flat(Infinity).filter((v) => typeof v === "string"));
  return seen.size <= MAX_SUGGESTIONS ? [...seen].sort() : [];
}
