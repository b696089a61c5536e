"""Test helpers for the AI gateway: real loopback HTTP fake providers, a moto-backed environment, and an
HTTP adapter that serves the Lambda handler to real HTTP clients (the official ``openai`` library).

Fake providers are ``ThreadingHTTPServer``s on 127.0.0.1 ephemeral ports that speak the OpenAI
(``POST .../chat/completions``) or Anthropic (``POST /v1/messages``) wire format. Faults are queued per
request with ``push()``; when the queue is empty, ``default`` applies (``None`` = answer normally):

* ``429`` / ``500`` / ``503`` / ``400`` / ``401`` / ``404``: that status with a JSON error body
* ``"timeout"``: hold the request without answering (until ``hang_s`` or the server closes)
* ``("delay", seconds)``: answer normally after a delay
* ``"malformed"``: 200 with a body that is not JSON
* ``"reset"``: TCP reset (SO_LINGER 0) without a response
* ``("drip", seconds)``: 200 whose body trickles in a byte (a stream: an SSE comment) per interval, never done
* ``"429:<seconds>"``: 429 with that ``retry-after``

A request with ``"stream": true`` is answered with server-sent events in the provider's own format (OpenAI
``chat.completion.chunk`` events with ``stream_options.include_usage``; Anthropic Messages stream events), one
word per event, ``piece_delay_s`` apart; stream faults: ``"break_before_content"`` (one event, then a reset),
``"error_event"`` (the provider's error event before any content), ``"break_mid_stream"`` (a reset halfway),
``("first_after", seconds)`` (silence, then the answer).
"""

from __future__ import annotations

import base64
import json
import re
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer as _ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
from moto import mock_aws

TABLE = "lm-gateway-test"


class ThreadingHTTPServer(_ThreadingHTTPServer):
    """Loopback servers that take 60+ connections at once (the standard backlog of 5 resets the rest)."""

    request_queue_size = 256
OPENAI_KEY = "sk-test-openai-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef"


class FakeProvider:
    def __init__(
        self,
        kind: str = "openai",
        name: str = "fake",
        *,
        api_key: str | None = None,
        auth_header: str | None = None,
        prompt_tokens: int = 11,
        completion_tokens: int = 7,
        usage: bool = True,
        reply: str | None = None,
        hang_s: float = 10.0,
        piece_delay_s: float = 0.0,
    ) -> None:
        self.kind = kind
        self.name = name
        self.api_key = api_key
        self.auth_header = auth_header or ("x-api-key" if kind == "anthropic" else "authorization")
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.usage = usage
        self.reply = reply
        self.hang_s = hang_s
        self.piece_delay_s = piece_delay_s  # between the pieces of a streamed answer
        self.default: Any = None
        self.tool_call: dict[str, Any] | None = None
        self.cached_tokens = 0  # prompt tokens the provider reports as read from its prompt cache
        self.cache_write_tokens = 0  # ... and as written to it (Anthropic)
        self.count_tokens = 42  # Anthropic's /v1/messages/count_tokens answer
        self.requests: list[dict[str, Any]] = []
        self.sent_pieces: list[float] = []  # monotonic time each streamed piece left
        self.closed_early = threading.Event()  # a streamed answer's client went away
        self._faults: list[Any] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def push(self, *faults: Any) -> FakeProvider:
        with self._lock:
            self._faults.extend(faults)
        return self

    def next_fault(self) -> Any:
        with self._lock:
            return self._faults.pop(0) if self._faults else self.default

    @property
    def calls(self) -> int:
        return len(self.requests)

    def close(self) -> None:
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()

    # -- wire formats --------------------------------------------------------------------------------------

    def text_for(self, body: dict[str, Any]) -> str:
        msgs = body.get("messages", [])
        content = msgs[-1].get("content", "") if msgs else ""
        if isinstance(content, list):  # the last text part (Anthropic blocks, OpenAI parts)
            content = next((b.get("text", "") for b in reversed(content) if isinstance(b, dict) and b.get("text")), "")
        return self.reply if self.reply is not None else f"{self.name}: {content or ''}"

    def anthropic_usage(self, output_tokens: int) -> dict[str, Any]:
        """Anthropic's usage: input_tokens excludes what was read from or written to the prompt cache."""
        return {"input_tokens": self.prompt_tokens - self.cached_tokens - self.cache_write_tokens,
                "cache_read_input_tokens": self.cached_tokens,
                "cache_creation_input_tokens": self.cache_write_tokens, "output_tokens": output_tokens}

    def openai_usage(self) -> dict[str, Any]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
                "prompt_tokens_details": {"cached_tokens": self.cached_tokens}}

    def embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        """OpenAI embeddings: a 3-number vector per input, from the input's length."""
        inputs = body.get("input")
        items = [inputs] if isinstance(inputs, str) else list(inputs or [])
        data = [{"object": "embedding", "index": i, "embedding": [float(len(str(x))), 0.5, -1.0]}
                for i, x in enumerate(items)]
        return {"object": "list", "data": list(reversed(data)), "model": body.get("model"),  # any order, by index
                "usage": {"prompt_tokens": 2 * len(items), "total_tokens": 2 * len(items)}}

    def _answer(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        text = self.text_for(body)
        if self.kind == "anthropic":
            content: list[dict[str, Any]] = [{"type": "text", "text": text}]
            stop = "end_turn"
            if self.tool_call is not None and body.get("tools"):
                content.append({"type": "tool_use", "id": "toolu_1", **self.tool_call})
                stop = "tool_use"
            doc: dict[str, Any] = {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": body.get("model"),
                "content": content,
                "stop_reason": stop,
            }
            if self.usage:
                doc["usage"] = self.anthropic_usage(self.completion_tokens)
            return doc
        message: dict[str, Any] = {"role": "assistant", "content": text}
        finish = "stop"
        if self.tool_call is not None and body.get("tools"):
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {
                            "name": self.tool_call["name"],
                            "arguments": json.dumps(self.tool_call["input"]),
                        },
                    }
                ],
            }
            finish = "tool_calls"
        doc = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        }
        if self.usage:
            doc["usage"] = self.openai_usage()
        return doc

    def stream_events(self, body: dict[str, Any]) -> list[tuple[str, str]]:
        """The whole streamed answer as (event name, data) pairs, in the provider's own format; the text goes in
        word-sized pieces."""
        text = self.text_for(body)
        pieces = [w + " " for w in text.split(" ")]
        pieces[-1] = pieces[-1][:-1]
        tool = self.tool_call if self.tool_call is not None and body.get("tools") else None
        if self.kind == "anthropic":
            usage = self.anthropic_usage(1) if self.usage else {}
            events = [("message_start", {"type": "message_start", "message": {
                "id": "msg_fake", "type": "message", "role": "assistant", "model": body.get("model"),
                "content": [], "stop_reason": None, "usage": usage}})]
            events.append(("content_block_start", {"type": "content_block_start", "index": 0,
                                                   "content_block": {"type": "text", "text": ""}}))
            events.append(("ping", {"type": "ping"}))
            events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                "delta": {"type": "text_delta", "text": p}}) for p in pieces if p]
            events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
            if tool is not None:
                args = json.dumps(tool["input"])
                events.append(("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {
                    "type": "tool_use", "id": "toolu_1", "name": tool["name"], "input": {}}}))
                events += [("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {
                    "type": "input_json_delta", "partial_json": args[i : i + 8]}}) for i in range(0, len(args), 8)]
                events.append(("content_block_stop", {"type": "content_block_stop", "index": 1}))
            delta = {"type": "message_delta", "delta": {"stop_reason": "tool_use" if tool else "end_turn"}}
            if self.usage:
                delta["usage"] = {"output_tokens": self.completion_tokens}
            events += [("message_delta", delta), ("message_stop", {"type": "message_stop"})]
            return [(name, json.dumps(doc)) for name, doc in events]

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            return json.dumps({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                               "model": body.get("model"),
                               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

        out = [chunk({"role": "assistant", "content": ""})]
        if tool is not None:
            args = json.dumps(tool["input"])
            out.append(chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                              "function": {"name": tool["name"], "arguments": ""}}]}))
            out += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": args[i : i + 8]}}]})
                    for i in range(0, len(args), 8)]
            out.append(chunk({}, "tool_calls"))
        else:
            out += [chunk({"content": p}) for p in pieces if p]
            out.append(chunk({}, "stop"))
        if self.usage and (body.get("stream_options") or {}).get("include_usage"):
            out.append(json.dumps({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                                   "model": body.get("model"), "choices": [], "usage": self.openai_usage()}))
        out.append("[DONE]")
        return [("", d) for d in out]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without NODELAY, Nagle + delayed ACK add ~40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            def _reset(self) -> None:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(b"%X\r\n" % len(data) + data + b"\r\n")
                self.wfile.flush()

            def _event(self, name: str, data: str) -> None:
                self._chunk((f"event: {name}\n" if name else "").encode() + f"data: {data}\n\n".encode())
                fake.sent_pieces.append(time.monotonic())

            def _stream(self, body: dict[str, Any], fault: Any) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                self.wfile.flush()
                events = fake.stream_events(body)
                try:
                    if isinstance(fault, tuple) and fault[0] == "drip":  # bytes, but never an event
                        while not fake._closing.wait(fault[1]):
                            self._chunk(b": ...\n")
                        return
                    if fault == "break_before_content":  # the role chunk / message_start, then the line drops
                        self._event(*events[0])
                        self._reset()
                        return
                    if fault == "error_event":
                        if fake.kind == "anthropic":
                            self._event("error", json.dumps({"type": "error", "error": {
                                "type": "overloaded_error", "message": "Overloaded"}}))
                        else:
                            self._event("", json.dumps({"error": {"message": "upstream overloaded", "type": "server_error"}}))
                        self._chunk(b"")
                        return
                    if isinstance(fault, tuple) and fault[0] == "first_after":
                        time.sleep(fault[1])
                    for n, (name, data) in enumerate(events):
                        if fault == "break_mid_stream" and n == len(events) // 2:
                            self._reset()
                            return
                        if fake.piece_delay_s and n:
                            time.sleep(fake.piece_delay_s)
                        self._event(name, data)
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    fake.closed_early.set()
                    self.close_connection = True

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                u = urlsplit(self.path)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                fake.requests.append(
                    {
                        "path": u.path,
                        "query": dict(parse_qsl(u.query)),
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                        "t": time.monotonic(),
                    }
                )
                expected_path = "/v1/messages" if fake.kind == "anthropic" else "/chat/completions"
                if fake.kind == "openai" and u.path.endswith("/embeddings"):
                    fault = fake.next_fault()
                    if isinstance(fault, int):
                        self._send(fault, json.dumps({"error": {"message": f"fault {fault}"}}).encode())
                    else:
                        self._send(200, json.dumps(fake.embeddings(body)).encode())
                    return
                if fake.kind == "anthropic" and u.path.endswith("/v1/messages/count_tokens"):
                    self._send(200, json.dumps({"input_tokens": fake.count_tokens}).encode())
                    return
                if not u.path.endswith(expected_path):
                    self._send(404, json.dumps({"error": {"message": f"no route {u.path}"}}).encode())
                    return
                fault = fake.next_fault()
                if fake.api_key is not None:
                    got = self.headers.get(fake.auth_header, "")
                    if got not in (fake.api_key, f"Bearer {fake.api_key}"):
                        self._send(401, json.dumps({"error": {"message": "bad provider key"}}).encode())
                        return
                streamed = body.get("stream") is True
                if streamed and (fault is None or isinstance(fault, tuple) or fault in (
                        "break_before_content", "error_event", "break_mid_stream")):
                    self._stream(body, fault)
                elif fault is None or (isinstance(fault, tuple) and fault[0] == "delay"):
                    if isinstance(fault, tuple):
                        time.sleep(fault[1])
                    self._send(200, json.dumps(fake._answer(u.path, body)).encode())
                elif isinstance(fault, tuple) and fault[0] == "drip":  # a byte every interval: never done
                    payload = json.dumps(fake._answer(u.path, body)).encode()
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.flush()
                    for i in range(len(payload)):
                        if fake._closing.wait(fault[1]):
                            return
                        try:
                            self.wfile.write(payload[i : i + 1])
                            self.wfile.flush()
                        except OSError:
                            return
                elif isinstance(fault, int):
                    headers = {"retry-after": "1"} if fault == 429 else None
                    self._send(
                        fault,
                        json.dumps({"error": {"message": f"fault {fault}", "type": "x"}}).encode(),
                        headers,
                    )
                elif isinstance(fault, str) and fault.startswith("429:"):  # a 429 with this retry-after
                    self._send(429, json.dumps({"error": {"message": "slow down", "type": "x"}}).encode(),
                               {"retry-after": fault[4:]})
                elif fault == "timeout":
                    fake._closing.wait(fake.hang_s)
                    self.close_connection = True
                elif fault == "malformed":
                    self._send(200, b'{"choices": [ this is not json')
                elif fault == "reset":
                    self._reset()
                else:  # pragma: no cover
                    raise AssertionError(f"unknown fault {fault!r}")

        return Handler


class FakeBedrock:
    """Bedrock Runtime's ``ConverseStream`` on loopback, for boto3 pointed at it with ``endpoint_url``.

    moto does not implement ConverseStream and nothing here may reach AWS, so this answers
    ``POST /model/{modelId}/converse-stream`` with the real wire format, AWS event-stream frames
    (``application/vnd.amazon.eventstream``: prelude, CRC32s, ``:event-type``/``:message-type`` headers, JSON
    payloads), which boto3's own event-stream parser then reads, exactly as it reads Bedrock's."""

    def __init__(self, reply: str = "hi from bedrock", *, input_tokens: int = 9, output_tokens: int = 4) -> None:
        self.reply = reply
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.tool_call: dict[str, Any] | None = None
        self.cache_read = 0  # prompt tokens reported as read from / written to the prompt cache
        self.cache_write = 0
        self.exception: str | None = None  # an exception event (e.g. "throttlingException") instead
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                body = json.loads(raw or b"{}")
                fake.requests.append({"path": self.path, "body": body})
                if self.path.endswith("/invoke-with-response-stream"):  # Claude's events in chunk frames
                    self._frames([fake.frame({":event-type": "chunk", ":content-type": "application/json",
                                              ":message-type": "event"},
                                             {"bytes": base64.b64encode(json.dumps(e).encode()).decode()})
                                  for e in fake.claude_events(body)])
                    return
                if not self.path.endswith("/converse-stream"):  # Converse or InvokeModel: one JSON answer
                    doc = fake.converse(body) if self.path.endswith("/converse") else fake.invoke(self.path, body)
                    payload = json.dumps(doc).encode()
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self._frames(fake.frames())

            def _frames(self, frames: list[bytes]) -> None:
                """An event-stream answer, one HTTP chunk per frame."""
                self.send_response(200)
                self.send_header("content-type", "application/vnd.amazon.eventstream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for frame in frames:
                    self.wfile.write(b"%X\r\n" % len(frame) + frame + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def usage(self) -> dict[str, Any]:
        """Bedrock's usage: inputTokens excludes the prompt-cache reads and writes."""
        return {"inputTokens": self.input_tokens - self.cache_read - self.cache_write, "outputTokens": self.output_tokens,
                "totalTokens": self.input_tokens + self.output_tokens, "cacheReadInputTokens": self.cache_read,
                "cacheWriteInputTokens": self.cache_write}

    def converse(self, body: dict[str, Any]) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"text": self.reply}]
        stop = "end_turn"
        if self.tool_call is not None and body.get("toolConfig"):
            content = [{"toolUse": {"toolUseId": "tooluse_1", "name": self.tool_call["name"],
                                    "input": self.tool_call["input"]}}]
            stop = "tool_use"
        return {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop,
                "usage": self.usage(), "metrics": {"latencyMs": 3}}

    def claude(self, body: dict[str, Any]) -> dict[str, Any]:
        """Claude on Bedrock (InvokeModel with an Anthropic Messages body): an Anthropic message."""
        content: list[dict[str, Any]] = [{"type": "text", "text": self.reply}]
        stop = "end_turn"
        if self.tool_call is not None and body.get("tools"):
            content = [{"type": "tool_use", "id": "toolu_br", **self.tool_call}]
            stop = "tool_use"
        return {"id": "msg_bedrock", "type": "message", "role": "assistant", "model": "claude-on-bedrock",
                "content": content, "stop_reason": stop, "stop_sequence": None, "usage": self.claude_usage()}

    def claude_usage(self) -> dict[str, Any]:
        return {"input_tokens": self.input_tokens - self.cache_read - self.cache_write,
                "cache_read_input_tokens": self.cache_read, "cache_creation_input_tokens": self.cache_write,
                "output_tokens": self.output_tokens}

    def claude_events(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The same answer as Claude's stream events (InvokeModelWithResponseStream)."""
        message = self.claude(body)
        events: list[dict[str, Any]] = [{"type": "message_start", "message": {
            **message, "content": [], "stop_reason": None, "usage": {**self.claude_usage(), "output_tokens": 1}}}]
        for n, block in enumerate(message["content"]):
            if block["type"] == "text":
                events.append({"type": "content_block_start", "index": n, "content_block": {"type": "text", "text": ""}})
                events += [{"type": "content_block_delta", "index": n, "delta": {"type": "text_delta", "text": w}}
                           for w in re.split(r"(?= )", block["text"])]
            else:
                events.append({"type": "content_block_start", "index": n, "content_block": {**block, "input": {}}})
                events.append({"type": "content_block_delta", "index": n, "delta": {
                    "type": "input_json_delta", "partial_json": json.dumps(block["input"])}})
            events.append({"type": "content_block_stop", "index": n})
        events.append({"type": "message_delta", "delta": {"stop_reason": message["stop_reason"]},
                       "usage": {"output_tokens": self.output_tokens}})
        return [*events, {"type": "message_stop"}]

    def invoke(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """InvokeModel: Claude (an Anthropic Messages body), or an embedding model: Titan (one text) or Cohere
        (a batch), by the model id in the path."""
        from urllib.parse import unquote

        if "anthropic_version" in body:
            return self.claude(body)
        model = unquote(path.split("/model/", 1)[1].rsplit("/", 1)[0])
        if "titan-embed" in model:
            text = body["inputText"]
            return {"embedding": [float(len(text)), 0.25] + [0.0] * (int(body.get("dimensions", 3)) - 2),
                    "inputTextTokenCount": len(text.split())}
        return {"id": "cohere-1", "response_type": "embeddings_floats", "texts": body["texts"],
                "embeddings": [[float(len(t)), -0.25] for t in body["texts"]]}

    @staticmethod
    def frame(headers: dict[str, str], payload: dict[str, Any]) -> bytes:
        head = b"".join(
            bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v)) + v.encode() for k, v in headers.items()
        )
        body = json.dumps(payload).encode()
        total = 12 + len(head) + len(body) + 4
        prelude = struct.pack(">II", total, len(head))
        message = prelude + struct.pack(">I", zlib.crc32(prelude)) + head + body
        return message + struct.pack(">I", zlib.crc32(message))

    def event(self, name: str, payload: dict[str, Any]) -> bytes:
        return self.frame({":event-type": name, ":content-type": "application/json", ":message-type": "event"},
                          payload)

    def frames(self) -> list[bytes]:
        out = [self.event("messageStart", {"role": "assistant"})]
        if self.exception:
            out.append(self.frame({":exception-type": self.exception, ":content-type": "application/json",
                                   ":message-type": "exception"}, {"message": "Rate exceeded"}))
            return out
        for n, word in enumerate(self.reply.split(" ")):
            text = word if n == 0 else " " + word
            out.append(self.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}}))
        out.append(self.event("contentBlockStop", {"contentBlockIndex": 0}))
        stop = "end_turn"
        if self.tool_call is not None:
            out.append(self.event("contentBlockStart", {"contentBlockIndex": 1, "start": {"toolUse": {
                "toolUseId": "tooluse_1", "name": self.tool_call["name"]}}}))
            out.append(self.event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {
                "input": json.dumps(self.tool_call["input"])}}}))
            out.append(self.event("contentBlockStop", {"contentBlockIndex": 1}))
            stop = "tool_use"
        out.append(self.event("messageStop", {"stopReason": stop}))
        out.append(self.event("metadata", {"usage": self.usage(), "metrics": {"latencyMs": 3}}))
        return out


# ---------------------------------------------------------------------------------------------------------
# Lambda plumbing


class FakeContext:
    def __init__(self, remaining_ms: float = 30_000, request_id: str = "req-test") -> None:
        self.aws_request_id = request_id
        self._deadline = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


def http_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    key: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    raw_body: str | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    hdrs = {"content-type": "application/json", **(headers or {})}
    if key is not None:
        hdrs["authorization"] = f"Bearer {key}"
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": hdrs,
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "apigw-req",
            "stage": "$default",
        },
        "isBase64Encoded": base64_body,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if text is not None:
        event["body"] = base64.b64encode(text.encode()).decode() if base64_body else text
    return event


def create_table(ddb: Any, name: str = TABLE) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def base_config(openai_url: str, anthropic_url: str, oa_secret: str, an_secret: str) -> dict[str, Any]:
    """The config the tests start from: two providers, a few aliases, prices, tenants, prompts."""
    return {
        "providers": {
            "oa": {"type": "openai", "base_url": f"{openai_url}/v1", "secret_arn": oa_secret, "timeout_s": 2},
            "an": {"type": "anthropic", "base_url": anthropic_url, "secret_arn": an_secret, "timeout_s": 2},
            "br": {"type": "bedrock", "region": "us-east-1"},
        },
        "models": {
            "fast": {"targets": [{"provider": "oa", "model": "gpt-4o-mini"}], "context_window": 4096},
            "smart": {
                "targets": [
                    {"provider": "oa", "model": "gpt-4o"},
                    {"provider": "an", "model": "claude-sonnet"},
                ],
                "context_window": 8192,
            },
            "claude": {"targets": [{"provider": "an", "model": "claude-haiku"}]},
            "bedrock": {"targets": [{"provider": "br", "model": "anthropic.claude-3-haiku"}]},
        },
        "prices": {
            "oa/gpt-4o-mini": {"input": 0.15, "output": 0.6},
            "gpt-4o": {"input": 2.5, "output": 10},
            "claude-sonnet": {"input": 3, "output": 15},
            "an/claude-haiku": {"input": 0.8, "output": 4},
        },
        "tenants": {"acme": {}, "globex": {}},
        "streaming": {"enabled": True, "keepalive_s": 5},
        "routing": {
            "retries": 1,
            "backoff_base_ms": 5,
            "backoff_max_ms": 20,
            "breaker_threshold": 3,
            "breaker_cooldown_s": 30,
        },
        "prompts": {
            "greet": {
                "versions": {
                    "1": {"model": "fast", "user": "Say hi to {name}"},
                    "2": {
                        "model": "fast",
                        "system": "You are terse. Literal {{braces}}.",
                        "user": "Greet {name} in {lang}, {count} times",
                        "params": {"temperature": 0, "max_tokens": 50},
                        "schema": {
                            "type": "object",
                            "required": ["name", "lang"],
                            "properties": {
                                "name": {
                                    "type": "string",
                                    "minLength": 1,
                                    "maxLength": 20,
                                    "pattern": "^[A-Za-z ]+$",
                                },
                                "lang": {"type": "string", "enum": ["en", "fr"]},
                                "count": {"type": "integer", "minimum": 1, "maximum": 3},
                            },
                        },
                    },
                }
            }
        },
    }


_CLIENTS: dict[tuple[str, str | None], Any] = {}


def cached_client(service: str, endpoint_url: str | None = None) -> Any:
    """boto3 clients are slow to build (~50-150 ms); moto intercepts clients made before mock_aws started, so
    the tests share one per service."""
    key = (service, endpoint_url)
    if key not in _CLIENTS:
        _CLIENTS[key] = boto3.client(service, region_name="us-east-1", endpoint_url=endpoint_url)
    return _CLIENTS[key]


class GatewayEnv:
    """moto (DynamoDB + Secrets Manager) + two fake providers + a configured gateway runtime."""

    def __init__(self, mutate: Any = None, *, moto_endpoint: str | None = None) -> None:
        self.mutate = mutate
        self.moto_endpoint = moto_endpoint
        self._stack = ExitStack()

    def __enter__(self) -> GatewayEnv:
        from lambda_manifest.runtime.gateway import aws, router, runtime

        if self.moto_endpoint is None:
            self._stack.enter_context(mock_aws())
        self.ddb = cached_client("dynamodb", self.moto_endpoint)
        sm = cached_client("secretsmanager", self.moto_endpoint)
        create_table(self.ddb)
        self.oa_secret = sm.create_secret(Name="oa", SecretString=OPENAI_KEY)["ARN"]
        self.an_secret = sm.create_secret(Name="an", SecretString=json.dumps({"api_key": ANTHROPIC_KEY}))[
            "ARN"
        ]
        self.oa = FakeProvider("openai", "oa", api_key=OPENAI_KEY)
        self.an = FakeProvider("anthropic", "an", api_key=ANTHROPIC_KEY)
        self._stack.callback(self.oa.close)
        self._stack.callback(self.an.close)
        self.config = base_config(self.oa.url, self.an.url, self.oa_secret, self.an_secret)
        if self.mutate is not None:
            self.mutate(self.config)
        self.runtime = runtime.configure(self.config, TABLE, reset_clients=False)
        assert self.runtime.config is not None, self.runtime.config_error
        if self.moto_endpoint is not None:
            aws.set_client("dynamodb", self.ddb)
            aws.set_client("secretsmanager", sm)
        self.now = 1_717_243_200.0  # 2024-06-01T12:00:00Z
        self.runtime.clock = lambda: self.now
        self.sleeps: list[float] = []
        self._orig_sleep = router.sleep
        router.sleep = self.sleeps.append
        self._stack.callback(lambda: setattr(router, "sleep", self._orig_sleep))
        self._stack.callback(runtime.reset)
        self._stack.callback(lambda: aws.reset(keep_clients=True))
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()

    def reconfigure(self, mutate: Any) -> None:
        from lambda_manifest.runtime.gateway import aws, runtime

        mutate(self.config)
        clock = self.runtime.clock
        overrides = dict(aws._overrides)
        self.runtime = runtime.configure(self.config, TABLE, reset_clients=False)
        assert self.runtime.config is not None, self.runtime.config_error
        for service, client in overrides.items():
            aws.set_client(service, client)
        self.runtime.clock = clock

    def create_key(self, tenant: str = "acme", models: tuple[str, ...] = ("*",), **kw: Any) -> str:
        from lambda_manifest.keys import create_key

        return create_key(self.ddb, TABLE, tenant=tenant, models=list(models), **kw).api_key

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        remaining_ms: float = 30_000,
        **kw: Any,
    ) -> tuple[int, dict[str, str], Any]:
        from lambda_manifest.runtime.gateway.handler import main

        resp = main(http_event(method, path, body, key=key, **kw), FakeContext(remaining_ms))
        assert set(resp) == {"statusCode", "headers", "body", "isBase64Encoded"}
        return resp["statusCode"], resp["headers"], json.loads(resp["body"])

    def raw(
        self,
        body: Any,
        *,
        key: str | None,
        path: str = "/v1/chat/completions",
        headers: dict[str, str] | None = None,
        remaining_ms: float = 30_000,
    ) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body bytes, a stream read to its end."""
        from lambda_manifest.runtime.gateway.handler import main

        resp = main(http_event("POST", path, body, key=key, headers=headers), FakeContext(remaining_ms))
        if isinstance(resp, dict):
            return resp["statusCode"], resp["headers"], resp["body"].encode()
        pieces = iter(resp.body)
        first = next(pieces, b"")  # status and headers are final once the first piece exists
        data = first + b"".join(pieces)
        return resp.status_code, dict(resp.headers), data

    def chat(
        self, key: str | None, model: str = "fast", content: str = "hello", **kw: Any
    ) -> tuple[int, dict[str, str], Any]:
        headers = kw.pop("headers", None)
        remaining_ms = kw.pop("remaining_ms", 30_000)
        body = {"model": model, "messages": [{"role": "user", "content": content}], **kw}
        return self.call(
            "POST", "/v1/chat/completions", body, key=key, headers=headers, remaining_ms=remaining_ms
        )


def log_lines(text: str, kind: str | None = None) -> list[dict[str, Any]]:
    """JSON lines printed by the gateway; ``kind`` "audit", "emf" (the gateway's metrics) or "genai" (the
    OpenTelemetry GenAI metrics) filters."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if kind == "audit" and doc.get("type") != "audit":
            continue
        genai = any(k.startswith("gen_ai.") for k in doc)
        if kind == "emf" and ("_aws" not in doc or genai):  # the gateway's own metrics
            continue
        if kind == "genai" and ("_aws" not in doc or not genai):  # the OpenTelemetry GenAI metrics
            continue
        out.append(doc)
    return out


# ---------------------------------------------------------------------------------------------------------
# Loopback HTTP -> payload 2.0 -> handler (for real HTTP clients such as the openai library)


def write_stream(handler: BaseHTTPRequestHandler, resp: Any) -> None:
    """A ``StreamingResponse`` to an HTTP client as API Gateway sends it: status and headers once the body's
    first piece exists, then each piece as one chunk. A client that goes away closes the body's generator."""
    from lambda_manifest.runtime.stream.loop import as_streaming

    response = as_streaming(resp)
    pieces = iter(response.body)
    first = next(pieces, b"")
    handler.send_response(response.status_code)
    for k, v in response.headers.items():
        handler.send_header(k, v)
    handler.send_header("transfer-encoding", "chunked")
    handler.end_headers()
    try:
        for piece in _chain(first, pieces):
            data = piece.encode() if isinstance(piece, str) else bytes(piece)
            if data:
                handler.wfile.write(b"%X\r\n" % len(data) + data + b"\r\n")
                handler.wfile.flush()
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        handler.close_connection = True
    finally:
        close = getattr(response.body, "close", None)
        if callable(close):
            close()


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


@contextmanager
def serve_handler(remaining_ms: float = 30_000) -> Iterator[str]:
    from lambda_manifest.runtime.gateway.handler import main

    class Adapter(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            u = urlsplit(self.path)
            event = {
                "version": "2.0",
                "routeKey": "$default",
                "rawPath": u.path,
                "rawQueryString": u.query,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "requestContext": {"http": {"method": self.command, "path": u.path}, "requestId": "adapter"},
                "isBase64Encoded": True,
            }
            if u.query:
                event["queryStringParameters"] = dict(parse_qsl(u.query))
            if raw:
                event["body"] = base64.b64encode(raw).decode()
            resp = main(event, FakeContext(remaining_ms))
            if isinstance(resp, dict):
                payload = resp["body"].encode()
                self.send_response(resp["statusCode"])
                for k, v in resp["headers"].items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            write_stream(self, resp)

        do_GET = do_POST = do_DELETE = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Adapter)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def concurrent_completions(key: str, callers: int) -> list[Any]:
    """``callers`` OpenAI clients, released at once by a barrier, each sending one chat completion (model
    ``fast``, ``max_tokens: 7``) to the gateway handler served on loopback: each one's usage, or None when it
    was refused with a 429."""
    import openai

    barrier = threading.Barrier(callers)
    with serve_handler() as base_url:

        def call(_: int) -> Any:
            client = openai.OpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=60)
            barrier.wait()
            try:
                return client.chat.completions.create(
                    model="fast", messages=[{"role": "user", "content": "hello"}], max_tokens=7).usage
            except openai.RateLimitError:
                return None

        with ThreadPoolExecutor(callers) as pool:
            return list(pool.map(call, range(callers)))


@contextmanager
def serialized_moto_server() -> Iterator[str]:
    """moto's server app on 127.0.0.1, answering one request at a time.

    In-process moto is not thread-safe (a conditional update can interleave with another thread's), while
    DynamoDB applies each conditional write atomically. Serving the moto app from a single-threaded server
    restores that guarantee, so concurrency tests check the gateway's logic, not moto's races."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, app, threaded=False, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield url
    finally:
        import urllib.request

        urllib.request.urlopen(
            urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=5
        ).read()
        server.shutdown()
        server.server_close()


@contextmanager
def bedrock_client(reply: str = "hi from bedrock") -> Iterator[FakeBedrock]:
    """A ``FakeBedrock`` on loopback and the gateway's ``bedrock-runtime`` client pointed at it.

    No Bedrock here, and moto has no Converse: boto3 talks to the fake, which speaks the real wire formats
    (Converse and InvokeModel JSON, ConverseStream event-stream frames), so boto3's own parsers read them."""
    from lambda_manifest.runtime.gateway import aws

    fake = FakeBedrock(reply)
    aws.set_client("bedrock-runtime", boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=fake.url))
    try:
        yield fake
    finally:
        fake.close()
