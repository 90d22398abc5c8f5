// Turning model outputs into what the page says: top classes, percentages, times, differences.

/** The k most probable classes, best first, labelled with the model's own class names. */
export function topK(probabilities, classNames, k = 3) {
  return Array.from(probabilities, (p, index) => ({ index, p }))
    .sort((a, b) => b.p - a.p || a.index - b.index)
    .slice(0, k)
    .map(({ index, p }) => ({
      index,
      label: classNames?.[index] ?? String(index),
      probability: p,
      percent: formatPercent(p),
    }));
}

export function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** 0.9731 → "97.3%"; tiny values keep a digit that is not zero ("<0.1%"). */
export function formatPercent(p) {
  if (!Number.isFinite(p)) return "–";
  if (p > 0 && p < 0.001) return "<0.1%";
  return `${(p * 100).toFixed(1)}%`;
}

/** Milliseconds with the precision a reader can use: "0.42 ms", "3.1 ms", "120 ms". */
export function formatMs(ms) {
  if (!Number.isFinite(ms)) return "–";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms)} ms`;
}

export function maxAbsDiff(a, b) {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** "1.2e-7": a difference in the notation the verification table uses. */
export function formatDiff(d) {
  return d === 0 ? "0" : d.toExponential(1);
}

/** The browser's and the server's answers side by side. */
export function compare(browser, server, classNames) {
  const browserTop = argmax(browser);
  const serverTop = argmax(server);
  const diff = maxAbsDiff(browser, server);
  const name = (i) => classNames?.[i] ?? String(i);
  return {
    browserClass: name(browserTop),
    serverClass: name(serverTop),
    sameClass: browserTop === serverTop,
    maxAbsDiff: diff,
    text:
      `server: ${name(serverTop)} (${formatPercent(server[serverTop])}), ` +
      `browser: ${name(browserTop)} (${formatPercent(browser[browserTop])}); ` +
      `largest difference ${formatDiff(diff)}`,
  };
}

/** p-quantile of sorted numbers, interpolated as numpy's default does. */
export function percentile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  const hi = Math.ceil(i);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (i - lo);
}
