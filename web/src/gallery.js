// The gallery: every model the deployment serves, its signature and each target's outcome from
// its manifest, linked to its page. models/index.json is the list of models (nginx's JSON listing
// of models/reports/ in the web container; written by build.mjs for a static build).
import { urlsFor } from "./model.js";

const doc = document;

function h(tag, attrs = {}, ...children) {
  const el = doc.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") el.textContent = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, String(v));
  }
  el.append(...children);
  return el;
}

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
  const targets = h(
    "ul",
    { class: "targets", "aria-label": `${name}'s targets` },
    ...manifest.artifacts.map((a) => {
      const outcome = h("span", { class: "outcome", dataset: { outcome: a.outcome }, text: a.outcome });
      if (a.reason) outcome.title = a.reason;
      return h("li", { dataset: { target: a.target } }, h("span", { text: a.target }), outcome);
    }),
  );
  return h(
    "section",
    { class: "model", dataset: { model: name, tfjs: String(runsHere) } },
    h("h2", {}, h("a", { href: `index.html?model=${encodeURIComponent(name)}`, text: name }), ` v${manifest.version}`),
    h("p", { class: "note", text: `${manifest.passed ? "published" : "not published"} · in: ${tensors(manifest.inputs)} · out: ${tensors(manifest.outputs)}` }),
    h("p", { class: "where", text: runsHere ? "Runs in the browser (TF.js) and on the model server." : `Model server only: ${tfjs ? `TF.js ${tfjs.outcome} (${tfjs.reason})` : "no TF.js model"}.` }),
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
      cards.push(h("section", { class: "model", dataset: { model: name, error: "true" } }, h("h2", { text: name }), h("p", { class: "input-error", text: `No manifest: ${err.message}` })));
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
