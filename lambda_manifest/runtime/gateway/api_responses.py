"""OpenAI Responses API (``POST /v1/responses``) over every provider kind.

A Responses request becomes a chat call (``ChatCall``, ``api="responses"``) and goes through the same cycle as a
chat completion: key, quotas, cache, routing, accounting and audit. Its answer is rendered back as a
``response`` object, or streamed with the Responses event types (``response.created``,
``response.output_item.added``, ``response.output_text.delta``, ``response.function_call_arguments.delta``, ...,
``response.completed``).

* ``input``: a string, or items: messages (``input_text``/``output_text``/``input_image`` parts),
  ``function_call`` and ``function_call_output`` items; ``instructions`` is the system message of this request
  only (it does not carry over to a later ``previous_response_id``).
* ``tools``: function tools; other tool types (web search, file search, ...) are a 400: no provider behind the
  gateway runs them. ``text.format`` (``json_object``, ``json_schema``) is the chat ``response_format``.
* ``previous_response_id``: with ``store`` (the default, as OpenAI's), each exchange is stored in the
  conversation store under its response id, and a later request continues from it: the stored history is
  prepended and trimmed to the model's context window like a conversation's. Without conversations
  (``context.enabled = false``) nothing is stored and ``previous_response_id`` is a 400.

Imported on the first Responses request (``routes.dispatch``), never at cold start.
"""

from __future__ import annotations

import os

from .config import GatewayConfig
from .context import CONVERSATION_ID_RE
from .errors import GatewayError, bad_request
from .providers import Delta
from .transport import Http, dumps
from .validation import (
    ChatCall,
    decode_json_body,
    stream_flag,
    tool_params,
    validate_messages,
    validate_params,
)

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any

    from .streaming import Answer

KNOWN = (
    "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "text", "max_output_tokens",
    "temperature", "top_p", "previous_response_id", "store", "stream", "stream_options", "metadata", "user",
    "include", "truncation", "reasoning", "service_tier", "safety_identifier", "prompt_cache_key", "background",
)  # fmt: skip
_PART_TEXT = ("input_text", "output_text", "text", "refusal")


def _param(name: str, message: str) -> GatewayError:
    return bad_request(message, "invalid_parameter", name)


def _content(content: Any, where: str) -> Any:
    """Responses content (a string or parts) as chat content."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _param(where, f"{where} must be a string or a list of content parts")
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in _PART_TEXT and isinstance(part.get("text", part.get("refusal")), str):
            parts.append({"type": "text", "text": part.get("text", part.get("refusal"))})
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            parts.append({"type": "image_url", "image_url": {"url": part["image_url"]}})
        else:
            raise bad_request(f"{where}: content part {kind!r} is not supported (text and image URLs are)",
                              "unsupported_parameter", where)  # fmt: skip
    return parts


def _items(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise _param("input", "input must be a string or a non-empty list of items")
    messages: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise _param(where, f"{where} must be an object")
        kind = item.get("type", "message")
        if kind == "message":
            messages.append({"role": item.get("role"), "content": _content(item.get("content"), f"{where}.content")})
        elif kind == "function_call":
            if not all(isinstance(item.get(k), str) for k in ("call_id", "name", "arguments")):
                raise _param(where, f"{where}: a function_call needs call_id, name and arguments strings")
            call = {"id": item["call_id"], "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"]}}  # fmt: skip
            if messages and messages[-1]["role"] == "assistant" and "tool_calls" in messages[-1]:
                messages[-1]["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            if not isinstance(item.get("call_id"), str) or not isinstance(output, str | list):
                raise _param(where, f"{where}: a function_call_output needs call_id and output")
            messages.append({"role": "tool", "tool_call_id": item["call_id"],
                             "content": _content(output, f"{where}.output")})  # fmt: skip
        elif kind == "reasoning":
            continue  # a model's reasoning summary: not input for another model
        else:
            raise bad_request(f"{where}: item type {kind!r} is not supported (messages, function_call, "
                              "function_call_output)", "unsupported_parameter", where)  # fmt: skip
    return messages


def _tools(doc: dict[str, Any]) -> dict[str, Any]:
    tools = doc.get("tools")
    chat_tools = None
    if tools is not None:
        if not isinstance(tools, list):
            raise _param("tools", "tools must be a list")
        chat_tools = []
        for i, t in enumerate(tools):
            if not isinstance(t, dict) or t.get("type") != "function":
                kind = t.get("type") if isinstance(t, dict) else None
                raise bad_request(f"tools[{i}]: tool type {kind!r} is not supported: the gateway's providers run "
                                  "function tools only", "unsupported_parameter", f"tools[{i}]")  # fmt: skip
            fn = {k: t[k] for k in ("name", "description", "parameters", "strict") if t.get(k) is not None}
            chat_tools.append({"type": "function", "function": fn})
    choice = doc.get("tool_choice")
    if isinstance(choice, dict):
        if choice.get("type") != "function" or not isinstance(choice.get("name"), str):
            raise _param("tool_choice", "tool_choice must be none, auto, required or {type: function, name}")
        choice = {"type": "function", "function": {"name": choice["name"]}}
    return tool_params(chat_tools, choice)


def _format(doc: dict[str, Any]) -> dict[str, Any] | None:
    text = doc.get("text")
    if text is None:
        return None
    fmt = text.get("format") if isinstance(text, dict) else None
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise _param("text.format", "text.format must be an object with type text, json_object or json_schema")
    if fmt["type"] != "json_schema":
        return {"type": fmt["type"]}
    if not isinstance(fmt.get("schema"), dict) or not isinstance(fmt.get("name"), str):
        raise _param("text.format", "a json_schema format needs a name and a schema object")
    return {"type": "json_schema", "json_schema": {k: fmt[k] for k in ("name", "schema", "strict", "description")
                                                   if k in fmt}}  # fmt: skip


def parse(http: Http, cfg: GatewayConfig) -> ChatCall:
    doc = decode_json_body(http, cfg)
    stream = stream_flag(doc, cfg)
    unknown = sorted(k for k in doc if k not in KNOWN)
    if unknown:
        raise bad_request(f"unknown field(s) {', '.join(unknown)}", "unknown_parameter", unknown[0])
    if doc.get("background"):
        raise bad_request("background responses are not supported: send the request without background",
                          "unsupported_parameter", "background")  # fmt: skip
    model = doc.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("model is required", "missing_parameter", "model")
    messages = []
    instructions = doc.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise _param("instructions", "instructions must be a string")
        messages.append({"role": "system", "content": instructions})
    messages = validate_messages(messages + _items(doc.get("input")))
    params = validate_params({k: doc.get(k) for k in ("temperature", "top_p", "user")}
                             | {"max_tokens": doc.get("max_output_tokens")})  # fmt: skip
    params.update(_tools(doc))
    if doc.get("parallel_tool_calls") is not None:
        if not isinstance(doc["parallel_tool_calls"], bool):
            raise _param("parallel_tool_calls", "parallel_tool_calls must be a boolean")
        params["parallel_tool_calls"] = doc["parallel_tool_calls"]
    rf = _format(doc)
    if rf is not None:
        params["response_format"] = rf
    previous = doc.get("previous_response_id")
    if previous is not None and (not isinstance(previous, str) or not CONVERSATION_ID_RE.match(previous)):
        raise _param("previous_response_id", "previous_response_id must be a response id (resp_...)")
    store = doc.get("store", True)
    if not isinstance(store, bool):
        raise _param("store", "store must be a boolean")
    response_id = f"resp_{os.urandom(16).hex()}"
    echo = {k: doc.get(k) for k in ("instructions", "tool_choice", "text", "max_output_tokens", "temperature", "top_p",
                                    "parallel_tool_calls", "previous_response_id", "metadata", "user")}
    echo["tools"] = doc.get("tools") or []
    echo["store"] = store and cfg.context.enabled
    return ChatCall(model, messages, params, previous, None, stream, False, api="responses",
                    store_as=response_id if echo["store"] else None, response_id=response_id, echo=echo)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# Answers


def _usage(pt: int, ct: int, cached: int, written: int = 0) -> dict[str, Any]:
    details: dict[str, Any] = {"cached_tokens": cached}
    if written:
        details["cache_write_tokens"] = written
    return {"input_tokens": pt, "input_tokens_details": details, "output_tokens": ct,
            "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": pt + ct}  # fmt: skip


def _response(call: ChatCall, created: int, status: str, output: list[dict[str, Any]],
              usage: dict[str, Any] | None, finish: str | None = None) -> dict[str, Any]:
    echo = call.echo or {}
    return {
        "id": call.response_id, "object": "response", "created_at": created, "status": status, "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if finish == "length" else None,
        "instructions": echo.get("instructions"), "max_output_tokens": echo.get("max_output_tokens"),
        "model": call.alias, "output": output,
        "parallel_tool_calls": echo.get("parallel_tool_calls") is not False,
        "previous_response_id": echo.get("previous_response_id"), "store": bool(echo.get("store")),
        "temperature": echo.get("temperature"), "top_p": echo.get("top_p"),
        "text": echo.get("text") or {"format": {"type": "text"}}, "tool_choice": echo.get("tool_choice") or "auto",
        "tools": echo.get("tools") or [], "truncation": "disabled", "usage": usage,
        "metadata": echo.get("metadata") or {}, "user": echo.get("user"),
    }  # fmt: skip


def _message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {"type": "message", "id": item_id, "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}  # fmt: skip


def _call_item(item_id: str, tc: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    fn = tc.get("function") or {}
    return {"type": "function_call", "id": item_id, "call_id": str(tc.get("id") or ""),
            "name": str(fn.get("name") or ""), "arguments": str(fn.get("arguments") or ""), "status": status}


def _new_id(prefix: str) -> str:
    return f"{prefix}_{os.urandom(12).hex()}"


def render(call: ChatCall, body: dict[str, Any]) -> dict[str, Any]:
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    output: list[dict[str, Any]] = []
    if message.get("content"):
        output.append(_message_item(_new_id("msg"), str(message["content"])))
    output += [_call_item(_new_id("fc"), tc) for tc in message.get("tool_calls") or []]
    u = body.get("usage") or {}
    details = u.get("prompt_tokens_details") or {}
    finish = choice.get("finish_reason")
    return _response(call, int(body.get("created") or 0), "incomplete" if finish == "length" else "completed",
                     output, _usage(int(u.get("prompt_tokens", 0)), int(u.get("completion_tokens", 0)),
                                    int(details.get("cached_tokens") or 0),
                                    int(details.get("cache_write_tokens") or 0)), finish)  # fmt: skip


class Encoder:
    """The Responses stream events of one answer (see ``streaming.Chunks`` for the four steps)."""

    def __init__(self, call: ChatCall, created: int) -> None:
        self.call = call
        self.created = created
        self.seq = 0
        self.items: list[dict[str, Any]] = []  # output items in order: {"kind", "id", "index", ...}
        self.text: dict[str, Any] | None = None
        self.tools: dict[int, dict[str, Any]] = {}

    def _event(self, kind: str, **fields: Any) -> bytes:
        doc = {"type": kind, **fields, "sequence_number": self.seq}
        self.seq += 1
        return f"event: {kind}\ndata: {dumps(doc)}\n\n".encode()

    def start(self, early: list[Delta]) -> bytes:
        response = _response(self.call, self.created, "in_progress", [], None)
        return self._event("response.created", response=response) + self._event("response.in_progress",
                                                                                 response=response)

    def delta(self, d: Delta, delta: dict[str, Any] | None) -> bytes:
        out = b""
        if d.content:
            if self.text is None:
                self.text = {"kind": "message", "id": _new_id("msg"), "index": len(self.items), "text": ""}
                self.items.append(self.text)
                out += self._event("response.output_item.added", output_index=self.text["index"],
                                   item=_message_item(self.text["id"], "", "in_progress") | {"content": []})
                out += self._event("response.content_part.added", item_id=self.text["id"],
                                   output_index=self.text["index"], content_index=0,
                                   part={"type": "output_text", "text": "", "annotations": []})  # fmt: skip
            self.text["text"] += d.content
            out += self._event("response.output_text.delta", item_id=self.text["id"], output_index=self.text["index"],
                               content_index=0, delta=d.content, logprobs=[])  # fmt: skip
        for tc in d.tool_calls or []:
            n = int(tc.get("index", 0))
            fn = tc.get("function") or {}
            item = self.tools.get(n)
            if item is None:
                item = {"kind": "function_call", "id": _new_id("fc"), "index": len(self.items),
                        "call": {"id": tc.get("id") or "", "function": {"name": fn.get("name") or "", "arguments": ""}}}
                self.tools[n] = item
                self.items.append(item)
                out += self._event("response.output_item.added", output_index=item["index"],
                                   item=_call_item(item["id"], item["call"], "in_progress"))  # fmt: skip
            piece = str(fn.get("arguments") or "")
            if piece:
                item["call"]["function"]["arguments"] += piece
                out += self._event("response.function_call_arguments.delta", item_id=item["id"],
                                   output_index=item["index"], delta=piece)  # fmt: skip
        return out

    def finish(self, answer: Answer, usage: tuple[int, int, int, int]) -> bytes:
        out = b""
        output = []
        for item in self.items:
            if item["kind"] == "message":
                done = _message_item(item["id"], item["text"])
                part = done["content"][0]
                out += self._event("response.output_text.done", item_id=item["id"], output_index=item["index"],
                                   content_index=0, text=item["text"], logprobs=[])  # fmt: skip
                out += self._event("response.content_part.done", item_id=item["id"], output_index=item["index"],
                                   content_index=0, part=part)  # fmt: skip
            else:
                done = _call_item(item["id"], item["call"])
                out += self._event("response.function_call_arguments.done", item_id=item["id"],
                                   output_index=item["index"], arguments=done["arguments"])  # fmt: skip
            out += self._event("response.output_item.done", output_index=item["index"], item=done)
            output.append(done)
        finish = answer.finish or "stop"
        response = _response(self.call, self.created, "incomplete" if finish == "length" else "completed", output,
                             _usage(*usage), finish)  # fmt: skip
        return out + self._event("response.incomplete" if finish == "length" else "response.completed",
                                 response=response)

    def error(self, exc: GatewayError) -> bytes:
        # "error" also carries the chat shape, so the OpenAI SDKs raise it as APIError as they do for chat.
        return self._event("error", code=exc.code, message=exc.message, param=exc.param, error=exc.body()["error"])
