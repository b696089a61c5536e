"""Anthropic Messages API (``POST /v1/messages``, ``POST /v1/messages/count_tokens``) over every provider kind,
so the ``anthropic`` SDK (and tools built on it) work by changing their base URL.

* The virtual key travels as Anthropic's SDK sends a key: ``x-api-key`` (``api_key=``) or ``Authorization:
  Bearer`` (``auth_token=``); ``anthropic-version`` is accepted. Errors have Anthropic's shape
  (``{"type": "error", "error": {"type", "message"}}``) and statuses, which the SDK maps to its exceptions.
* Served by an Anthropic provider, the request is passed through: the body as the client sent it (only
  ``model`` changes, so ``cache_control``, ``thinking``, documents and server tools reach Claude), and the
  answer, streamed or not, as Claude sent it. Claude on Bedrock gets the same pass-through with
  ``InvokeModel`` (``provider_bedrock``). For OpenAI-compatible providers and other Bedrock models it is translated
  (text, images, tools, tool results, ``cache_control`` as Bedrock cache points) and the answer is rendered
  in Anthropic's format, streamed with Anthropic's events (``message_start``, ``content_block_start``,
  ``content_block_delta`` with ``text_delta``/``input_json_delta``, ``content_block_stop``, ``message_delta``,
  ``message_stop``). A block that cannot be translated (a document, a server tool) makes that target
  unsupported: the next target is tried, and with none left the answer is a 400.
* The same keys, quotas, cache, accounting and audit as chat completions (``completion.completion_route``).

Imported on the first Messages request (``routes.dispatch``), never at cold start.
"""

from __future__ import annotations

import json
import os

from . import accounting
from .auth import authenticate
from .config import GatewayConfig
from .errors import GatewayError, bad_request
from .providers import Delta, ProviderError
from .state import Ctx
from .transport import Http, dumps, json_response
from .validation import ChatCall, decode_json_body, stream_flag, tool_params, validate_messages

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any

    from .streaming import Answer

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
UNTRANSLATABLE = "anthropic_block"  # a content part only an Anthropic provider can take


def _param(name: str, message: str) -> GatewayError:
    return bad_request(message, "invalid_parameter", name)


def _text_part(block: dict[str, Any]) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "text", "text": block["text"]}
    if block.get("cache_control") is not None:
        part["cache_control"] = block["cache_control"]
    return part


def _image_part(block: dict[str, Any]) -> dict[str, Any]:
    src: dict[str, Any] = block["source"] if isinstance(block.get("source"), dict) else {}
    if src.get("type") == "base64" and isinstance(src.get("data"), str):
        return {"type": "image_url", "image_url": {"url": f"data:{src.get('media_type')};base64,{src['data']}"}}
    if src.get("type") == "url" and isinstance(src.get("url"), str):
        return {"type": "image_url", "image_url": {"url": src["url"]}}
    return {"type": UNTRANSLATABLE, "block": block}


def _result_text(content: Any) -> Any:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        return [_text_part(b) if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
                else {"type": UNTRANSLATABLE, "block": b} for b in content]  # fmt: skip
    raise _param("messages", "tool_result content must be a string or a list of blocks")


def _messages(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The Anthropic system and messages in OpenAI chat terms."""
    out: list[dict[str, Any]] = []
    system = doc.get("system")
    if isinstance(system, str) and system:
        out.append({"role": "system", "content": system})
    elif isinstance(system, list) and system:
        if not all(isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str) for b in system):
            raise _param("system", "system must be a string or a list of text blocks")
        out.append({"role": "system", "content": [_text_part(b) for b in system]})
    elif system is not None and not isinstance(system, str | list):
        raise _param("system", "system must be a string or a list of text blocks")
    messages = doc.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _param("messages", "messages must be a non-empty list")
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise _param(where, f"{where} must be an object with role user or assistant")
        content = m.get("content")
        if isinstance(content, str):
            out.append({"role": m["role"], "content": content})
            continue
        if not isinstance(content, list) or not all(isinstance(b, dict) and isinstance(b.get("type"), str)
                                                    for b in content):
            raise _param(f"{where}.content", f"{where}.content must be a string or a list of content blocks")
        parts: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        for b in content:
            kind = b["type"]
            if kind == "text" and isinstance(b.get("text"), str):
                parts.append(_text_part(b))
            elif kind == "image":
                parts.append(_image_part(b))
            elif kind == "tool_use" and m["role"] == "assistant":
                calls.append({"id": str(b.get("id", "")), "type": "function",
                              "function": {"name": str(b.get("name", "")), "arguments": json.dumps(b.get("input", {}))}})
            elif kind == "tool_result" and m["role"] == "user":
                out.append({"role": "tool", "tool_call_id": str(b.get("tool_use_id", "")),
                            "content": _result_text(b.get("content"))})  # fmt: skip
            elif kind in ("thinking", "redacted_thinking"):
                continue  # another provider cannot take a signed thinking block; Claude gets it passed through
            else:
                parts.append({"type": UNTRANSLATABLE, "block": b})
        if parts or calls:
            message: dict[str, Any] = {"role": m["role"], "content": parts or None}
            if calls:
                message["tool_calls"] = calls
            out.append(message)
    return out


def _tools(doc: dict[str, Any]) -> dict[str, Any]:
    tools = doc.get("tools")
    chat_tools = None
    if tools is not None:
        if not isinstance(tools, list):
            raise _param("tools", "tools must be a list")
        chat_tools = []
        for i, t in enumerate(tools):
            if not isinstance(t, dict) or not isinstance(t.get("name"), str):
                raise _param(f"tools[{i}]", f"tools[{i}] must be an object with a name")
            if t.get("type") not in (None, "custom") or not isinstance(t.get("input_schema"), dict):
                continue  # a server tool (web search, code execution...): only Claude runs it, passed through
            fn = {"name": t["name"], "parameters": t["input_schema"]}
            if t.get("description"):
                fn["description"] = t["description"]
            chat_tools.append({"type": "function", "function": fn})
    tc = doc.get("tool_choice")
    params: dict[str, Any] = {}
    choice: Any = None
    if tc is not None:
        if not isinstance(tc, dict) or tc.get("type") not in ("auto", "any", "tool", "none"):
            raise _param("tool_choice", "tool_choice must be {type: auto|any|tool|none}")
        if tc["type"] == "tool" and not isinstance(tc.get("name"), str):
            raise _param("tool_choice", "tool_choice of type tool needs a name")
        choice = {"auto": "auto", "any": "required", "none": "none"}.get(tc["type"]) or \
            {"type": "function", "function": {"name": tc["name"]}}
        if tc.get("disable_parallel_tool_use") is True:
            params["parallel_tool_calls"] = False
    params.update(tool_params(chat_tools, choice))
    return params


def parse(http: Http, cfg: GatewayConfig) -> ChatCall:
    doc = decode_json_body(http, cfg)
    stream = stream_flag(doc, cfg)
    model = doc.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("model: Field required", "missing_parameter", "model")
    max_tokens = doc.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise _param("max_tokens", "max_tokens: a whole number >= 1 is required")
    messages = validate_messages(_messages(doc))
    params: dict[str, Any] = {"max_tokens": max_tokens}
    for name, lo, hi in (("temperature", 0.0, 1.0), ("top_p", 0.0, 1.0)):
        v = doc.get(name)
        if v is not None:
            if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
                raise _param(name, f"{name} must be a number between {lo:g} and {hi:g}")
            params[name] = v
    stops = doc.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
            raise _param("stop_sequences", "stop_sequences must be a list of non-empty strings")
        if stops:
            params["stop"] = stops
    user = (doc.get("metadata") or {}).get("user_id") if isinstance(doc.get("metadata"), dict) else None
    if isinstance(user, str):
        params["user"] = user[:256]
    params.update(_tools(doc))
    return ChatCall(model, messages, params, None, None, stream, False, api="messages", native=doc)


# ---------------------------------------------------------------------------------------------------------
# Answers


def _usage(u: dict[str, Any]) -> dict[str, Any]:
    """Chat usage (prompt tokens include the cache's) as Anthropic usage (input tokens exclude it)."""
    details = u.get("prompt_tokens_details") or {}
    read, written = int(details.get("cached_tokens") or 0), int(details.get("cache_write_tokens") or 0)
    return {"input_tokens": max(0, int(u.get("prompt_tokens", 0)) - read - written),
            "output_tokens": int(u.get("completion_tokens", 0)), "cache_read_input_tokens": read,
            "cache_creation_input_tokens": written}  # fmt: skip


def _new_id() -> str:
    return f"msg_{os.urandom(12).hex()}"


def render(call: ChatCall, body: dict[str, Any]) -> dict[str, Any]:
    raw = body.get("raw")
    if isinstance(raw, dict):  # Claude's own answer, passed through
        return {**raw, "model": call.alias}
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if message.get("content"):
        content.append({"type": "text", "text": str(message["content"])})
    for tc in message.get("tool_calls") or []:
        fn = tc.get("function") or {}
        try:
            args = json.loads(fn.get("arguments") or "{}")
        except ValueError:
            args = {}
        content.append({"type": "tool_use", "id": str(tc.get("id") or ""), "name": str(fn.get("name") or ""),
                        "input": args})
    return {"id": _new_id(), "type": "message", "role": "assistant", "model": call.alias, "content": content,
            "stop_reason": STOP_REASONS.get(str(choice.get("finish_reason")), "end_turn"), "stop_sequence": None,
            "usage": _usage(body.get("usage") or {})}  # fmt: skip


def _event(kind: str, doc: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {dumps({'type': kind, **doc})}\n\n".encode()


class Encoder:
    """Anthropic stream events of one answer (see ``streaming.Chunks`` for the four steps). A stream passed
    through from Claude is sent event for event (``model`` in ``message_start`` replaced by the alias)."""

    def __init__(self, call: ChatCall, created: int) -> None:
        self.call = call
        self.raw = False
        self.block: tuple[str, int] | None = None  # the open content block: (kind, tool index)
        self.index = -1

    def _raw(self, d: Delta) -> bytes:
        if d.raw is None:
            return b""
        kind, data = d.raw
        if kind == "message_start":
            try:
                doc = json.loads(data)
                doc["message"]["model"] = self.call.alias
                data = dumps(doc)
            except (ValueError, KeyError, TypeError):
                pass
        return f"event: {kind}\ndata: {data}\n\n".encode()

    def start(self, early: list[Delta]) -> bytes:
        if early and early[0].raw is not None:
            self.raw = True
            return b"".join(self._raw(d) for d in early)
        message: dict[str, Any] = {"id": _new_id(), "type": "message", "role": "assistant", "model": self.call.alias, "content": [],
                   "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0}}
        return _event("message_start", {"message": message})

    def _close(self) -> bytes:
        if self.block is None:
            return b""
        self.block = None
        return _event("content_block_stop", {"index": self.index})

    def _open(self, block: tuple[str, int], content_block: dict[str, Any]) -> bytes:
        out = self._close()
        self.index += 1
        self.block = block
        return out + _event("content_block_start", {"index": self.index, "content_block": content_block})

    def delta(self, d: Delta, delta: dict[str, Any] | None) -> bytes:
        if self.raw:
            return self._raw(d)
        out = b""
        if d.content:
            if self.block is None or self.block[0] != "text":
                out += self._open(("text", 0), {"type": "text", "text": ""})
            out += _event("content_block_delta", {"index": self.index, "delta": {"type": "text_delta",
                                                                                  "text": d.content}})
        for tc in d.tool_calls or []:
            n = int(tc.get("index", 0))
            fn = tc.get("function") or {}
            if self.block != ("tool", n):
                out += self._open(("tool", n), {"type": "tool_use", "id": str(tc.get("id") or ""),
                                                "name": str(fn.get("name") or ""), "input": {}})
            if fn.get("arguments"):
                out += _event("content_block_delta", {"index": self.index, "delta": {
                    "type": "input_json_delta", "partial_json": str(fn["arguments"])}})
        return out

    def finish(self, answer: Answer, usage: tuple[int, int, int, int]) -> bytes:
        if self.raw:
            return b""  # Claude's own message_delta and message_stop went through
        pt, ct, read, written = usage
        return self._close() + _event("message_delta", {
            "delta": {"stop_reason": STOP_REASONS.get(answer.finish or "stop", "end_turn"), "stop_sequence": None},
            "usage": {"input_tokens": max(0, pt - read - written), "output_tokens": ct,
                      "cache_read_input_tokens": read, "cache_creation_input_tokens": written},
        }) + _event("message_stop", {})  # fmt: skip

    def error(self, exc: GatewayError) -> bytes:
        return _event("error", {"error": exc.body("messages")["error"]})


# ---------------------------------------------------------------------------------------------------------
# POST /v1/messages/count_tokens


def count_tokens_route(ctx: Ctx) -> dict[str, Any]:
    """The prompt's input tokens: counted by Anthropic for an Anthropic target (the alias's first), estimated
    otherwise (``x-lm-estimated: true``). No quota is spent and nothing is generated."""
    cfg = ctx.cfg
    key = authenticate(ctx.http, ctx.store, cfg.auth.key_header)
    ctx.audit.update(tenant=key.tenant, key_id=key.key_id)
    doc = decode_json_body(ctx.http, cfg)
    model = doc.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("model: Field required", "missing_parameter", "model")
    ctx.audit["gen_ai.request.model"] = model[:128]
    alias = cfg.models.get(model)
    if alias is None:
        raise GatewayError(404, f"the model {model[:128]!r} does not exist", "model_not_found", param="model")
    if not key.allows(model):
        raise GatewayError(403, f"this key may not use the model {model!r}", "model_not_allowed", param="model")
    messages = validate_messages(_messages(doc))
    headers = {"x-lm-request-id": ctx.http.request_id}
    target = alias.targets[0]
    provider = cfg.providers[target.provider]
    if provider.type == "anthropic":
        import time

        from .provider_anthropic import count_tokens

        budget_s = max(0.1, (ctx.remaining_ms() - cfg.routing.deadline_margin_ms) / 1000)
        try:
            tokens = count_tokens(provider, target, doc, time.monotonic() + min(budget_s, provider.timeout_s or 10),
                                  ctx.rt.secrets)  # fmt: skip
            return json_response(200, {"input_tokens": tokens}, headers)
        except ProviderError as exc:
            if exc.kind == "client":
                raise GatewayError(exc.status if exc.status == 413 else 400,
                                   f"the provider rejected the request: {exc.message}",
                                   "provider_rejected_request") from None
            ctx.audit["count_tokens_error"] = exc.kind
    params = _tools(doc)
    tokens = accounting.estimate_prompt_tokens(messages) + accounting.estimate_text_tokens(
        json.dumps(params.get("tools") or [], separators=(",", ":")) if params.get("tools") else "")
    return json_response(200, {"input_tokens": tokens}, {**headers, "x-lm-estimated": "true"})
