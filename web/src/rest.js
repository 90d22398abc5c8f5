// Compare with the server, for any signature: the TF Serving REST predict body for one sample,
// the outputs read back from its answer, and the largest difference per output.
// Spec: tensorflow/serving g3doc/api_rest.md; the server's own reading is serving/json_tensor.py
// and its client's writing serving/client.py to_json, which this follows.
import { maxAbsDiff, argmax, formatDiff } from "./format.js";
import { tensorsOf } from "./signature.js";
import { nest } from "./values.js";

/**
 * One input's value as TF Serving's JSON: nested lists of the sample's shape. Strings go as
 * plain JSON strings; an input whose name ends in `_bytes` is binary and goes as {"b64": …}
 * (TF Serving's rule for binary data), as do bytes (Uint8Array) that are not UTF-8 text.
 */
export function toJson(name, { values, shape }) {
  const plain = Array.from(values, (v) => encodeEntry(name, v));
  return nest(plain, shape);
}

function encodeEntry(name, v) {
  if (typeof v === "number") return v;
  if (typeof v === "string") return name.endsWith("_bytes") ? { b64: base64(new TextEncoder().encode(v)) } : v;
  if (v instanceof Uint8Array) {
    if (!name.endsWith("_bytes")) {
      try {
        return new TextDecoder("utf-8", { fatal: true }).decode(v);
      } catch {
        // not UTF-8: only b64 carries it
      }
    }
    return { b64: base64(v) };
  }
  if (typeof v === "bigint") return Number(v);
  throw new Error(`${name}: cannot send ${typeof v} to the server`);
}

function base64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/**
 * The request body for one sample, `inputs` by name ({ values, shape } each).
 * One input: the row format, {"instances": [value]}, as the digits page has always sent.
 * Several: the columnar format, {"inputs": {name: [value]}}: each input named once, with its
 * batch of one, and the answer's outputs by name (a row body would need one object per row).
 */
export function restBody(meta, inputs, format = null) {
  const { inputs: specs } = tensorsOf(meta);
  for (const t of specs) if (!(t.name in inputs)) throw new Error(`no value for input ${t.name}`);
  const chosen = format ?? (specs.length === 1 ? "row" : "columnar");
  if (chosen === "row") {
    if (specs.length === 1) return { instances: [toJson(specs[0].name, inputs[specs[0].name])] };
    return { instances: [Object.fromEntries(specs.map((t) => [t.name, toJson(t.name, inputs[t.name])]))] };
  }
  if (chosen !== "columnar") throw new Error(`unknown REST format ${chosen}`);
  return { inputs: Object.fromEntries(specs.map((t) => [t.name, [toJson(t.name, inputs[t.name])]])) };
}

/**
 * The server's answer → { output: Float32Array } for the first (only) sample. TF Serving answers
 * in the request's format: "predictions" (rows) or "outputs" (columns), a bare value when the
 * signature has one output and an object by output name when it has several.
 */
export function restOutputs(meta, doc) {
  const { outputs } = tensorsOf(meta);
  const names = outputs.map((t) => t.name);
  const byName = (v) =>
    names.length === 1 && !(isObject(v) && names[0] in v) ? { [names[0]]: v } : v;
  let picked;
  if ("predictions" in doc) {
    picked = byName(doc.predictions[0]);
  } else if ("outputs" in doc) {
    const cols = byName(doc.outputs);
    picked = Object.fromEntries(Object.entries(cols).map(([k, v]) => [k, v[0]]));
  } else {
    throw new Error(`the server's answer has neither predictions nor outputs: ${JSON.stringify(doc).slice(0, 200)}`);
  }
  const result = {};
  for (const name of names) {
    if (!(name in picked)) throw new Error(`the server's answer has no output ${name}`);
    result[name] = Float32Array.from([picked[name]].flat(Infinity));
  }
  return result;
}

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/**
 * The browser's and the server's outputs side by side: per output the largest difference (and
 * for classes whether the top class agrees), and the largest over all outputs.
 */
export function compareOutputs(views, browser, server) {
  const rows = views.map((view) => {
    const b = browser[view.output];
    const s = server[view.output];
    if (!b || !s) throw new Error(`output ${view.output} is missing from the ${b ? "server's" : "browser's"} answer`);
    const row = { output: view.output, maxAbsDiff: maxAbsDiff(b, s) };
    if (view.kind === "classes") {
      row.browserClass = view.classNames[argmax(b)];
      row.serverClass = view.classNames[argmax(s)];
      row.sameClass = row.browserClass === row.serverClass;
    }
    row.text = `${view.output}: largest difference ${formatDiff(row.maxAbsDiff)}` +
      (row.serverClass === undefined ? "" : `, server ${row.serverClass}, browser ${row.browserClass}`);
    return row;
  });
  const worst = Math.max(0, ...rows.map((r) => r.maxAbsDiff));
  return { rows, maxAbsDiff: worst, text: rows.map((r) => r.text).join("; ") };
}
