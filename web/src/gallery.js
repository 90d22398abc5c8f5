// The gallery: every model the deployment serves, its signature and each target's outcome from
// its manifest, linked to its page. models/index.json is the list of models (nginx's JSON listing
// of models/reports/ in the web container; written by build.mjs for a static build).
import { h } from "./dom.js";
import { urlsFor } from "./model.js";

const doc = document;

const el = (tag, attrs = {}, ...children) => h(doc, tag, attrs, ...children);

async function getJson(url) {
  const response = await fetch(url, { cache: "no-cache" });
  if (!response.ok) throw new Error(`${url} answered ${response.status} ${response.statusText}`);
  return response.json();
}

const tensors = (list) => list.map((t) => `${t.name} ${t.dtype} [${t.shape.map((d) => d ?? "N").join(", ")}]`).join("; ");

/** One model's card: name and version, signature, a line per target with its outcome. */
function card(name, manifest) {
  const tfjs = manifest.artifacts.find((a) => a.target === "tfjs");
  const runsHere = Boolean(tfjs?.published);
  const targets = el(
    "ul",
    { class: "targets", "aria-label": `${name}'s targets` },
    ...manifest.artifacts.map((a) => {
      const outcome = el("span", { class: "outcome", dataset: { outcome: a.outcome }, text: a.outcome });
      if (a.reason) outcome.title = a.reason;
      return el("li", { dataset: { target: a.target } }, el("span", { text: a.target }), outcome);
    }),
  );
  return el(
    "section",
    { class: "model", dataset: { model: name, tfjs: String(runsHere) } },
    el("h2", {}, el("a", { href: `index.html?model=${encodeURIComponent(name)}`, text: name }), ` v${manifest.version}`),
    el("p", { class: "note", text: `${manifest.passed ? "published" : "not published"} · in: ${tensors(manifest.inputs)} · out: ${tensors(manifest.outputs)}` }),
    el("p", { class: "where", text: runsHere ? "Runs in the browser (TF.js) and on the model server." : `Model server only: ${tfjs ? `TF.js ${tfjs.outcome} (${tfjs.reason})` : "no TF.js model"}.` }),
    targets,
  );
}

async function start() {
  const listing = await getJson("models/index.json");
  const names = listing.filter((e) => e.type === "directory").map((e) => e.name).sort();
  const cards = [];
  for (const name of names) {
    try {
      cards.push(card(name, await getJson(urlsFor(name).manifest)));
    } catch (err) {
      cards.push(el("section", { class: "model", dataset: { model: name, error: "true" } }, el("h2", { text: name }), el("p", { class: "input-error", text: `No manifest: ${err.message}` })));
    }
  }
  doc.getElementById("gallery").replaceChildren(...cards);
  doc.getElementById("status").textContent = names.length
    ? `${names.length} model(s).`
    : "No model has been published yet: run `make all`.";
  doc.body.dataset.state = "ready";
}

start().catch((err) => {
  doc.body.dataset.state = "error";
  const error = doc.getElementById("error");
  error.textContent = `The model list could not be loaded: ${err.message}`;
  error.hidden = false;
  doc.getElementById("status").textContent = "";
});
