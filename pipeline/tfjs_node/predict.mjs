// Runs a TF.js graph model with @tensorflow/tfjs in Node, for the pipeline's verification.
//   node predict.mjs request.json
// request: {model_dir, input (raw little-endian float32), shape, output, result, output_name,
// latency_runs}. Writes the outputs as raw float32 and {shape, p50_ms, p99_ms, backend} as JSON.
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
    }),
  );
}

function pick(result, outputName) {
  if (result instanceof tf.Tensor) return result;
  if (Array.isArray(result)) return result[0];
  return result[outputName] ?? Object.values(result)[0];
}

// A graph model with control flow (the while loop of an RNN) has dynamic ops that predict()
// refuses ("Please use model.executeAsync()"); such a model is run with executeAsync instead.
async function infer(model, x, outputName) {
  if (!model.needsAsync) {
    try {
      return tf.tidy(() => pick(model.predict(x), outputName));
    } catch (err) {
      if (!/executeAsync/.test(String(err.message ?? err))) throw err;
      model.needsAsync = true;
    }
  }
  const result = await model.executeAsync(x);
  const y = pick(result, outputName);
  for (const t of result instanceof tf.Tensor ? [] : Object.values(result)) {
    if (t !== y) t.dispose();
  }
  return y;
}

function percentile(sorted, q) {
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (i - lo);
}

async function main() {
  const request = JSON.parse(await readFile(process.argv[2], "utf8"));
  await tf.setBackend("cpu");
  await tf.ready();
  const model = await loadGraphModel(request.model_dir);
  const raw = await readFile(request.input);
  const data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const x = tf.tensor(data, request.shape, "float32");

  const y = await infer(model, x, request.output_name);
  const outputs = await y.data();
  await writeFile(request.output, Buffer.from(outputs.buffer, outputs.byteOffset, outputs.byteLength));

  const n = request.shape[0];
  const runs = request.latency_runs;
  const samples = Array.from({ length: Math.min(n, runs) }, (_, i) => x.slice([i], [1]));
  const once = async (s) => {
    const out = await infer(model, s, request.output_name);
    await out.data();
    out.dispose();
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
    shape: y.shape,
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
