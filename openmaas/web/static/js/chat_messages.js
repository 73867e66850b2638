// A conversation's messages: how each is shown, the stats under an answer, and which turns are sent.

import { element, formatNumber } from "./format.js";

// A failed answer fails its question too: both stay on screen, neither is sent again (chat
// templates want user and assistant turns to alternate). Conversations saved before the question
// was marked get it marked here.
export function markFailedTurns(messages) {
  messages.forEach((message, index) => {
    const next = messages[index + 1];
    if (message.role === "user" && next && next.role === "assistant" && next.failed) message.failed = true;
  });
  return messages;
}

export function statsText(stats) {
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

export function messageItem(message) {
  const user = message.role === "user";
  // A failed question is greyed (it is not sent again); a failed answer shows the error.
  const failedClass = message.failed ? (user ? " failed" : " error") : "";
  const stats = user && message.failed ? "Not answered: left out of the conversation" : statsText(message.stats);
  const item = element("li", { className: `message ${message.role}${failedClass}` }, [
    element("div", { text: user ? "You" : "Assistant", className: "role" }),
    element("div", { text: message.content, className: `content${user && message.failed ? " muted" : ""}` }),
    element("div", { text: stats, className: "stats" }),
  ]);
  item.dataset.state = message.state || "done";
  if (message.failed) item.dataset.failed = "true";
  return item;
}

export function answerStats(result, streamed) {
  const usage = result.usage || {};
  const completion = usage.completion_tokens;
  let tokensPerSecond = null;
  if (streamed) {
    // From the first token on: the prompt's processing is the first token's time.
    const decodeMs = result.totalMs - (result.firstTokenMs || 0);
    if (completion > 1 && decodeMs > 0) tokensPerSecond = ((completion - 1) * 1000) / decodeMs;
  } else if (completion > 0 && result.totalMs > 0) {
    // A whole answer has no first-token time: the rate is over the whole call.
    tokensPerSecond = (completion * 1000) / result.totalMs;
  }
  return {
    prompt_tokens: usage.prompt_tokens,
    completion_tokens: completion,
    first_token_ms: streamed ? result.firstTokenMs : null,
    tokens_per_second: tokensPerSecond,
    finish_reason: result.finishReason,
  };
}
