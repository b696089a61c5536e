"""Provider adapters behind one internal request/response shape.

* ``openai`` (``provider_openai``): any OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, Azure OpenAI
  via ``auth_header: api-key`` + ``query: {api-version}`` + ``{model}`` in base_url, vLLM, Together, Groq...).
* ``anthropic`` (``provider_anthropic``): the Messages API (``POST /v1/messages``); system messages are split
  out, ``usage.input_tokens/output_tokens`` map to prompt/completion tokens.
* ``bedrock`` (``provider_bedrock``): Amazon Bedrock ``Converse``/``ConverseStream`` through boto3, credentials
  from the role.

Each adapter has a buffered call (``call``, a ``ChatResult``) and a streamed one (``stream``, an iterator of
``Delta``: content, tool-call fragments, finish reason, usage; ``None`` when ``tick`` seconds passed without a
byte). HTTP goes through ``upstream`` (one total deadline per attempt). Errors are normalised into
``ProviderError.kind``:

===============  ==================================================  ========================================
kind             cause                                               router
===============  ==================================================  ========================================
timeout          the attempt's deadline passed, HTTP 408, Bedrock     next target (never the same again)
                 model timeout
connection       connect refused / DNS / TLS: nothing was sent        retry the same target, then next
reset            the connection failed after the request was sent     next target (never re-sent: the provider
                                                                     may have accepted and billed it)
rate_limited     HTTP 429, Bedrock throttling                        next target (``retry_after`` kept)
server           HTTP 5xx, an error event inside a stream            retry, then next
bad_response     2xx with malformed JSON or missing fields           retry, then next
auth             HTTP 401/403 or the secret is unavailable           next target
not_found        HTTP 404 (unknown model/deployment)                 next target
client           any other 4xx (e.g. 400, 413, 422)                  none: 400 (413) to the client
unsupported      the provider cannot do what the request asks (tools  next target, not a failure; 400 when no
                 on a provider without them, a JSON schema where      target of the alias can
                 it cannot be enforced, embeddings on Anthropic)
===============  ==================================================  ========================================

Usage is normalized: ``prompt_tokens`` counts every input token, cached ones included; ``cached_tokens`` are
those read from the provider's prompt cache (OpenAI ``prompt_tokens_details.cached_tokens``, Anthropic
``cache_read_input_tokens``, Bedrock ``cacheReadInputTokens``) and ``cache_write_tokens`` those written to it
(Anthropic ``cache_creation_input_tokens``, Bedrock ``cacheWriteInputTokens``), priced apart (``Price``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from .config import ProviderConfig, Target
from .credentials import SecretCache, SecretUnavailable
from .redact import redact

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

FALLBACK_KINDS = frozenset(
    {"timeout", "connection", "reset", "rate_limited", "server", "bad_response", "auth", "not_found", "unsupported"}
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
    # An Anthropic Messages request as the client sent it: the Anthropic adapter sends it as it is (model
    # replaced), so everything the client asked for (cache_control, thinking, documents...) reaches Claude.
    native: dict[str, Any] | None = None


@dataclass
class ChatResult:
    content: str | None
    finish_reason: str
    prompt_tokens: int | None
    completion_tokens: int | None
    model: str
    tool_calls: list[dict[str, Any]] | None = None
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None
    raw: dict[str, Any] | None = None  # the provider's own answer, for a pass-through (Anthropic Messages)


@dataclass
class EmbeddingResult:
    vectors: list[list[float]]
    prompt_tokens: int | None
    model: str


@dataclass
class Delta:
    """One step of a streamed answer, already in OpenAI terms."""

    content: str | None = None
    # OpenAI ``delta.tool_calls`` entries: {"index", "id"?, "type"?, "function": {"name"?, "arguments"?}}
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None
    # The provider's own event (name, data) behind this step, for a pass-through (Anthropic Messages).
    raw: tuple[str, str] | None = None

    @property
    def output(self) -> bool:
        """Carries something for the client (text, a tool call, the finish reason)."""
        return bool(self.content) or bool(self.tool_calls) or self.finish_reason is not None


class StreamBudget:
    """Deadlines of one streamed attempt: ``first`` until the first output, then ``idle_s`` between bytes,
    never past ``end`` (the invocation's remaining time minus the margin)."""

    def __init__(self, first: float, end: float, idle_s: float, tick_s: float | None) -> None:
        self.first = min(first, end)
        self.end = end
        self.idle_s = idle_s
        self.tick_s = tick_s
        self.started = False
        self._last = time.monotonic()

    def deadline(self) -> float:
        if not self.started:
            return self.first
        return min(self.end, self._last + self.idle_s)

    def activity(self) -> None:
        self._last = time.monotonic()

    def start(self) -> None:
        self.started = True
        self.activity()


# ---------------------------------------------------------------------------------------------------------
# Helpers shared by the adapters


def retry_after(headers: dict[str, str]) -> float | None:
    try:
        value = float(headers["retry-after"])
    except (KeyError, ValueError):
        return None
    return value if value >= 0 else None


def error_message(body: bytes) -> str:
    try:
        doc = json.loads(body)
        err = doc.get("error", doc) if isinstance(doc, dict) else doc
        msg = err.get("message") if isinstance(err, dict) else None
        text = str(msg if msg else err)
    except ValueError:
        text = body[:200].decode("utf-8", "replace")
    return redact(text[:300])


def check_status(status: int, headers: dict[str, str], body: bytes, who: str) -> None:
    if 200 <= status < 300:
        return
    detail = error_message(body)
    if status == 429:
        raise ProviderError("rate_limited", f"{who}: rate limited (429)", status, retry_after(headers))
    if status == 408:
        raise ProviderError("timeout", f"{who}: request timeout (408)", status)
    if status >= 500:
        raise ProviderError("server", f"{who}: server error ({status})", status)
    if status in (401, 403):
        raise ProviderError("auth", f"{who}: provider refused the gateway's credentials ({status})", status)
    if status == 404:
        raise ProviderError("not_found", f"{who}: not found at the provider (404): {detail}", status)
    raise ProviderError("client", f"{who}: {detail}", status)


def json_body(body: bytes, who: str) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError:
        raise ProviderError("bad_response", f"{who}: malformed JSON from provider") from None
    if not isinstance(doc, dict):
        raise ProviderError("bad_response", f"{who}: unexpected response shape")
    return doc


def api_key(provider: ProviderConfig, secrets: SecretCache) -> str | None:
    if provider.secret_arn is None:
        return None
    try:
        return secrets.get(provider.secret_arn)
    except SecretUnavailable as exc:
        raise ProviderError("auth", f"{provider.name}: credentials unavailable ({exc})") from None


def text_of(content: Any) -> str:
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
            if kind == "anthropic_block" and isinstance(part, dict):
                kind = (part.get("block") or {}).get("type")
            raise ProviderError("unsupported", f"content part of type {kind!r} is not supported by this provider")
    return "".join(parts)


def obj(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (fields of provider events are checked, not
    trusted)."""
    return value if isinstance(value, dict) else {}


def int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def post_json(
    url: str, headers: dict[str, str], payload: dict[str, Any], deadline: float, who: str, *, stream: bool = False
) -> Any:
    """POST ``payload``; the ``upstream.Response`` once its status and headers arrived, errors as
    ``ProviderError``. A non-2xx answer is read (bounded by the deadline) and raised."""
    from . import upstream

    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hdrs = {
        "content-type": "application/json",
        "accept": "text/event-stream" if stream else "application/json",
        **headers,
    }
    try:
        resp = upstream.request("POST", url, hdrs, data, deadline)
        if not 200 <= resp.status < 300:
            body = resp.read(deadline, limit=1 << 20)
            check_status(resp.status, resp.headers, body, who)
    except upstream.UpstreamError as exc:
        raise ProviderError(exc.kind, f"{who}: {exc}") from None
    return resp


def read_body(resp: Any, deadline: float, who: str) -> bytes:
    from . import upstream

    try:
        body: bytes = resp.read(deadline)
    except upstream.UpstreamError as exc:
        resp.close()
        raise ProviderError(exc.kind, f"{who}: {exc}") from None
    return body


def sse_events(resp: Any, budget: StreamBudget, who: str) -> Iterator[tuple[str, str] | None]:
    """Server-sent events of an upstream answer as ``(event, data)``. ``None`` whenever ``budget.tick_s``
    seconds passed without an event, whether the provider was silent or sent only comments (the caller may owe
    its own client a keep-alive). Comments and ids are skipped; multi-line data is joined with ``\\n``."""
    from . import upstream

    event, data = "", list[str]()
    last = time.monotonic()
    try:
        for line in resp.iter_lines(budget.deadline, budget.tick_s):
            if line is not None:
                budget.activity()
                if not line:
                    if data:
                        last = time.monotonic()
                        yield event or "message", "\n".join(data)
                    event, data = "", []
                    continue
                text = line.decode("utf-8", "replace")
                field, _, value = text.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "data":
                    data.append(value)
                elif field == "event":
                    event = value
            if budget.tick_s and time.monotonic() - last >= budget.tick_s:
                last = time.monotonic()
                yield None
        if data:
            yield event or "message", "\n".join(data)
    except upstream.UpstreamError as exc:
        raise ProviderError(exc.kind, f"{who}: {exc} (streaming)") from None
    finally:
        resp.close()


# ---------------------------------------------------------------------------------------------------------
# Dispatch (adapters are imported on first use)


def _adapter(kind: str) -> Any:
    if kind == "openai":
        from . import provider_openai as module
    elif kind == "anthropic":
        from . import provider_anthropic as module  # type: ignore[no-redef]
    else:
        from . import provider_bedrock as module  # type: ignore[no-redef]
    return module


def call_target(
    provider: ProviderConfig, target: Target, req: ChatRequest, deadline: float, secrets: SecretCache
) -> ChatResult:
    result: ChatResult = _adapter(provider.type).call(provider, target, req, deadline, secrets)
    return result


def stream_target(
    provider: ProviderConfig, target: Target, req: ChatRequest, budget: StreamBudget, secrets: SecretCache
) -> Iterator[Delta | None]:
    stream: Iterator[Delta | None] = _adapter(provider.type).stream(provider, target, req, budget, secrets)
    return stream


def embed_target(
    provider: ProviderConfig, target: Target, inputs: list[Any], params: dict[str, Any], deadline: float,
    secrets: SecretCache,
) -> EmbeddingResult:
    if provider.type == "anthropic":
        raise ProviderError("unsupported", f"{target.label}: Anthropic has no embeddings API")
    result: EmbeddingResult = _adapter(provider.type).embed(provider, target, inputs, params, deadline, secrets)
    return result


def unsupported(target: Target, what: str) -> ProviderError:
    return ProviderError("unsupported", f"{target.label} cannot do {what}")


# ---------------------------------------------------------------------------------------------------------
# Structured output where the provider has no response_format (Anthropic, Bedrock): the JSON schema becomes
# one tool the model is made to call, and that call's arguments are the answer's text.

JSON_TOOL = "json_output"


def json_mode_schema(params: dict[str, Any]) -> dict[str, Any] | None:
    """The schema a ``response_format`` asks for (``json_object``: any object), or None for plain text."""
    rf = params.get("response_format")
    if not isinstance(rf, dict) or rf.get("type") not in ("json_object", "json_schema"):
        return None
    if rf["type"] == "json_object":
        return {"type": "object"}
    js = rf.get("json_schema")
    schema = js.get("schema") if isinstance(js, dict) else None
    return schema if isinstance(schema, dict) else {"type": "object"}


def forced_json_tool(params: dict[str, Any], target: Target, supports_tools: bool) -> dict[str, Any] | None:
    """The tool (OpenAI function format) that carries a JSON answer, or None without ``response_format``."""
    schema = json_mode_schema(params)
    if schema is None:
        return None
    if params.get("tools") or not supports_tools:
        raise unsupported(target, "response_format together with tools" if params.get("tools")
                          else "response_format (structured output needs tools on this provider)")
    return {"type": "function", "function": {"name": JSON_TOOL, "description": "Answer with this JSON.",
                                             "parameters": schema}}


def json_result(result: ChatResult) -> ChatResult:
    """The forced tool call of a JSON answer as the answer's text."""
    calls = result.tool_calls or []
    if calls:
        result.content = str((calls[0].get("function") or {}).get("arguments") or "{}")
        result.tool_calls = None
        result.finish_reason = "stop" if result.finish_reason == "tool_calls" else result.finish_reason
    return result


def json_stream(events: Iterator[Delta | None]) -> Iterator[Delta | None]:
    """The forced tool call's argument pieces of a streamed JSON answer as text pieces (any text beside the call
    is dropped, as the buffered answer drops it)."""
    for d in events:
        if d is not None:
            d.content = "".join(str((tc.get("function") or {}).get("arguments") or "") for tc in d.tool_calls or [])
            d.tool_calls = None
            if d.finish_reason == "tool_calls":
                d.finish_reason = "stop"
            if d.raw is not None:
                d.raw = None
        yield d
