// A model's detail: its facts, default settings and ready-to-copy API examples.

import { api, onIdentity } from "./api.js";
import { exampleCode, endpointOf } from "./examples.js";
import { element, formatBytes, formatNumber, formatPrice } from "./format.js";
import { setupTabs } from "./tabs.js";

const article = document.getElementById("model-detail");
const modelId = article.dataset.modelId;
const status = document.getElementById("model-status");
const dialectSelect = document.getElementById("example-dialect");
const panel = document.getElementById("example-panel");
const code = document.getElementById("example-code");
const endpoint = document.getElementById("example-endpoint");
const origin = document.body.dataset.baseUrl;
let language = "curl";
let model = null;

function facts(target, rows) {
  target.replaceChildren(
    ...rows.flatMap(([term, value]) => [element("dt", { text: term }), element("dd", { text: value })]),
  );
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
    defaults.length ? defaults.map(([name, value]) => [name, JSON.stringify(value)]) : [["—", "the server's defaults"]],
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

async function load() {
  status.textContent = "Loading…";
  try {
    const path = modelId.split("/").map(encodeURIComponent).join("/");
    model = await api(`/api/console/models/${path}`);
  } catch (error) {
    status.textContent = error.status === 404 ? `No model '${modelId}' is available to this key.` : error.message;
    return;
  }
  status.textContent = "";
  showModel();
  showExample();
}

showExample();
onIdentity((identity) => {
  if (identity) load();
});
