// Builds the demo into one folder: bundle (esbuild), page, wasm binaries, and the model copied in.
//   node web/build.mjs [--models-dir models] [--name digits] [--out web/dist]
// The page then needs nothing from the internet: TF.js is bundled and the wasm files are local.
import { copyFile, cp, mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
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

/** Why a model has no TF.js artifact: its manifest's outcome for the target, when it ran. */
async function whyMissing(modelsDir, name, needed) {
  const manifest = path.join(modelsDir, "reports", name, "manifest.json");
  if (!(await exists(manifest))) return `no TF.js model at ${needed}: run \`make all\` first`;
  const doc = JSON.parse(await readFile(manifest, "utf8"));
  const tfjs = (doc.artifacts ?? []).find((a) => a.target === "tfjs");
  if (!tfjs || tfjs.published) return `no TF.js model at ${needed}: run \`make all\` first`;
  return (
    `${name} v${doc.version} has no TF.js model: its tfjs target ended "${tfjs.outcome}" ` +
    `(${tfjs.reason}); the model server still serves it (see models/reports/${name}/report.md)`
  );
}

async function main() {
  const modelsDir = path.resolve(args["models-dir"]);
  const out = path.resolve(args.out);
  const tfjsDir = path.join(modelsDir, "tfjs", args.name);
  const golden = path.join(modelsDir, "golden", args.name, "golden.json");
  const needs = args["no-model"] ? [] : [path.join(tfjsDir, "model.json"), path.join(tfjsDir, "metadata.json")];
  for (const needed of needs) {
    if (!(await exists(needed))) throw new Error(await whyMissing(modelsDir, args.name, needed));
  }
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });

  await esbuild.build({
    entryPoints: [path.join(here, "src", "main.js")],
    bundle: true,
    minify: true,
    format: "iife",
    target: "es2020",
    outfile: path.join(out, "app.js"),
    logLevel: "warning",
  });
  await copyFile(path.join(here, "index.html"), path.join(out, "index.html"));
  await copyFile(path.join(here, "style.css"), path.join(out, "style.css"));

  const wasmSrc = path.join(here, "node_modules", "@tensorflow", "tfjs-backend-wasm", "dist");
  await mkdir(path.join(out, "wasm"));
  for (const f of (await readdir(wasmSrc)).filter((f) => f.endsWith(".wasm"))) {
    await copyFile(path.join(wasmSrc, f), path.join(out, "wasm", f));
  }

  if (args["no-model"]) {
    console.log(`built ${path.relative(process.cwd(), out) || "."} without a model (--no-model)`);
    return;
  }
  // the model's top level only: variants (uint8/) are separate artifacts the page does not load
  const modelOut = path.join(out, "models", args.name);
  await mkdir(modelOut, { recursive: true });
  for (const entry of await readdir(tfjsDir, { withFileTypes: true })) {
    if (entry.isFile()) await cp(path.join(tfjsDir, entry.name), path.join(modelOut, entry.name));
  }
  if (await exists(golden)) await copyFile(golden, path.join(modelOut, "golden.json"));
  console.log(`built ${path.relative(process.cwd(), out) || "."} with ${args.name} from ${tfjsDir}`);
}

main().catch((err) => {
  console.error(`web build: ${err.message}`);
  process.exit(1);
});
