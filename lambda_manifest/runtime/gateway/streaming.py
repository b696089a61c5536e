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
    """``chat.completion.chunk`` documents of one answer: the stream encoder of chat completions. Every API's
    encoder has the same four steps (``start``, ``delta``, ``finish``, ``error``), each returning the bytes to
    send (possibly none)."""

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

    def usage(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> bytes:
        return sse_data({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "system_fingerprint": None, "choices": [],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens,
                      "prompt_tokens_details": {"cached_tokens": cached_tokens}},
        })  # fmt: skip

    def start(self, early: list[Delta]) -> bytes:
        return self.chunk({"role": "assistant", "content": ""})

    def delta(self, d: Delta, delta: dict[str, Any] | None) -> bytes:
        return self.chunk(delta) if delta is not None else b""

    def finish(self, answer: Answer, usage: tuple[int, int, int, int]) -> bytes:
        out = self.chunk({}, answer.finish or "stop")
        if self.include_usage:
            out += self.usage(usage[0], usage[1], usage[2])
        return out + SSE_DONE

    def error(self, exc: GatewayError) -> bytes:
        return sse_data(exc.body())


def encoder(call: ChatCall, created: int) -> Any:
    """The stream encoder of the API the request came through."""
    if call.api == "chat":
        return Chunks(call, created)
    from .completion import api_module

    return api_module(call.api).Encoder(call, created)


def _response(body: Iterator[bytes], headers: dict[str, str]) -> StreamingResponse:
    from ..stream import StreamingResponse

    return StreamingResponse(body, 200, headers)


class Answer:
    """What the provider said so far, assembled as an OpenAI message."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.tools: dict[int, dict[str, Any]] = {}
        self.finish: str | None = None
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.cached_tokens: int | None = None
        self.cache_write_tokens: int | None = None

    def add(self, d: Delta) -> dict[str, Any] | None:
        """Take in one step; the chunk delta to send for it, if any."""
        for name in ("prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens"):
            value = getattr(d, name)
            if value is not None:
                setattr(self, name, value)
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
    chunks = encoder(call, int(now))
    answer = Answer()
    state = StreamRoute()
    prepared: Prepared | None = None
    committed = started = complete = False
    failed: GatewayError | None = None
    outcome = "error"
    events: Iterator[Delta | None] | None = None
    try:
        prepared = prepare(ctx, alias, call, key, now)
        req = ChatRequest(prepared.messages, call.params, call.native)
        events = route_stream(cfg, alias, req, ctx.remaining_ms, rt.secrets, rt.breaker, rt.rng, state,
                              cfg.streaming.keepalive_s)  # fmt: skip
        try:
            last_sent = time.monotonic()
            for d in events:
                if d is not None:
                    if not started:
                        started = committed = True
                        assert state.target is not None
                        first_token(ctx)
                        response.headers.update(answer_headers(ctx, call, state.target, False, state.attempts))
                        for early in state.early:
                            answer.add(early)
                        yield chunks.start(state.early)
                    piece = chunks.delta(d, answer.add(d))
                    if piece:
                        yield piece
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
            yield chunks.error(failed)
            return
        complete = True
        pt, ct, _ = _tokens(answer, prepared)
        yield chunks.finish(answer, (pt, ct, answer.cached_tokens or 0, answer.cache_write_tokens or 0))
        outcome = "done"
    except GeneratorExit:
        outcome = "client_gone"
        raise
    except GatewayError as exc:  # before the first output (routing failed, or the conversation's 413)
        failed = exc
        if isinstance(exc, RoutingFailed):
            routing_failed(ctx, exc, usage, prepared)
        if committed:
            yield chunks.error(exc)
        else:
            response.status_code = exc.status
            response.headers = {**JSON_HEADERS, **error_headers(exc, ctx.http.request_id)}
            yield dumps(exc.body(call.api)).encode("utf-8")
    finally:
        if events is not None:
            events.close()  # type: ignore[attr-defined]  # stops reading the provider
        _settle(ctx, call, key, usage, hold, now, prepared, state, answer, started, complete, cache_key, outcome,
                failed)  # fmt: skip
        telemetry.finish(ctx.audit, ctx, response.status_code, ctx.started,
                         error=failed is not None or (outcome == "client_gone" and not complete))  # fmt: skip


def _tokens(answer: Answer, prepared: Prepared) -> tuple[int, int, bool]:
    from . import accounting

    estimated = answer.prompt_tokens is None or answer.completion_tokens is None
    pt = answer.prompt_tokens if answer.prompt_tokens is not None else accounting.estimate_prompt_tokens(
        prepared.messages)
    ct = answer.completion_tokens if answer.completion_tokens is not None else accounting.estimate_text_tokens(
        answer.completion_text())
    return pt, ct, estimated


def _settle(
    ctx: Ctx, call: ChatCall, key: KeyInfo, usage: UsageDelta, hold: Hold, now: float, prepared: Prepared | None,
    state: StreamRoute, answer: Answer, started: bool, complete: bool, cache_key: str | None, outcome: str,
    failed: GatewayError | None,
) -> None:
    ctx.audit["stream"] = outcome
    if outcome == "client_gone":
        ctx.audit["client_disconnected"] = True
    if started and prepared is not None and state.target is not None and state.provider_type is not None:
        # What was generated is paid for, however the stream ended.
        account(ctx, call, prepared, usage, state.target, state.provider_type, state.attempts,
                answer.prompt_tokens, answer.completion_tokens, answer.completion_text(), answer.cached_tokens,
                answer.cache_write_tokens)  # fmt: skip
        ctx.audit["gen_ai.response.finish_reasons"] = [answer.finish] if answer.finish else None
        if complete:
            message = answer.message()
            pt, ct, _ = _tokens(answer, prepared)
            body = completion_body(call, message, answer.finish or "stop", pt, ct, now, usage.cached_tokens,
                                   usage.cache_write_tokens)
            cache_body = finish_answer(ctx, call, key, prepared, message, body, now)
            if cache_key is not None and cache_body is not None:
                ctx.cache_put = (cache_key, cache_body, ctx.cfg.cache.ttl_s)
    if failed is not None or not complete:
        usage.error = True
    record(ctx, key, usage, now, hold)


def first_token(ctx: Ctx) -> None:
    """Time to first token: from the request's start to its first output, in seconds (the GenAI semantic
    conventions' gen_ai.server.time_to_first_token)."""
    ttft = time.perf_counter() - ctx.started
    ctx.audit["gen_ai.server.time_to_first_token"] = round(ttft, 4)
    ctx.metric(ttft_s=ttft)


def replay_deltas(cached: dict[str, Any]) -> Iterator[Delta]:
    """A cached answer (a chat completion) as the steps of a stream."""
    choice = (cached.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    text = message.get("content") or ""
    for i in range(0, len(text), REPLAY_PIECE_CHARS):
        yield Delta(content=text[i : i + REPLAY_PIECE_CHARS])
    for n, tc in enumerate(message.get("tool_calls") or []):
        yield Delta(tool_calls=[{"index": n, **tc}])
    u = cached.get("usage") or {}
    details = u.get("prompt_tokens_details") or {}
    yield Delta(finish_reason=choice.get("finish_reason") or "stop", prompt_tokens=int(u.get("prompt_tokens", 0)),
                completion_tokens=int(u.get("completion_tokens", 0)),
                cached_tokens=int(details.get("cached_tokens") or 0))  # fmt: skip


def replay(ctx: Ctx, call: ChatCall, cached: dict[str, Any]) -> StreamingResponse:
    """A cached answer as a stream: the same events a provider's stream would have produced."""
    headers = {**SSE_HEADERS, "x-lm-cache": "hit", "x-lm-request-id": ctx.http.request_id}
    response = _response(iter(()), headers)

    def body() -> Iterator[bytes]:
        chunks = encoder(call, int(cached.get("created") or 0))
        answer = Answer()
        try:
            first_token(ctx)
            yield chunks.start([])
            for d in replay_deltas(cached):
                piece = chunks.delta(d, answer.add(d))
                if piece:
                    yield piece
            usage = (answer.prompt_tokens or 0, answer.completion_tokens or 0, answer.cached_tokens or 0, 0)
            yield chunks.finish(answer, usage)
        finally:
            telemetry.finish(ctx.audit, ctx, response.status_code, ctx.started)

    response.body = body()
    return response
