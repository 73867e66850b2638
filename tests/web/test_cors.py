"""A browser app on another origin calls the API (CORS): Chromium streams an answer when the origin
is allowed, and blocks the call when it is not.

The page is served from a second local server; the session's API server allows
http://localhost:<port> (tests/conftest.py), so the same page at http://127.0.0.1:<port>
is an origin it does not allow.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Browser

from tests.live_server import ADMIN_KEY, MODEL

# The app: one function that streams a chat answer from the API with fetch, as a browser app would.
APP_PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>Another origin's app</title></head>
<body><pre id="out"></pre>
<script>
async function streamChat(api, key, model) {
  const response = await fetch(api + "/v1/chat/completions", {
    method: "POST",
    headers: {"Authorization": "Bearer " + key, "Content-Type": "application/json"},
    body: JSON.stringify({model, messages: [{role: "user", content: "Count to five."}],
                          max_tokens: 12, temperature: 0, stream: true}),
  });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "", text = "", reads = 0, done = false;
  for (;;) {
    const part = await reader.read();
    if (part.done) break;
    reads += 1;
    buffer += decoder.decode(part.value, {stream: true});
    let end;
    while ((end = buffer.indexOf("\\n\\n")) >= 0) {
      const event = buffer.slice(0, end).replace(/^data: /, "");
      buffer = buffer.slice(end + 2);
      if (event === "[DONE]") { done = true; continue; }
      const delta = JSON.parse(event).choices[0]?.delta?.content;
      if (delta) { text += delta; document.getElementById("out").textContent = text; }
    }
  }
  return {status: response.status, requestId: response.headers.get("X-Request-Id"), text, reads, done};
}
</script></body></html>
"""


class _AppPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(APP_PAGE)))
        self.end_headers()
        self.wfile.write(APP_PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def app_port(cors_port: int) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", cors_port), _AppPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield cors_port
    server.shutdown()
    server.server_close()
    thread.join()


def _call_from(browser: Browser, page_url: str, server_url: str) -> Any:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(page_url)
        return page.evaluate(
            """async ([api, key, model]) => {
                 try { return await streamChat(api, key, model); }
                 catch (error) { return {error: String(error)}; }
               }""",
            [server_url, ADMIN_KEY, MODEL],
        )
    finally:
        context.close()


def test_an_allowed_origin_streams_a_chat_answer(browser: Browser, server_url: str, app_port: int) -> None:
    result = _call_from(browser, f"http://localhost:{app_port}/", server_url)
    assert "error" not in result, result
    assert result["status"] == 200
    assert result["done"] and result["text"].strip()
    # Streamed: the body arrived in several reads, and the exposed X-Request-Id is readable.
    assert result["reads"] > 1
    assert result["requestId"]


def test_another_origin_is_blocked(browser: Browser, server_url: str, app_port: int) -> None:
    result = _call_from(browser, f"http://127.0.0.1:{app_port}/", server_url)
    assert result == {"error": "TypeError: Failed to fetch"}
