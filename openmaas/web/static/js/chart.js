// Stacked bar charts as inline SVG: no library, nothing but this server's own files (CSP: script-src 'self').
//
// stackedBars() returns an <svg> sized by its viewBox; the viewBox is as wide as the chart's box in CSS
// pixels, so text stays legible on a phone instead of shrinking with a fixed drawing. Call it again
// (redraw) when that width changes.

const SVG = "http://www.w3.org/2000/svg";

// Tableau 10: distinct in both colour schemes and for the common colour-vision deficiencies.
export const PALETTE = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
];

export function colour(index) {
  return PALETTE[index % PALETTE.length];
}

function svg(tag, attrs = {}, children = []) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  for (const child of children) if (child) node.append(child);
  return node;
}

function text(x, y, content, attrs = {}) {
  const node = svg("text", { x, y, ...attrs });
  node.textContent = content;
  return node;
}

// A round step (1, 2 or 5 times a power of ten) giving about `count` intervals up to max.
function niceStep(max, count) {
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
  return nice * power;
}

export function yTicks(max, count = 4) {
  if (!(max > 0)) return [0, 1];
  const step = niceStep(max, count);
  const ticks = [];
  // Rounded: 0.1 * 3 must read 0.3, not 0.30000000000000004.
  for (let value = 0; value < max + step / 2; value += step) ticks.push(Number(value.toPrecision(12)));
  if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

/**
 * A stacked bar chart.
 *
 * options:
 *   labels       bucket labels for the x axis (strings), one per bar
 *   titles       bucket names for hover titles (longer than labels), one per bar
 *   series       [{label, values: [number per bucket]}], drawn bottom up in this order
 *   width        the drawing's width in CSS pixels (the viewBox follows it)
 *   format       value -> text, for the axis' ticks (short)
 *   formatValue  value -> text, for hover titles (exact, with units); format when absent
 *   ariaLabel    the chart's summary for screen readers
 *   emptyText    shown when every value is zero
 */
export function stackedBars({
  labels,
  titles,
  series,
  width = 640,
  format = String,
  formatValue = format,
  ariaLabel,
  emptyText = "No data",
}) {
  const height = width < 480 ? 200 : 240;
  const fontSize = 12;
  const totals = labels.map((_, index) => series.reduce((sum, line) => sum + (line.values[index] || 0), 0));
  const grandTotal = totals.reduce((sum, value) => sum + value, 0);
  const ticks = yTicks(Math.max(...totals, 0));
  const top = ticks[ticks.length - 1];
  const tickTexts = ticks.map(format);
  // Room on the left for the widest tick label (a rough width per character is enough here).
  const left = Math.max(...tickTexts.map((label) => label.length)) * fontSize * 0.62 + 10;
  const margin = { top: 10, right: 8, bottom: 24, left };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const y = (value) => margin.top + plotHeight - (value / top) * plotHeight;
  const slot = plotWidth / Math.max(labels.length, 1);
  const barWidth = Math.max(1, slot * (labels.length > 40 ? 0.85 : 0.7));

  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "chart",
    role: "img",
    "aria-label": ariaLabel,
    "data-total": Number(grandTotal.toPrecision(12)),
    "data-series-count": series.length,
    "font-size": fontSize,
  });

  const grid = svg("g", { class: "chart-grid" });
  ticks.forEach((value, index) => {
    const lineY = y(value);
    grid.append(
      svg("line", { x1: margin.left, x2: width - margin.right, y1: lineY, y2: lineY }),
      text(margin.left - 6, lineY + fontSize * 0.35, tickTexts[index], { "text-anchor": "end", class: "chart-tick" }),
    );
  });
  root.append(grid);

  // As many x labels as fit (about 64 px each), evenly spaced and always including the latest bucket.
  const every = Math.max(1, Math.ceil(labels.length / Math.max(1, Math.floor(plotWidth / 64))));
  const axis = svg("g", { class: "chart-axis" });
  labels.forEach((label, index) => {
    if ((labels.length - 1 - index) % every !== 0) return;
    // Centred under its bar, but kept inside the drawing (the latest bar sits at the right edge).
    const half = (label.length * fontSize * 0.6) / 2;
    const x = Math.min(Math.max(margin.left + slot * index + slot / 2, half), width - half);
    axis.append(text(x, height - 6, label, { "text-anchor": "middle", class: "chart-tick" }));
  });
  root.append(axis);

  const bars = svg("g", { class: "chart-bars" });
  labels.forEach((_, index) => {
    const x = margin.left + slot * index + (slot - barWidth) / 2;
    let base = 0;
    series.forEach((line, seriesIndex) => {
      const value = line.values[index] || 0;
      if (value <= 0) return;
      const y0 = y(base);
      const y1 = y(base + value);
      base += value;
      const rect = svg("rect", {
        x: x.toFixed(2),
        y: y1.toFixed(2),
        width: barWidth.toFixed(2),
        height: Math.max(0.5, y0 - y1).toFixed(2),
        fill: colour(seriesIndex),
        "data-series": line.label,
      });
      const title = svg("title");
      title.textContent = `${titles[index]} · ${line.label}: ${formatValue(value)}`;
      rect.append(title);
      bars.append(rect);
    });
  });
  root.append(bars);

  root.append(svg("line", { class: "chart-baseline", x1: margin.left, x2: width - margin.right, y1: y(0), y2: y(0) }));
  if (grandTotal === 0) {
    root.append(
      text(margin.left + plotWidth / 2, margin.top + plotHeight / 2, emptyText, {
        "text-anchor": "middle",
        class: "chart-empty",
      }),
    );
  }
  return root;
}

// The colour swatch of the index-th series (the legend's and the usage table's).
export function swatch(index) {
  const node = document.createElement("span");
  node.className = "swatch";
  node.setAttribute("aria-hidden", "true");
  // A CSSOM property, which the style-src CSP allows (a style attribute it would not).
  node.style.backgroundColor = colour(index);
  return node;
}

// The legend: a colour swatch and the series' label, in drawing order.
export function legend(series) {
  const list = document.createElement("ul");
  list.className = "legend";
  series.forEach((line, index) => {
    const item = document.createElement("li");
    item.append(swatch(index), document.createTextNode(line.label));
    list.append(item);
  });
  return list;
}
