// The page's entry: which model, what its signature calls for, and which page runs it.
// Query parameters: ?model=<name> (default: config.json's model, else digits),
// ?backend=wasm|webgl|cpu (default wasm).
// A model whose one input is an [8, 8, 1] image and that TF.js runs gets the digits page (its pad,
// grid and figures); every other model gets the page built from its signature (form.js), which
// also serves a model without a TF.js artifact through the model server alone.
import { startDigits } from "./digits.js";
import { startForm } from "./form.js";
import * as m from "./model.js";
import { formSpec } from "./signature.js";

const params = new URLSearchParams(globalThis.location.search);

// What the page shows before a page module owns it, and how either of them reports a failure.
const shell = {
  onError(message) {
    document.body.dataset.state = "error";
    const error = document.getElementById("error");
    error.textContent = message;
    error.hidden = false;
    document.getElementById("status").textContent = "The demo cannot run.";
    document.getElementById("progress").hidden = true;
  },
};

/** The model to show: ?model=, else the one the build or the web container was set to. */
async function modelName() {
  if (params.get("model")) return params.get("model");
  try {
    const response = await fetch("config.json", { cache: "no-cache" });
    if (response.ok) return (await response.json()).model || "digits";
  } catch {
    // no config.json: a page built before it existed
  }
  return "digits";
}

async function start() {
  const name = await modelName();
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new m.ModelError(`"${name}" is not a model name (letters, digits, '.', '_' and '-').`);
  }
  const urls = m.urlsFor(name);
  document.getElementById("status").textContent = `Loading ${name}'s metadata…`;
  // the manifest says whether TF.js could take the model; a page built without manifests (or a
  // deployment that does not serve them) has its metadata.json alone, which means it could
  const manifest = await m.loadManifest(urls).catch(() => null);
  const noTfjs = manifest ? m.whyNoTfjs(manifest) : null;
  const meta = noTfjs === null ? await m.loadMetadata(urls) : m.metadataFromManifest(manifest);
  const spec = formSpec(meta);
  const backend = params.get("backend") || "wasm";
  if (spec.digits && spec.tfjs) return startDigits({ urls, meta, backend, shell });
  return startForm({ urls, meta, manifest, spec, noTfjs, backend, shell });
}

const ready = start().then(
  () => true,
  (err) => {
    if (!(err instanceof m.ModelError)) console.error(err); // the stack, for whoever debugs it
    shell.onError(err instanceof m.ModelError ? err.message : `The demo failed to start: ${err.message}`);
    return false;
  },
);
globalThis.addEventListener("unhandledrejection", (e) => {
  shell.onError(`Unexpected error: ${e.reason?.message ?? e.reason}`);
});
globalThis.demoReady = ready;
