"""Anthropic Messages API ``POST {base_url}/v1/messages``, buffered and streamed (Messages stream events:
``message_start``, ``content_block_start/delta/stop``, ``message_delta``, ``message_stop``, ``ping``,
``error``). The message shapes are shared with the Bedrock adapter (``to_anthropic_messages``)."""

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
    int_or_none,
    json_body,
    obj,
    post_json,
    read_body,
    sse_events,
    text_of,
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
            text = text_of(m.get("content"))
            if text:
                blocks.append({"type": "text", "text": text})
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


def _request(
    provider: ProviderConfig, target: Target, req: ChatRequest, secrets: SecretCache
) -> tuple[str, dict[str, str], dict[str, Any]]:
    system, rest = split_system(req.messages)
    body: dict[str, Any] = {
        "model": target.model,
        "messages": to_anthropic_messages(rest),
        "max_tokens": req.params.get("max_tokens") or provider.max_tokens,
    }
    if system:
        body["system"] = system
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p"), ("stop", "stop_sequences")):
        if req.params.get(ours) is not None:
            body[theirs] = req.params[ours]
    if req.params.get("user"):
        body["metadata"] = {"user_id": req.params["user"]}
    if provider.supports_tools and req.params.get("tools"):
        body["tools"] = [
            {
                "name": t["function"]["name"],
                "description": t["function"].get("description", ""),
                "input_schema": t["function"].get("parameters") or {"type": "object", "properties": {}},
            }
            for t in req.params["tools"]
        ]
        tc = tool_choice(req.params.get("tool_choice"))
        if tc is not None:
            body["tool_choice"] = tc
    headers = dict(provider.headers)
    headers["anthropic-version"] = provider.anthropic_version
    key = api_key(provider, secrets)
    if key is not None:
        headers[provider.auth_header] = f"{provider.auth_scheme} {key}".strip()
    return f"{provider.base_url}/v1/messages", headers, body


def _prompt_tokens(usage: dict[str, Any]) -> int | None:
    prompt = int_or_none(usage.get("input_tokens"))
    if prompt is not None:  # prompt-cache reads/writes are input tokens too
        prompt += sum(
            (int_or_none(usage.get(k)) or 0) for k in ("cache_creation_input_tokens", "cache_read_input_tokens")
        )
    return prompt


def call(
    provider: ProviderConfig, target: Target, req: ChatRequest, deadline: float, secrets: SecretCache
) -> ChatResult:
    who = target.label
    url, headers, body = _request(provider, target, req, secrets)
    doc = json_body(read_body(post_json(url, headers, body, deadline, who), deadline, who), who)
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
    usage: dict[str, Any] = doc["usage"] if isinstance(doc.get("usage"), dict) else {}
    return ChatResult(
        content="".join(texts) if texts or not tool_calls else None,
        tool_calls=tool_calls or None,
        finish_reason=STOP_REASONS.get(str(doc.get("stop_reason")), "stop"),
        prompt_tokens=_prompt_tokens(usage),
        completion_tokens=int_or_none(usage.get("output_tokens")),
        model=str(doc.get("model") or target.model),
    )


def stream(
    provider: ProviderConfig, target: Target, req: ChatRequest, budget: StreamBudget, secrets: SecretCache
) -> Iterator[Delta | None]:
    who = target.label
    url, headers, body = _request(provider, target, req, secrets)
    body["stream"] = True
    resp = post_json(url, headers, body, budget.deadline(), who, stream=True)
    tools: dict[int, int] = {}  # content block index -> OpenAI tool call index
    for event in sse_events(resp, budget, who):
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
        if kind == "message_start":
            message = obj(doc.get("message"))
            usage = obj(message.get("usage"))
            yield Delta(prompt_tokens=_prompt_tokens(usage))
        elif kind == "content_block_start":
            block = obj(doc.get("content_block"))
            if block.get("type") == "tool_use":
                n = tools.setdefault(int(doc.get("index", 0)), len(tools))
                yield Delta(tool_calls=[{"index": n, "id": str(block.get("id", "")), "type": "function",
                                         "function": {"name": str(block.get("name", "")), "arguments": ""}}])
            elif block.get("type") == "text" and block.get("text"):
                yield Delta(content=str(block["text"]))
        elif kind == "content_block_delta":
            d = obj(doc.get("delta"))
            if d.get("type") == "text_delta" and d.get("text"):
                yield Delta(content=str(d["text"]))
            elif d.get("type") == "input_json_delta" and d.get("partial_json"):
                n = tools.get(int(doc.get("index", 0)), 0)
                yield Delta(tool_calls=[{"index": n, "function": {"arguments": str(d["partial_json"])}}])
        elif kind == "message_delta":
            d = obj(doc.get("delta"))
            usage = obj(doc.get("usage"))
            yield Delta(
                finish_reason=STOP_REASONS.get(str(d.get("stop_reason")), "stop") if d.get("stop_reason") else None,
                completion_tokens=int_or_none(usage.get("output_tokens")),
            )
        elif kind == "message_stop":
            return
        elif kind == "error":
            err = obj(doc.get("error"))
            error_type = str(err.get("type", ""))
            raise ProviderError(
                _STREAM_ERRORS.get(error_type, "server"),
                f"{who}: error event in the stream: {error_type} {str(err.get('message', ''))[:200]}",
            )
