"""Anthropic Messages API ``POST {base_url}/v1/messages``, buffered and streamed (Messages stream events:
``message_start``, ``content_block_start/delta/stop``, ``message_delta``, ``message_stop``, ``ping``,
``error``). The message shapes are shared with the Bedrock adapter (``to_anthropic_messages``).

A request that came in as an Anthropic Messages request (``ChatRequest.native``) is passed through: its body
is sent as the client wrote it (only ``model`` changes), and the answer keeps the provider's own document and
events (``ChatResult.raw``, ``Delta.raw``). Text parts keep their ``cache_control`` marks in translation too.
A ``response_format`` becomes a forced tool call (``providers.forced_json_tool``)."""

from __future__ import annotations

import json

from .config import ProviderConfig, Target
from .credentials import SecretCache
from .providers import (
    ChatRequest,
    ChatResult,
    Delta,
    ProviderError,
    StreamBudget,
    api_key,
    forced_json_tool,
    int_or_none,
    json_body,
    json_result,
    json_stream,
    obj,
    post_json,
    read_body,
    sse_events,
    text_of,
    unsupported,
)

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}
# Anthropic's in-stream error types that mean "try another provider" rather than "your request is wrong".
_STREAM_ERRORS = {"overloaded_error": "server", "api_error": "server", "rate_limit_error": "rate_limited"}


def split_system(messages: list[dict[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    system = [text_of(m.get("content")) for m in messages if m.get("role") in ("system", "developer")]
    rest = [m for m in messages if m.get("role") not in ("system", "developer")]
    return ("\n\n".join(system) if system else None), rest


def system_blocks(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """System and developer messages as Anthropic text blocks, ``cache_control`` kept."""
    return [b for m in messages if m.get("role") in ("system", "developer") for b in text_blocks(m.get("content"))]


def text_blocks(content: Any) -> list[dict[str, Any]]:
    """Content as Anthropic text blocks: one per text part when a part carries ``cache_control`` (the mark
    belongs to where the part ends), else the text in one block."""
    if isinstance(content, list) and any(isinstance(p, dict) and "cache_control" in p for p in content):
        out = []
        for part in content:
            block: dict[str, Any] = {"type": "text", "text": text_of([part])}
            if isinstance(part, dict) and part.get("cache_control") is not None:
                block["cache_control"] = part["cache_control"]
            out.append(block)
        return out
    text = text_of(content)
    return [{"type": "text", "text": text}] if text else []


def _tool_args(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            raise ProviderError("client", "tool_calls[].function.arguments is not valid JSON") from None
    return raw if isinstance(raw, dict) else {}


def to_anthropic_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m.get("role")
        blocks: list[dict[str, Any]] = []
        if role == "tool":
            role = "user"
            blocks.append(
                {
                    "type": "tool_result",
                    "tool_use_id": str(m.get("tool_call_id", "")),
                    "content": text_of(m.get("content")),
                }
            )
        else:
            blocks.extend(text_blocks(m.get("content")))
            for tc in m.get("tool_calls") or []:
                fn = tc.get("function", {})
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": tc.get("id", ""),
                        "name": fn.get("name", ""),
                        "input": _tool_args(fn.get("arguments")),
                    }
                )
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return out


def tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice in (None, "auto"):
        return {"type": "auto"} if choice else None
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return {"type": "tool", "name": choice["function"].get("name", "")}
    return None


def _headers(provider: ProviderConfig, secrets: SecretCache) -> dict[str, str]:
    headers = dict(provider.headers)
    headers["anthropic-version"] = provider.anthropic_version
    key = api_key(provider, secrets)
    if key is not None:
        headers[provider.auth_header] = f"{provider.auth_scheme} {key}".strip()
    return headers


def _request(
    provider: ProviderConfig, target: Target, req: ChatRequest, secrets: SecretCache
) -> tuple[str, dict[str, str], dict[str, Any], bool]:
    """URL, headers, body, and whether the answer is JSON carried by a forced tool call."""
    url = f"{provider.base_url}/v1/messages"
    if req.native is not None:
        if req.native.get("tools") and not provider.supports_tools:
            raise unsupported(target, "tools")
        native = {k: v for k, v in req.native.items() if k != "stream"}
        native["model"] = target.model
        return url, _headers(provider, secrets), native, False
    if req.params.get("tools") and not provider.supports_tools:
        raise unsupported(target, "tools")
    json_tool = forced_json_tool(req.params, target, provider.supports_tools)
    system = system_blocks(req.messages)
    rest = [m for m in req.messages if m.get("role") not in ("system", "developer")]
    body: dict[str, Any] = {
        "model": target.model,
        "messages": to_anthropic_messages(rest),
        "max_tokens": req.params.get("max_tokens") or provider.max_tokens,
    }
    if system:
        body["system"] = system if any("cache_control" in b for b in system) else \
            "\n\n".join(b["text"] for b in system)
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p"), ("stop", "stop_sequences")):
        if req.params.get(ours) is not None:
            body[theirs] = req.params[ours]
    if req.params.get("user"):
        body["metadata"] = {"user_id": req.params["user"]}
    tools = [json_tool] if json_tool is not None else req.params.get("tools")
    if tools:
        body["tools"] = [
            {
                "name": t["function"]["name"],
                "description": t["function"].get("description", ""),
                "input_schema": t["function"].get("parameters") or {"type": "object", "properties": {}},
            }
            for t in tools
        ]
        tc = tool_choice({"function": {"name": json_tool["function"]["name"]}} if json_tool is not None
                         else req.params.get("tool_choice"))
        if tc is not None:
            if req.params.get("parallel_tool_calls") is False and tc["type"] in ("auto", "any", "tool"):
                tc["disable_parallel_tool_use"] = True
            body["tool_choice"] = tc
    return url, _headers(provider, secrets), body, json_tool is not None


def _prompt_tokens(usage: dict[str, Any]) -> int | None:
    prompt = int_or_none(usage.get("input_tokens"))
    if prompt is not None:  # prompt-cache reads/writes are input tokens too
        prompt += sum(
            (int_or_none(usage.get(k)) or 0) for k in ("cache_creation_input_tokens", "cache_read_input_tokens")
        )
    return prompt


def usage_delta(usage: dict[str, Any]) -> Delta:
    """Anthropic usage (``input_tokens`` excludes cache reads and writes) in the gateway's terms."""
    return Delta(prompt_tokens=_prompt_tokens(usage), cached_tokens=int_or_none(usage.get("cache_read_input_tokens")),
                 cache_write_tokens=int_or_none(usage.get("cache_creation_input_tokens")))


def call(
    provider: ProviderConfig, target: Target, req: ChatRequest, deadline: float, secrets: SecretCache
) -> ChatResult:
    who = target.label
    url, headers, body, json_mode = _request(provider, target, req, secrets)
    doc = json_body(read_body(post_json(url, headers, body, deadline, who), deadline, who), who)
    result = message_result(doc, target, who, req.native is not None)
    return json_result(result) if json_mode else result


def message_result(doc: dict[str, Any], target: Target, who: str, native: bool) -> ChatResult:
    """An Anthropic message (the Messages API's answer; Claude on Bedrock answers the same) as a result; with
    ``native`` it keeps the document for a pass-through."""
    blocks = doc.get("content")
    if not isinstance(blocks, list):
        raise ProviderError("bad_response", f"{who}: response without content blocks")
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for b in blocks:
        if not isinstance(b, dict):
            raise ProviderError("bad_response", f"{who}: malformed content block")
        if b.get("type") == "text":
            texts.append(str(b.get("text", "")))
        elif b.get("type") == "tool_use":
            tool_calls.append(
                {
                    "id": str(b.get("id", "")),
                    "type": "function",
                    "function": {"name": str(b.get("name", "")), "arguments": json.dumps(b.get("input", {}))},
                }
            )
    usage = usage_delta(obj(doc.get("usage")))
    result = ChatResult(
        content="".join(texts) if texts or not tool_calls else None,
        tool_calls=tool_calls or None,
        finish_reason=STOP_REASONS.get(str(doc.get("stop_reason")), "stop"),
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=int_or_none(obj(doc.get("usage")).get("output_tokens")),
        cached_tokens=usage.cached_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        model=str(doc.get("model") or target.model),
        raw=doc if native else None,
    )
    return result


def stream(
    provider: ProviderConfig, target: Target, req: ChatRequest, budget: StreamBudget, secrets: SecretCache
) -> Iterator[Delta | None]:
    url, headers, body, json_mode = _request(provider, target, req, secrets)
    body["stream"] = True
    resp = post_json(url, headers, body, budget.deadline(), target.label, stream=True)
    events = stream_events(sse_events(resp, budget, target.label), target.label, req.native is not None)
    return json_stream(events) if json_mode else events


def stream_events(
    events: Iterator[tuple[str, str] | None], who: str, native: bool
) -> Iterator[Delta | None]:
    """Anthropic Messages stream events (``(event name, JSON data)``, ``None`` for a tick) as deltas; with
    ``native`` each delta also carries its event for a pass-through. Claude on Bedrock sends the same events."""
    tools: dict[int, int] = {}  # content block index -> OpenAI tool call index
    for event in events:
        if event is None:
            yield None
            continue
        try:
            doc = json.loads(event[1])
        except ValueError:
            raise ProviderError("bad_response", f"{who}: malformed JSON in the stream") from None
        if not isinstance(doc, dict):
            raise ProviderError("bad_response", f"{who}: unexpected stream event")
        kind = doc.get("type") or event[0]
        raw = (str(kind), event[1]) if native else None
        if kind == "message_start":
            message = obj(doc.get("message"))
            started = usage_delta(obj(message.get("usage")))
            started.raw = raw
            yield started
        elif kind == "content_block_start":
            block = obj(doc.get("content_block"))
            if block.get("type") == "tool_use":
                n = tools.setdefault(int(doc.get("index", 0)), len(tools))
                yield Delta(tool_calls=[{"index": n, "id": str(block.get("id", "")), "type": "function",
                                         "function": {"name": str(block.get("name", "")), "arguments": ""}}],
                            raw=raw)
            elif block.get("type") == "text" and block.get("text"):
                yield Delta(content=str(block["text"]), raw=raw)
            elif raw is not None:
                yield Delta(raw=raw)
        elif kind == "content_block_delta":
            d = obj(doc.get("delta"))
            if d.get("type") == "text_delta" and d.get("text"):
                yield Delta(content=str(d["text"]), raw=raw)
            elif d.get("type") == "input_json_delta" and d.get("partial_json"):
                n = tools.get(int(doc.get("index", 0)), 0)
                yield Delta(tool_calls=[{"index": n, "function": {"arguments": str(d["partial_json"])}}], raw=raw)
            elif raw is not None:  # e.g. thinking_delta: no output in OpenAI terms, but the client's own
                yield Delta(raw=raw)
        elif kind == "message_delta":
            d = obj(doc.get("delta"))
            usage = obj(doc.get("usage"))
            yield Delta(
                finish_reason=STOP_REASONS.get(str(d.get("stop_reason")), "stop") if d.get("stop_reason") else None,
                completion_tokens=int_or_none(usage.get("output_tokens")),
                raw=raw,
            )
        elif kind == "message_stop":
            if raw is not None:
                yield Delta(raw=raw)
            return
        elif kind == "content_block_stop" and raw is not None:
            yield Delta(raw=raw)
        elif kind == "error":
            err = obj(doc.get("error"))
            error_type = str(err.get("type", ""))
            raise ProviderError(
                _STREAM_ERRORS.get(error_type, "server"),
                f"{who}: error event in the stream: {error_type} {str(err.get('message', ''))[:200]}",
            )


def count_tokens(provider: ProviderConfig, target: Target, native: dict[str, Any], deadline: float,
                 secrets: SecretCache) -> int:
    """Anthropic's ``POST /v1/messages/count_tokens`` for a Messages request."""
    who = target.label
    keep = ("messages", "system", "tools", "tool_choice", "thinking", "mcp_servers")
    body = {"model": target.model, **{k: v for k, v in native.items() if k in keep}}
    url = f"{provider.base_url}/v1/messages/count_tokens"
    doc = json_body(read_body(post_json(url, _headers(provider, secrets), body, deadline, who), deadline, who), who)
    tokens = int_or_none(doc.get("input_tokens"))
    if tokens is None:
        raise ProviderError("bad_response", f"{who}: count_tokens answer without input_tokens")
    return tokens
