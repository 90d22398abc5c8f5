// Values a user typed (or a golden sample holds) → the typed array one input tensor takes.
// Plain functions, no DOM: the page and the tests (test/values.test.mjs) call the same code.
// A value is { values, shape }: `values` flat and row-major (a typed array, or an Array of
// strings for a string input), `shape` the sample's own dims without the batch.

/** A value the user can fix: the page shows its message beside the control. */
export class InputError extends Error {
  name = "InputError";
}

// TensorFlow dtype → how the page holds it. TF.js has no 64-bit types: its converter turns
// int64 into int32 and float64 into float32, so the browser's tensor is built in those.
const DTYPES = {
  float16: { array: Float32Array, tfjs: "float32", kind: "float" },
  float32: { array: Float32Array, tfjs: "float32", kind: "float" },
  float64: { array: Float64Array, tfjs: "float32", kind: "float" },
  bfloat16: { array: Float32Array, tfjs: "float32", kind: "float" },
  int8: { array: Int8Array, tfjs: "int32", kind: "int", min: -128, max: 127 },
  uint8: { array: Uint8Array, tfjs: "int32", kind: "int", min: 0, max: 255 },
  int16: { array: Int16Array, tfjs: "int32", kind: "int", min: -32768, max: 32767 },
  uint16: { array: Uint16Array, tfjs: "int32", kind: "int", min: 0, max: 65535 },
  int32: { array: Int32Array, tfjs: "int32", kind: "int", min: -(2 ** 31), max: 2 ** 31 - 1 },
  // int64 travels as int32 in TF.js; a value past int32 could not reach the browser's model
  int64: { array: Int32Array, tfjs: "int32", kind: "int", min: -(2 ** 31), max: 2 ** 31 - 1 },
  bool: { array: Uint8Array, tfjs: "bool", kind: "bool" },
  string: { array: Array, tfjs: "string", kind: "string" },
};

export function dtypeInfo(dtype) {
  const info = DTYPES[dtype];
  if (!info) throw new InputError(`dtype ${dtype} is not one the page can feed`);
  return info;
}

/** The sample's dims (the batch dimension left out); null where the length may vary. */
export function sampleShape(tensor) {
  return tensor.shape.slice(1);
}

export function isFixed(shape) {
  return shape.every((d) => Number.isInteger(d) && d >= 0);
}

export function sizeOf(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * One entry (a typed or golden number, or a string) as the dtype holds it.
 * `where` names it in the message: "numeric[3]", "tokens at [0][5]".
 */
export function parseScalar(raw, dtype, where) {
  const info = dtypeInfo(dtype);
  if (info.kind === "string") {
    if (typeof raw === "string" || raw instanceof Uint8Array) return raw;
    throw new InputError(`${where}: ${JSON.stringify(raw)} is not a string`);
  }
  let n = raw;
  if (typeof raw === "string") {
    const text = raw.trim();
    if (text === "") throw new InputError(`${where} is empty`);
    n = Number(text);
    if (Number.isNaN(n)) throw new InputError(`${where}: "${text}" is not a number`);
  } else if (typeof raw === "boolean" && info.kind === "bool") {
    n = raw ? 1 : 0;
  } else if (typeof raw !== "number") {
    throw new InputError(`${where}: ${JSON.stringify(raw)} is not a number`);
  }
  if (!Number.isFinite(n)) throw new InputError(`${where}: ${n} is not a finite number`);
  if (info.kind === "int") {
    if (!Number.isInteger(n)) throw new InputError(`${where}: ${n} is not a whole number (${dtype})`);
    if (n < info.min || n > info.max) {
      throw new InputError(`${where}: ${n} is outside ${dtype}'s range ${info.min}..${info.max}`);
    }
  }
  if (info.kind === "bool" && n !== 0 && n !== 1) {
    throw new InputError(`${where}: ${n} is not a boolean (0 or 1)`);
  }
  return n;
}

/** A flat list of entries (strings or numbers) → the dtype's array, every entry checked. */
export function toTyped(entries, dtype, label) {
  const info = dtypeInfo(dtype);
  const out = info.array === Array ? new Array(entries.length) : new info.array(entries.length);
  entries.forEach((raw, i) => {
    out[i] = parseScalar(raw, dtype, `${label}[${i}]`);
  });
  return out;
}

/**
 * Nested JSON lists → flat entries and the shape they make, checked rectangular.
 * A scalar is shape []. Throws on a ragged list: "tokens: row 2 has 15 entries, row 0 has 16".
 */
export function flatten(nested, label) {
  if (!Array.isArray(nested)) return { entries: [nested], shape: [] };
  if (nested.length === 0) return { entries: [], shape: [0] };
  const parts = nested.map((item, i) => flatten(item, `${label}[${i}]`));
  const inner = parts[0].shape;
  parts.forEach((p, i) => {
    if (p.shape.join(",") !== inner.join(",")) {
      throw new InputError(
        `${label}: item ${i} is shaped [${p.shape}] but item 0 is [${inner}]: the list is not rectangular`,
      );
    }
  });
  return { entries: parts.flatMap((p) => p.entries), shape: [nested.length, ...inner] };
}

/** Flat row-major values back into nested lists of `shape`: TF Serving's JSON wants them so. */
export function nest(values, shape) {
  if (shape.length === 0) return values[0];
  const [d, ...rest] = shape;
  const step = sizeOf(rest);
  return Array.from({ length: d }, (_, i) => nest(values.slice(i * step, (i + 1) * step), rest));
}

/** Does a value's shape fit the declared one (null dims take any length)? */
export function checkShape(shape, declared, label) {
  const want = `[${declared.map((d) => d ?? "any").join(", ")}]`;
  if (declared.length === 1 && shape.length === 1 && declared[0] !== null && declared[0] !== shape[0]) {
    throw new InputError(`${label} takes ${declared[0]} values, got ${shape[0]}`);
  }
  if (shape.length !== declared.length) {
    throw new InputError(`${label} should be shaped ${want} but is [${shape.join(", ")}]`);
  }
  declared.forEach((d, i) => {
    if (d !== null && d !== shape[i]) {
      throw new InputError(`${label} should be shaped ${want} but is [${shape.join(", ")}]`);
    }
  });
}

/**
 * The JSON array box: text → { values, shape } for `tensor` ({ name, dtype, shape }).
 * Nested lists must match the sample's shape; with every dim fixed a flat list of the right
 * length is taken too, read row-major. A bare string or number fills a one-entry input.
 */
export function parseJson(text, tensor) {
  const label = tensor.name;
  const declared = sampleShape(tensor);
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${label}: not valid JSON (${err.message})`);
  }
  let { entries, shape } = flatten(doc, label);
  const fixed = isFixed(declared);
  if (fixed && shape.length <= 1 && declared.length !== shape.length) {
    // flat (or a scalar) where the input is nested: read it row-major when the count fits
    const want = sizeOf(declared);
    if (entries.length !== want) {
      throw new InputError(`${label} takes ${want} values (shaped [${declared}]), got ${entries.length}`);
    }
    shape = declared;
  }
  checkShape(shape, declared, label);
  return { values: toTyped(entries, tensor.dtype, label), shape };
}

/** Labelled number fields: one raw string per field → { values, shape } (a vector). */
export function parseFields(raws, tensor) {
  const [n] = sampleShape(tensor);
  if (raws.length !== n) throw new InputError(`${tensor.name} takes ${n} values, got ${raws.length}`);
  return { values: toTyped(raws, tensor.dtype, tensor.name), shape: [n] };
}

/** The text box: one string fills every entry of a one-entry string input ([1] or []). */
export function parseText(text, tensor) {
  if (typeof text !== "string") throw new InputError(`${tensor.name}: expected text`);
  const shape = sampleShape(tensor).map((d) => d ?? 1);
  if (sizeOf(shape) !== 1) throw new InputError(`${tensor.name} takes ${sizeOf(shape)} strings, not one text`);
  return { values: [text], shape };
}

/** A golden sample's nested value for one input → { values, shape }, checked like a typed one. */
export function fromGolden(nested, tensor) {
  const { entries, shape } = flatten(nested, tensor.name);
  checkShape(shape, sampleShape(tensor), tensor.name);
  return { values: toTyped(entries, tensor.dtype, tensor.name), shape };
}
