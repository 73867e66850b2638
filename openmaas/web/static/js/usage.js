// The Usage page: requests, tokens and cost over time as stacked bar charts, totals per model or key,
// and the calls as a CSV download. An admin key sees every call; any other key its own.

import { api, apiError, authHeaders, onIdentity } from "./api.js";
import { legend, stackedBars, swatch } from "./chart.js";
import { element, formatCost, formatNumber } from "./format.js";

const periodSelect = document.getElementById("usage-period");
const groupSelect = document.getElementById("usage-group");
const exportButton = document.getElementById("usage-export");
const errorText = document.getElementById("usage-error");
const status = document.getElementById("usage-status");
const scope = document.getElementById("usage-scope");
const table = document.getElementById("usage-table");
const tableCaption = document.getElementById("usage-table-caption");
const groupHeading = document.getElementById("usage-group-heading");

const PERIOD_NAMES = { "24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days", "90d": "last 90 days" };
const GROUP_NAMES = { model: "model", key: "API key" };

const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });
// Buckets are UTC hours and days: labelled in UTC so that a bar and its label agree.
const hourLabel = new Intl.DateTimeFormat("en", { timeZone: "UTC", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const dayLabel = new Intl.DateTimeFormat("en", { timeZone: "UTC", month: "short", day: "numeric" });
const hourTitle = new Intl.DateTimeFormat("en", {
  timeZone: "UTC",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
});
const dayTitle = new Intl.DateTimeFormat("en", { timeZone: "UTC", year: "numeric", month: "short", day: "numeric" });

// Tick labels must be short; hover titles and the table give the exact amounts.
function tickCost(value) {
  if (!value) return "$0";
  return value >= 0.01 ? `$${Number(value.toFixed(2))}` : `$${Number(value.toPrecision(2))}`;
}

const CHARTS = [
  {
    id: "chart-requests",
    title: "Requests",
    values: (line) => line.requests,
    tick: (value) => compact.format(value),
    hover: (value) => `${formatNumber(value)} ${value === 1 ? "request" : "requests"}`,
    total: (value) => formatNumber(value),
    empty: () => "No calls in this period",
  },
  {
    id: "chart-tokens",
    title: "Tokens",
    values: (line) => line.tokens,
    tick: (value) => compact.format(value),
    hover: (value) => `${formatNumber(value)} tokens`,
    total: (value) => `${formatNumber(value)} tokens`,
    empty: () => "No tokens in this period",
  },
  {
    id: "chart-cost",
    title: "Cost",
    values: (line) => line.cost,
    tick: tickCost,
    hover: formatCost,
    total: formatCost,
    // Calls with no cost are the common case on a server whose models have no prices.
    empty: (data) => (data.total.num_requests ? "No cost: these models have no price" : "No cost in this period"),
  },
];

let data = null;
let loading = 0; // the latest load's number: an older answer arriving late is dropped
const widths = new Map(); // chart id -> the width it was last drawn at

function showError(message) {
  errorText.textContent = message;
  errorText.hidden = !message;
}

function chosen() {
  return { period: periodSelect.value, groupBy: groupSelect.value };
}

function bucketLabels(payload) {
  const dates = payload.buckets.map((bucket) => new Date(bucket));
  const short = payload.bucket === "hour" ? hourLabel : dayLabel;
  const long = payload.bucket === "hour" ? hourTitle : dayTitle;
  return {
    labels: dates.map((date) => short.format(date)),
    titles: dates.map((date) => `${long.format(date)}${payload.bucket === "hour" ? " UTC" : ""}`),
  };
}

function drawChart(spec) {
  const figure = document.getElementById(spec.id);
  const box = figure.querySelector(".chart-box");
  const width = Math.round(box.clientWidth) || 640;
  widths.set(spec.id, width);
  const { labels, titles } = bucketLabels(data);
  const series = data.series.map((line) => ({ label: line.label, values: spec.values(line) }));
  const total = series.reduce((sum, line) => sum + line.values.reduce((a, b) => a + b, 0), 0);
  const chart = stackedBars({
    labels,
    titles,
    series,
    width,
    format: spec.tick,
    formatValue: spec.hover,
    ariaLabel: `${spec.title} per ${data.bucket}, ${PERIOD_NAMES[data.period]}: ${spec.total(total)} in total`,
    emptyText: spec.empty(data),
  });
  box.replaceChildren(chart, ...(data.series.length ? [legend(data.series)] : []));
}

function drawTable() {
  const group = GROUP_NAMES[data.group_by];
  tableCaption.textContent = `Totals by ${group}, ${PERIOD_NAMES[data.period]}`;
  groupHeading.textContent = group[0].toUpperCase() + group.slice(1);
  const cells = (totals) => [
    element("td", { text: formatNumber(totals.num_requests), className: "num" }),
    element("td", { text: formatNumber(totals.num_prompt_tokens), className: "num" }),
    element("td", { text: formatNumber(totals.num_completion_tokens), className: "num" }),
    element("td", { text: formatCost(totals.cost), className: "num" }),
  ];
  const rows = data.totals.map((totals, index) => {
    const name = element("th", { attrs: { scope: "row" } }, [swatch(index), document.createTextNode(totals.label)]);
    return element("tr", {}, [name, ...cells(totals)]);
  });
  if (!rows.length) {
    rows.push(element("tr", {}, [element("td", { text: "No calls in this period", attrs: { colspan: "5" } })]));
  }
  table.tBodies[0].replaceChildren(...rows);
  table.tFoot.replaceChildren(element("tr", {}, [element("th", { text: "Total", attrs: { scope: "row" } }), ...cells(data.total)]));
}

function draw() {
  if (!data) return;
  for (const spec of CHARTS) drawChart(spec);
  drawTable();
}

async function load() {
  const { period, groupBy } = chosen();
  const number = ++loading;
  status.textContent = "Loading usage…";
  try {
    const payload = await api(`/api/console/usage?period=${encodeURIComponent(period)}&group_by=${encodeURIComponent(groupBy)}`);
    if (number !== loading) return;
    data = payload;
  } catch (error) {
    if (number !== loading) return;
    status.textContent = "";
    showError(`Could not load the usage: ${error.message}`);
    return;
  }
  showError("");
  draw();
  const calls = data.total.num_requests;
  status.textContent = `${formatNumber(calls)} ${calls === 1 ? "call" : "calls"} in the ${PERIOD_NAMES[data.period]}`;
}

// The choice lives in the address, so a reload or a shared link shows the same view.
function remember() {
  const { period, groupBy } = chosen();
  const url = new URL(window.location.href);
  url.searchParams.set("period", period);
  url.searchParams.set("group_by", groupBy);
  window.history.replaceState(null, "", url);
}

function restore() {
  const params = new URLSearchParams(window.location.search);
  for (const [select, name] of [
    [periodSelect, "period"],
    [groupSelect, "group_by"],
  ]) {
    const value = params.get(name);
    if (value && [...select.options].some((option) => option.value === value)) select.value = value;
  }
}

// A plain link cannot carry the key: fetch with it, then hand the browser the bytes as a blob: URL.
async function exportCsv() {
  const { period } = chosen();
  exportButton.disabled = true;
  status.textContent = "Preparing the CSV…";
  try {
    const response = await fetch(`/api/console/usage.csv?period=${encodeURIComponent(period)}`, {
      headers: authHeaders(),
    });
    if (!response.ok) throw await apiError(response);
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const link = element("a", { className: "offscreen", attrs: { href: url, download: `openmaas-usage-${period}.csv` } });
    document.body.append(link);
    link.click();
    link.remove();
    // Revoked once the browser has started the download (the click only queues it).
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    showError("");
    status.textContent = "CSV downloaded";
  } catch (error) {
    status.textContent = "";
    showError(`Could not export the usage: ${error.message}`);
  } finally {
    exportButton.disabled = false;
  }
}

function describeScope(identity) {
  if (identity.auth_disabled) return "Every call to this server (keys are off).";
  if (identity.is_admin) return "Every key's calls to this server.";
  return `Calls made with this key (${identity.key_prefix}…).`;
}

restore();
periodSelect.addEventListener("change", () => {
  remember();
  load();
});
groupSelect.addEventListener("change", () => {
  remember();
  load();
});
exportButton.addEventListener("click", exportCsv);

// Redrawn at the new width, so that text keeps its size from a phone to a wide screen.
const resizes = new ResizeObserver((entries) => {
  if (!data) return;
  for (const entry of entries) {
    const spec = CHARTS.find((chart) => chart.id === entry.target.closest("figure").id);
    const width = Math.round(entry.contentRect.width);
    if (spec && width && width !== widths.get(spec.id)) drawChart(spec);
  }
});
for (const box of document.querySelectorAll(".usage-chart .chart-box")) resizes.observe(box);

onIdentity((identity) => {
  if (identity) {
    scope.textContent = describeScope(identity);
    load();
  } else {
    data = null;
    loading += 1;
    for (const box of document.querySelectorAll(".usage-chart .chart-box")) box.replaceChildren();
    table.tBodies[0].replaceChildren();
    table.tFoot.replaceChildren();
    status.textContent = "";
    showError("");
  }
});
