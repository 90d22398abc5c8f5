// The real metadata.json and golden.json (three samples each) of digits and the zoo, as the
// pipeline wrote them: `node web/test/fixtures/trim.mjs` rewrites them from a run's models/.
import { readFileSync } from "node:fs";

export const MODELS = ["digits", "zoo-image_cnn", "zoo-text", "zoo-sequence", "zoo-transformer", "zoo-tabular"];

const read = (name, file) => JSON.parse(readFileSync(new URL(`./fixtures/${name}/${file}`, import.meta.url), "utf8"));

export const metadata = (name) => read(name, "metadata.json");
export const golden = (name) => read(name, "golden.json");
