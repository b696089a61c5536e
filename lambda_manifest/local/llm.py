"""A stand-in for the AI gateway's upstream model providers, and the local wiring of the gateway.

The local model answers, on one loopback port, every provider kind the gateway speaks, in each one's own wire
format (the writers are in ``wire.py``):

* OpenAI: ``POST /v1/chat/completions`` and ``POST /v1/embeddings``;
* Anthropic: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``;
* Amazon Bedrock Runtime (``bedrock.py``): ``Converse``, ``ConverseStream``, ``InvokeModel`` and
  ``InvokeModelWithResponseStream`` at ``/model/{modelId}/...``, for boto3 pointed at it.

Answers come whole or streamed (``"stream": true``, or the Bedrock stream actions): server-sent events for
OpenAI and Anthropic, AWS event-stream frames for Bedrock, one word per event, ``--llm-piece-delay`` seconds
apart, as a model generates. The answer is ``--llm-reply TEXT`` when given, else ``[local model] <the last user
message>``; a request that forces a tool (``tool_choice`` naming one, as the gateway does for JSON output on
Anthropic and Bedrock) gets a call of that tool whose input is the reply when it is a JSON object. Token usage
is counted in words, so quotas and budgets move. It never calls out: nothing leaves the machine.
``GET /_local/calls`` lists the recent calls (API, model, whether streamed, and when the first and the last
piece left, on the machine's monotonic clock), so a test can tell which provider kind answered and when.

For each function running ``lambda_manifest.runtime.gateway`` (the library's AI gateway), the runner
- points every ``openai`` / ``anthropic`` provider's ``base_url`` in ``LM_GATEWAY_CONFIG`` at the local model
  (``--real-llm`` keeps the template's URLs; put real keys in the secrets file then),
- points the function's Bedrock Runtime client at the local model (``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``, which
  botocore reads for that one service; every other AWS call still goes to moto). With ``--real-llm`` too: a
  function here has no AWS credentials that could reach Bedrock.
- creates one virtual key per tenant of the configuration in the gateway's table (printed at start-up), and
- stores that key in every placeholder secret that another function reads through ``GATEWAY_KEY_SECRET_ARN``,
  so callers of the gateway (the moderation service) authenticate out of the box.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from lambda_manifest.local import wire

# How fast the local model "generates" a streamed answer: one word per 20 ms, about a fast hosted model.
DEFAULT_PIECE_DELAY_SECONDS = 0.02
RECENT_CALLS = 200  # kept for GET /_local/calls
BEDROCK_ENDPOINT_ENV = "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"


def words(value: Any) -> int:
    """Tokens, counted as words: of a string, or of content blocks (OpenAI parts, Anthropic and Converse blocks)."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(words(v.get("text", "") if isinstance(v, dict) else v) for v in value)
    return 0


def prompt_words(body: dict[str, Any]) -> int:
    messages = body.get("messages")
    total = words(body.get("system"))
    if isinstance(messages, list):
        total += sum(words(m.get("content")) for m in messages if isinstance(m, dict))
    return total


def last_user_text(messages: Any) -> str:
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("text"))
            return str(content or "")
    return ""


def vector(text: str, size: int) -> list[float]:
    """A small embedding, the same for the same text (from a hash of it), so similarity search works."""
    digest = hashlib.sha256(text.encode()).digest()
    return [round(digest[n % 32] / 255 * 2 - 1, 4) for n in range(size)]


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


@dataclass
class Reply:
    """What the local model sends: a whole body, or ``stream`` pieces ``piece_delay`` apart (chunked)."""

    status: int
    body: bytes = b""
    stream: list[bytes] | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(doc).encode(), headers=headers or {})


class LocalModel:
    """The OpenAI-, Anthropic- and Bedrock-compatible stand-in model on 127.0.0.1."""

    def __init__(self, reply: str | None = None, piece_delay: float = DEFAULT_PIECE_DELAY_SECONDS) -> None:
        self.reply = reply
        self.piece_delay = piece_delay
        self.calls: deque[dict[str, Any]] = deque(maxlen=RECENT_CALLS)
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/_local/calls":
                    self._send(Reply.json(list(model.calls)))
                else:
                    self._send(Reply.json({"error": {"message": f"the local model does not serve GET {self.path}",
                                                     "type": "not_found_error"}}, 404))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    body = None
                call: dict[str, Any] = {"path": self.path.split("?")[0], "started": time.monotonic(),
                                        "first_piece": None, "finished": None}
                if not isinstance(body, dict):
                    reply = Reply.json({"error": {"message": "the body is not a JSON object",
                                                  "type": "invalid_request_error"}}, 400)
                else:
                    reply = model.answer(call, body)
                call["status"] = reply.status
                model.calls.append(call)
                if reply.stream is None:
                    self._send(reply)
                    call["first_piece"] = call["finished"] = time.monotonic()
                    return
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Transfer-Encoding", "chunked")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    for n, piece in enumerate(reply.stream):
                        if n and model.piece_delay:
                            time.sleep(model.piece_delay)
                        self.wfile.write(wire.chunk(piece))
                        self.wfile.flush()
                        if n == 0:
                            call["first_piece"] = time.monotonic()
                    self.wfile.write(wire.LAST_CHUNK)
                    call["finished"] = time.monotonic()
                except OSError:  # the gateway stopped reading (its client went away)
                    call["abandoned"] = True
                    self.close_connection = True

            def _send(self, reply: Reply) -> None:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="local-model", daemon=True)

    @property
    def endpoint(self) -> str:
        """The server's root: Bedrock Runtime's endpoint URL, and Anthropic's base URL."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        """OpenAI's base URL."""
        return f"{self.endpoint}/v1"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.server.shutdown()
            self._thread.join(timeout=5)
        self.server.server_close()

    # -- what it says ---------------------------------------------------------------------------------------
    def text(self, messages: Any) -> str:
        return self.reply if self.reply is not None else f"[local model] {last_user_text(messages)}"

    def tool_input(self, text: str) -> dict[str, Any]:
        """A forced tool call's input: the reply when it is a JSON object, else the reply as ``text``."""
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        return doc if isinstance(doc, dict) else {"text": text}

    def answer(self, call: dict[str, Any], body: dict[str, Any]) -> Reply:
        """The reply to a POST of ``body`` to ``call["path"]``; notes the API, model and streaming in ``call``."""
        path = call["path"]
        stream = body.get("stream") is True
        call.update(model=body.get("model"), stream=stream, prompt=last_user_text(body.get("messages"))[:200])
        if path.startswith("/model/"):
            from lambda_manifest.local.bedrock import bedrock_reply

            model_id, _, action = path[len("/model/"):].rpartition("/")
            return bedrock_reply(self, call, unquote(model_id), action, body)
        if path.endswith("/chat/completions"):
            call["api"] = "openai.chat_completions"
            doc = self.openai(body)
            if not stream:
                return Reply.json(doc)
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return Reply(200, stream=[wire.sse(c) for c in wire.openai_chunks(doc, include_usage=include_usage)],
                         content_type="text/event-stream")
        if path.endswith("/embeddings"):
            call.update(api="openai.embeddings", stream=False, prompt="")
            return Reply.json(self.embeddings(body))
        if path.endswith("/messages/count_tokens"):
            call.update(api="anthropic.count_tokens", stream=False)
            return Reply.json({"input_tokens": prompt_words(body)})
        if path.endswith("/messages"):
            call["api"] = "anthropic.messages"
            message = self.anthropic(body)
            if not stream:
                return Reply.json(message)
            return Reply(200, stream=[wire.sse(e, e["type"]) for e in wire.anthropic_events(message)],
                         content_type="text/event-stream")
        call["api"] = "unknown"
        return Reply.json({"error": {"message": f"the local model does not serve POST {path}",
                                     "type": "not_found_error"}}, 404)

    def openai(self, body: dict[str, Any]) -> dict[str, Any]:
        """A ``chat.completion``: the text, or a call of the tool that ``tool_choice`` forces."""
        text = self.text(body.get("messages"))
        prompt, completion = prompt_words(body), words(text)
        message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
        finish = "stop"
        forced = ((body.get("tool_choice") or {}).get("function") or {}).get("name") \
            if isinstance(body.get("tool_choice"), dict) else None
        if forced:
            message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [{
                "id": new_id("call_"), "type": "function",
                "function": {"name": forced, "arguments": json.dumps(self.tool_input(text))}}]}
            finish = "tool_calls"
        return {
            "id": new_id("chatcmpl-local-"), "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "local"),
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                      "prompt_tokens_details": {"cached_tokens": 0}},
        }

    def anthropic(self, body: dict[str, Any], model: str | None = None) -> dict[str, Any]:
        """A Messages ``message``: the text, or a ``tool_use`` of the tool that ``tool_choice`` forces."""
        text = self.text(body.get("messages"))
        raw_choice = body.get("tool_choice")
        choice: dict[str, Any] = raw_choice if isinstance(raw_choice, dict) else {}
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        stop = "end_turn"
        if choice.get("type") == "tool" and choice.get("name"):
            content = [{"type": "tool_use", "id": new_id("toolu_"), "name": choice["name"],
                        "input": self.tool_input(text)}]
            stop = "tool_use"
        return {
            "id": new_id("msg_local_"), "type": "message", "role": "assistant",
            "model": model or body.get("model", "local"), "content": content, "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": prompt_words(body), "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0, "output_tokens": words(text)},
        }

    @staticmethod
    def embeddings(body: dict[str, Any]) -> dict[str, Any]:
        """OpenAI embeddings: one small vector per input (8 numbers unless ``dimensions`` says otherwise)."""
        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) else list(raw or [])
        size = int(body.get("dimensions") or 8)
        data = [{"object": "embedding", "index": i, "embedding": vector(str(text), size)}
                for i, text in enumerate(inputs)]
        tokens = sum(words(str(t)) for t in inputs)
        return {"object": "list", "data": data, "model": body.get("model", "local"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def point_providers_at(config: dict[str, Any], model: LocalModel) -> list[str]:
    """Rewrite the ``base_url`` of every OpenAI- or Anthropic-type provider; returns the names changed."""
    changed = []
    for name, provider in (config.get("providers") or {}).items():
        if isinstance(provider, dict) and provider.get("type") in ("openai", "anthropic"):
            # OpenAI-type URLs end in /v1 (the adapter appends /chat/completions); Anthropic's do not.
            provider["base_url"] = model.url if provider["type"] == "openai" else model.endpoint
            changed.append(str(name))
    return changed


def bedrock_providers(config: dict[str, Any]) -> list[str]:
    return [str(name) for name, provider in (config.get("providers") or {}).items()
            if isinstance(provider, dict) and provider.get("type") == "bedrock"]
