// One call to /v1/chat/completions or /v1/completions, streamed (server-sent events) or not, with its
// timings and, when asked for, each token's probability. onDelta(text) gets each piece as it arrives.

import { apiError, authHeaders } from "./api.js";

// Yields the data of each server-sent event in a fetch body.
async function* sseData(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.search(/\r?\n\r?\n/)) !== -1) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
      const data = event
        .split(/\r?\n/)
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).replace(/^ /, ""))
        .join("\n");
      if (data) yield data;
    }
  }
}

// A choice's tokens with their probabilities, from either logprobs shape: chat's content list or
// completions' parallel arrays. Each token: {token, logprob, top: [{token, logprob}]}.
function tokensOf(logprobs) {
  if (!logprobs) return [];
  if (Array.isArray(logprobs.content)) {
    return logprobs.content.map((entry) => ({
      token: entry.token,
      logprob: entry.logprob,
      top: (entry.top_logprobs || []).map((alt) => ({ token: alt.token, logprob: alt.logprob })),
    }));
  }
  return (logprobs.tokens || []).map((token, index) => ({
    token,
    logprob: logprobs.token_logprobs[index],
    top: Object.entries((logprobs.top_logprobs || [])[index] || {}).map(([alt, logprob]) => ({ token: alt, logprob })),
  }));
}

// chat: true for /v1/chat/completions (messages), false for /v1/completions (a raw prompt).
async function call(path, chat, body, { signal, onDelta, onStart }) {
  const started = performance.now();
  const response = await fetch(path, {
    method: "POST",
    headers: authHeaders({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
    signal,
  });
  const result = {
    content: "",
    choices: [],
    usage: null,
    finishReason: null,
    requestId: response.headers.get("X-Request-Id"),
    firstTokenMs: null,
    totalMs: null,
    chunks: 0,
  };
  const choiceAt = (index) => {
    while (result.choices.length <= index) result.choices.push({ content: "", tokens: [], finishReason: null });
    return result.choices[index];
  };
  if (onStart) onStart(result);
  if (!response.ok) throw await apiError(response);
  if (!body.stream) {
    const answer = await response.json();
    for (const choice of answer.choices) {
      const target = choiceAt(choice.index);
      target.content = (chat ? choice.message.content : choice.text) || "";
      target.tokens = tokensOf(choice.logprobs);
      target.finishReason = choice.finish_reason;
    }
    result.content = choiceAt(0).content;
    result.finishReason = choiceAt(0).finishReason;
    result.usage = answer.usage;
    result.totalMs = performance.now() - started;
    // A whole answer has no first token of its own: firstTokenMs stays null.
    result.chunks = 1;
    onDelta(result.content, result);
    return result;
  }
  for await (const data of sseData(response.body)) {
    if (data === "[DONE]") break;
    const chunk = JSON.parse(data);
    if (chunk.error) throw new Error(chunk.error.message);
    if (chunk.usage) result.usage = chunk.usage;
    for (const choice of chunk.choices || []) {
      const target = choiceAt(choice.index || 0);
      if (choice.finish_reason) target.finishReason = choice.finish_reason;
      target.tokens.push(...tokensOf(choice.logprobs));
      const text = chat ? choice.delta && choice.delta.content : choice.text;
      if (!text) continue;
      if (result.firstTokenMs === null) result.firstTokenMs = performance.now() - started;
      target.content += text;
      if ((choice.index || 0) === 0) {
        result.content = target.content;
        result.chunks += 1;
      }
      onDelta(text, result);
    }
    result.finishReason = choiceAt(0).finishReason;
  }
  result.totalMs = performance.now() - started;
  return result;
}

// Returns {content (the first choice's), choices: [{content, tokens, finishReason}], usage, finishReason,
// requestId, firstTokenMs, totalMs, chunks}; firstTokenMs is null for a whole (non-streamed) answer.
export function chatCompletion(body, options) {
  return call("/v1/chat/completions", true, body, options);
}

// The same for a raw prompt (/v1/completions): the continuation is the content.
export function textCompletion(body, options) {
  return call("/v1/completions", false, body, options);
}
