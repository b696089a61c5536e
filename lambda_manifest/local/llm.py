"""A stand-in for the AI gateway's upstream model providers, and the local wiring of the gateway.

The local model answers OpenAI ``POST /v1/chat/completions`` and Anthropic ``POST /v1/messages`` on
loopback. Its answer is ``--llm-reply TEXT`` when given, else ``[local model] <the last user message>``.
Token usage is counted in words, so quotas and budgets move. It never calls out: nothing leaves the machine.

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

    def __init__(self, reply: str | None = None) -> None:
        self.reply = reply
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
                if path.endswith("/messages"):
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


def point_providers_at(config: dict[str, Any], url: str) -> list[str]:
    """Rewrite the ``base_url`` of every OpenAI- or Anthropic-type provider; returns the names changed."""
    changed = []
    for name, provider in (config.get("providers") or {}).items():
        if isinstance(provider, dict) and provider.get("type") in ("openai", "anthropic"):
            # OpenAI-type URLs end in /v1 (the adapter appends /chat/completions); Anthropic's do not.
            provider["base_url"] = url if provider["type"] == "openai" else url.removesuffix("/v1")
            changed.append(str(name))
    return changed
