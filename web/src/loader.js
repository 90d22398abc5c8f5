// Loading a model on a TF.js backend, for both pages (digits.js and form.js): the progress bar,
// the load figures, the warm-up, and the fall-back to cpu when a backend cannot run the model.
import * as m from "./model.js";

/**
 * Loads `meta`'s model on `backend` and warms it up with `warmUp(model)`. A backend without a
 * kernel the model needs (wasm cannot run a GRU's loop in TF.js 4.22) fails the warm-up; the cpu
 * backend runs every op, so the page falls back to it and says why.
 * `ui` shows progress: setControlsEnabled, setBackends, setState, setProgress, showLoadStats.
 * Returns { backend, model, loadMs, source, fallbackReason }.
 */
export async function loadOn(backend, { urls, meta, ui, warmUp, previous = null }) {
  ui.setControlsEnabled(false);
  const used = await m.useBackend(backend, urls);
  ui.setBackends(m.BACKENDS, used);
  ui.setState("loading", `Loading the model on ${used}…`);
  ui.setProgress(0);
  previous?.dispose();
  const loaded = await m.loadModel(urls, meta, (f) => ui.setProgress(f));
  ui.showLoadStats(loaded);
  try {
    await warmUp(loaded.model);
  } catch (err) {
    if (used === "cpu" || err instanceof m.ModelError) throw err;
    const fallback = await loadOn("cpu", { urls, meta, ui, warmUp, previous: loaded.model });
    return { ...fallback, fallbackReason: `${used} could not run this model (${err.message}); running on cpu.` };
  }
  ui.setProgress(null);
  ui.setControlsEnabled(true);
  return { backend: used, model: loaded.model, loadMs: loaded.loadMs, source: loaded.source, fallbackReason: null };
}

/**
 * loadOn into a page's `state`: its backend, model (the previous one disposed), load figures and
 * the reason for a fall-back, which stays once given.
 */
export async function loadInto(state, backend, { urls, meta, ui, warmUp }) {
  const loaded = await loadOn(backend, { urls, meta, ui, warmUp, previous: state.model });
  Object.assign(state, {
    backend: loaded.backend,
    model: loaded.model,
    loadMs: loaded.loadMs,
    source: loaded.source,
    fallbackReason: loaded.fallbackReason ?? state.fallbackReason,
  });
}
