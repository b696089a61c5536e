"""OpenAI-compatible ``POST {base_url}/chat/completions``, buffered and streamed (server-sent events)."""

from __future__ import annotations

import json

from .config import ProviderConfig, Target
from .credentials import SecretCache
from .providers import (
    OPENAI_PASSTHROUGH,
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
)

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any


def _request(
    provider: ProviderConfig, target: Target, req: ChatRequest, secrets: SecretCache
) -> tuple[str, dict[str, str], dict[str, Any]]:
    from urllib.parse import urlencode

    url = (provider.base_url or "").replace("{model}", target.model) + "/chat/completions"
    if provider.query:
        url += "?" + urlencode(provider.query)
    headers = dict(provider.headers)
    key = api_key(provider, secrets)
    if key is not None:
        headers[provider.auth_header] = f"{provider.auth_scheme} {key}".strip()
    body: dict[str, Any] = {"model": target.model, "messages": req.messages}
    for name in ("temperature", "top_p", "max_tokens", "stop", "user", *OPENAI_PASSTHROUGH):
        if req.params.get(name) is not None:
            body[name] = req.params[name]
    if provider.supports_response_format and req.params.get("response_format") is not None:
        body["response_format"] = req.params["response_format"]
    if provider.supports_tools and req.params.get("tools"):
        body["tools"] = req.params["tools"]
        if req.params.get("tool_choice") is not None:
            body["tool_choice"] = req.params["tool_choice"]
    return url, headers, body


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
