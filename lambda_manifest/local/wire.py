"""The model providers' wire formats, written byte for byte: what the local model speaks (``llm.py``,
``bedrock.py``), and what the tests' fake providers speak (they import these writers).

* HTTP/1.1 chunked transfer coding (``chunk``, ``LAST_CHUNK``): a streamed answer leaves piece by piece.
* Server-sent events (``sse``): ``event: <name>`` (Anthropic; OpenAI sends none) and ``data: <json>`` lines, then
  a blank line.
* Streamed answers built from the whole answer, the text in word-sized pieces (``pieces``) and tool arguments
  in 8-character slices, as the providers send them: OpenAI ``chat.completion.chunk`` objects
  (``openai_chunks``), Anthropic Messages events (``anthropic_events``), Bedrock ``ConverseStream`` events
  (``converse_events``).
* The AWS event-stream binary framing (``application/vnd.amazon.eventstream``) of ``ConverseStream`` and
  ``InvokeModelWithResponseStream``: each message is a prelude (total length, headers length: big-endian
  uint32s), the prelude's CRC32, headers (name length, name, value type 7 = string, value length, value), the
  payload and the whole message's CRC32 (``frame``, ``event_frame``, ``exception_frame``, ``chunk_frame``).

Standard library only.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Any

LAST_CHUNK = b"0\r\n\r\n"
ARGUMENT_SLICE = 8  # characters of a tool call's JSON arguments per streamed delta


def chunk(data: bytes) -> bytes:
    """One chunk of a ``Transfer-Encoding: chunked`` body."""
    return b"%X\r\n" % len(data) + data + b"\r\n"


def sse(data: dict[str, Any] | str, event: str = "") -> bytes:
    """One server-sent event; ``data`` a JSON object or a literal such as ``[DONE]``."""
    text = data if isinstance(data, str) else json.dumps(data)
    return ((f"event: {event}\n" if event else "") + f"data: {text}\n\n").encode()


def pieces(text: str) -> list[str]:
    """``text`` in word-sized pieces, each after the first with its leading space (how models stream)."""
    words = text.split(" ")
    return [p for p in (w if i == 0 else " " + w for i, w in enumerate(words)) if p]


def slices(text: str, size: int = ARGUMENT_SLICE) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


# -- OpenAI chat completions ---------------------------------------------------------------------------------
def openai_chunks(completion: dict[str, Any], *, include_usage: bool) -> list[dict[str, Any] | str]:
    """A ``chat.completion`` as the stream OpenAI sends for it: a first chunk with the role, the text in pieces
    or each tool call (its id and name, then its arguments in slices), a chunk with the ``finish_reason``, with
    ``stream_options.include_usage`` a last chunk without choices that carries the usage (and ``"usage": null``
    on every other chunk), then ``[DONE]``."""
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    usage = completion.get("usage")

    def make(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        doc = {"id": completion.get("id"), "object": "chat.completion.chunk", "created": completion.get("created", 0),
               "model": completion.get("model"), "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if include_usage:
            doc["usage"] = None
        return doc

    out: list[dict[str, Any] | str] = [make({"role": "assistant", "content": ""})]
    out += [make({"content": p}) for p in pieces(message.get("content") or "")]
    for n, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        out.append(make({"tool_calls": [{"index": n, "id": call.get("id"), "type": "function",
                                         "function": {"name": function.get("name"), "arguments": ""}}]}))
        out += [make({"tool_calls": [{"index": n, "function": {"arguments": part}}]})
                for part in slices(function.get("arguments") or "")]
    out.append(make({}, choice.get("finish_reason") or "stop"))
    if include_usage and isinstance(usage, dict):
        out.append({"id": completion.get("id"), "object": "chat.completion.chunk",
                    "created": completion.get("created", 0), "model": completion.get("model"), "choices": [],
                    "usage": usage})
    out.append("[DONE]")
    return out


# -- Anthropic Messages ----------------------------------------------------------------------------------------
def anthropic_events(message: dict[str, Any], *, ping: bool = True,
                     bedrock_metrics: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """A Messages ``message`` as the events Anthropic streams for it: ``message_start`` (the message without
    content, ``stop_reason`` null, the input usage and 1 output token), for each content block
    ``content_block_start`` / ``content_block_delta``s (``text_delta`` pieces, ``input_json_delta`` slices) /
    ``content_block_stop`` (``ping`` after the first start), ``message_delta`` (``stop_reason``,
    ``stop_sequence``, the output tokens), ``message_stop``. Claude on Bedrock sends the same events without
    ``ping``, its ``message_stop`` carrying ``amazon-bedrock-invocationMetrics`` (``bedrock_metrics``)."""
    usage = message.get("usage")
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    if isinstance(usage, dict):
        start["usage"] = {**usage, "output_tokens": min(1, int(usage.get("output_tokens") or 0))}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for n, block in enumerate(message.get("content") or []):
        if block.get("type") == "tool_use":
            events.append({"type": "content_block_start", "index": n,
                           "content_block": {**block, "input": {}}})
            deltas = [{"type": "input_json_delta", "partial_json": part}
                      for part in slices(json.dumps(block.get("input") or {}))]
        else:
            events.append({"type": "content_block_start", "index": n, "content_block": {"type": "text", "text": ""}})
            deltas = [{"type": "text_delta", "text": part} for part in pieces(block.get("text") or "")]
        if ping and n == 0:
            events.append({"type": "ping"})
        events += [{"type": "content_block_delta", "index": n, "delta": d} for d in deltas]
        events.append({"type": "content_block_stop", "index": n})
    delta: dict[str, Any] = {"type": "message_delta", "delta": {"stop_reason": message.get("stop_reason"),
                                                                "stop_sequence": message.get("stop_sequence")}}
    if isinstance(usage, dict):
        delta["usage"] = {"output_tokens": usage.get("output_tokens", 0)}
    stop: dict[str, Any] = {"type": "message_stop"}
    if bedrock_metrics is not None:
        stop["amazon-bedrock-invocationMetrics"] = bedrock_metrics
    return [*events, delta, stop]


# -- Bedrock Converse ----------------------------------------------------------------------------------------
def converse_events(answer: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A ``Converse`` answer as the ``ConverseStream`` events Bedrock sends for it (event type, payload):
    ``messageStart``, for each content block ``contentBlockStart`` (tool use only), ``contentBlockDelta``s (text
    pieces, or the tool input as one JSON string) and ``contentBlockStop``, ``messageStop``, ``metadata`` (usage
    and metrics)."""
    message = (answer.get("output") or {}).get("message") or {}
    events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": message.get("role", "assistant")})]
    for n, block in enumerate(message.get("content") or []):
        use = block.get("toolUse")
        if isinstance(use, dict):
            events.append(("contentBlockStart", {"contentBlockIndex": n, "start": {"toolUse": {
                "toolUseId": use.get("toolUseId"), "name": use.get("name")}}}))
            events.append(("contentBlockDelta", {"contentBlockIndex": n, "delta": {"toolUse": {
                "input": json.dumps(use.get("input") or {})}}}))
        else:
            events += [("contentBlockDelta", {"contentBlockIndex": n, "delta": {"text": part}})
                       for part in pieces(block.get("text") or "")]
        events.append(("contentBlockStop", {"contentBlockIndex": n}))
    events.append(("messageStop", {"stopReason": answer.get("stopReason", "end_turn")}))
    events.append(("metadata", {"usage": answer.get("usage") or {}, "metrics": answer.get("metrics") or {"latencyMs": 0}}))
    return events


# -- AWS event-stream frames ---------------------------------------------------------------------------------
def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message with string headers."""
    head = b"".join(bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v.encode())) + v.encode()
                    for k, v in headers.items())
    prelude = struct.pack(">II", 12 + len(head) + len(payload) + 4, len(head))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + head + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event_frame(event_type: str, payload: dict[str, Any]) -> bytes:
    return frame({":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
                 json.dumps(payload).encode())


def exception_frame(exception_type: str, message: str) -> bytes:
    """A modeled error inside the stream, e.g. ``throttlingException``: boto3 raises it as a ``ClientError``."""
    return frame({":exception-type": exception_type, ":content-type": "application/json",
                  ":message-type": "exception"}, json.dumps({"message": message}).encode())


def chunk_frame(event: dict[str, Any]) -> bytes:
    """An ``InvokeModelWithResponseStream`` ``chunk`` event: the model's own event JSON, base64 in ``bytes``."""
    return event_frame("chunk", {"bytes": base64.b64encode(json.dumps(event).encode()).decode()})

