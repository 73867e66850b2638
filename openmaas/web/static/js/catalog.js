// The catalog: a card per model the key may use, with search and a tag filter.

import { api, onIdentity } from "./api.js";
import { element, formatBytes, formatNumber, formatPrice } from "./format.js";

const search = document.getElementById("catalog-search");
const tagSelect = document.getElementById("catalog-tag");
const list = document.getElementById("catalog-cards");
const status = document.getElementById("catalog-status");
let models = [];

function stateBadge(model) {
  return element("span", {
    text: model.warm ? "Warm" : "Cold start",
    className: `badge ${model.warm ? "warm" : "cold"}`,
    attrs: { title: model.warm ? "Loaded now: answers at once" : "Loads on its first request" },
  });
}

function fact(term, value) {
  return [element("dt", { text: term }), element("dd", { text: value })];
}

function card(model) {
  const href = `/models/${encodeURIComponent(model.id).replaceAll("%2F", "/")}`;
  const facts = element("dl", { className: "facts" }, [
    ...fact("Size", [model.size_label, formatBytes(model.file_bytes)].filter(Boolean).join(" · ")),
    ...fact("Context", `${formatNumber(model.context_length)} tokens`),
    ...fact("Quantization", model.quantization || "—"),
    ...fact("Price (in / out)", `${formatPrice(model.input_price_per_million)} · ${formatPrice(model.output_price_per_million)}`),
  ]);
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

async function load() {
  status.textContent = "Loading models…";
  try {
    models = (await api("/api/console/models")).data;
  } catch (error) {
    status.textContent = `Could not load the models: ${error.message}`;
    return;
  }
  fillTags();
  render();
}

search.addEventListener("input", render);
tagSelect.addEventListener("change", render);
onIdentity((identity) => {
  if (identity) load();
  else list.replaceChildren();
});
