// The playground: a multi-turn chat or a raw completion (the continuation streams in place after the
// prompt), with streamed answers, every request setting the API takes (parameters.js), a stop
// button, the API tab (the exact request as code) and conversations kept on the server per key.

import { api, onIdentity } from "./api.js";
import { answerStats, markFailedTurns, messageItem, statsText as statsLine } from "./chat_messages.js";
import { chatCompletion, textCompletion } from "./chat_stream.js";
import { endpointOf, exampleCode } from "./examples.js";
import { element, formatNumber } from "./format.js";
import { ParameterForm } from "./parameters.js";
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
const completionView = $("completion-view");
const documentBox = $("completion-document");
// Built from the server's description of the settings once a key may read it.
let form = null;
// Token probabilities are a setting of their own (the toggle); the rest are sent when set.
const PROBABILITY_FIELDS = new Set(["top_logprobs"]);

let models = [];
let conversation = newConversation();
let running = null; // the AbortController of the answer being generated
// Sending (until the answer is saved) or opening a conversation: Send, New chat and opening wait.
let busy = false;
let generation = 0; // bumped on every key change: answers for an older key are dropped
let openedFromAddress = false; // ?conversation= is opened once, for the first key only

function newConversation() {
  return { id: null, title: "", messages: [], saving: null, mode: mode() };
}

function mode() {
  return $("mode-completion").checked ? "completion" : "chat";
}

// {values, errors}: the settings as the request carries them, and what the API would refuse.
function readParams() {
  if (!form) return { values: {}, errors: [] };
  return form.read(PROBABILITY_FIELDS);
}

function params() {
  return readParams().values;
}

function settings() {
  return { system: $("system-prompt").value, stream: $("stream").checked, mode: mode(), ...(form ? form.save() : {}) };
}

function applySettings(saved) {
  if (!saved) return;
  if (typeof saved.system === "string") $("system-prompt").value = saved.system;
  if (typeof saved.stream === "boolean") $("stream").checked = saved.stream;
  if (form) form.restore(saved);
  setMode(saved.mode === "completion" ? "completion" : "chat");
}

function setMode(value) {
  const completion = value === "completion";
  $("mode-completion").checked = completion;
  $("mode-chat").checked = !completion;
  messagesList.hidden = completion;
  completionView.hidden = !completion;
  $("system-field").hidden = completion;
  promptInput.hidden = completion;
  promptInput.required = !completion;
  sendButton.textContent = completion ? "Generate" : "Send";
  // Raw completions are an OpenAI-compatible route only.
  const portal = $("api-dialect").querySelector('option[value="portal"]');
  portal.disabled = completion;
  if (completion) $("api-dialect").value = "openai";
  playground.dataset.mode = value;
}

function documentText() {
  return documentBox.innerText;
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
  if (mode() === "completion") {
    return { model: modelSelect.value, prompt: documentText(), params: params(), stream: $("stream").checked };
  }
  return { model: modelSelect.value, messages: wireMessages(pending), params: params(), stream: $("stream").checked };
}

// ---- rendering -------------------------------------------------------------------------------

function renderMessages() {
  messagesList.replaceChildren(...conversation.messages.map(messageItem));
  if (conversation.mode === "completion") renderDocument();
}

// A completion conversation is its prompt and the continuation, shown after it in the same box.
function renderDocument() {
  const [prompt, continuation] = conversation.messages;
  const parts = [document.createTextNode(prompt ? prompt.content : "")];
  if (continuation) parts.push(element("span", { text: continuation.content, className: "generated" }));
  documentBox.replaceChildren(...parts);
  $("completion-stats").textContent = continuation ? statsLine(continuation.stats) : "";
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
  $("api-endpoint").textContent = `POST ${endpointOf(dialect, origin, mode())}`;
  $("api-code").textContent = exampleCode(language, dialect, origin, requestOf(pending));
  renderMaxTokens();
}

// The max tokens a request gets: what the form says, reduced to what the model's context leaves
// after the prompt (the server's rule). The prompt is counted by the server's tokenizer.
let countTimer = null;
let promptTokens = null;
function renderMaxTokens() {
  const model = models.find((candidate) => candidate.id === modelSelect.value);
  const box = $("max-tokens-effective");
  if (!model || !form) {
    box.textContent = "";
    return;
  }
  const asked = params().max_tokens;
  const prompt = promptTokens === null ? 0 : promptTokens;
  const left = Math.max(model.context_length - prompt, 0);
  const gets = asked === undefined ? left : Math.min(asked, left);
  box.dataset.value = String(gets);
  box.textContent =
    `This request gets max tokens ${formatNumber(gets)}: the model's context is ${formatNumber(model.context_length)}` +
    (promptTokens === null ? "." : ` and the prompt takes ${mode() === "chat" ? "about " : ""}${formatNumber(prompt)}.`);
  clearTimeout(countTimer);
  countTimer = setTimeout(countPromptTokens, 400);
}

async function countPromptTokens() {
  const model = modelSelect.value;
  const card = models.find((candidate) => candidate.id === model);
  // Counting loads a cold model: only a warm one is counted.
  if (!card || !card.warm) return;
  const request = requestOf(promptInput.value.trim());
  const text = request.prompt !== undefined ? request.prompt : request.messages.map((message) => message.content).join("\n");
  try {
    const counted = await api("/tokenize", { method: "POST", body: { model, prompt: text } });
    if (counted.count === promptTokens) return;
    promptTokens = counted.count;
  } catch {
    return;
  }
  renderMaxTokens();
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
    const savedMode = saved.settings && saved.settings.mode === "completion" ? "completion" : "chat";
    conversation = { id: saved.id, title: saved.title, messages: markFailedTurns(saved.messages), saving: null, mode: savedMode };
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
  documentBox.replaceChildren();
  $("completion-stats").textContent = "";
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

// The settings as sent, or null when the form refuses one (shown beside it: nothing is sent).
function checkedParams() {
  const { values, errors } = readParams();
  if (form) form.showErrors(errors);
  if (errors.length) {
    chatStatus.textContent = `Not sent: ${errors[0].message}`;
    $("more-settings").open = $("more-settings").open || errors.some((error) => !(form.spec(error.name) || {}).primary);
    return null;
  }
  return values;
}

function submit() {
  if (mode() === "completion") complete();
  else send();
}

async function send() {
  const text = promptInput.value.trim();
  if (!text || busy || !modelSelect.value) return;
  const values = checkedParams();
  if (values === null) return;
  const mine = generation;
  if (conversation.mode !== "chat") resetConversation();
  const target = conversation;
  const body = { model: modelSelect.value, messages: wireMessages(text), ...values, stream: $("stream").checked };
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

// A raw completion: the box's text is the prompt, and the continuation streams in after it.
async function complete() {
  const prompt = documentText();
  if (!prompt || busy || !modelSelect.value) return;
  const values = checkedParams();
  if (values === null) return;
  const mine = generation;
  // One prompt and its continuation per conversation: a new prompt replaces them, same id.
  if (conversation.mode !== "completion") {
    conversation = newConversation();
    conversation.mode = "completion";
  }
  const target = conversation;
  const body = { model: modelSelect.value, prompt, ...values, stream: $("stream").checked };
  if (body.stream) body.stream_options = { include_usage: true };
  target.title = prompt.slice(0, 80);
  const question = { role: "user", content: prompt };
  const answer = { role: "assistant", content: "", state: "streaming" };
  target.messages = [question, answer];
  const generated = element("span", { className: "generated" });
  documentBox.replaceChildren(document.createTextNode(prompt), generated);
  documentBox.contentEditable = "false";
  documentBox.dataset.state = "streaming";
  documentBox.dataset.chunks = "0";
  $("completion-stats").textContent = "";
  chatStatus.textContent = "Generating…";
  const controller = new AbortController();
  setBusy(true, controller);
  let result = null;
  try {
    result = await textCompletion(body, {
      signal: controller.signal,
      onStart: (started) => {
        if (started.requestId) documentBox.dataset.requestId = started.requestId;
      },
      onDelta: (_text, progress) => {
        answer.content = progress.content;
        generated.textContent = progress.content;
        documentBox.dataset.chunks = String(progress.chunks);
      },
    });
    answer.state = "done";
  } catch (error) {
    answer.state = controller.signal.aborted ? "stopped" : "error";
    if (answer.state === "error") chatStatus.textContent = error.message;
  }
  if (mine !== generation) return;
  running = null;
  stopButton.hidden = true;
  documentBox.contentEditable = "plaintext-only";
  documentBox.dataset.state = answer.state;
  if (result) answer.stats = answerStats(result, body.stream);
  else if (answer.state === "stopped") answer.stats = { finish_reason: "stopped" };
  $("completion-stats").textContent = statsLine(answer.stats);
  if (answer.state === "stopped") chatStatus.textContent = "Stopped: the server cancelled the generation.";
  else if (answer.state === "done") chatStatus.textContent = "";
  await saveConversation(target);
  if (mine !== generation) return;
  setBusy(false);
  renderApi();
}

// ---- models ----------------------------------------------------------------------------------

// The form's defaults, then the model's own: a model without defaults gets the form's, not the
// previous model's.
const KIND_TEXT = {
  base: "A base model (no chat template): it continues text, so the playground opens in Completion mode.",
  chat: "A chat model: the playground opens in Chat mode.",
  embeddings: "An embeddings model: it answers /v1/embeddings, not chat or completions.",
};

// The form's presets, then the model's own defaults; the model's kind picks the mode.
function applyModelDefaults() {
  const model = models.find((candidate) => candidate.id === modelSelect.value);
  if (form) form.applyDefaults(model ? model.defaults : null);
  $("model-kind").textContent = model ? KIND_TEXT[model.kind] || "" : "";
  promptTokens = null;
  if (model && !busy) setMode(model.kind === "base" ? "completion" : "chat");
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
  submit();
});
promptInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});
// In Completion mode Enter is a new line of the prompt; Ctrl (or Cmd) + Enter generates.
documentBox.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.isComposing) {
    event.preventDefault();
    complete();
  }
});
documentBox.addEventListener("input", renderApi);
// Esc stops the answer being generated, wherever the focus is.
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && running) running.abort();
});
for (const radio of [$("mode-chat"), $("mode-completion")]) {
  radio.addEventListener("change", () => {
    setMode(mode());
    renderApi();
  });
}
stopButton.addEventListener("click", () => {
  if (running) running.abort();
});
newButton.addEventListener("click", startNewConversation);
modelSelect.addEventListener("change", () => {
  applyModelDefaults();
  renderApi();
});
for (const input of [$("system-prompt"), $("stream"), promptInput]) {
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
  if (!form) {
    let specs;
    try {
      specs = (await api("/api/console/parameters")).data;
    } catch (error) {
      if (mine === generation) chatStatus.textContent = `Could not load the settings: ${error.message}`;
      return;
    }
    if (mine !== generation || form) return;
    form = new ParameterForm(specs, $("primary-params"), $("more-params"));
    for (const input of form.inputs()) {
      input.addEventListener("input", renderApi);
      input.addEventListener("change", renderApi);
    }
  }
  await loadModels();
  if (mine !== generation) return;
  await refreshConversations();
  if (mine !== generation || openedFromAddress) return;
  openedFromAddress = true;
  const wanted = new URLSearchParams(window.location.search).get("conversation");
  if (wanted) await openConversation(wanted);
});
