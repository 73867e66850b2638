// The playground: a multi-turn chat with streamed answers, its settings, a stop button,
// the API tab (the exact request as code) and conversations kept on the server per key.

import { api, onIdentity } from "./api.js";
import { answerStats, markFailedTurns, messageItem } from "./chat_messages.js";
import { chatCompletion } from "./chat_stream.js";
import { endpointOf, exampleCode } from "./examples.js";
import { element } from "./format.js";
import { setupTabs } from "./tabs.js";

const $ = (id) => document.getElementById(id);
// The address the browser reached this server at (right behind a TLS proxy too).
const origin = window.location.origin;
const playground = $("playground");
const modelSelect = $("model-select");
const messagesList = $("messages");
const promptInput = $("prompt");
const sendButton = $("send-button");
const stopButton = $("stop-button");
const newButton = $("new-conversation");
const chatStatus = $("chat-status");
const conversationList = $("conversation-list");
const controls = {
  temperature: $("temperature"),
  max_tokens: $("max-tokens"),
  top_k: $("top-k"),
  top_p: $("top-p"),
  frequency_penalty: $("frequency-penalty"),
  presence_penalty: $("presence-penalty"),
};
const FIELD_OF_DEFAULT = { temperature: "temperature", max_tokens: "max_tokens", top_k: "top_k", top_p: "top_p" };
// The form's own values (its HTML), what a model without defaults of its own gets.
const FORM_DEFAULTS = Object.fromEntries(Object.entries(controls).map(([name, input]) => [name, input.defaultValue]));

let models = [];
let conversation = newConversation();
let running = null; // the AbortController of the answer being generated
// Sending (until the answer is saved) or opening a conversation: Send, New chat and opening wait.
let busy = false;
let generation = 0; // bumped on every key change: answers for an older key are dropped
let openedFromAddress = false; // ?conversation= is opened once, for the first key only

function newConversation() {
  return { id: null, title: "", messages: [], saving: null };
}

function params() {
  const values = {};
  for (const [name, input] of Object.entries(controls)) {
    const value = input.value === "" ? null : Number(input.value);
    values[name] = name === "max_tokens" || name === "top_k" ? (value === null ? null : Math.round(value)) : value;
  }
  return values;
}

function settings() {
  return { system: $("system-prompt").value, stream: $("stream").checked, ...params() };
}

function applySettings(saved) {
  if (!saved) return;
  if (typeof saved.system === "string") $("system-prompt").value = saved.system;
  if (typeof saved.stream === "boolean") $("stream").checked = saved.stream;
  for (const [name, input] of Object.entries(controls)) {
    if (saved[name] !== undefined && saved[name] !== null) input.value = saved[name];
  }
}

// The messages sent: the system prompt (if any), the turns so far, and pending (the next user turn).
function wireMessages(pending) {
  const system = $("system-prompt").value.trim();
  const turns = conversation.messages
    .filter((message) => !message.failed)
    .map((message) => ({ role: message.role, content: message.content }));
  if (pending !== undefined) turns.push({ role: "user", content: pending });
  return system ? [{ role: "system", content: system }, ...turns] : turns;
}

function requestOf(pending) {
  return { model: modelSelect.value, messages: wireMessages(pending), params: params(), stream: $("stream").checked };
}

// ---- rendering -------------------------------------------------------------------------------

function renderMessages() {
  messagesList.replaceChildren(...conversation.messages.map(messageItem));
}

function renderConversations(items) {
  conversationList.replaceChildren(
    ...items.map((item) => {
      const open = element("button", {
        text: item.title || "Untitled",
        className: "open",
        attrs: { type: "button", "aria-current": item.id === conversation.id ? "true" : "false", title: item.title },
      });
      open.addEventListener("click", () => openConversation(item.id));
      const remove = element("button", {
        text: "✕",
        className: "delete",
        attrs: { type: "button", "aria-label": `Delete conversation ${item.title || "Untitled"}` },
      });
      remove.addEventListener("click", () => deleteConversation(item.id));
      return element("li", { attrs: { "data-conversation-id": item.id } }, [open, remove]);
    }),
  );
}

function renderApi() {
  const language = $("api-language").value;
  const dialect = $("api-dialect").value;
  const pending = promptInput.value.trim() || "Say hello";
  $("api-endpoint").textContent = `POST ${endpointOf(dialect, origin)}`;
  $("api-code").textContent = exampleCode(language, dialect, origin, requestOf(pending));
}

// busy: an answer is generated or saved, or a conversation opened; controller: Stop aborts it.
function setBusy(value, controller = null) {
  busy = value;
  running = controller;
  stopButton.hidden = controller === null;
  sendButton.disabled = value;
  newButton.disabled = value;
  playground.dataset.busy = String(value);
}

// ---- the server's conversation store --------------------------------------------------------

async function refreshConversations() {
  const mine = generation;
  let items;
  try {
    items = (await api("/api/console/conversations")).data;
  } catch (error) {
    if (mine === generation) chatStatus.textContent = `Could not load conversations: ${error.message}`;
    return;
  }
  if (mine === generation) renderConversations(items);
}

async function writeConversation(target, mine) {
  if (mine !== generation) return; // the key changed: this is not the new key's conversation
  const body = {
    title: target.title,
    model: modelSelect.value,
    settings: settings(),
    messages: target.messages.map(({ role, content, stats, state, failed }) => ({
      role,
      content,
      stats: stats || null,
      state: state || "done",
      failed: Boolean(failed),
    })),
  };
  try {
    const saved = target.id
      ? await api(`/api/console/conversations/${encodeURIComponent(target.id)}`, { method: "PUT", body })
      : await api("/api/console/conversations", { method: "POST", body });
    target.id = saved.id;
  } catch (error) {
    if (mine === generation) chatStatus.textContent = `Could not save the conversation: ${error.message}`;
    return;
  }
  if (mine === generation) await refreshConversations();
}

// Saves target (the conversation as it is now) after its earlier saves, so that the first
// save's POST gives the id every later PUT uses.
function saveConversation(target) {
  const mine = generation;
  const previous = target.saving || Promise.resolve();
  target.saving = previous.then(() => writeConversation(target, mine));
  return target.saving;
}

async function openConversation(id) {
  if (busy) return;
  const mine = generation;
  setBusy(true);
  try {
    const saved = await api(`/api/console/conversations/${encodeURIComponent(id)}`);
    if (mine !== generation) return;
    conversation = { id: saved.id, title: saved.title, messages: markFailedTurns(saved.messages), saving: null };
    applySettings(saved.settings);
    if ([...modelSelect.options].some((option) => option.value === saved.model)) modelSelect.value = saved.model;
    chatStatus.textContent = "";
    renderMessages();
    renderApi();
  } catch (error) {
    if (mine === generation) chatStatus.textContent = `Could not open the conversation: ${error.message}`;
    return;
  } finally {
    if (mine === generation) setBusy(false);
  }
  await refreshConversations();
}

async function deleteConversation(id) {
  // The conversation being answered or saved stays until that is done.
  if (busy && id === conversation.id) return;
  const mine = generation;
  try {
    await api(`/api/console/conversations/${encodeURIComponent(id)}`, { method: "DELETE" });
  } catch (error) {
    if (mine === generation) chatStatus.textContent = `Could not delete the conversation: ${error.message}`;
    return;
  }
  if (mine !== generation) return;
  if (conversation.id === id) startNewConversation();
  else await refreshConversations();
}

function resetConversation() {
  conversation = newConversation();
  chatStatus.textContent = "";
  renderMessages();
  renderApi();
}

function startNewConversation() {
  if (busy) return;
  resetConversation();
  refreshConversations();
  promptInput.focus();
}

// ---- sending ---------------------------------------------------------------------------------

async function send() {
  const text = promptInput.value.trim();
  if (!text || busy || !modelSelect.value) return;
  const mine = generation;
  const target = conversation;
  const body = {
    model: modelSelect.value,
    messages: wireMessages(text),
    ...Object.fromEntries(Object.entries(params()).filter(([, value]) => value !== null && !Number.isNaN(value))),
    stream: $("stream").checked,
  };
  if (body.stream) body.stream_options = { include_usage: true };
  if (!target.title) target.title = text.slice(0, 80);
  const question = { role: "user", content: text };
  const answer = { role: "assistant", content: "", state: "streaming" };
  target.messages.push(question, answer);
  promptInput.value = "";
  renderMessages();
  const item = messagesList.lastElementChild;
  const content = item.querySelector(".content");
  item.dataset.chunks = "0";
  chatStatus.textContent = "Generating…";
  const controller = new AbortController();
  setBusy(true, controller);
  let result = null;
  try {
    result = await chatCompletion(body, {
      signal: controller.signal,
      onStart: (started) => {
        if (started.requestId) item.dataset.requestId = started.requestId;
      },
      onDelta: (_text, progress) => {
        answer.content = progress.content;
        content.textContent = progress.content;
        item.dataset.chunks = String(progress.chunks);
      },
    });
    answer.state = "done";
  } catch (error) {
    if (controller.signal.aborted) {
      answer.state = "stopped";
    } else {
      answer.state = "error";
      answer.failed = true;
      question.failed = true;
      answer.content = error.message;
    }
  }
  // The key changed meanwhile: the page shows the new key's chat now, and this one is not saved.
  if (mine !== generation) return;
  running = null;
  stopButton.hidden = true;
  if (result) answer.stats = answerStats(result, body.stream);
  else if (answer.state === "stopped") answer.stats = { finish_reason: "stopped" };
  chatStatus.textContent = answer.state === "stopped" ? "Stopped: the server cancelled the generation." : "";
  if (question.failed) {
    // Failed, the question is the user's to edit and send again.
    if (!promptInput.value.trim()) promptInput.value = text;
    renderMessages();
    const failedItem = messagesList.lastElementChild;
    if (item.dataset.requestId) failedItem.dataset.requestId = item.dataset.requestId;
  } else {
    const finished = messageItem(answer);
    finished.dataset.chunks = item.dataset.chunks;
    if (item.dataset.requestId) finished.dataset.requestId = item.dataset.requestId;
    item.replaceWith(finished);
  }
  // Busy until saved: a second send or another conversation waits for this one's id.
  await saveConversation(target);
  if (mine !== generation) return;
  setBusy(false);
  renderApi();
}

// ---- models ----------------------------------------------------------------------------------

// The form's defaults, then the model's own: a model without defaults gets the form's, not the
// previous model's.
function applyModelDefaults() {
  const model = models.find((candidate) => candidate.id === modelSelect.value);
  for (const name of Object.keys(FIELD_OF_DEFAULT)) controls[name].value = FORM_DEFAULTS[name];
  if (!model) return;
  for (const [name, field] of Object.entries(FIELD_OF_DEFAULT)) {
    if (model.defaults[field] !== undefined && model.defaults[field] !== null) controls[name].value = model.defaults[field];
  }
}

async function loadModels() {
  const mine = generation;
  let found;
  try {
    found = (await api("/api/console/models")).data;
  } catch (error) {
    if (mine === generation) chatStatus.textContent = `Could not load the models: ${error.message}`;
    return;
  }
  if (mine !== generation) return;
  models = found;
  const wanted = new URLSearchParams(window.location.search).get("model");
  const previous = modelSelect.value;
  modelSelect.replaceChildren(
    ...models.map((model) =>
      element("option", { text: `${model.display_name}${model.warm ? "" : " (cold start)"}`, attrs: { value: model.id } }),
    ),
  );
  const chosen =
    models.find((model) => model.id === wanted || model.aliases.includes(wanted)) ||
    models.find((model) => model.id === previous);
  if (chosen) modelSelect.value = chosen.id;
  applyModelDefaults();
  renderApi();
}

// ---- wiring ----------------------------------------------------------------------------------

$("prompt-form").addEventListener("submit", (event) => {
  event.preventDefault();
  send();
});
promptInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});
stopButton.addEventListener("click", () => {
  if (running) running.abort();
});
newButton.addEventListener("click", startNewConversation);
modelSelect.addEventListener("change", () => {
  applyModelDefaults();
  renderApi();
});
for (const input of [...Object.values(controls), $("system-prompt"), $("stream"), promptInput]) {
  input.addEventListener("input", renderApi);
}
$("api-language").addEventListener("change", renderApi);
$("api-dialect").addEventListener("change", renderApi);
setupTabs(document.querySelector('.chat [role="tablist"]'), (tab) => {
  $("chat-view").hidden = tab.id !== "tab-chat";
  $("api-view").hidden = tab.id !== "tab-api";
  if (tab.id === "tab-api") renderApi();
});

setBusy(false);
onIdentity(async (identity) => {
  // Another key (or none): nothing of the previous key's chat stays, and its answers are dropped.
  generation += 1;
  const mine = generation;
  if (running) running.abort();
  setBusy(false);
  conversationList.replaceChildren();
  resetConversation();
  if (!identity) return;
  await loadModels();
  if (mine !== generation) return;
  await refreshConversations();
  if (mine !== generation || openedFromAddress) return;
  openedFromAddress = true;
  const wanted = new URLSearchParams(window.location.search).get("conversation");
  if (wanted) await openConversation(wanted);
});
