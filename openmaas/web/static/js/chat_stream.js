// One chat call to /v1/chat/completions, streamed (server-sent events) or not, with its timings.
// onDelta(text) gets each piece of the answer as it arrives.

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

// Returns {content, usage, finishReason, requestId, firstTokenMs, totalMs, chunks}; firstTokenMs is
// null for a whole (non-streamed) answer.
export async function chatCompletion(body, { signal, onDelta, onStart }) {
  const started = performance.now();
  const response = await fetch("/v1/chat/completions", {
    method: "POST",
    headers: authHeaders({ "Content-Type": "application/json" }),
    body: JSON.stringify(body),
    signal,
  });
  const result = {
    content: "",
    usage: null,
    finishReason: null,
    requestId: response.headers.get("X-Request-Id"),
    firstTokenMs: null,
    totalMs: null,
    chunks: 0,
  };
  if (onStart) onStart(result);
  if (!response.ok) throw await apiError(response);
  if (!body.stream) {
    const answer = await response.json();
    result.content = answer.choices[0].message.content || "";
    result.finishReason = answer.choices[0].finish_reason;
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
    const choice = chunk.choices && chunk.choices[0];
    if (!choice) continue;
    if (choice.finish_reason) result.finishReason = choice.finish_reason;
    const text = choice.delta && choice.delta.content;
    if (text) {
      if (result.firstTokenMs === null) result.firstTokenMs = performance.now() - started;
      result.content += text;
      result.chunks += 1;
      onDelta(text, result);
    }
  }
  result.totalMs = performance.now() - started;
  return result;
}
