// A model's detail: its facts, default settings and ready-to-copy API examples.

import { api, onIdentity } from "./api.js";
import { exampleCode, endpointOf } from "./examples.js";
import { KIND_LABELS, factList, formatBytes, formatNumber, formatPrice, modelPath } from "./format.js";
import { setupTabs } from "./tabs.js";

const article = document.getElementById("model-detail");
const modelId = article.dataset.modelId;
const status = document.getElementById("model-status");
const dialectSelect = document.getElementById("example-dialect");
const panel = document.getElementById("example-panel");
const code = document.getElementById("example-code");
const endpoint = document.getElementById("example-endpoint");
// The address the browser reached this server at (right behind a TLS proxy too).
const origin = window.location.origin;
let language = "curl";
let model = null;
let generation = 0; // bumped on every key change: answers for an older key are dropped

function facts(target, rows) {
  target.replaceChildren(...factList(rows));
}

function showModel() {
  document.getElementById("model-title").textContent = model.display_name;
  document.getElementById("model-description").textContent = model.description || model.id;
  const badge = document.getElementById("model-state");
  badge.textContent = model.warm ? "Warm" : "Cold start";
  badge.className = `badge ${model.warm ? "warm" : "cold"}`;
  facts(document.getElementById("model-facts"), [
    ["Model id", model.id],
    ["Also answers to", model.aliases.join(", ") || "—"],
    ["Kind", KIND_LABELS[model.kind] || model.kind],
    ["Architecture", model.architecture || "—"],
    ["Parameters", model.size_label || "—"],
    ["Context (served)", `${formatNumber(model.context_length)} tokens`],
    ["Context (trained)", model.trained_context_length ? `${formatNumber(model.trained_context_length)} tokens` : "—"],
    ["Quantization", model.quantization || "—"],
    ["File size", formatBytes(model.file_bytes)],
    ["License", model.license || "—"],
    ["Tags", model.tags.join(", ") || "—"],
    ["Input price", formatPrice(model.input_price_per_million)],
    ["Output price", formatPrice(model.output_price_per_million)],
  ]);
  const defaults = Object.entries(model.defaults);
  facts(
    document.getElementById("model-defaults"),
    defaults.length ? defaults.map(([name, value]) => [name, JSON.stringify(value)]) : [["—", "none: each API's own defaults apply"]],
  );
}

function showExample() {
  const dialect = dialectSelect.value;
  const request = {
    model: model ? model.id : modelId,
    messages: [{ role: "user", content: "Say hello" }],
    params: { max_tokens: 128 },
    stream: language !== "curl",
  };
  endpoint.textContent = `POST ${endpointOf(dialect, origin)}`;
  code.textContent = exampleCode(language, dialect, origin, request);
}

setupTabs(document.getElementById("example-tabs"), (tab) => {
  language = tab.dataset.lang;
  panel.setAttribute("aria-labelledby", tab.id);
  showExample();
});
dialectSelect.addEventListener("change", showExample);

async function load(mine) {
  status.textContent = "Loading…";
  let found;
  try {
    found = await api(`/api/console/models/${modelPath(modelId)}`);
  } catch (error) {
    if (mine !== generation) return;
    status.textContent = error.status === 404 ? `No model '${modelId}' is available to this key.` : error.message;
    return;
  }
  if (mine !== generation) return;
  model = found;
  status.textContent = "";
  showModel();
  showExample();
}

showExample();
onIdentity((identity) => {
  generation += 1;
  model = null;
  status.textContent = "";
  // Nothing the previous key saw stays on the page.
  document.getElementById("model-facts").replaceChildren();
  document.getElementById("model-defaults").replaceChildren();
  if (identity) load(generation);
});
