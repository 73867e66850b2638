// The API keys page (admin keys only): create a key (its secret shown once), list and revoke keys.
// The secret lives only in the one-time box's text until "Done": never in storage, never in the list.

import { ApiError, api, onIdentity, refreshIdentity } from "./api.js";
import { element, formatCost, formatDate, formatNumber, formatRelative } from "./format.js";

const status = document.getElementById("keys-status");
const refusal = document.getElementById("keys-refusal");
const content = document.getElementById("keys-content");
const form = document.getElementById("create-key-form");
const createButton = document.getElementById("create-key-button");
const createError = document.getElementById("create-key-error");
const modelChoices = document.getElementById("new-key-models");
const modelsHint = document.getElementById("new-key-models-hint");
const secretBox = document.getElementById("key-secret");
const secretTitle = document.getElementById("key-secret-title");
const secretValue = document.getElementById("key-secret-value");
const rows = document.getElementById("keys-rows");
const tableWrap = rows.closest(".table-wrap");
const fields = {
  name: document.getElementById("new-key-name"),
  isAdmin: document.getElementById("new-key-admin"),
  rpm: document.getElementById("new-key-rpm"),
  tpm: document.getElementById("new-key-tpm"),
  budgetTokens: document.getElementById("new-key-budget-tokens"),
  budgetCost: document.getElementById("new-key-budget-cost"),
  period: document.getElementById("new-key-period"),
  expires: document.getElementById("new-key-expires"),
};

let me = null; // /api/console/me's answer for the key in use
let generation = 0; // bumped on every key change: answers for an older key are dropped

const MODELS_HINT = "None checked: every model, including ones added later.";

// --- States of the page --------------------------------------------------------------------------

function showRefusal() {
  clearSecret();
  content.hidden = true;
  refusal.hidden = false;
  rows.replaceChildren();
  status.textContent = "";
}

// Any admin call answering 403 means this key may not manage keys (or no longer may).
function handled(error) {
  if (error instanceof ApiError && error.status === 403) {
    showRefusal();
    return true;
  }
  return false;
}

// --- The one-time secret -------------------------------------------------------------------------

function showSecret(created) {
  secretTitle.textContent = created.name ? `New key “${created.name}” created` : "New key created";
  secretValue.textContent = created.key;
  secretBox.hidden = false;
  secretBox.focus();
}

function clearSecret() {
  secretValue.textContent = "";
  secretBox.hidden = true;
}

document.getElementById("key-secret-done").addEventListener("click", () => {
  clearSecret();
  fields.name.focus();
});

// --- The create form -----------------------------------------------------------------------------

function numberOrNull(input) {
  const value = input.value.trim();
  return value === "" ? null : Number(value);
}

// The date input's day, to its last millisecond in UTC.
function endOfDay(value) {
  return value ? new Date(`${value}T23:59:59.999Z`).toISOString() : null;
}

function requestBody() {
  const allowed = [...modelChoices.querySelectorAll("input:checked")].map((box) => box.value);
  return {
    name: fields.name.value.trim(),
    is_admin: fields.isAdmin.checked,
    allowed_models: allowed.length ? allowed : null,
    max_requests_per_minute: numberOrNull(fields.rpm),
    max_tokens_per_minute: numberOrNull(fields.tpm),
    max_budget_tokens: numberOrNull(fields.budgetTokens),
    max_budget_cost: numberOrNull(fields.budgetCost),
    budget_period: fields.period.value,
    expires_at: endOfDay(fields.expires.value),
  };
}

function resetForm() {
  form.reset();
  for (const box of modelChoices.querySelectorAll("input")) box.checked = false;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const mine = generation;
  createError.hidden = true;
  createError.textContent = "";
  createButton.disabled = true;
  clearSecret();
  let created;
  try {
    created = await api("/api/admin/keys", { method: "POST", body: requestBody() });
  } catch (error) {
    if (mine !== generation || handled(error)) return;
    createError.textContent = `The key was not created: ${error.message}`;
    createError.hidden = false;
    return;
  } finally {
    createButton.disabled = false;
  }
  if (mine !== generation) return;
  resetForm();
  showSecret(created);
  loadKeys();
});

function modelChoice(model) {
  const box = element("input", { attrs: { type: "checkbox", name: "allowed_models", value: model.id } });
  const text = model.display_name && model.display_name !== model.id ? `${model.display_name} ` : "";
  return element("label", { className: "check" }, [
    box,
    document.createTextNode(` ${text}`),
    element("code", { text: model.id, className: text ? "muted small" : undefined }),
  ]);
}

async function loadModels(mine) {
  modelsHint.textContent = "Loading models…";
  let models;
  try {
    models = (await api("/api/console/models")).data;
  } catch (error) {
    if (mine !== generation) return;
    modelsHint.textContent = `Could not load the models (${error.message}): the key will allow every model.`;
    modelChoices.replaceChildren();
    return;
  }
  if (mine !== generation) return;
  const checked = new Set([...modelChoices.querySelectorAll("input:checked")].map((box) => box.value));
  modelChoices.replaceChildren(...models.map(modelChoice));
  for (const box of modelChoices.querySelectorAll("input")) box.checked = checked.has(box.value);
  modelsHint.textContent = models.length
    ? MODELS_HINT
    : "No models on this server yet: the key will allow every model.";
}

// --- The list of keys ----------------------------------------------------------------------------

function keyStatus(key) {
  if (key.revoked_at) return "revoked";
  if (key.expires_at && new Date(key.expires_at).getTime() <= Date.now()) return "expired";
  return "active";
}

function limitsSummary(key) {
  const parts = [];
  const set = (value) => value !== null && value !== undefined;
  if (set(key.max_requests_per_minute)) parts.push(`${formatNumber(key.max_requests_per_minute)} rpm`);
  if (set(key.max_tokens_per_minute)) parts.push(`${formatNumber(key.max_tokens_per_minute)} tpm`);
  if (set(key.max_budget_tokens)) parts.push(`${formatNumber(key.max_budget_tokens)} tokens/${key.budget_period}`);
  if (set(key.max_budget_cost)) parts.push(`${formatCost(key.max_budget_cost)}/${key.budget_period}`);
  return parts.length ? parts.join(" · ") : "none";
}

function timeCell(iso, text) {
  if (!iso) return element("td", { text: "never", className: "muted" });
  return element("td", {}, [element("time", { text, attrs: { datetime: iso, title: formatDate(iso) } })]);
}

function modelsCell(allowed) {
  if (allowed === null || allowed === undefined) return element("td", { text: "all", className: "muted" });
  if (!allowed.length) return element("td", { text: "none" });
  const tags = allowed.map((model) => element("span", { text: model, className: "tag" }));
  return element("td", { className: "key-wrap" }, tags);
}

function statusCell(key, state) {
  const when = { revoked: key.revoked_at, expired: key.expires_at }[state];
  const title = when ? `${state === "revoked" ? "Revoked" : "Expired"} ${formatDate(when)}` : undefined;
  return element("td", {}, [element("span", { text: state, className: `badge key-${state}`, attrs: { title } })]);
}

function revokeButton(key) {
  const label = key.name ? `“${key.name}” (${key.prefix}…)` : `${key.prefix}…`;
  const button = element("button", {
    text: "Revoke",
    className: "danger",
    attrs: { type: "button", "aria-label": `Revoke ${key.name || key.prefix}` },
  });
  button.addEventListener("click", async () => {
    const own = me && me.key_id === key.id;
    const warning = own ? "\n\nThis is the key this browser uses: the console stops working with it." : "";
    if (!window.confirm(`Revoke the key ${label}? Programs using it get 403 from now on.${warning}`)) return;
    const mine = generation;
    button.disabled = true;
    try {
      await api(`/api/admin/keys/${encodeURIComponent(key.id)}`, { method: "DELETE" });
    } catch (error) {
      button.disabled = false;
      if (mine !== generation || handled(error)) return;
      status.textContent = `Could not revoke ${label}: ${error.message}`;
      return;
    }
    if (own) {
      await refreshIdentity();
      return;
    }
    await loadKeys();
    if (mine !== generation) return;
    status.textContent = `Revoked ${label}.`;
    // The button is gone with the key's active state: keep keyboard focus in the table.
    tableWrap.focus();
  });
  return button;
}

function keyRow(key) {
  const state = keyStatus(key);
  const nameCell = key.name
    ? element("td", { text: key.name })
    : element("td", { text: "(no name)", className: "muted" });
  const className = state === "active" ? undefined : "key-inactive";
  return element("tr", { className, attrs: { "data-key-id": key.id } }, [
    nameCell,
    element("td", {}, [element("code", { text: `${key.prefix}…` })]),
    element("td", { text: key.is_admin ? "admin" : "inference" }),
    timeCell(key.created_at, formatDate(key.created_at)),
    timeCell(key.last_used_at, formatRelative(key.last_used_at)),
    timeCell(key.expires_at, formatRelative(key.expires_at)),
    element("td", { text: limitsSummary(key), className: "key-wrap" }),
    modelsCell(key.allowed_models),
    statusCell(key, state),
    element("td", {}, [state === "active" ? revokeButton(key) : null]),
  ]);
}

async function loadKeys() {
  const mine = generation;
  let keys;
  try {
    keys = (await api("/api/admin/keys")).data;
  } catch (error) {
    if (mine !== generation || handled(error)) return;
    status.textContent = `Could not load the keys: ${error.message}`;
    return;
  }
  if (mine !== generation) return;
  refusal.hidden = true;
  content.hidden = false;
  keys.reverse(); // newest first
  if (keys.length) {
    rows.replaceChildren(...keys.map(keyRow));
  } else {
    const empty = element("td", { text: "No keys yet.", className: "muted", attrs: { colspan: 10 } });
    rows.replaceChildren(element("tr", {}, [empty]));
  }
  const active = keys.filter((key) => keyStatus(key) === "active").length;
  status.textContent = `${active} active ${active === 1 ? "key" : "keys"}, ${keys.length} in all.`;
}

document.getElementById("keys-refresh").addEventListener("click", () => loadKeys());

// --- The key in use ------------------------------------------------------------------------------

onIdentity((identity) => {
  generation += 1;
  me = identity;
  clearSecret();
  createError.hidden = true;
  if (!identity) {
    content.hidden = true;
    refusal.hidden = true;
    rows.replaceChildren();
    status.textContent = "";
    return;
  }
  if (!identity.is_admin) {
    showRefusal();
    return;
  }
  refusal.hidden = true;
  status.textContent = "Loading keys…";
  loadModels(generation);
  loadKeys();
});
