// Runs a TF.js graph model with @tensorflow/tfjs in Node, for the pipeline's verification.
//   node predict.mjs request.json
// request: {model_dir, inputs: [{name, dtype, shape, file}], outputs: [name], output_dir, result,
// latency_runs}. An input file is raw little-endian float32 or int32, or a JSON array of strings.
// Writes each output as raw float32 (<output_dir>/<i>.f32) and {shapes, p50_ms, p99_ms, backend}.
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import * as tf from "@tensorflow/tfjs";

// tfjs's own file:// loader lives in tfjs-node (native binaries fetched at install time, which
// this project cannot rely on), so the model.json and its shards are read here and handed over.
async function loadGraphModel(dir) {
  const modelJson = JSON.parse(await readFile(path.join(dir, "model.json"), "utf8"));
  const weightSpecs = [];
  const shards = [];
  for (const group of modelJson.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const shard of group.paths) shards.push(await readFile(path.join(dir, shard)));
  }
  const joined = Buffer.concat(shards);
  const weightData = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength);
  return tf.loadGraphModel(
    tf.io.fromMemory({
      modelTopology: modelJson.modelTopology,
      weightSpecs,
      weightData,
      format: modelJson.format,
      generatedBy: modelJson.generatedBy,
      convertedBy: modelJson.convertedBy,
      signature: modelJson.signature,
      userDefinedMetadata: modelJson.userDefinedMetadata,
      // the graph that fills lookup tables (StringLookup, TextVectorization) before the first call
      modelInitializer: modelJson.modelInitializer,
      initializerSignature: modelJson.initializerSignature,
    }),
  );
}

// Inputs and outputs go by the signature's names (the executor maps them to graph nodes); the
// outputs come back as an array in the order asked for.
function asList(result) {
  return result instanceof tf.Tensor ? [result] : result;
}

// The ops tfjs-converter's executor cannot run synchronously (its model_analysis.js): loops and
// conditionals, dynamic shapes, lookup tables. execute() refuses a model with one ("Please use
// model.executeAsync()") only after running part of it, which leaves state behind (it breaks the
// wasm backend in the browser), so such a model is run with executeAsync from the start.
const DYNAMIC_OPS = new Set([
  "Switch", "Merge", "Enter", "Exit", "NextIteration", "StatelessIf", "StatelessWhile", "If", "While",
  "NonMaxSuppressionV2", "NonMaxSuppressionV3", "NonMaxSuppressionV5", "Where",
  "HashTable", "HashTableV2", "LookupTableImport", "LookupTableImportV2", "LookupTableFind",
  "LookupTableFindV2", "LookupTableSize", "LookupTableSizeV2",
]);

async function infer(model, inputs, outputNames) {
  if (model.needsAsync) return asList(await model.executeAsync(inputs, outputNames));
  return tf.tidy(() => asList(model.execute(inputs, outputNames)));
}

function percentile(sorted, q) {
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (i - lo);
}

async function readInput({ dtype, shape, file }) {
  const raw = await readFile(file);
  if (dtype === "string") return tf.tensor(JSON.parse(raw.toString("utf8")), shape, "string");
  const buffer = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
  const data = dtype === "int32" ? new Int32Array(buffer) : new Float32Array(buffer);
  return tf.tensor(data, shape, dtype);
}

// sample i of each named input (execute() adds the model's captured tables to the map it is given)
function sliceAll(inputs, names, i) {
  return Object.fromEntries(names.map((k) => [k, inputs[k].slice([i], [1])]));
}

async function main() {
  const request = JSON.parse(await readFile(process.argv[2], "utf8"));
  await tf.setBackend("cpu");
  await tf.ready();
  const model = await loadGraphModel(request.model_dir);
  model.needsAsync = (model.artifacts?.modelTopology?.node ?? []).some((n) => DYNAMIC_OPS.has(n.op));
  const inputs = {};
  for (const spec of request.inputs) inputs[spec.name] = await readInput(spec);

  const ys = await infer(model, { ...inputs }, request.outputs);
  const shapes = [];
  for (const [i, y] of ys.entries()) {
    const values = await y.cast("float32").data();
    await writeFile(
      path.join(request.output_dir, `${i}.f32`),
      Buffer.from(values.buffer, values.byteOffset, values.byteLength),
    );
    shapes.push(y.shape);
  }
  tf.dispose(ys);

  const n = request.inputs[0].shape[0];
  const runs = request.latency_runs;
  const names = request.inputs.map((spec) => spec.name);
  const samples = Array.from({ length: Math.min(n, runs) }, (_, i) => sliceAll(inputs, names, i));
  const once = async (s) => {
    const out = await infer(model, { ...s }, request.outputs);
    await Promise.all(out.map((t) => t.data()));
    tf.dispose(out);
  };
  await once(samples[0]); // warm-up
  const times = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await once(samples[i % samples.length]);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const result = {
    shapes,
    p50_ms: percentile(times, 0.5),
    p99_ms: percentile(times, 0.99),
    backend: tf.getBackend(),
    execute_async: Boolean(model.needsAsync),
    tfjs_version: tf.version.tfjs,
  };
  await writeFile(request.result, JSON.stringify(result));
}

main().catch((err) => {
  console.error(`tfjs-node: ${err.message ?? err}`);
  process.exit(1);
});
