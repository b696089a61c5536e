"""A stand-in for the AI gateway's upstream model providers, and the local wiring of the gateway.

The local model answers OpenAI ``POST /v1/chat/completions`` and ``POST /v1/embeddings`` and Anthropic
``POST /v1/messages`` (and ``/v1/messages/count_tokens``) on loopback, whole or streamed (``"stream": true``: server-sent events in each provider's own format, one word
per event, ``--llm-piece-delay`` seconds apart, as a model generates). Its answer is ``--llm-reply TEXT`` when
given, else ``[local model] <the last user message>``. Token usage is counted in words, so quotas and budgets
move. It never calls out: nothing leaves the machine.

For each function running ``lambda_manifest.runtime.gateway`` (the library's AI gateway), the runner
- points every ``openai`` / ``anthropic`` provider's ``base_url`` in ``LM_GATEWAY_CONFIG`` at the local model
  (``--real-llm`` keeps the template's URLs; put real keys in the secrets file then),
- creates one virtual key per tenant of the configuration in the gateway's table (printed at start-up), and
- stores that key in every placeholder secret that another function reads through ``GATEWAY_KEY_SECRET_ARN``,
  so callers of the gateway (the moderation service) authenticate out of the box.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# How fast the local model "generates" a streamed answer: one word per 20 ms, about a fast hosted model.
DEFAULT_PIECE_DELAY_SECONDS = 0.02


def _words(value: Any) -> int:
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_words(v.get("text", "") if isinstance(v, dict) else v) for v in value)
    return 0


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


class LocalModel:
    """The OpenAI- and Anthropic-compatible stand-in model on 127.0.0.1."""

    def __init__(self, reply: str | None = None, piece_delay: float = DEFAULT_PIECE_DELAY_SECONDS) -> None:
        self.reply = reply
        self.piece_delay = piece_delay
        self.calls = 0
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    body = {}
                model.calls += 1
                path = self.path.split("?")[0]
                if body.get("stream") is True and path.endswith(("/messages", "/chat/completions")):
                    self._stream(model.events(body, anthropic=path.endswith("/messages")))
                    return
                if path.endswith("/embeddings"):
                    doc = model.embeddings(body)
                elif path.endswith("/messages/count_tokens"):
                    doc = {"input_tokens": sum(_words(m.get("content")) for m in body.get("messages") or []
                                               if isinstance(m, dict)) + _words(body.get("system"))}
                elif path.endswith("/messages"):
                    doc = model.anthropic(body)
                elif path.endswith("/chat/completions"):
                    doc = model.openai(body)
                else:
                    doc = {"error": {"message": f"the local model does not serve {path}", "type": "not_found"}}
                data = json.dumps(doc).encode()
                self.send_response(404 if "error" in doc else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, events: list[tuple[str, dict[str, Any] | str]]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for n, (name, doc) in enumerate(events):
                        if n and model.piece_delay:
                            time.sleep(model.piece_delay)
                        data = doc if isinstance(doc, str) else json.dumps(doc)
                        event = (f"event: {name}\n" if name else "") + f"data: {data}\n\n"
                        raw = event.encode()
                        self.wfile.write(b"%X\r\n" % len(raw) + raw + b"\r\n")
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:  # the gateway stopped reading (its client went away)
                    self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="local-model", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.server.shutdown()
            self._thread.join(timeout=5)
        self.server.server_close()

    def answer(self, messages: list[Any]) -> str:
        return self.reply if self.reply is not None else f"[local model] {_last_user_text(messages)}"

    def openai(self, body: dict[str, Any]) -> dict[str, Any]:
        raw = body.get("messages")
        messages: list[Any] = raw if isinstance(raw, list) else []
        text = self.answer(messages)
        prompt = sum(_words(m.get("content")) for m in messages if isinstance(m, dict))
        completion = _words(text)
        return {
            "id": f"chatcmpl-local-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "local"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        }

    def anthropic(self, body: dict[str, Any]) -> dict[str, Any]:
        raw = body.get("messages")
        messages: list[Any] = raw if isinstance(raw, list) else []
        text = self.answer(messages)
        prompt = sum(_words(m.get("content")) for m in messages if isinstance(m, dict)) + _words(body.get("system"))
        return {
            "id": f"msg_local_{uuid.uuid4().hex[:12]}", "type": "message", "role": "assistant",
            "model": body.get("model", "local"), "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "usage": {"input_tokens": prompt, "output_tokens": _words(text)},
        }

    @staticmethod
    def embeddings(body: dict[str, Any]) -> dict[str, Any]:
        """One small vector per input, the same for the same text (a hash of it), so similarity works."""
        import hashlib

        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) else list(raw or [])
        size = int(body.get("dimensions") or 8)
        data = []
        for i, text in enumerate(inputs):
            digest = hashlib.sha256(str(text).encode()).digest()
            data.append({"object": "embedding", "index": i,
                         "embedding": [round(digest[n % 32] / 255 * 2 - 1, 4) for n in range(size)]})
        tokens = sum(_words(str(t)) for t in inputs)
        return {"object": "list", "data": data, "model": body.get("model", "local"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    def events(self, body: dict[str, Any], *, anthropic: bool) -> list[tuple[str, dict[str, Any] | str]]:
        """The streamed answer, one word per event, in the OpenAI or the Anthropic format."""
        raw = body.get("messages")
        messages: list[Any] = raw if isinstance(raw, list) else []
        text = self.answer(messages)
        words = text.split(" ")
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        prompt = sum(_words(m.get("content")) for m in messages if isinstance(m, dict)) + _words(body.get("system"))
        if anthropic:
            out: list[tuple[str, dict[str, Any] | str]] = [
                ("message_start", {"type": "message_start", "message": {
                    "id": f"msg_local_{uuid.uuid4().hex[:12]}", "type": "message", "role": "assistant",
                    "model": body.get("model", "local"), "content": [], "usage": {"input_tokens": prompt,
                                                                                    "output_tokens": 0}}}),
                ("content_block_start", {"type": "content_block_start", "index": 0,
                                         "content_block": {"type": "text", "text": ""}})]
            out += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                             "delta": {"type": "text_delta", "text": p}}) for p in pieces]
            out += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
                    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                       "usage": {"output_tokens": len(words)}}),
                    ("message_stop", {"type": "message_stop"})]
            return out
        cid = f"chatcmpl-local-{uuid.uuid4().hex[:12]}"

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": body.get("model", "local"), "choices": [{"index": 0, "delta": delta,
                                                                      "finish_reason": finish}]}

        chunks: list[tuple[str, dict[str, Any] | str]] = [("", chunk({"role": "assistant", "content": ""}))]
        chunks += [("", chunk({"content": p})) for p in pieces]
        chunks.append(("", chunk({}, "stop")))
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append(("", {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
                                "model": body.get("model", "local"), "choices": [],
                                "usage": {"prompt_tokens": prompt, "completion_tokens": len(words),
                                          "total_tokens": prompt + len(words)}}))
        chunks.append(("", "[DONE]"))
        return chunks


def point_providers_at(config: dict[str, Any], url: str) -> list[str]:
    """Rewrite the ``base_url`` of every OpenAI- or Anthropic-type provider; returns the names changed."""
    changed = []
    for name, provider in (config.get("providers") or {}).items():
        if isinstance(provider, dict) and provider.get("type") in ("openai", "anthropic"):
            # OpenAI-type URLs end in /v1 (the adapter appends /chat/completions); Anthropic's do not.
            provider["base_url"] = url if provider["type"] == "openai" else url.removesuffix("/v1")
            changed.append(str(name))
    return changed
