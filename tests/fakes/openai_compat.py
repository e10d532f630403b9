"""A loopback OpenAI-compatible HTTP server for tests (a test double for a paid API).

Serves ``POST /v1/chat/completions`` (plain and SSE streaming) and ``POST /v1/embeddings``.
Tests control it: ``fail_next`` queues HTTP error statuses (e.g. 429, 500) with an
optional Retry-After, ``delay_s`` slows every answer (timeouts), ``chat_reply`` maps the
request body to the reply text, ``extra_fields`` adds keys (e.g. Perplexity's citations and
search_results) to chat responses. Every request body is recorded. Never counts as answer
quality: it only proves the wire path (requests, retries, timeouts, token accounting).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _default_reply(body: dict[str, Any]) -> str:
    return "ok: " + str(body["messages"][-1]["content"])[:40]


@dataclass
class FakeOpenAI:
    chat_reply: Callable[[dict[str, Any]], str] = _default_reply
    fail_next: list[tuple[int, float | None]] = field(default_factory=list)
    delay_s: float = 0.0
    extra_fields: dict[str, Any] = field(default_factory=dict)
    embedding_dim: int = 8
    requests: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length) or b"{}")
        self.requests.append((handler.path, body, {k.lower(): v for k, v in handler.headers.items()}))
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail_next:
            status, retry_after = self.fail_next.pop(0)
            headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
            return _send(handler, status, {"error": {"message": f"injected {status}",
                                                     "type": "test", "code": status}}, headers)
        if handler.path.endswith("/embeddings"):
            return _send(handler, 200, self._embeddings(body))
        if handler.path.endswith("/chat/completions"):
            text = self.chat_reply(body)
            if body.get("stream"):
                return self._stream(handler, body, text)
            return _send(handler, 200, {**self._completion(body, text), **self.extra_fields})
        _send(handler, 404, {"error": {"message": "no such route"}})

    def _completion(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        prompt_tokens = sum(len(str(m["content"]).split()) for m in body["messages"])
        return {"id": "chatcmpl-test", "object": "chat.completion", "created": 0,
                "model": body.get("model", "test"),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(text.split()),
                          "total_tokens": prompt_tokens + len(text.split())}}

    def _stream(self, handler: BaseHTTPRequestHandler, body: dict[str, Any], text: str) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        words = text.split(" ")
        for i, word in enumerate(words):
            delta = word if i == 0 else " " + word
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "test",
                     "choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": None}]}
            handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        usage = self._completion(body, text)["usage"]
        final = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "test",
                 "choices": [], "usage": usage, **self.extra_fields}
        handler.wfile.write(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode())

    def _embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for i, text in enumerate(inputs):
            digest = hashlib.sha256(str(text).encode()).digest()
            data.append({"object": "embedding", "index": i,
                         "embedding": [b / 255.0 for b in digest[: self.embedding_dim]]})
        tokens = sum(len(str(t).split()) for t in inputs)
        return {"object": "list", "data": data, "model": body.get("model", "test"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def _send(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any],
          headers: dict[str, str] | None = None) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    handler.end_headers()
    handler.wfile.write(data)


@contextmanager
def serve(fake: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """Run the fake on a free loopback port; ``fake.url`` is its /v1 base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            fake.handle(self)

        def do_GET(self) -> None:
            if self.path.endswith("/models"):
                return _send(self, 200, {"object": "list", "data": [
                    {"id": "test-model", "object": "model", "created": 0, "owned_by": "test"}]})
            _send(self, 404, {"error": {"message": "no such route"}})

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
