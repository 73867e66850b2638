// The playground: a multi-turn chat with streamed answers, its settings, a stop button,
// the API tab (the exact request as code) and conversations kept on the server per key.

import { api, onIdentity } from "./api.js";
import { chatCompletion } from "./chat_stream.js";
import { endpointOf, exampleCode } from "./examples.js";
import { element, formatNumber } from "./format.js";
import { setupTabs } from "./tabs.js";

const $ = (id) => document.getElementById(id);
const origin = document.body.dataset.baseUrl;
const modelSelect = $("model-select");
const messagesList = $("messages");
const promptInput = $("prompt");
const sendButton = $("send-button");
const stopButton = $("stop-button");
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

let models = [];
let conversation = newConversation();
let running = null; // the AbortController of the answer being generated

function newConversation() {
  return { id: null, title: "", messages: [] };
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

function statsText(stats) {
  if (!stats) return "";
  const parts = [];
  if (stats.prompt_tokens !== undefined && stats.prompt_tokens !== null) {
    parts.push(`${formatNumber(stats.prompt_tokens)} prompt tokens`);
  }
  if (stats.completion_tokens !== undefined && stats.completion_tokens !== null) {
    parts.push(`${formatNumber(stats.completion_tokens)} completion tokens`);
  }
  if (stats.tokens_per_second) parts.push(`${stats.tokens_per_second.toFixed(1)} tokens/s`);
  if (stats.first_token_ms !== null && stats.first_token_ms !== undefined) {
    parts.push(`first token ${Math.round(stats.first_token_ms)} ms`);
  }
  if (stats.finish_reason) parts.push(`finished: ${stats.finish_reason}`);
  return parts.join(" · ");
}

function messageItem(message) {
  const item = element("li", { className: `message ${message.role}${message.failed ? " error" : ""}` }, [
    element("div", { text: message.role === "user" ? "You" : "Assistant", className: "role" }),
    element("div", { text: message.content, className: "content" }),
    element("div", { text: statsText(message.stats), className: "stats" }),
  ]);
  item.dataset.state = message.state || "done";
  return item;
}

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

function setRunning(controller) {
  running = controller;
  stopButton.hidden = controller === null;
  sendButton.disabled = controller !== null;
}

// ---- the server's conversation store --------------------------------------------------------

async function refreshConversations() {
  try {
    renderConversations((await api("/api/console/conversations")).data);
  } catch (error) {
    chatStatus.textContent = `Could not load conversations: ${error.message}`;
  }
}

async function saveConversation() {
  const body = {
    title: conversation.title,
    model: modelSelect.value,
    settings: settings(),
    messages: conversation.messages.map(({ role, content, stats, state, failed }) => ({
      role,
      content,
      stats: stats || null,
      state: state || "done",
      failed: Boolean(failed),
    })),
  };
  try {
    const saved = conversation.id
      ? await api(`/api/console/conversations/${conversation.id}`, { method: "PUT", body })
      : await api("/api/console/conversations", { method: "POST", body });
    conversation.id = saved.id;
    await refreshConversations();
  } catch (error) {
    chatStatus.textContent = `Could not save the conversation: ${error.message}`;
  }
}

async function openConversation(id) {
  if (running) return;
  try {
    const saved = await api(`/api/console/conversations/${id}`);
    conversation = { id: saved.id, title: saved.title, messages: saved.messages };
    applySettings(saved.settings);
    if ([...modelSelect.options].some((option) => option.value === saved.model)) modelSelect.value = saved.model;
    renderMessages();
    await refreshConversations();
    renderApi();
  } catch (error) {
    chatStatus.textContent = `Could not open the conversation: ${error.message}`;
  }
}

async function deleteConversation(id) {
  try {
    await api(`/api/console/conversations/${id}`, { method: "DELETE" });
  } catch (error) {
    chatStatus.textContent = `Could not delete the conversation: ${error.message}`;
    return;
  }
  if (conversation.id === id) startNewConversation();
  await refreshConversations();
}

function startNewConversation() {
  if (running) return;
  conversation = newConversation();
  renderMessages();
  refreshConversations();
  renderApi();
  promptInput.focus();
}

// ---- sending ---------------------------------------------------------------------------------

async function send() {
  const text = promptInput.value.trim();
  if (!text || running || !modelSelect.value) return;
  const body = {
    model: modelSelect.value,
    messages: wireMessages(text),
    ...Object.fromEntries(Object.entries(params()).filter(([, value]) => value !== null && !Number.isNaN(value))),
    stream: $("stream").checked,
  };
  if (body.stream) body.stream_options = { include_usage: true };
  if (!conversation.title) conversation.title = text.slice(0, 80);
  conversation.messages.push({ role: "user", content: text });
  const answer = { role: "assistant", content: "", state: "streaming" };
  conversation.messages.push(answer);
  promptInput.value = "";
  renderMessages();
  const item = messagesList.lastElementChild;
  const content = item.querySelector(".content");
  item.dataset.chunks = "0";
  chatStatus.textContent = "Generating…";
  const controller = new AbortController();
  setRunning(controller);
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
    chatStatus.textContent = "";
  } catch (error) {
    if (controller.signal.aborted) {
      answer.state = "stopped";
      chatStatus.textContent = "Stopped: the server cancelled the generation.";
    } else {
      answer.state = "error";
      answer.failed = true;
      answer.content = error.message;
      chatStatus.textContent = "";
    }
  } finally {
    setRunning(null);
  }
  if (result) {
    const usage = result.usage || {};
    const decodeMs = result.totalMs - (result.firstTokenMs || 0);
    const completion = usage.completion_tokens;
    answer.stats = {
      prompt_tokens: usage.prompt_tokens,
      completion_tokens: completion,
      first_token_ms: result.firstTokenMs,
      tokens_per_second: completion > 1 && decodeMs > 0 ? ((completion - 1) * 1000) / decodeMs : null,
      finish_reason: result.finishReason,
    };
  } else if (answer.state === "stopped") {
    answer.stats = { finish_reason: "stopped" };
  }
  const finished = messageItem(answer);
  finished.dataset.chunks = item.dataset.chunks;
  if (item.dataset.requestId) finished.dataset.requestId = item.dataset.requestId;
  item.replaceWith(finished);
  await saveConversation();
  renderApi();
}

// ---- models ----------------------------------------------------------------------------------

function applyModelDefaults() {
  const model = models.find((candidate) => candidate.id === modelSelect.value);
  if (!model) return;
  for (const [name, field] of Object.entries(FIELD_OF_DEFAULT)) {
    if (model.defaults[field] !== undefined && model.defaults[field] !== null) controls[name].value = model.defaults[field];
  }
}

async function loadModels() {
  try {
    models = (await api("/api/console/models")).data;
  } catch (error) {
    chatStatus.textContent = `Could not load the models: ${error.message}`;
    return;
  }
  const wanted = new URLSearchParams(window.location.search).get("model");
  modelSelect.replaceChildren(
    ...models.map((model) =>
      element("option", { text: `${model.display_name}${model.warm ? "" : " (cold start)"}`, attrs: { value: model.id } }),
    ),
  );
  const chosen = models.find((model) => model.id === wanted || model.aliases.includes(wanted));
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
$("new-conversation").addEventListener("click", startNewConversation);
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

onIdentity(async (identity) => {
  if (!identity) return;
  await loadModels();
  await refreshConversations();
  const wanted = new URLSearchParams(window.location.search).get("conversation");
  if (wanted) await openConversation(wanted);
});
