// Builds the demo into one folder: bundles (esbuild), pages, wasm binaries, and the models copied in.
//   node web/build.mjs [--models-dir models] [--name digits] [--out web/dist]
// The page then needs nothing from the internet: TF.js is bundled and the wasm files are local.
// Every model with a manifest (models/reports/<name>/) is copied, laid out as the web container
// serves the models volume:
//   models/index.json               the models, as nginx's JSON directory listing of reports/
//   models/<name>/manifest.json     its last run: signature and every target's outcome
//   models/<name>/golden.json       its golden set
//   models/<name>/*                 its TF.js model (top level), when TF.js could take it
//   config.json                     {"model": <name>}: the model / shows (the container's MODEL_NAME)
import { copyFile, cp, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as esbuild from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    "models-dir": { type: "string", default: path.join(here, "..", "models") },
    name: { type: "string", default: "digits" },
    out: { type: "string", default: path.join(here, "dist") },
    // page, bundle and wasm only: the web image serves the model from the models volume
    "no-model": { type: "boolean", default: false },
  },
});

async function exists(p) {
  return stat(p).then(() => true, () => false);
}

/** The manifest's tfjs row ({ outcome, reason, published }) and version; null without a manifest. */
async function tfjsRow(modelsDir, name) {
  const manifest = path.join(modelsDir, "reports", name, "manifest.json");
  if (!(await exists(manifest))) return null;
  let doc;
  try {
    doc = JSON.parse(await readFile(manifest, "utf8"));
  } catch (err) {
    throw new Error(`${manifest} is not valid JSON (${err.message}): run the pipeline again`);
  }
  const row = (doc.artifacts ?? []).find((a) => a.target === "tfjs") ?? { published: false, outcome: "not run", reason: "no tfjs row" };
  return { ...row, version: doc.version };
}

/** Copies one model's manifest, golden set and TF.js top level: whether it has a TF.js model. */
async function copyModel(modelsDir, name, out) {
  const dest = path.join(out, "models", name);
  await mkdir(dest, { recursive: true });
  const manifest = path.join(modelsDir, "reports", name, "manifest.json");
  if (await exists(manifest)) await copyFile(manifest, path.join(dest, "manifest.json"));
  const golden = path.join(modelsDir, "golden", name, "golden.json");
  if (await exists(golden)) await copyFile(golden, path.join(dest, "golden.json"));
  // the model's top level only: variants (uint8/) are separate artifacts the page does not load
  const tfjsDir = path.join(modelsDir, "tfjs", name);
  if (!(await exists(path.join(tfjsDir, "model.json")))) return false;
  for (const entry of await readdir(tfjsDir, { withFileTypes: true })) {
    if (entry.isFile()) await cp(path.join(tfjsDir, entry.name), path.join(dest, entry.name));
  }
  return true;
}

/** The models the gallery lists: every folder of reports/ holding a manifest. */
async function listModels(modelsDir) {
  const reports = path.join(modelsDir, "reports");
  if (!(await exists(reports))) return [];
  const names = [];
  for (const entry of await readdir(reports, { withFileTypes: true })) {
    if (entry.isDirectory() && (await exists(path.join(reports, entry.name, "manifest.json")))) names.push(entry.name);
  }
  return names.sort();
}

async function bundle(entry, outfile) {
  await esbuild.build({
    entryPoints: [path.join(here, "src", entry)],
    bundle: true,
    minify: true,
    format: "iife",
    target: "es2020",
    outfile,
    logLevel: "warning",
  });
}

async function main() {
  const modelsDir = path.resolve(args["models-dir"]);
  const out = path.resolve(args.out);
  const tfjsDir = path.join(modelsDir, "tfjs", args.name);
  let serverOnly = null; // why the browser cannot run the model: its page asks the server
  if (!args["no-model"]) {
    const row = await tfjsRow(modelsDir, args.name);
    if (row && !row.published) {
      serverOnly =
        `${args.name} v${row.version} has no TF.js model: its tfjs target ended "${row.outcome}" ` +
        `(${row.reason}): its page asks the model server`;
    } else {
      for (const needed of [path.join(tfjsDir, "model.json"), path.join(tfjsDir, "metadata.json")]) {
        if (!(await exists(needed))) throw new Error(`no TF.js model at ${needed}: run \`make all\` first`);
      }
    }
  }
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });

  await bundle("main.js", path.join(out, "app.js"));
  await bundle("gallery.js", path.join(out, "gallery.js"));
  for (const page of ["index.html", "gallery.html", "style.css"]) {
    await copyFile(path.join(here, page), path.join(out, page));
  }

  const wasmSrc = path.join(here, "node_modules", "@tensorflow", "tfjs-backend-wasm", "dist");
  await mkdir(path.join(out, "wasm"));
  for (const f of (await readdir(wasmSrc)).filter((f) => f.endsWith(".wasm"))) {
    await copyFile(path.join(wasmSrc, f), path.join(out, "wasm", f));
  }

  if (args["no-model"]) {
    console.log(`built ${path.relative(process.cwd(), out) || "."} without a model (--no-model)`);
    return;
  }
  const names = [...new Set([...(await listModels(modelsDir)), args.name])].sort();
  const withTfjs = [];
  for (const name of names) if (await copyModel(modelsDir, name, out)) withTfjs.push(name);
  const listing = names.map((name) => ({ name, type: "directory" }));
  await writeFile(path.join(out, "models", "index.json"), JSON.stringify(listing));
  await writeFile(path.join(out, "config.json"), JSON.stringify({ model: args.name }));
  console.log(
    `built ${path.relative(process.cwd(), out) || "."} for ${args.name}: ${names.length} model(s), ` +
      `${withTfjs.length} with TF.js (${withTfjs.join(", ") || "none"})`,
  );
  if (serverOnly) console.log(serverOnly);
}

main().catch((err) => {
  console.error(`web build: ${err.message}`);
  process.exit(1);
});
