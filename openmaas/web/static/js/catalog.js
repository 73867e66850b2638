// The catalog: a card per model the key may use, with search and a tag filter.

import { api, onIdentity } from "./api.js";
import { KIND_LABELS, element, factList, formatBytes, formatNumber, formatPrice, modelPath } from "./format.js";

const search = document.getElementById("catalog-search");
const tagSelect = document.getElementById("catalog-tag");
const list = document.getElementById("catalog-cards");
const status = document.getElementById("catalog-status");
let models = [];
let generation = 0; // bumped on every key change: answers for an older key are dropped

function stateBadge(model) {
  return element("span", {
    text: model.warm ? "Warm" : "Cold start",
    className: `badge ${model.warm ? "warm" : "cold"}`,
    attrs: { title: model.warm ? "Loaded now: answers at once" : "Loads on its first request" },
  });
}

function card(model) {
  const href = `/models/${modelPath(model.id)}`;
  const facts = element(
    "dl",
    { className: "facts" },
    factList([
      ["Kind", KIND_LABELS[model.kind] || model.kind],
      ["Size", [model.size_label, formatBytes(model.file_bytes)].filter(Boolean).join(" · ")],
      ["Context", `${formatNumber(model.context_length)} tokens`],
      ["Quantization", model.quantization || "—"],
      ["Price (in / out)", `${formatPrice(model.input_price_per_million)} · ${formatPrice(model.output_price_per_million)}`],
    ]),
  );
  const tags = model.tags.length
    ? element("p", { className: "tags" }, model.tags.map((tag) => element("span", { text: tag, className: "tag" })))
    : null;
  const heading = element("h2", {}, [element("a", { text: model.display_name, attrs: { href } })]);
  return element("li", { className: "card", attrs: { "data-model-id": model.id } }, [
    element("div", { className: "row" }, [heading, stateBadge(model)]),
    element("code", { text: model.id, className: "muted small" }),
    model.description ? element("p", { text: model.description, className: "muted" }) : null,
    tags,
    facts,
    element("div", { className: "card-actions" }, [
      element("a", { text: "Details & API", className: "button", attrs: { href } }),
      element("a", {
        text: "Playground",
        className: "button primary",
        attrs: { href: `/playground?model=${encodeURIComponent(model.id)}` },
      }),
    ]),
  ]);
}

function matches(model, words, tag) {
  if (tag && !model.tags.includes(tag)) return false;
  const haystack = [model.id, model.display_name, model.description, ...model.tags, ...model.aliases]
    .join(" ")
    .toLowerCase();
  return words.every((word) => haystack.includes(word));
}

function render() {
  const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = models.filter((model) => matches(model, words, tagSelect.value));
  list.replaceChildren(...shown.map(card));
  status.textContent = `${shown.length} of ${models.length} models`;
}

function fillTags() {
  const tags = [...new Set(models.flatMap((model) => model.tags))].sort();
  const chosen = tagSelect.value;
  tagSelect.replaceChildren(
    element("option", { text: "All tags", attrs: { value: "" } }),
    ...tags.map((tag) => element("option", { text: tag, attrs: { value: tag } })),
  );
  tagSelect.value = tags.includes(chosen) ? chosen : "";
}

async function load(mine) {
  status.textContent = "Loading models…";
  let found;
  try {
    found = (await api("/api/console/models")).data;
  } catch (error) {
    if (mine !== generation) return;
    status.textContent = `Could not load the models: ${error.message}`;
    return;
  }
  if (mine !== generation) return;
  models = found;
  fillTags();
  render();
}

search.addEventListener("input", render);
tagSelect.addEventListener("change", render);
onIdentity((identity) => {
  generation += 1;
  models = [];
  list.replaceChildren();
  status.textContent = "";
  if (identity) load(generation);
});
