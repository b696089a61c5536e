"""Provider adapters behind one internal request/response shape.

* ``openai``: any OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, Azure OpenAI via ``auth_header:
  api-key`` + ``query: {api-version}`` + ``{model}`` in base_url, vLLM, Together, Groq, ...).
* ``anthropic``: the Messages API (``POST /v1/messages``, ``x-api-key``, ``anthropic-version``); system
  messages are split out, ``usage.input_tokens/output_tokens`` map to prompt/completion tokens.
* ``bedrock``: Amazon Bedrock ``converse`` through boto3 (``bedrock-runtime``), credentials from the role.

HTTP goes through ``http.client`` (imported lazily) with a small per-container keep-alive pool, and a
per-attempt socket timeout. Errors are normalised into ``ProviderError.kind``:

===============  =============================================  ====================
kind             cause                                          fallback / retry
===============  =============================================  ====================
timeout          socket timeout, HTTP 408, Bedrock model timeout  next target (no same-target retry)
connection       refused / reset / DNS / TLS                    retry, then next
rate_limited     HTTP 429, Bedrock throttling                   next target
server           HTTP 5xx                                       retry, then next
bad_response     2xx with malformed JSON or missing fields      retry, then next
auth             HTTP 401/403 or the secret is unavailable      next target
not_found        HTTP 404 (unknown model/deployment)            next target
client           any other 4xx (e.g. 400, 413, 422)              none: 400 to the client
===============  =============================================  ====================
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from .config import ProviderConfig, Target
from .credentials import SecretCache, SecretUnavailable
from .redact import redact

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any

FALLBACK_KINDS = frozenset(
    {"timeout", "connection", "rate_limited", "server", "bad_response", "auth", "not_found"}
)
RETRY_SAME_TARGET_KINDS = frozenset({"connection", "server", "bad_response"})
OPENAI_PASSTHROUGH = (
    "seed", "frequency_penalty", "presence_penalty", "logit_bias", "logprobs", "top_logprobs",
    "parallel_tool_calls",
)  # fmt: skip


class ProviderError(Exception):
    def __init__(
        self, kind: str, message: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after

    @property
    def fallback(self) -> bool:
        return self.kind in FALLBACK_KINDS


@dataclass
class ChatRequest:
    messages: list[dict[str, Any]]
    params: dict[str, Any]


@dataclass
class ChatResult:
    content: str | None
    finish_reason: str
    prompt_tokens: int | None
    completion_tokens: int | None
    model: str
    tool_calls: list[dict[str, Any]] | None = None


# ---------------------------------------------------------------------------------------------------------
# HTTP with a keep-alive pool


class _Pool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str, int], list[Any]] = {}
        self._ssl_context: Any = None

    def take(self, key: tuple[str, str, int]) -> Any | None:
        with self._lock:
            conns = self._idle.get(key)
            return conns.pop() if conns else None

    def give(self, key: tuple[str, str, int], conn: Any) -> None:
        with self._lock:
            conns = self._idle.setdefault(key, [])
            if len(conns) < 8:
                conns.append(conn)
                return
        conn.close()

    def new(self, key: tuple[str, str, int], timeout: float) -> Any:
        import http.client

        scheme, host, port = key
        if scheme == "https":
            if self._ssl_context is None:
                import ssl

                self._ssl_context = ssl.create_default_context()
            return http.client.HTTPSConnection(host, port, timeout=timeout, context=self._ssl_context)
        return http.client.HTTPConnection(host, port, timeout=timeout)

    def clear(self) -> None:
        with self._lock:
            for conns in self._idle.values():
                for c in conns:
                    c.close()
            self._idle.clear()


POOL = _Pool()


def http_post(
    url: str, headers: dict[str, str], payload: dict[str, Any], timeout: float
) -> tuple[int, dict[str, str], bytes]:
    import http.client
    from urllib.parse import urlsplit

    u = urlsplit(url)
    scheme = u.scheme
    host = u.hostname or ""
    port = u.port or (443 if scheme == "https" else 80)
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    key = (scheme, host, port)
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hdrs = {"content-type": "application/json", "accept": "application/json", **headers}
    for attempt in (0, 1):
        conn = POOL.take(key) if attempt == 0 else None
        reused = conn is not None
        if conn is None:
            conn = POOL.new(key, timeout)
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        try:
            conn.request("POST", path, body=data, headers=hdrs)
            resp = conn.getresponse()
            body = resp.read()
        except TimeoutError:
            conn.close()
            raise ProviderError("timeout", f"timed out after {timeout:.1f}s") from None
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
            conn.close()
            if reused:  # a stale keep-alive connection: one immediate retry on a fresh one
                continue
            raise ProviderError("connection", f"connection error: {type(exc).__name__}") from None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise ProviderError("connection", f"connection error: {type(exc).__name__}") from None
        if resp.will_close:
            conn.close()
        else:
            POOL.give(key, conn)
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    raise ProviderError("connection", "connection error")  # pragma: no cover


def _retry_after(headers: dict[str, str]) -> float | None:
    try:
        return float(headers["retry-after"])
    except (KeyError, ValueError):
        return None


def _error_message(body: bytes) -> str:
    try:
        doc = json.loads(body)
        err = doc.get("error", doc) if isinstance(doc, dict) else doc
        msg = err.get("message") if isinstance(err, dict) else None
        text = str(msg if msg else err)
    except ValueError:
        text = body[:200].decode("utf-8", "replace")
    return redact(text[:300])


def _check_status(status: int, headers: dict[str, str], body: bytes, who: str) -> None:
    if 200 <= status < 300:
        return
    detail = _error_message(body)
    if status == 429:
        raise ProviderError("rate_limited", f"{who}: rate limited (429)", status, _retry_after(headers))
    if status == 408:
        raise ProviderError("timeout", f"{who}: request timeout (408)", status)
    if status >= 500:
        raise ProviderError("server", f"{who}: server error ({status})", status)
    if status in (401, 403):
        raise ProviderError("auth", f"{who}: provider refused the gateway's credentials ({status})", status)
    if status == 404:
        raise ProviderError("not_found", f"{who}: not found at the provider (404): {detail}", status)
    raise ProviderError("client", f"{who}: {detail}", status)


def _json_body(body: bytes, who: str) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError:
        raise ProviderError("bad_response", f"{who}: malformed JSON from provider") from None
    if not isinstance(doc, dict):
        raise ProviderError("bad_response", f"{who}: unexpected response shape")
    return doc


def _api_key(provider: ProviderConfig, secrets: SecretCache) -> str | None:
    if provider.secret_arn is None:
        return None
    try:
        return secrets.get(provider.secret_arn)
    except SecretUnavailable as exc:
        raise ProviderError("auth", f"{provider.name}: credentials unavailable ({exc})") from None


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text":
            parts.append(str(part.get("text", "")))
        else:
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise ProviderError("client", f"content part of type {kind!r} is not supported by this provider")
    return "".join(parts)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


# ---------------------------------------------------------------------------------------------------------
# OpenAI-compatible


def call_openai(
    provider: ProviderConfig, target: Target, req: ChatRequest, timeout: float, secrets: SecretCache
) -> ChatResult:
    from urllib.parse import urlencode

    who = target.label
    url = (provider.base_url or "").replace("{model}", target.model) + "/chat/completions"
    if provider.query:
        url += "?" + urlencode(provider.query)
    headers = dict(provider.headers)
    key = _api_key(provider, secrets)
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
    status, rheaders, raw = http_post(url, headers, body, timeout)
    _check_status(status, rheaders, raw, who)
    doc = _json_body(raw, who)
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
        prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
        completion_tokens=_int_or_none(usage.get("completion_tokens")),
        model=str(doc.get("model") or target.model),
    )


# ---------------------------------------------------------------------------------------------------------
# Anthropic Messages API

_ANTHROPIC_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}


def _split_system(messages: list[dict[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    system = [_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer")]
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
                    "content": _text(m.get("content")),
                }
            )
        else:
            text = _text(m.get("content"))
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


def _anthropic_tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice in (None, "auto"):
        return {"type": "auto"} if choice else None
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return {"type": "tool", "name": choice["function"].get("name", "")}
    return None


def call_anthropic(
    provider: ProviderConfig, target: Target, req: ChatRequest, timeout: float, secrets: SecretCache
) -> ChatResult:
    who = target.label
    system, rest = _split_system(req.messages)
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
        tc = _anthropic_tool_choice(req.params.get("tool_choice"))
        if tc is not None:
            body["tool_choice"] = tc
    headers = dict(provider.headers)
    headers["anthropic-version"] = provider.anthropic_version
    key = _api_key(provider, secrets)
    if key is not None:
        headers[provider.auth_header] = f"{provider.auth_scheme} {key}".strip()
    status, rheaders, raw = http_post(f"{provider.base_url}/v1/messages", headers, body, timeout)
    _check_status(status, rheaders, raw, who)
    doc = _json_body(raw, who)
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
    prompt = _int_or_none(usage.get("input_tokens"))
    if prompt is not None:  # prompt-cache reads/writes are input tokens too
        prompt += sum(
            (_int_or_none(usage.get(k)) or 0)
            for k in ("cache_creation_input_tokens", "cache_read_input_tokens")
        )
    return ChatResult(
        content="".join(texts) if texts or not tool_calls else None,
        tool_calls=tool_calls or None,
        finish_reason=_ANTHROPIC_STOP.get(str(doc.get("stop_reason")), "stop"),
        prompt_tokens=prompt,
        completion_tokens=_int_or_none(usage.get("output_tokens")),
        model=str(doc.get("model") or target.model),
    )


# ---------------------------------------------------------------------------------------------------------
# Amazon Bedrock Converse

_BEDROCK_STOP = {
    "end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
    "content_filtered": "content_filter", "guardrail_intervened": "content_filter",
}  # fmt: skip
_BEDROCK_ERRORS = {
    "ThrottlingException": "rate_limited",
    "ServiceQuotaExceededException": "rate_limited",
    "ModelTimeoutException": "timeout",
    "ServiceUnavailableException": "server",
    "InternalServerException": "server",
    "ModelNotReadyException": "server",
    "ModelErrorException": "server",
    "AccessDeniedException": "auth",
    "ResourceNotFoundException": "auth",
    "UnrecognizedClientException": "auth",
}


def to_bedrock_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in to_anthropic_messages(messages):
        content: list[dict[str, Any]] = []
        for b in m["content"]:
            if b["type"] == "text":
                content.append({"text": b["text"]})
            elif b["type"] == "tool_use":
                content.append({"toolUse": {"toolUseId": b["id"], "name": b["name"], "input": b["input"]}})
            else:
                content.append(
                    {"toolResult": {"toolUseId": b["tool_use_id"], "content": [{"text": b["content"]}]}}
                )
        out.append({"role": m["role"], "content": content})
    return out


def call_bedrock(
    provider: ProviderConfig, target: Target, req: ChatRequest, timeout: float, secrets: SecretCache
) -> ChatResult:
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        ReadTimeoutError,
    )

    from . import aws

    who = target.label
    system, rest = _split_system(req.messages)
    kwargs: dict[str, Any] = {"modelId": target.model, "messages": to_bedrock_messages(rest)}
    if system:
        kwargs["system"] = [{"text": system}]
    inference: dict[str, Any] = {"maxTokens": req.params.get("max_tokens") or provider.max_tokens}
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP"), ("stop", "stopSequences")):
        if req.params.get(ours) is not None:
            inference[theirs] = req.params[ours]
    kwargs["inferenceConfig"] = inference
    if provider.supports_tools and req.params.get("tools") and req.params.get("tool_choice") != "none":
        tool_config: dict[str, Any] = {
            "tools": [
                {
                    "toolSpec": {
                        "name": t["function"]["name"],
                        "description": t["function"].get("description") or t["function"]["name"],
                        "inputSchema": {
                            "json": t["function"].get("parameters") or {"type": "object", "properties": {}}
                        },
                    }
                }
                for t in req.params["tools"]
            ]
        }
        tc = _anthropic_tool_choice(req.params.get("tool_choice"))
        if tc is not None:
            tool_config["toolChoice"] = {tc["type"]: {"name": tc["name"]} if tc["type"] == "tool" else {}}
        kwargs["toolConfig"] = tool_config
    # Bucket the timeout so a container holds a handful of clients, not one per remaining-time value.
    bucket = max(1.0, float(int(timeout)))
    client = aws.client("bedrock-runtime", provider.region, bucket)
    try:
        resp = client.converse(**kwargs)
    except (ReadTimeoutError, ConnectTimeoutError):
        raise ProviderError("timeout", f"{who}: timed out after {bucket:.0f}s") from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        kind = _BEDROCK_ERRORS.get(code)
        if kind is None:
            kind = "server" if isinstance(status, int) and status >= 500 else "client"
        msg = redact(str(exc.response.get("Error", {}).get("Message", code))[:300])
        raise ProviderError(kind, f"{who}: {code}: {msg}", status) from None
    except BotoCoreError as exc:
        raise ProviderError("connection", f"{who}: {type(exc).__name__}") from None
    try:
        blocks = resp["output"]["message"]["content"]
        texts = [b["text"] for b in blocks if "text" in b]
        tool_calls = [
            {
                "id": b["toolUse"].get("toolUseId", ""),
                "type": "function",
                "function": {
                    "name": b["toolUse"].get("name", ""),
                    "arguments": json.dumps(b["toolUse"].get("input", {})),
                },
            }
            for b in blocks
            if "toolUse" in b
        ]
    except (KeyError, TypeError):
        raise ProviderError("bad_response", f"{who}: unexpected Converse response") from None
    usage = resp.get("usage") or {}
    return ChatResult(
        content="".join(texts) if texts or not tool_calls else None,
        tool_calls=tool_calls or None,
        finish_reason=_BEDROCK_STOP.get(str(resp.get("stopReason")), "stop"),
        prompt_tokens=_int_or_none(usage.get("inputTokens")),
        completion_tokens=_int_or_none(usage.get("outputTokens")),
        model=target.model,
    )


ADAPTERS = {"openai": call_openai, "anthropic": call_anthropic, "bedrock": call_bedrock}


def call_target(
    provider: ProviderConfig, target: Target, req: ChatRequest, timeout: float, secrets: SecretCache
) -> ChatResult:
    return ADAPTERS[provider.type](provider, target, req, timeout, secrets)
