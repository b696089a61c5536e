"""``"stream": true``: OpenAI-compatible server-sent events (``chat.completion.chunk`` events, then
``data: [DONE]``) from any provider kind, settled when the stream ends.

* Nothing is sent before the first output of a provider (its first text, tool call or finish), so a failure
  before it is an ordinary JSON error with its status, and a provider that fails before any output (an HTTP
  error, a broken or empty stream, an error event) is followed by the next target, as for a buffered request.
* While the provider is silent, ``: keep-alive`` comments go out every ``streaming.keepalive_s`` seconds (under
  API Gateway's idle timeouts: 5 minutes regional, 30 seconds edge-optimized). The first one commits the answer
  to 200, so a later failure is reported as an SSE error event, as is any failure after the first output.
* The gateway always asks the provider for usage; the answer's usage is settled when the stream ends, when it
  fails, and when the client goes away (the provider is no longer read; what was generated until then is
  counted, estimated from the text when the provider had not reported it yet).
* With ``stream_options.include_usage``, every chunk carries ``"usage": null`` and a last chunk without
  choices carries the usage, as OpenAI does.
"""

from __future__ import annotations

import os
import time

from . import telemetry
from .auth import KeyInfo
from .completion import (
    Prepared,
    account,
    answer_headers,
    completion_body,
    finish_answer,
    prepare,
    record,
    routing_failed,
)
from .config import ModelAlias
from .errors import GatewayError
from .providers import ChatRequest, Delta, ProviderError
from .router import RoutingFailed, StreamRoute, route_stream
from .state import Ctx
from .store import Hold, UsageDelta
from .transport import JSON_HEADERS, SSE_DONE, SSE_HEADERS, SSE_KEEPALIVE, dumps, error_headers, sse_data
from .validation import ChatCall

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from ..stream import StreamingResponse

REPLAY_PIECE_CHARS = 256  # a cached answer is replayed in pieces of this many characters


class Chunks:
    """``chat.completion.chunk`` documents of one answer."""

    def __init__(self, call: ChatCall, created: int) -> None:
        self.id = f"chatcmpl-{os.urandom(16).hex()}"
        self.created = created
        self.model = call.alias
        self.include_usage = call.include_usage

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        doc: dict[str, Any] = {
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }  # fmt: skip
        if self.include_usage:
            doc["usage"] = None
        return sse_data(doc)

    def usage(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        return sse_data({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "system_fingerprint": None, "choices": [],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })  # fmt: skip


def _response(body: Iterator[bytes], headers: dict[str, str]) -> StreamingResponse:
    from ..stream import StreamingResponse

    return StreamingResponse(body, 200, headers)


class _Answer:
    """What the provider said so far, assembled as an OpenAI message."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.tools: dict[int, dict[str, Any]] = {}
        self.finish: str | None = None
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None

    def add(self, d: Delta) -> dict[str, Any] | None:
        """Take in one step; the chunk delta to send for it, if any."""
        if d.prompt_tokens is not None:
            self.prompt_tokens = d.prompt_tokens
        if d.completion_tokens is not None:
            self.completion_tokens = d.completion_tokens
        if d.finish_reason is not None:
            self.finish = d.finish_reason
        delta: dict[str, Any] = {}
        if d.content:
            self.text.append(d.content)
            delta["content"] = d.content
        if d.tool_calls:
            for tc in d.tool_calls:
                slot = self.tools.setdefault(int(tc.get("index", 0)), {"id": "", "type": "function",
                                                                       "function": {"name": "", "arguments": ""}})
                if tc.get("id"):
                    slot["id"] = tc["id"]
                fn = tc.get("function") or {}
                slot["function"]["name"] += str(fn.get("name") or "")
                slot["function"]["arguments"] += str(fn.get("arguments") or "")
            delta["tool_calls"] = d.tool_calls
        return delta or None

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.text) if self.text or not self.tools
                                   else None}  # fmt: skip
        if self.tools:
            message["tool_calls"] = [self.tools[i] for i in sorted(self.tools)]
        return message

    def completion_text(self) -> str:
        return "".join(self.text) + "".join(t["function"]["arguments"] for t in self.tools.values())


def stream_completion(
    ctx: Ctx, alias: ModelAlias, call: ChatCall, key: KeyInfo, usage: UsageDelta, hold: Hold, now: float,
    cache_key: str | None,
) -> StreamingResponse:
    headers = {**SSE_HEADERS, "x-lm-cache": "miss", "x-lm-request-id": ctx.http.request_id}
    response = _response(iter(()), headers)
    response.body = _generate(ctx, response, alias, call, key, usage, hold, now, cache_key)
    return response


def _generate(
    ctx: Ctx, response: StreamingResponse, alias: ModelAlias, call: ChatCall, key: KeyInfo, usage: UsageDelta,
    hold: Hold, now: float, cache_key: str | None,
) -> Iterator[bytes]:
    cfg, rt = ctx.cfg, ctx.rt
    chunks = Chunks(call, int(now))
    answer = _Answer()
    state = StreamRoute()
    prepared: Prepared | None = None
    committed = started = complete = False
    failed: GatewayError | None = None
    outcome = "error"
    events: Iterator[Delta | None] | None = None
    try:
        prepared = prepare(ctx, alias, call, key, now)
        req = ChatRequest(prepared.messages, call.params)
        events = route_stream(cfg, alias, req, ctx.remaining_ms, rt.secrets, rt.breaker, rt.rng, state,
                              cfg.streaming.keepalive_s)  # fmt: skip
        try:
            last_sent = time.monotonic()
            for d in events:
                if d is not None:
                    if not started:
                        started = committed = True
                        assert state.target is not None
                        response.headers.update(answer_headers(ctx, call, state.target, False, state.attempts))
                        for early in state.early:
                            answer.add(early)
                        yield chunks.chunk({"role": "assistant", "content": ""})
                    delta = answer.add(d)
                    if delta is not None:
                        yield chunks.chunk(delta)
                        last_sent = time.monotonic()
                        continue
                if time.monotonic() - last_sent >= cfg.streaming.keepalive_s:
                    committed = True
                    yield SSE_KEEPALIVE
                    last_sent = time.monotonic()
        except ProviderError as exc:  # after the first output: the target is fixed, the stream ends here
            failed = GatewayError(502 if exc.kind != "timeout" else 504, f"the provider's stream broke: {exc.message}",
                                  "upstream_timeout" if exc.kind == "timeout" else "upstream_stream_error")  # fmt: skip
            ctx.audit["stream_error"] = exc.kind
            yield sse_data(failed.body())
            return
        complete = True
        yield chunks.chunk({}, answer.finish or "stop")
        if call.include_usage:
            pt, ct, _ = _tokens(answer, prepared)
            yield chunks.usage(pt, ct)
        yield SSE_DONE
        outcome = "done"
    except GeneratorExit:
        outcome = "client_gone"
        raise
    except GatewayError as exc:  # before the first output (routing failed, or the conversation's 413)
        failed = exc
        if isinstance(exc, RoutingFailed):
            routing_failed(ctx, exc, usage, prepared)
        if committed:
            yield sse_data(exc.body())
        else:
            response.status_code = exc.status
            response.headers = {**JSON_HEADERS, **error_headers(exc, ctx.http.request_id)}
            yield dumps(exc.body()).encode("utf-8")
    finally:
        if events is not None:
            events.close()  # type: ignore[attr-defined]  # stops reading the provider
        _settle(ctx, call, key, usage, hold, now, prepared, state, answer, started, complete, cache_key, outcome,
                failed)  # fmt: skip
        telemetry.finish(ctx.audit, ctx, response.status_code, ctx.started,
                         error=failed is not None or (outcome == "client_gone" and not complete))  # fmt: skip


def _tokens(answer: _Answer, prepared: Prepared) -> tuple[int, int, bool]:
    from . import accounting

    estimated = answer.prompt_tokens is None or answer.completion_tokens is None
    pt = answer.prompt_tokens if answer.prompt_tokens is not None else accounting.estimate_prompt_tokens(
        prepared.messages)
    ct = answer.completion_tokens if answer.completion_tokens is not None else accounting.estimate_text_tokens(
        answer.completion_text())
    return pt, ct, estimated


def _settle(
    ctx: Ctx, call: ChatCall, key: KeyInfo, usage: UsageDelta, hold: Hold, now: float, prepared: Prepared | None,
    state: StreamRoute, answer: _Answer, started: bool, complete: bool, cache_key: str | None, outcome: str,
    failed: GatewayError | None,
) -> None:
    ctx.audit["stream"] = outcome
    if outcome == "client_gone":
        ctx.audit["client_disconnected"] = True
    if started and prepared is not None and state.target is not None and state.provider_type is not None:
        # What was generated is paid for, however the stream ended.
        account(ctx, call, prepared, usage, state.target, state.provider_type, state.attempts,
                answer.prompt_tokens, answer.completion_tokens, answer.completion_text())  # fmt: skip
        if complete:
            message = answer.message()
            pt, ct, _ = _tokens(answer, prepared)
            body = completion_body(call, message, answer.finish or "stop", pt, ct, now)
            cache_body = finish_answer(ctx, call, key, prepared, message, body, now)
            if cache_key is not None and cache_body is not None:
                ctx.cache_put = (cache_key, cache_body, ctx.cfg.cache.ttl_s)
    if failed is not None or not complete:
        usage.error = True
    record(ctx, key, usage, now, hold)


def replay(ctx: Ctx, call: ChatCall, cached: dict[str, Any]) -> StreamingResponse:
    """A cached answer as a stream: the same chunks a provider's stream would have produced."""
    headers = {**SSE_HEADERS, "x-lm-cache": "hit", "x-lm-request-id": ctx.http.request_id}
    response = _response(iter(()), headers)

    def body() -> Iterator[bytes]:
        chunks = Chunks(call, int(cached.get("created") or 0))
        try:
            choice = (cached.get("choices") or [{}])[0]
            message = choice.get("message") or {}
            yield chunks.chunk({"role": "assistant", "content": ""})
            text = message.get("content") or ""
            for i in range(0, len(text), REPLAY_PIECE_CHARS):
                yield chunks.chunk({"content": text[i : i + REPLAY_PIECE_CHARS]})
            for n, tc in enumerate(message.get("tool_calls") or []):
                yield chunks.chunk({"tool_calls": [{"index": n, **tc}]})
            yield chunks.chunk({}, choice.get("finish_reason") or "stop")
            if call.include_usage:
                u = cached.get("usage") or {}
                yield chunks.usage(int(u.get("prompt_tokens", 0)), int(u.get("completion_tokens", 0)))
            yield SSE_DONE
        finally:
            telemetry.finish(ctx.audit, ctx, response.status_code, ctx.started)

    response.body = body()
    return response
