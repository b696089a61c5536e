"""OpenAI-compatible ``POST {base_url}/chat/completions``, buffered and streamed (server-sent events), and
``POST {base_url}/embeddings``."""

from __future__ import annotations

import json

from .config import ProviderConfig, Target
from .credentials import SecretCache
from .providers import (
    OPENAI_PASSTHROUGH,
    ChatRequest,
    ChatResult,
    Delta,
    EmbeddingResult,
    ProviderError,
    StreamBudget,
    api_key,
    int_or_none,
    json_body,
    obj,
    post_json,
    read_body,
    sse_events,
    unsupported,
)

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any


def _endpoint(provider: ProviderConfig, target: Target, path: str, secrets: SecretCache) -> tuple[str, dict[str, str]]:
    from urllib.parse import urlencode

    url = (provider.base_url or "").replace("{model}", target.model) + path
    if provider.query:
        url += "?" + urlencode(provider.query)
    headers = dict(provider.headers)
    key = api_key(provider, secrets)
    if key is not None:
        headers[provider.auth_header] = f"{provider.auth_scheme} {key}".strip()
    return url, headers


def _message(m: dict[str, Any], target: Target) -> dict[str, Any]:
    """A message without the Anthropic-only ``cache_control`` marks (OpenAI caches prompts by itself)."""
    content = m.get("content")
    if isinstance(content, list):
        for p in content:
            if isinstance(p, dict) and p.get("type") == "anthropic_block":
                raise unsupported(target, f"an Anthropic {(p.get('block') or {}).get('type')!r} block")
    if isinstance(content, list) and any(isinstance(p, dict) and "cache_control" in p for p in content):
        m = {**m, "content": [{k: v for k, v in p.items() if k != "cache_control"} for p in content]}
    return m


def _request(
    provider: ProviderConfig, target: Target, req: ChatRequest, secrets: SecretCache
) -> tuple[str, dict[str, str], dict[str, Any]]:
    rf = req.params.get("response_format")
    if rf is not None and rf.get("type") != "text" and not provider.supports_response_format:
        raise unsupported(target, "response_format")
    if req.params.get("tools") and not provider.supports_tools:
        raise unsupported(target, "tools")
    url, headers = _endpoint(provider, target, "/chat/completions", secrets)
    body: dict[str, Any] = {"model": target.model, "messages": [_message(m, target) for m in req.messages]}
    for name in ("temperature", "top_p", "max_tokens", "stop", "user", *OPENAI_PASSTHROUGH):
        if req.params.get(name) is not None:
            body[name] = req.params[name]
    if rf is not None and provider.supports_response_format:
        body["response_format"] = rf
    if req.params.get("tools"):
        body["tools"] = req.params["tools"]
        if req.params.get("tool_choice") is not None:
            body["tool_choice"] = req.params["tool_choice"]
    return url, headers, body


def _cached(usage: dict[str, Any]) -> int | None:
    return int_or_none(obj(usage.get("prompt_tokens_details")).get("cached_tokens"))


def call(
    provider: ProviderConfig, target: Target, req: ChatRequest, deadline: float, secrets: SecretCache
) -> ChatResult:
    who = target.label
    url, headers, body = _request(provider, target, req, secrets)
    resp = post_json(url, headers, body, deadline, who)
    doc = json_body(read_body(resp, deadline, who), who)
    try:
        choice = doc["choices"][0]
        message = choice["message"]
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            raise TypeError("content")
        tool_calls = message.get("tool_calls") or None
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ProviderError("bad_response", f"{who}: response without choices[0].message") from None
    usage: dict[str, Any] = doc["usage"] if isinstance(doc.get("usage"), dict) else {}
    return ChatResult(
        content=content,
        tool_calls=tool_calls,
        finish_reason=str(choice.get("finish_reason") or "stop"),
        prompt_tokens=int_or_none(usage.get("prompt_tokens")),
        completion_tokens=int_or_none(usage.get("completion_tokens")),
        cached_tokens=_cached(usage),
        model=str(doc.get("model") or target.model),
    )


def stream(
    provider: ProviderConfig, target: Target, req: ChatRequest, budget: StreamBudget, secrets: SecretCache
) -> Iterator[Delta | None]:
    """``stream: true`` with ``stream_options.include_usage`` (usage arrives in a last chunk without choices;
    servers that ignore the option simply send none, and the gateway estimates)."""
    who = target.label
    url, headers, body = _request(provider, target, req, secrets)
    body["stream"] = True
    body["stream_options"] = {"include_usage": True}
    resp = post_json(url, headers, body, budget.deadline(), who, stream=True)
    for event in sse_events(resp, budget, who):
        if event is None:
            yield None
            continue
        data = event[1].strip()
        if data == "[DONE]":
            return
        try:
            doc = json.loads(data)
        except ValueError:
            raise ProviderError("bad_response", f"{who}: malformed JSON in the stream") from None
        if not isinstance(doc, dict):
            raise ProviderError("bad_response", f"{who}: unexpected stream event")
        if doc.get("error") is not None:
            err = doc["error"]
            message = err.get("message") if isinstance(err, dict) else err
            raise ProviderError("server", f"{who}: error event in the stream: {str(message)[:200]}")
        delta = Delta()
        usage = doc.get("usage")
        if isinstance(usage, dict):
            delta.prompt_tokens = int_or_none(usage.get("prompt_tokens"))
            delta.completion_tokens = int_or_none(usage.get("completion_tokens"))
            delta.cached_tokens = _cached(usage)
        choices = doc.get("choices") or []
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            choice = choices[0]
            d = obj(choice.get("delta"))
            content = d.get("content")
            if isinstance(content, str) and content:
                delta.content = content
            calls = d.get("tool_calls")
            if isinstance(calls, list) and calls:
                delta.tool_calls = [c for c in calls if isinstance(c, dict)]
            if choice.get("finish_reason"):
                delta.finish_reason = str(choice["finish_reason"])
        yield delta


def embed(
    provider: ProviderConfig, target: Target, inputs: list[Any], params: dict[str, Any], deadline: float,
    secrets: SecretCache,
) -> EmbeddingResult:
    """``POST {base_url}/embeddings``, always as floats (the gateway encodes for its own client)."""
    who = target.label
    url, headers = _endpoint(provider, target, "/embeddings", secrets)
    body: dict[str, Any] = {"model": target.model, "input": inputs, "encoding_format": "float"}
    for name in ("dimensions", "user"):
        if params.get(name) is not None:
            body[name] = params[name]
    doc = json_body(read_body(post_json(url, headers, body, deadline, who), deadline, who), who)
    data = doc.get("data")
    if not isinstance(data, list) or len(data) != len(inputs):
        raise ProviderError("bad_response", f"{who}: embeddings response without one vector per input")
    vectors: list[list[float]] = [[] for _ in inputs]
    for n, item in enumerate(data):
        item = obj(item)
        index = item.get("index", n)
        vector = item.get("embedding")
        if not isinstance(index, int) or not 0 <= index < len(inputs) or not isinstance(vector, list):
            raise ProviderError("bad_response", f"{who}: malformed embedding")
        vectors[index] = vector
    usage = obj(doc.get("usage"))
    return EmbeddingResult(vectors, int_or_none(usage.get("prompt_tokens")), str(doc.get("model") or target.model))
