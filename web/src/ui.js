// The only module that touches the DOM: the drawing pad, the 8x8 grid, the bars, the status.
import { GRID, MAX_COUNT } from "./preprocess.js";
import { formatMs } from "./format.js";

export function createUi(doc = document) {
  const $ = (id) => doc.getElementById(id);
  const el = {
    body: doc.body,
    status: $("status"),
    progress: $("progress"),
    error: $("error"),
    pad: $("pad"),
    clear: $("clear"),
    backend: $("backend"),
    grid: $("grid"),
    top3: $("top3"),
    latency: $("latency"),
    backendUsed: $("backend-used"),
    loadTime: $("load-time"),
    ttfp: $("ttfp"),
    compare: $("compare"),
    server: $("server-result"),
    samples: $("samples"),
    about: $("about"),
  };
  const ctx = el.pad.getContext("2d");
  const handlers = { strokes: () => {}, clear: () => {}, backend: () => {}, compare: () => {}, sample: () => {} };
  let strokes = [];
  let active = null; // the pointer drawing the current stroke
  let shownSample = null; // counts shown on the pad when a golden sample was picked

  const cells = Array.from({ length: GRID * GRID }, () => {
    const cell = doc.createElement("div");
    cell.className = "cell";
    el.grid.append(cell);
    return cell;
  });
  el.grid.dataset.counts = new Array(GRID * GRID).fill(0).join(",");

  // ---- the drawing pad: pointer events cover mouse, pen and touch alike
  function resizePad() {
    const size = Math.round(el.pad.getBoundingClientRect().width * (globalThis.devicePixelRatio || 1));
    if (size > 0 && el.pad.width !== size) {
      el.pad.width = size;
      el.pad.height = size;
    }
    paint();
  }

  function point(e) {
    const rect = el.pad.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return [clamp((e.clientX - rect.left) / rect.width), clamp((e.clientY - rect.top) / rect.height)];
  }

  function paint() {
    const { width: w, height: h } = el.pad;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, w, h);
    ctx.fillStyle = "#111";
    if (shownSample) {
      const s = w / GRID;
      shownSample.forEach((k, i) => {
        ctx.globalAlpha = k / MAX_COUNT;
        ctx.fillRect((i % GRID) * s, Math.floor(i / GRID) * s, Math.ceil(s), Math.ceil(s));
      });
      ctx.globalAlpha = 1;
      return;
    }
    ctx.strokeStyle = "#111";
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.lineWidth = w * 0.07;
    for (const stroke of strokes) {
      if (stroke.length === 0) continue;
      ctx.beginPath();
      ctx.moveTo(stroke[0][0] * w, stroke[0][1] * h);
      for (const [x, y] of stroke.length > 1 ? stroke.slice(1) : stroke) ctx.lineTo(x * w, y * h);
      ctx.stroke();
    }
  }

  el.pad.addEventListener("pointerdown", (e) => {
    if (e.button > 0) return;
    e.preventDefault();
    try {
      el.pad.setPointerCapture(e.pointerId);
    } catch {
      // synthetic or already released pointers cannot be captured; drawing still works
    }
    active = e.pointerId;
    shownSample = null;
    strokes.push([point(e)]);
    paint();
    handlers.strokes(copyStrokes());
  });
  el.pad.addEventListener("pointermove", (e) => {
    if (active !== e.pointerId) return;
    e.preventDefault();
    const events = e.getCoalescedEvents?.() ?? [];
    for (const ev of events.length ? events : [e]) strokes.at(-1).push(point(ev));
    paint();
    handlers.strokes(copyStrokes());
  });
  const end = (e) => {
    if (active !== e.pointerId) return;
    active = null;
    handlers.strokes(copyStrokes());
  };
  el.pad.addEventListener("pointerup", end);
  el.pad.addEventListener("pointercancel", end);
  el.pad.addEventListener("keydown", (e) => {
    if (["Escape", "Delete", "Backspace"].includes(e.key)) handlers.clear();
  });
  el.clear.addEventListener("click", () => handlers.clear());
  el.backend.addEventListener("change", () => handlers.backend(el.backend.value));
  el.compare.addEventListener("click", () => handlers.compare());
  new ResizeObserver(resizePad).observe(el.pad);

  const copyStrokes = () => strokes.map((s) => s.map((p) => [...p]));

  return {
    on(event, fn) {
      handlers[event] = fn;
    },
    strokes: copyStrokes,

    clearPad() {
      strokes = [];
      shownSample = null;
      paint();
    },

    showSampleOnPad(counts) {
      strokes = [];
      shownSample = counts;
      paint();
    },

    setState(state, text) {
      el.body.dataset.state = state;
      el.status.textContent = text;
    },

    setProgress(fraction) {
      el.progress.hidden = fraction === null;
      if (fraction !== null) el.progress.value = fraction;
    },

    showError(message) {
      el.body.dataset.state = "error";
      el.error.textContent = message;
      el.error.hidden = false;
      el.status.textContent = "The demo cannot run.";
      el.progress.hidden = true;
      for (const control of [el.compare, el.backend, el.clear]) control.disabled = true;
    },

    setControlsEnabled(enabled) {
      for (const control of [el.compare, el.backend]) control.disabled = !enabled;
    },

    setBackends(names, current) {
      el.backend.replaceChildren(
        ...names.map((name) => {
          const option = doc.createElement("option");
          option.value = name;
          option.textContent = name;
          return option;
        }),
      );
      el.backend.value = current;
    },

    showGrid(counts) {
      counts.forEach((k, i) => {
        const cell = cells[i];
        cell.dataset.count = String(k);
        cell.style.setProperty("--fill", String(k / MAX_COUNT));
      });
      el.grid.dataset.counts = counts.join(",");
    },

    showPrediction(top, probabilities, ms, backend) {
      el.top3.replaceChildren(
        ...top.map((t) => {
          const item = doc.createElement("li");
          item.dataset.class = String(t.index);
          item.innerHTML = `<span class="label"></span><span class="bar"><span></span></span><span class="prob"></span>`;
          item.querySelector(".label").textContent = t.label;
          item.querySelector(".prob").textContent = t.percent;
          item.querySelector(".bar span").style.width = `${(t.probability * 100).toFixed(1)}%`;
          item.setAttribute("aria-label", `${t.label}: ${t.percent}`);
          return item;
        }),
      );
      el.top3.dataset.top = top.length ? String(top[0].index) : "";
      el.top3.dataset.probabilities = JSON.stringify(Array.from(probabilities ?? []));
      el.latency.textContent = ms === null ? "–" : formatMs(ms);
      el.backendUsed.textContent = backend;
    },

    showEmpty(backend) {
      el.top3.replaceChildren();
      el.top3.dataset.top = "";
      el.top3.dataset.probabilities = "[]";
      el.latency.textContent = "–";
      el.backendUsed.textContent = backend;
    },

    showLoadStats({ loadMs, source }) {
      el.loadTime.textContent = `${formatMs(loadMs)} (${source === "cache" ? "IndexedDB cache" : "network"})`;
      el.loadTime.dataset.source = source;
      el.loadTime.dataset.ms = String(loadMs);
    },

    showFirstPrediction(ms) {
      el.ttfp.textContent = formatMs(ms);
      el.ttfp.dataset.ms = String(ms);
    },

    showServer(text, data = {}) {
      el.server.textContent = text;
      for (const [k, v] of Object.entries(data)) el.server.dataset[k] = String(v);
    },

    clearServer() {
      el.server.textContent = "";
      for (const k of Object.keys(el.server.dataset)) delete el.server.dataset[k];
    },

    showAbout(text) {
      el.about.textContent = text;
    },

    /** Buttons for golden samples: each a small picture of its 8x8 input. */
    showSamples(samples) {
      el.samples.replaceChildren(
        ...samples.map(({ index, counts, label }) => {
          const button = doc.createElement("button");
          button.type = "button";
          button.className = "sample";
          button.dataset.index = String(index);
          button.setAttribute("aria-label", `Golden sample ${index}, labelled ${label}`);
          const c = doc.createElement("canvas");
          c.width = GRID;
          c.height = GRID;
          const g = c.getContext("2d");
          counts.forEach((k, i) => {
            g.fillStyle = `rgba(17, 17, 17, ${k / MAX_COUNT})`;
            g.fillRect(i % GRID, Math.floor(i / GRID), 1, 1);
          });
          button.append(c);
          button.addEventListener("click", () => handlers.sample(index));
          return button;
        }),
      );
    },
  };
}
