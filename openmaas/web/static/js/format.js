// Numbers, sizes, prices and times as people read them.

const numbers = new Intl.NumberFormat("en");

export function formatNumber(value) {
  return value === null || value === undefined ? "—" : numbers.format(value);
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(value >= 100 || unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function formatPrice(perMillion) {
  if (!perMillion) return "free";
  return `$${perMillion.toFixed(perMillion < 1 ? 3 : 2)} / 1M`;
}

export function formatCost(cost) {
  if (!cost) return "$0";
  return cost < 0.01 ? `$${cost.toFixed(6)}` : `$${cost.toFixed(2)}`;
}

export function formatDate(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleString("en", { dateStyle: "medium", timeStyle: "short" });
}

// "3 minutes ago"; the full date in a title attribute is the caller's choice.
export function formatRelative(iso) {
  if (!iso) return "never";
  const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
  const units = [
    ["year", 31536000],
    ["month", 2592000],
    ["day", 86400],
    ["hour", 3600],
    ["minute", 60],
  ];
  const relative = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return relative.format(-Math.round(seconds / size), unit);
  }
  return "just now";
}

// An element with text, class and attributes, in one call (textContent: never HTML from data).
export function element(tag, { text, className, attrs } = {}, children = []) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

// A description list's terms and values: rows of [term, value], as <dt>/<dd> pairs.
export function factList(rows) {
  return rows.flatMap(([term, value]) => [element("dt", { text: term }), element("dd", { text: value })]);
}

// A model id as a URL path (ids may hold "/": each part encoded, the slashes kept).
export function modelPath(id) {
  return id.split("/").map(encodeURIComponent).join("/");
}

// A model's kind as the catalog card and the model page say it.
export const KIND_LABELS = {
  base: "Base model (text completion)",
  chat: "Chat model",
  embeddings: "Embeddings model",
};
