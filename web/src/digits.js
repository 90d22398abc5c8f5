// The digits page: draw or pick a sample → predict → compare with the server. A model whose one
// input is an [8, 8, 1] image (the digits data's own format) gets it; any other gets form.js.
import { compare, formatDiff, formatPercent, percentile, topK } from "./format.js";
import { loadInto } from "./loader.js";
import * as m from "./model.js";
import { inputToCounts, preprocess } from "./preprocess.js";
import { createUi } from "./ui.js";

const SAMPLES_PER_CLASS = 2; // golden samples shown in the strip

/** Runs the digits page for `meta` (its metadata.json); `backend` is the one asked for. */
export function startDigits({ urls, meta, backend: asked, shell }) {
  const ui = createUi();
  shell.onError = (message) => ui.showError(message);

  const state = {
    meta,
    model: null,
    golden: null,
    backend: null,
    input: null, // the last input the model saw (Float32Array)
    probabilities: null,
    loadMs: null,
    source: null,
    firstPredictionMs: null,
    fallbackReason: null, // why the page runs on another backend than the one asked for
  };

  let busy = false;
  let dirty = false;
  let job = null; // what to run next: () => Promise

  async function show(input, counts) {
    ui.showGrid(counts);
    state.input = input;
    const { probabilities, ms } = await m.predict(state.model, state.meta, input);
    state.probabilities = probabilities;
    ui.showPrediction(topK(probabilities, state.meta.class_names, 3), probabilities, ms, state.backend);
    if (state.firstPredictionMs === null) {
      state.firstPredictionMs = performance.now(); // since navigation started
      ui.showFirstPrediction(state.firstPredictionMs);
    }
  }

  /** Runs the latest request only: strokes arrive faster than predictions on slow backends. */
  async function schedule(fn) {
    job = fn;
    if (busy) {
      dirty = true;
      return;
    }
    busy = true;
    try {
      do {
        dirty = false;
        const run = job;
        job = null;
        if (run) await run();
      } while (dirty || job);
    } catch (err) {
      ui.showError(`Prediction failed: ${err.message}`);
    } finally {
      busy = false;
    }
  }

  function onStrokes(strokes) {
    ui.clearServer();
    schedule(async () => {
      const { counts, input } = preprocess(strokes);
      if (strokes.flat().length === 0) {
        ui.showGrid(counts);
        ui.showEmpty(state.backend);
        state.input = null;
        return;
      }
      await show(input, counts);
    });
  }

  function goldenInput(index) {
    return Float32Array.from(state.golden.x[index]);
  }

  function onSample(index) {
    ui.clearServer();
    const input = goldenInput(index);
    const counts = inputToCounts(input);
    ui.showSampleOnPad(counts);
    schedule(() => show(input, counts));
  }

  async function onCompare() {
    if (!state.input) {
      ui.showServer("Draw a digit or pick a sample first.");
      return;
    }
    const input = state.input;
    const browser = state.probabilities;
    ui.showServer("Asking the model server…", { pending: "true" });
    try {
      const server = await m.predictOnServer(urls, state.meta, input);
      const c = compare(browser, server, state.meta.class_names);
      ui.showServer(c.text, {
        pending: "false",
        maxAbsDiff: c.maxAbsDiff,
        serverClass: c.serverClass,
        browserClass: c.browserClass,
        probabilities: JSON.stringify(Array.from(server)),
      });
    } catch (err) {
      ui.showServer(err.message, { pending: "false", error: "true" });
    }
  }

  async function loadFor(backend) {
    const warmUp = (model) => m.warmUp(model, state.meta);
    await loadInto(state, backend, { urls, meta: state.meta, ui, warmUp });
  }

  async function start() {
    await loadFor(asked);
    ui.showAbout(
      `${state.meta.name} v${state.meta.version} (${state.meta.source_commit ?? "?"}) · TF.js ${m.tfjsVersion()}`,
    );
    try {
      state.golden = await m.loadGolden(urls);
    } catch {
      state.golden = null; // the strip is a bonus: drawing works without it
    }
    if (state.golden) {
      const picked = [];
      const labels = state.golden.labels ?? state.golden.reference.map((r) => r.indexOf(Math.max(...r)));
      // a model without class names (one a user brought) has its classes by index
      const classes = state.meta.class_names ?? state.golden.reference[0].map((_, i) => String(i));
      for (let cls = 0; cls < classes.length; cls++) {
        let n = 0;
        labels.forEach((label, index) => {
          if (label === cls && n < SAMPLES_PER_CLASS) {
            picked.push({ index, label: classes[label], counts: inputToCounts(state.golden.x[index]) });
            n++;
          }
        });
      }
      ui.showSamples(picked);
      await schedule(async () => {
        const input = goldenInput(picked[0].index);
        ui.showSampleOnPad(inputToCounts(input));
        await show(input, inputToCounts(input));
      });
    } else {
      await schedule(async () => show(preprocess([]).input, preprocess([]).counts));
    }
    const note = state.fallbackReason ? ` ${state.fallbackReason}` : "";
    ui.setState("ready", `Ready: ${state.meta.name} on ${state.backend}. Draw a digit.${note}`);
  }

  ui.on("strokes", onStrokes);
  ui.on("sample", onSample);
  ui.on("compare", onCompare);
  ui.on("clear", () => {
    ui.clearPad();
    onStrokes([]);
  });
  ui.on("backend", (backend) =>
    schedule(async () => {
      await loadFor(backend);
      if (state.input) await show(state.input, inputToCounts(state.input));
      ui.setState("ready", `Ready: ${state.meta.name} on ${state.backend}.`);
    }),
  );

  // For the browser tests and bench-web: the page's own code path, called from outside.
  const ready = start();
  globalThis.demo = {
    page: "digits",
    ready: ready.then(() => true, () => false),
    idle: () => !busy && !dirty && !job,
    strokes: () => ui.strokes(),
    state: () => ({
      backend: state.backend,
      loadMs: state.loadMs,
      source: state.source,
      firstPredictionMs: state.firstPredictionMs,
      checksum: state.meta?.checksum,
      fallbackReason: state.fallbackReason,
    }),
    /** Every golden input (or `limit` of them) through the page's predict: outputs and times. */
    async evaluateGolden(limit = Infinity) {
      const n = Math.min(limit, state.golden.x.length);
      const outputs = [];
      const times = [];
      for (let i = 0; i < n; i++) {
        const { probabilities, ms } = await m.predict(state.model, state.meta, goldenInput(i));
        outputs.push(Array.from(probabilities));
        times.push(ms);
      }
      return { outputs, times, backend: state.backend };
    },
    /** Single-input latency over `runs` calls cycling through the golden inputs. */
    async benchmark(runs = 200) {
      const times = [];
      for (let i = 0; i < runs; i++) {
        const { ms } = await m.predict(state.model, state.meta, goldenInput(i % state.golden.x.length));
        times.push(ms);
      }
      times.sort((a, b) => a - b);
      return { backend: state.backend, runs, p50: percentile(times, 0.5), p99: percentile(times, 0.99) };
    },
    formatDiff,
    formatPercent,
  };
  return ready;
}
