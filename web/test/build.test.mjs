// build.mjs on a models directory laid out by hand: what it copies, what it writes, how it fails.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const BUILD = path.join(here, "..", "build.mjs");
let root;

function manifest(name, tfjs) {
  return {
    model: name,
    version: 4,
    inputs: [{ name: "text", shape: [null, 1], dtype: "string" }],
    outputs: [{ name: "sentiment", shape: [null, 3], dtype: "float32" }],
    artifacts: [{ target: "keras", outcome: "verified", published: true, reason: "" }, { target: "tfjs", ...tfjs }],
  };
}

async function put(file, doc) {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, typeof doc === "string" ? doc : JSON.stringify(doc));
}

function build(...args) {
  return spawnSync(process.execPath, [BUILD, "--models-dir", path.join(root, "models"), ...args], {
    encoding: "utf8",
  });
}

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), "web-build-"));
  const models = path.join(root, "models");
  // a model TF.js could not take: a manifest saying why, a golden set, no tfjs/ folder
  await put(path.join(models, "reports", "words", "manifest.json"), manifest("words", {
    outcome: "not supported",
    reason: "AssertionError: Identity is not in graph",
    published: false,
  }));
  await put(path.join(models, "golden", "words", "golden.json"), { inputs: {} });
  // a model whose manifest says TF.js was published, but whose files are gone
  await put(path.join(models, "reports", "gone", "manifest.json"), manifest("gone", {
    outcome: "verified",
    reason: "",
    published: true,
  }));
  await put(path.join(models, "reports", "zoo.md"), "# not a model\n");
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

test("a model without TF.js gets its page: manifest and golden set copied, config and model list written", async () => {
  const out = path.join(root, "dist-words");
  const run = build("--name", "words", "--out", out);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /words v4 has no TF\.js model: its tfjs target ended "not supported" \(AssertionError: Identity is not in graph\)/);
  assert.deepEqual(JSON.parse(await readFile(path.join(out, "config.json"), "utf8")), { model: "words" });
  const listing = JSON.parse(await readFile(path.join(out, "models", "index.json"), "utf8"));
  assert.deepEqual(listing, [{ name: "gone", type: "directory" }, { name: "words", type: "directory" }]);
  assert.deepEqual((await readdir(path.join(out, "models", "words"))).sort(), ["golden.json", "manifest.json"]);
  for (const file of ["index.html", "gallery.html", "app.js", "gallery.js", "style.css"]) {
    assert.ok((await readdir(out)).includes(file), file);
  }
});

test("a model with neither a TF.js model nor a manifest is one error line and exit 1", () => {
  const run = build("--name", "nothing", "--out", path.join(root, "dist-nothing"));
  assert.equal(run.status, 1);
  const lines = run.stderr.trim().split("\n");
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^web build: no TF\.js model at .*nothing.*model\.json: run `make all` first$/);
});

test("a published TF.js model whose files are missing is refused, not built without them", () => {
  const run = build("--name", "gone", "--out", path.join(root, "dist-gone"));
  assert.equal(run.status, 1);
  assert.match(run.stderr, /^web build: no TF\.js model at .*gone.*model\.json/);
});
