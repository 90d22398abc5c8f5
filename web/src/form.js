// The page for any model, built from its signature: fill the inputs (or pick a golden sample) →
// predict in the browser → compare with the server. A model TF.js cannot take gets the same page
// with the server answering, and says why.
import { formatDiff, percentile } from "./format.js";
import { createFormUi } from "./form-ui.js";
import { goldenCount, goldenSample, pickSamples, preview } from "./golden.js";
import { loadInto } from "./loader.js";
import * as m from "./model.js";
import { compareOutputs, restBody, restOutputs } from "./rest.js";
import { InputError } from "./values.js";

/** Outputs by name as plain arrays, for JSON and for the tests. */
const plain = (outputs) => Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, Array.from(v)]));

/** Runs the page for `meta`; `noTfjs` is why the browser cannot run it (null when it can). */
export function startForm({ urls, meta, spec, noTfjs, backend: asked, shell }) {
  const ui = createFormUi(spec);
  shell.onError = (message) => ui.showError(message);
  const outputNames = spec.views.map((v) => v.output);
  const state = {
    model: null,
    golden: null,
    backend: null,
    loadMs: null,
    source: null,
    firstPredictionMs: null,
    fallbackReason: null,
    inputs: null, // the last inputs answered: { name: { values, shape } }
    outputs: null, // and the answer: { name: Float32Array }
    sample: null, // the golden sample the inputs came from, until the user edits one
    answers: 0, // how many answers the page has shown
  };

  // one prediction at a time, in order; idle() is what the tests and bench-web wait for
  let pending = 0;
  let queue = Promise.resolve();
  function schedule(fn) {
    pending++;
    queue = queue
      .then(fn)
      // a value the user can fix is shown beside its control (form-ui readInputs); the last answer stays
      .catch((err) => err instanceof InputError || ui.showPredictError(`Prediction failed: ${err.message}`))
      .finally(() => pending--);
    return queue;
  }

  /** The browser's answer, or the server's when the browser cannot run the model. */
  async function answer(inputs) {
    if (state.model) {
      const { outputs, ms } = await m.predictNamed(state.model, spec.controls, inputs, outputNames);
      return { outputs, ms, where: state.backend };
    }
    const start = performance.now();
    const doc = await m.postPredict(urls, restBody(meta, inputs));
    return { outputs: restOutputs(meta, doc), ms: performance.now() - start, where: "model server" };
  }

  async function run(inputs) {
    ui.clearServer();
    const { outputs, ms, where } = await answer(inputs);
    state.inputs = inputs;
    state.outputs = outputs;
    state.answers++;
    ui.showOutputs(outputs, ms, where);
    ui.showReferences(state.sample?.references ?? null, outputs);
    if (state.firstPredictionMs === null && state.model) {
      state.firstPredictionMs = performance.now(); // since navigation started
      ui.showFirstPrediction(state.firstPredictionMs);
    }
  }

  function onPredict() {
    return schedule(async () => run(ui.readInputs()));
  }

  function onSample(index) {
    const sample = goldenSample(state.golden, meta, index);
    ui.fillInputs(sample.inputs);
    state.sample = sample;
    return schedule(() => run(sample.inputs));
  }

  async function onCompare() {
    if (!state.inputs) {
      ui.showServer("Fill in the inputs and predict first.");
      return;
    }
    const { inputs, outputs } = state;
    ui.showServer("Asking the model server…", { pending: "true" });
    try {
      const server = restOutputs(meta, await m.postPredict(urls, restBody(meta, inputs)));
      const c = compareOutputs(spec.views, outputs, server);
      ui.showServer(`server and browser: ${c.text}`, {
        pending: "false",
        maxAbsDiff: c.maxAbsDiff,
        outputs: JSON.stringify(plain(server)),
      });
    } catch (err) {
      ui.showServer(err.message, { pending: "false", error: "true" });
    }
  }

  async function loadFor(backend) {
    const warm = m.zerosFor(spec.controls);
    const warmUp = (model) => m.predictNamed(model, spec.controls, warm, outputNames);
    await loadInto(state, backend, { urls, meta, ui, warmUp });
  }

  async function start() {
    const about = `${meta.name} v${meta.version ?? "?"} (${meta.source_commit ?? "?"})`;
    if (noTfjs || !spec.tfjs) {
      const why = noTfjs ?? spec.unsupported.join("; ");
      ui.showNoTfjs(`This model does not run in the browser: ${why}. The model server still serves it: "Ask the server" sends your input there.`);
      ui.showAbout(about);
      ui.setProgress(null);
      ui.setControlsEnabled(true);
    } else {
      await loadFor(asked);
      ui.showAbout(`${about} · TF.js ${m.tfjsVersion()}`);
    }
    try {
      state.golden = await m.loadGolden(urls);
    } catch {
      state.golden = null; // the strip is a bonus: the inputs work without it
    }
    if (state.golden && goldenCount(state.golden) > 0) {
      const picked = pickSamples(state.golden, spec.views[0]).map(({ index, caption }) => {
        const sample = goldenSample(state.golden, meta, index);
        const text = spec.controls.filter((c) => c.kind !== "image").map((c) => preview(sample.inputs[c.input], c));
        return { index, caption, inputs: sample.inputs, previewText: text.join(" · ") };
      });
      ui.showSamples(picked);
      await onSample(picked[0].index); // answered by the server when the browser cannot run it
    }
    const note = state.fallbackReason ? ` ${state.fallbackReason}` : "";
    const where = state.model ? `on ${state.backend}` : "through the model server";
    ui.setState("ready", `Ready: ${meta.name} ${where}.${note}`);
  }

  ui.on("predict", onPredict);
  ui.on("sample", onSample);
  ui.on("compare", onCompare);
  ui.on("edited", () => {
    state.sample = null;
  });
  ui.on("image", () => {
    // a new image answers at once when it is the only input; otherwise Predict does
    if (spec.controls.length === 1) onPredict();
  });
  ui.on("backend", (backend) =>
    schedule(async () => {
      await loadFor(backend);
      if (state.inputs) await run(state.inputs);
      ui.setState("ready", `Ready: ${meta.name} on ${state.backend}.`);
    }),
  );

  const ready = start();
  globalThis.demo = {
    page: "form",
    ready: ready.then(() => true, () => false),
    idle: () => pending === 0,
    state: () => ({
      backend: state.backend,
      loadMs: state.loadMs,
      source: state.source,
      firstPredictionMs: state.firstPredictionMs,
      checksum: meta.checksum,
      fallbackReason: state.fallbackReason,
      tfjs: Boolean(state.model),
      answers: state.answers,
    }),
    /** The last answer shown, by output name. */
    outputs: () => (state.outputs ? plain(state.outputs) : null),
    /** The inputs it answered, as nested lists by input name. */
    inputs: () =>
      state.inputs
        ? Object.fromEntries(Object.entries(state.inputs).map(([k, v]) => [k, { values: Array.from(v.values), shape: v.shape }]))
        : null,
    /** Every golden sample (or `limit` of them) through the page's predict: outputs by name, times. */
    async evaluateGolden(limit = Infinity) {
      const n = Math.min(limit, goldenCount(state.golden));
      const outputs = Object.fromEntries(outputNames.map((k) => [k, []]));
      const times = [];
      for (let i = 0; i < n; i++) {
        const sample = goldenSample(state.golden, meta, i);
        const { outputs: out, ms } = await m.predictNamed(state.model, spec.controls, sample.inputs, outputNames);
        for (const k of outputNames) outputs[k].push(Array.from(out[k]));
        times.push(ms);
      }
      return { outputs, times, backend: state.backend };
    },
    /** Single-sample latency over `runs` calls cycling through the golden samples. */
    async benchmark(runs = 200) {
      const samples = Array.from({ length: goldenCount(state.golden) }, (_, i) => goldenSample(state.golden, meta, i));
      const times = [];
      for (let i = 0; i < runs; i++) {
        const { ms } = await m.predictNamed(state.model, spec.controls, samples[i % samples.length].inputs, outputNames);
        times.push(ms);
      }
      times.sort((a, b) => a - b);
      return { backend: state.backend, runs, p50: percentile(times, 0.5), p99: percentile(times, 0.99) };
    },
    formatDiff,
  };
  return ready;
}
