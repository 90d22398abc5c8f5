// Loads the model and what describes it from one table of URLs; runs it; asks the server.
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";

/** Every URL the page fetches, relative to the page: `make web` lays dist/ out to match. */
export function urlsFor(name) {
  return {
    manifest: `models/${name}/manifest.json`, // the pipeline's record: signature, every target's outcome
    metadata: `models/${name}/metadata.json`, // class names, shapes, the artifact's sha256
    model: `models/${name}/model.json`, // TF.js graph model + weight shards beside it
    golden: `models/${name}/golden.json`, // held-out inputs with the Keras reference outputs
    wasm: "wasm/", // the wasm backend's binaries, served here: no CDN
    predict: `/v1/models/${name}:predict`, // TF Serving REST, same origin (proxied)
    cache: `indexeddb://keras-deploy-${name}-`, // + the sha256: one cached copy per build
  };
}

export const BACKENDS = ["wasm", "webgl", "cpu"];

/** A failure the page explains in words rather than a stack trace. */
export class ModelError extends Error {}

async function fetchJson(url, what) {
  let response;
  try {
    response = await fetch(url, { cache: "no-cache" });
  } catch (err) {
    throw new ModelError(`Could not fetch the ${what} (${url}): ${err.message}`);
  }
  if (!response.ok) {
    throw new ModelError(
      `The ${what} is missing: ${url} answered ${response.status} ${response.statusText}. ` +
        "Build the page with the model copied in: make web",
    );
  }
  try {
    return await response.json();
  } catch {
    throw new ModelError(`The ${what} is corrupt: ${url} is not valid JSON.`);
  }
}

export async function loadMetadata(urls) {
  const meta = await fetchJson(urls.metadata, "model's metadata");
  if (!Array.isArray(meta.input_shape) || !Array.isArray(meta.output_shape)) {
    throw new ModelError(`The model's metadata (${urls.metadata}) has no input and output shapes.`);
  }
  return { ...meta, checksum: meta.artifacts?.tfjs?.sha256 ?? "" };
}

/**
 * The manifest of the model's last run (models/reports/<name>/manifest.json): its signature and
 * every target's outcome, so a page without a TF.js model can say why and still offer the server.
 */
export async function loadManifest(urls) {
  return fetchJson(urls.manifest, "model's manifest");
}

/** What the page needs from a manifest when there is no TF.js metadata: the signature alone. */
export function metadataFromManifest(manifest) {
  return {
    name: manifest.model,
    version: manifest.version,
    source_commit: manifest.source_commit,
    inputs: manifest.inputs,
    outputs: manifest.outputs,
    input_shape: manifest.inputs?.[0]?.shape,
    output_shape: manifest.outputs?.[0]?.shape,
    class_names: manifest.class_names ?? null,
    normalization: manifest.normalization ?? null,
    artifacts: {},
    checksum: "",
  };
}

/** Why the browser cannot run the model, from the manifest's tfjs row; null when it can. */
export function whyNoTfjs(manifest) {
  const row = manifest?.artifacts?.find((a) => a.target === "tfjs");
  if (!row) return "the pipeline made no TF.js model for it";
  if (row.published) return null;
  return `its TF.js conversion ended "${row.outcome}": ${row.reason}`;
}

export async function loadGolden(urls) {
  return fetchJson(urls.golden, "golden set");
}

/** Picks a backend; falls back to cpu (always there) and says which one runs. */
export async function useBackend(name, urls) {
  setWasmPaths(new URL(urls.wasm, globalThis.location.href).href);
  try {
    if (!(await tf.setBackend(name))) throw new Error(`${name} did not initialise`);
    await tf.ready();
  } catch {
    await tf.setBackend("cpu");
    await tf.ready();
  }
  return tf.getBackend();
}

/**
 * The graph model, from IndexedDB when this build's copy is cached there, else from the server
 * (then cached, and copies of other builds removed): the sha256 the pipeline recorded for the
 * artifact is the cache key, so a new model is fetched the first time the page sees it.
 */
export async function loadModel(urls, meta, onProgress = () => {}) {
  const start = performance.now();
  const key = meta.checksum ? urls.cache + meta.checksum.slice(0, 16) : null;
  let cached = {};
  try {
    cached = await tf.io.listModels();
  } catch {
    // no IndexedDB (private window, file://): load from the server every time
  }
  let model = null;
  let source = "network";
  if (key && key in cached) {
    try {
      model = await tf.loadGraphModel(key);
      source = "cache";
    } catch {
      model = null; // a damaged cache entry: fetch again below
    }
  }
  if (!model) {
    const head = await fetch(urls.model, { method: "HEAD", cache: "no-cache" }).catch(() => null);
    if (head && !head.ok) {
      throw new ModelError(
        `The model is missing: ${urls.model} answered ${head.status} ${head.statusText}. ` +
          "Build the page with the model copied in: make web",
      );
    }
    try {
      model = await tf.loadGraphModel(urls.model, {
        onProgress,
        requestInit: { cache: "no-cache" },
      });
    } catch (err) {
      throw new ModelError(`The model is corrupt and could not be loaded (${urls.model}): ${err.message}`);
    }
  }
  checkShapes(model, meta);
  model.needsAsync = hasDynamicOps(model);
  onProgress(1);
  const loadMs = performance.now() - start;
  if (key && source === "network") await refreshCache(model, key, urls.cache, cached);
  return { model, source, loadMs };
}

async function refreshCache(model, key, prefix, cached) {
  try {
    await model.save(key);
    for (const old of Object.keys(cached)) {
      if (old.startsWith(prefix) && old !== key) await tf.io.removeModel(old);
    }
  } catch {
    // caching is an optimisation: the page works without it
  }
}

function checkShapes(model, meta) {
  if (meta.inputs?.length > 1) {
    // several inputs: the graph's inputs include its tables' initialisers, so check by signature name
    const names = Object.keys(model.signature?.inputs ?? {});
    const missing = meta.inputs.map((t) => t.name).filter((n) => names.length && !names.includes(n));
    if (missing.length) {
      throw new ModelError(`The model has no input ${missing.join(", ")} that its metadata names: mismatched files.`);
    }
    return;
  }
  const want = meta.input_shape.slice(1).join("x");
  const got = (model.inputs[0]?.shape ?? []).slice(1).join("x");
  if (got && want !== got) {
    throw new ModelError(`The model takes ${got} inputs but its metadata says ${want}: mismatched files.`);
  }
}

function inputShape(meta) {
  return [1, ...meta.input_shape.slice(1)];
}

function pick(result, outputName) {
  if (result instanceof tf.Tensor) return result;
  if (Array.isArray(result)) return result[0];
  return result[outputName] ?? Object.values(result)[0];
}

/**
 * One input (Float32Array, row-major) through the model: its probabilities and the time taken.
 * A graph model with control flow (an RNN's loop) or a lookup table has dynamic ops that
 * predict() refuses ("Please use model.executeAsync()"); such a model runs with executeAsync.
 */
export async function predict(model, meta, input) {
  const start = performance.now();
  const x = tf.tensor(input, inputShape(meta), "float32");
  let y;
  try {
    y = await infer(model, x, meta.output_name);
  } finally {
    x.dispose();
  }
  const probabilities = await y.data();
  y.dispose();
  return { probabilities, ms: performance.now() - start };
}

// The ops tfjs-converter's executor cannot run synchronously (its model_analysis.js): loops and
// conditionals, dynamic shapes, lookup tables. A model with one is run with executeAsync from the
// start: a predict() that fails part-way leaves state behind that breaks the wasm backend.
const DYNAMIC_OPS = new Set([
  "Switch", "Merge", "Enter", "Exit", "NextIteration", "StatelessIf", "StatelessWhile", "If", "While",
  "NonMaxSuppressionV2", "NonMaxSuppressionV3", "NonMaxSuppressionV5", "Where",
  "HashTable", "HashTableV2", "LookupTableImport", "LookupTableImportV2", "LookupTableFind",
  "LookupTableFindV2", "LookupTableSize", "LookupTableSizeV2",
]);

function hasDynamicOps(model) {
  const nodes = model.artifacts?.modelTopology?.node ?? [];
  return nodes.some((node) => DYNAMIC_OPS.has(node.op));
}

async function infer(model, x, outputName) {
  if (!model.needsAsync) return tf.tidy(() => pick(model.predict(x), outputName));
  const result = await model.executeAsync(x);
  const y = pick(result, outputName);
  tf.dispose((result instanceof tf.Tensor ? [] : Object.values(result)).filter((t) => t !== y));
  return y;
}

/**
 * One sample of every input through the model, by the signature's names:
 * `inputs` { name: { values, shape } } (values.js), `specs` the controls (their tfjsDtype),
 * `outputs` the output names. Returns { outputs: { name: Float32Array }, ms }.
 */
export async function predictNamed(model, specs, inputs, outputs) {
  const start = performance.now();
  const feed = {};
  try {
    for (const spec of specs) {
      const { values, shape } = inputs[spec.input];
      const data = spec.tfjsDtype === "string" ? Array.from(values) : values;
      feed[spec.input] = tf.tensor(data, [1, ...shape], spec.tfjsDtype);
    }
    const ys = model.needsAsync
      ? await model.executeAsync({ ...feed }, outputs)
      : tf.tidy(() => model.execute({ ...feed }, outputs));
    const list = ys instanceof tf.Tensor ? [ys] : ys;
    const result = {};
    try {
      for (const [i, name] of outputs.entries()) result[name] = Float32Array.from(await list[i].data());
    } finally {
      tf.dispose(list);
    }
    return { outputs: result, ms: performance.now() - start };
  } finally {
    tf.dispose(Object.values(feed));
  }
}

/** An input of zeros (or empty strings) per control: the generic page's warm-up. */
export function zerosFor(specs) {
  return Object.fromEntries(
    specs.map((spec) => {
      const shape = spec.shape.map((d) => d ?? 1);
      const n = shape.reduce((a, b) => a * b, 1);
      const values = spec.tfjsDtype === "string" ? new Array(n).fill("") : new Float32Array(n);
      return [spec.input, { values, shape }];
    }),
  );
}

/** The first call compiles kernels (and shaders on webgl): pay it on zeros, before the user. */
export async function warmUp(model, meta) {
  const size = inputShape(meta).reduce((a, b) => a * b, 1);
  return predict(model, meta, new Float32Array(size));
}

/** TF Serving's REST predict, row format: the same input, as nested [8][8][1] lists. */
export async function predictOnServer(urls, meta, input) {
  const [, h, w, c] = inputShape(meta);
  const instance = Array.from({ length: h }, (_, r) =>
    Array.from({ length: w }, (_, col) =>
      Array.from({ length: c }, (_, k) => input[(r * w + col) * c + k]),
    ),
  );
  const prediction = (await postPredict(urls, { instances: [instance] })).predictions[0];
  return Float32Array.from(Array.isArray(prediction) ? prediction : prediction[meta.output_name]);
}

/** POSTs a predict body (rest.js restBody) to TF Serving's REST API: its parsed answer. */
export async function postPredict(urls, request) {
  let response;
  try {
    response = await fetch(urls.predict, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(request),
    });
  } catch (err) {
    throw new Error(`The model server is unreachable (${urls.predict}): ${err.message}`);
  }
  const body = await response.text();
  if (!response.ok) {
    let reason = body.slice(0, 200);
    try {
      reason = JSON.parse(body).error ?? reason;
    } catch {
      // not JSON: show the start of the body
    }
    throw new Error(`The model server answered ${response.status}: ${reason}`);
  }
  try {
    return JSON.parse(body);
  } catch {
    throw new Error(`The model server's answer is not JSON: ${body.slice(0, 200)}`);
  }
}

export function tfjsVersion() {
  return tf.version.tfjs;
}
