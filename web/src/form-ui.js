// The DOM of the page built from a model's signature (form.js runs it): a control per input, a
// view per output, the golden strip, the server comparison. What each control holds and how it
// becomes a tensor is values.js and image.js; this module only shows and reads.
import { h } from "./dom.js";
import { formatDiff, formatMs, formatPercent, maxAbsDiff, topK } from "./format.js";
import { inputToPixels, pixelsToInput } from "./image.js";
import { InputError, nest, parseFields, parseJson, parseText } from "./values.js";

const SOURCES_TEXT = { upload: "Upload", paste: "paste (Ctrl+V)", camera: "Camera", draw: "draw" };

function shapeText(control) {
  return `${control.dtype} [${control.shape.map((d) => d ?? "n").join(", ") || "scalar"}]`;
}

/** A float as a field shows it: enough digits that reading it back gives the same float32. */
function fieldText(v) {
  return typeof v === "number" ? String(Number(v.toPrecision(9))) : String(v);
}

/** ImageData of any drawable (an ImageBitmap, a video frame, the drawing pad) at its own size. */
function pixelsOf(doc, source, width, height) {
  const canvas = doc.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const g = canvas.getContext("2d", { willReadFrequently: true });
  g.drawImage(source, 0, 0, width, height);
  return g.getImageData(0, 0, width, height);
}

function paintInput(canvas, values, control) {
  const { width, height, data } = inputToPixels(values, control);
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d").putImageData(new ImageData(data, width, height), 0, 0);
}

/** One control: its element, read() → { values, shape } (or InputError), fill(value), clear(). */
function makeControl(doc, control, handlers) {
  const id = `input-${control.input}`;
  const error = h(doc, "p", { class: "input-error", role: "alert", hidden: true });
  const box = h(doc, "fieldset", { class: "control", dataset: { input: control.input, kind: control.kind } });
  box.append(h(doc, "legend", {}, h(doc, "code", { text: control.input }), ` ${shapeText(control)}`));
  const edited = () => handlers.edited(control.input);
  let read;
  let fill;

  if (control.kind === "image") {
    let current = null;
    const preview = h(doc, "canvas", {
      class: "image-preview",
      width: control.width,
      height: control.height,
      role: "img",
      "aria-label": `What the model sees: ${control.height}x${control.width}, ${control.channels} channel(s)`,
    });
    const setPixels = (image) => {
      current = pixelsToInput(image, control);
      paintInput(preview, current.values, control);
      error.hidden = true;
      edited();
      handlers.image(control.input);
    };
    const file = h(doc, "input", { type: "file", accept: "image/*", id, class: "upload" });
    file.addEventListener("change", async () => {
      const f = file.files?.[0];
      if (!f) return;
      try {
        const bitmap = await createImageBitmap(f, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
        setPixels(pixelsOf(doc, bitmap, bitmap.width, bitmap.height));
        bitmap.close();
      } catch {
        showError(`${f.name} is not an image this browser can decode`);
      } finally {
        file.value = "";
      }
    });
    const row = h(doc, "div", { class: "image-row" }, preview);
    const tools = h(doc, "div", { class: "image-tools" }, h(doc, "label", { for: id, text: "Upload an image" }), file);
    const camera = h(doc, "button", { type: "button", class: "camera", text: "Use the camera" });
    const snap = h(doc, "button", { type: "button", class: "snap", text: "Take a snapshot", hidden: true });
    const video = h(doc, "video", { class: "camera-view", playsinline: true, muted: true, hidden: true });
    camera.addEventListener("click", async () => {
      try {
        const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
        video.srcObject = stream;
        await video.play();
        video.hidden = false;
        snap.hidden = false;
        camera.hidden = true;
      } catch (err) {
        showError(`The camera is not available: ${err.message}`);
      }
    });
    snap.addEventListener("click", () => {
      setPixels(pixelsOf(doc, video, video.videoWidth, video.videoHeight));
      for (const track of video.srcObject?.getTracks() ?? []) track.stop();
      video.hidden = true;
      snap.hidden = true;
      camera.hidden = false;
    });
    tools.append(camera, snap, h(doc, "p", { class: "note", text: "or paste an image (Ctrl+V)" }));
    row.append(tools);
    box.append(row, video);
    if (control.sources.includes("draw")) box.append(drawingPad(doc, control, setPixels));
    box.pasteImage = async (blob) => {
      const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
      setPixels(pixelsOf(doc, bitmap, bitmap.width, bitmap.height));
      bitmap.close();
    };
    read = () => {
      if (!current) throw new InputError(`${control.input}: give it an image (upload, paste or camera)`);
      return current;
    };
    fill = (value) => {
      current = value;
      paintInput(preview, value.values, control);
    };
  } else if (control.kind === "text") {
    const list = control.suggestions.length ? `${id}-suggestions` : null;
    const input = h(doc, "input", { type: "text", id, list, autocomplete: "off", "aria-label": control.input });
    box.append(input);
    if (list) box.append(h(doc, "datalist", { id: list }, ...control.suggestions.map((s) => h(doc, "option", { value: s }))));
    input.addEventListener("input", edited);
    read = () => parseText(input.value, { name: control.input, dtype: control.dtype, shape: [null, ...control.shape] });
    fill = (value) => {
      input.value = String(value.values[0]);
    };
  } else if (control.kind === "numbers") {
    const grid = h(doc, "div", { class: "fields" });
    const inputs = control.fields.map((f) => {
      const input = h(doc, "input", { type: "text", inputmode: "decimal", id: `${id}-${f.index}`, class: "number" });
      input.addEventListener("input", edited);
      grid.append(h(doc, "label", { for: input.id, text: f.label }), input);
      return input;
    });
    box.append(grid);
    read = () => parseFields(inputs.map((i) => i.value), { name: control.input, dtype: control.dtype, shape: [null, ...control.shape] });
    fill = (value) => {
      inputs.forEach((input, i) => {
        input.value = fieldText(value.values[i]);
      });
    };
  } else if (control.kind === "json") {
    const area = h(doc, "textarea", { id, rows: 3, spellcheck: "false", "aria-label": `${control.input}: ${control.hint}` });
    box.append(area, h(doc, "p", { class: "note", text: control.hint }));
    area.addEventListener("input", edited);
    read = () => parseJson(area.value, { name: control.input, dtype: control.dtype, shape: [null, ...control.shape] });
    fill = (value) => {
      area.value = JSON.stringify(nest(Array.from(value.values), value.shape));
    };
  } else {
    box.append(h(doc, "p", { class: "input-error", text: control.reason }));
    read = () => {
      throw new InputError(control.reason);
    };
    fill = () => {};
  }
  box.append(error);
  function showError(message) {
    error.textContent = message;
    error.hidden = false;
  }
  return { control, box, read, fill, showError, clearError: () => (error.hidden = true) };
}

/** Drawing for a single-channel image: ink on paper, read through the same pixels rule. */
function drawingPad(doc, control, setPixels) {
  const pad = h(doc, "canvas", {
    class: "draw-pad",
    width: 200,
    height: 200,
    tabindex: 0,
    "aria-label": `Drawing area for ${control.input}: draw with a mouse, pen or finger`,
  });
  const g = pad.getContext("2d", { willReadFrequently: true });
  const clear = () => {
    g.fillStyle = "#fff";
    g.fillRect(0, 0, pad.width, pad.height);
  };
  clear();
  let drawing = false;
  const at = (e) => {
    const r = pad.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * pad.width, ((e.clientY - r.top) / r.height) * pad.height];
  };
  pad.addEventListener("pointerdown", (e) => {
    drawing = true;
    g.strokeStyle = "#000";
    g.lineWidth = pad.width * 0.08;
    g.lineCap = "round";
    g.beginPath();
    g.moveTo(...at(e));
    g.lineTo(...at(e));
    g.stroke();
  });
  pad.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    g.lineTo(...at(e));
    g.stroke();
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    setPixels(g.getImageData(0, 0, pad.width, pad.height));
  };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointerleave", end);
  const button = h(doc, "button", { type: "button", text: "Clear drawing" });
  button.addEventListener("click", clear);
  return h(doc, "div", { class: "draw" }, pad, button);
}

/** One output's view: bars for classes, numbers otherwise; the reference beside them. */
function makeView(doc, view) {
  const body = view.kind === "classes" ? h(doc, "ol", { class: "bars" }) : h(doc, "output", { class: "values" });
  const reference = h(doc, "p", { class: "reference" });
  const box = h(
    doc,
    "div",
    { class: "output", dataset: { output: view.output, kind: view.kind } },
    h(doc, "h3", {}, h(doc, "code", { text: view.output })),
    body,
    reference,
  );
  const describe = (values) => {
    if (view.kind === "classes") {
      const [top] = topK(values, view.classNames, 1);
      return `${top.label} (${top.percent})`;
    }
    return Array.from(values.slice(0, 8), (v) => fieldText(Number(v.toPrecision(6)))).join(", ") + (values.length > 8 ? ", …" : "");
  };
  return {
    box,
    show(values) {
      box.dataset.values = JSON.stringify(Array.from(values));
      if (view.kind === "classes") {
        const top = topK(values, view.classNames, view.top);
        box.dataset.top = String(top[0].index);
        body.replaceChildren(
          ...top.map((t) => {
            const item = h(doc, "li", { dataset: { class: String(t.index) }, "aria-label": `${t.label}: ${t.percent}` });
            const bar = h(doc, "span", { class: "bar" }, h(doc, "span", { style: `width: ${(t.probability * 100).toFixed(1)}%` }));
            item.append(h(doc, "span", { class: "label", text: t.label }), bar, h(doc, "span", { class: "prob", text: t.percent }));
            return item;
          }),
        );
      } else {
        body.textContent = describe(values);
      }
    },
    clear() {
      delete box.dataset.values;
      body.replaceChildren();
      reference.textContent = "";
    },
    showReference(ref, diff) {
      reference.textContent = ref ? `Reference (Keras): ${describe(ref)}; largest difference ${formatDiff(diff)}` : "";
      if (ref) reference.dataset.maxAbsDiff = String(diff);
      else delete reference.dataset.maxAbsDiff;
    },
  };
}

/** Builds the page for `spec` (signature.js formSpec) in place of the digits page. */
export function createFormUi(spec, doc = document) {
  doc.getElementById("digits-page")?.remove();
  doc.getElementById("digits-strip")?.remove();
  doc.title = `${spec.name} · keras-deploy`;
  doc.querySelector("header h1").textContent = `${spec.name}: ${spec.title.toLowerCase()}`;
  doc.querySelector("header .lead").textContent = spec.tfjs
    ? "The model runs in this page with TensorFlow.js; nothing leaves the browser unless you ask the server."
    : "This model does not run in the browser; the model server answers for it.";
  const handlers = { predict: () => {}, compare: () => {}, backend: () => {}, sample: () => {}, edited: () => {}, image: () => {} };
  const call = (name) => (...args) => handlers[name](...args);
  const controls = spec.controls.map((c) => makeControl(doc, c, { edited: call("edited"), image: call("image") }));
  const views = spec.views.map((v) => makeView(doc, v));

  const predict = h(doc, "button", { type: "submit", id: "predict", text: spec.tfjs ? "Predict" : "Ask the server" });
  const backend = h(doc, "select", { id: "backend", disabled: true });
  const form = h(doc, "form", { id: "inputs", novalidate: true }, ...controls.map((c) => c.box));
  const buttons = h(doc, "div", { class: "controls" }, predict);
  if (spec.tfjs) buttons.append(h(doc, "label", { for: "backend", text: "Backend" }), backend);
  form.append(buttons);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    handlers.predict();
  });
  backend.addEventListener("change", () => handlers.backend(backend.value));

  const notice = h(doc, "p", { id: "no-tfjs", class: "notice", role: "note", hidden: true });
  const predictError = h(doc, "p", { id: "predict-error", class: "input-error", role: "alert", hidden: true });
  const stat = (id, label) => [h(doc, "dt", { text: label }), h(doc, "dd", { id, text: "–" })];
  const stats = h(
    doc,
    "dl",
    { class: "stats" },
    ...stat("latency", spec.tfjs ? "Inference" : "Server round trip"),
    ...stat("backend-used", "Runs on"),
    ...(spec.tfjs ? [...stat("load-time", "Model load"), ...stat("ttfp", "First prediction")] : []),
  );
  const compare = h(doc, "button", { type: "button", id: "compare", disabled: true, text: "Compare with server", hidden: !spec.tfjs });
  const server = h(doc, "p", { id: "server-result", "aria-live": "polite" });
  compare.addEventListener("click", () => handlers.compare());

  const main = h(
    doc,
    "main",
    { id: "form-page", class: "form" },
    h(doc, "section", { "aria-labelledby": "inputs-heading" }, h(doc, "h2", { id: "inputs-heading", text: "Input" }), form),
    h(
      doc,
      "section",
      { "aria-labelledby": "result-heading" },
      h(doc, "h2", { id: "result-heading", text: "Prediction" }),
      notice,
      predictError,
      h(doc, "div", { id: "outputs", "aria-live": "polite" }, ...views.map((v) => v.box)),
      stats,
      compare,
      server,
    ),
  );
  const samples = h(doc, "div", { id: "samples" });
  const strip = h(
    doc,
    "section",
    { class: "strip", id: "form-strip", "aria-labelledby": "samples-heading" },
    h(doc, "h2", { id: "samples-heading", text: "Golden samples" }),
    h(doc, "p", { class: "note", text: "Held-out inputs every runtime is verified on: click one to feed its exact input and see the Keras reference beside the answer." }),
    samples,
  );
  doc.querySelector("header").after(main, strip);

  // a pasted image goes to the image input that has focus, else the first one
  doc.addEventListener("paste", (e) => {
    const item = [...(e.clipboardData?.items ?? [])].find((i) => i.type.startsWith("image/"));
    const images = controls.filter((c) => c.control.kind === "image");
    if (!item || images.length === 0) return;
    e.preventDefault();
    const target = images.find((c) => c.box.contains(doc.activeElement)) ?? images[0];
    target.box.pasteImage(item.getAsFile()).catch(() => target.showError("The pasted image could not be decoded"));
  });

  const $ = (id) => doc.getElementById(id);
  return {
    on(event, fn) {
      handlers[event] = fn;
    },
    setState(state, text) {
      doc.body.dataset.state = state;
      $("status").textContent = text;
    },
    setProgress(fraction) {
      $("progress").hidden = fraction === null;
      if (fraction !== null) $("progress").value = fraction;
    },
    showError(message) {
      doc.body.dataset.state = "error";
      $("error").textContent = message;
      $("error").hidden = false;
      $("status").textContent = "The demo cannot run.";
      $("progress").hidden = true;
      for (const el of [predict, compare, backend]) el.disabled = true;
    },
    setControlsEnabled(enabled) {
      for (const el of [predict, compare, backend]) el.disabled = !enabled;
    },
    setBackends(names, current) {
      backend.replaceChildren(...names.map((n) => h(doc, "option", { value: n, text: n })));
      backend.value = current;
    },
    showLoadStats({ loadMs, source }) {
      const el = $("load-time");
      el.textContent = `${formatMs(loadMs)} (${source === "cache" ? "IndexedDB cache" : "network"})`;
      el.dataset.source = source;
      el.dataset.ms = String(loadMs);
    },
    showFirstPrediction(ms) {
      $("ttfp").textContent = formatMs(ms);
      $("ttfp").dataset.ms = String(ms);
    },
    showNoTfjs(text) {
      notice.textContent = text;
      notice.hidden = false;
    },
    showAbout(text) {
      $("about").textContent = text;
    },

    /** Every control's value, or the first InputError shown beside its control. */
    readInputs() {
      const values = {};
      let failed = null;
      for (const c of controls) {
        try {
          values[c.control.input] = c.read();
          c.clearError();
        } catch (err) {
          if (!(err instanceof InputError)) throw err;
          c.showError(err.message);
          failed ??= err;
        }
      }
      if (failed) throw failed;
      return values;
    },
    fillInputs(values) {
      for (const c of controls) {
        c.fill(values[c.control.input]);
        c.clearError();
      }
    },
    showOutputs(outputs, ms, where) {
      predictError.hidden = true;
      views.forEach((v, i) => v.show(outputs[spec.views[i].output]));
      $("latency").textContent = formatMs(ms);
      $("backend-used").textContent = where;
    },
    showPredictError(message) {
      predictError.textContent = message;
      predictError.hidden = false;
      views.forEach((v) => v.clear());
    },
    showReferences(references, outputs) {
      views.forEach((v, i) => {
        const name = spec.views[i].output;
        const ref = references?.[name];
        const out = outputs?.[name];
        v.showReference(ref && out ? ref : null, ref && out ? maxAbsDiff(ref, out) : 0);
      });
    },
    showServer(text, data = {}) {
      server.textContent = text;
      for (const [k, v] of Object.entries(data)) server.dataset[k] = String(v);
    },
    clearServer() {
      server.textContent = "";
      for (const k of Object.keys(server.dataset)) delete server.dataset[k];
    },
    /** The strip: a thumbnail (images) or a short preview (text, numbers) per sample. */
    showSamples(items) {
      samples.replaceChildren(
        ...items.map(({ index, caption, inputs, previewText }) => {
          const button = h(doc, "button", { type: "button", class: "sample", dataset: { index: String(index) } });
          button.setAttribute("aria-label", `Golden sample ${index}${caption ? `, labelled ${caption}` : ""}`);
          const image = spec.controls.find((c) => c.kind === "image");
          if (image) {
            const c = h(doc, "canvas", { class: "thumb" });
            paintInput(c, inputs[image.input].values, image);
            button.append(c);
          }
          if (previewText) button.append(h(doc, "span", { class: "preview", text: previewText }));
          button.append(h(doc, "span", { class: "caption", text: caption }));
          button.addEventListener("click", () => handlers.sample(index));
          return button;
        }),
      );
    },
    formatPercent,
  };
}
