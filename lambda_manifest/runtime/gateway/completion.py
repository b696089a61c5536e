"""Chat completions (``/v1/chat/completions`` and the prompt endpoints): authenticate, parse, admit and reserve
against the quotas, answer from the cache or a provider, settle the usage.

The order is the contract: the key is checked before the body is parsed (a bad key is a 401 whatever the body);
the quotas admit the request before any provider is called, holding its worst-case tokens and cost; the usage
is settled in a ``finally`` (a failure releases the whole hold). A streamed answer (``"stream": true``) is
produced by ``streaming.stream_completion``, which settles when its stream ends.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from decimal import Decimal

from . import accounting, context
from .auth import KeyInfo, authenticate
from .config import ModelAlias
from .errors import GatewayError, bad_request
from .providers import ChatRequest
from .redact import redact, redact_any
from .router import Attempt, RoutingFailed, fallbacks, route
from .state import Ctx
from .store import Hold, Limits, QuotaExceeded, UsageDelta
from .transport import json_response
from .validation import ChatCall, cache_key

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# gen_ai.provider.name values of the OpenTelemetry GenAI semantic conventions, by provider kind.
GENAI_PROVIDER_NAMES = {"openai": "openai", "anthropic": "anthropic", "bedrock": "aws.bedrock"}
_QUOTA_TEXT = {
    "rpm": ("requests per minute", "rate_limit_exceeded"),
    "tpd": ("tokens per day", "token_quota_exceeded"),
    "budget": ("monthly budget (USD)", "budget_exceeded"),
    "contention": ("quota store contention", "rate_limit_exceeded"),
}


@dataclass
class Prepared:
    """The messages sent to the model (with conversation history) and what preparing them cost."""

    messages: list[dict[str, Any]]
    plan: context.ContextPlan | None = None
    extra_prompt: int = 0
    extra_completion: int = 0
    extra_cost: Decimal = Decimal(0)


def completion_route(ctx: Ctx, parse: Callable[[], ChatCall]) -> Any:
    cfg = ctx.cfg
    key = authenticate(ctx.http, ctx.store, cfg.auth.key_header)
    ctx.audit.update(tenant=key.tenant, key_id=key.key_id)
    call = parse()
    ctx.audit.update({"api": call.api, "gen_ai.operation.name": "chat", "gen_ai.request.model": call.alias[:128],
                      "prompt": call.prompt, "gen_ai.conversation.id": call.conversation_id,
                      "stream": call.stream or None})  # fmt: skip
    for name in ("max_tokens", "temperature", "top_p"):
        if call.params.get(name) is not None:
            ctx.audit[f"gen_ai.request.{name}"] = call.params[name]
    alias = cfg.models.get(call.alias)
    if alias is None:
        raise GatewayError(404, f"the model {call.alias[:128]!r} does not exist", "model_not_found", param="model")
    if not key.allows(call.alias):
        raise GatewayError(403, f"this key may not use the model {call.alias!r}", "model_not_allowed", param="model")
    # Metric dimensions only from configured names: a caller must not be able to mint CloudWatch dimensions.
    ctx.metric(tenant=key.tenant, model=call.alias, provider="none")
    if call.conversation_id is not None and not cfg.context.enabled:
        raise bad_request("conversations are disabled on this gateway", "conversations_disabled", "conversation_id")
    est = accounting.estimate_prompt_tokens(call.messages)
    if est > alias.context_window:  # a 400, as OpenAI and Anthropic answer it (the SDKs' BadRequestError)
        raise GatewayError(
            400,
            f"the messages need ~{est} tokens, more than the model's context window of {alias.context_window}",
            "context_length_exceeded",
            param="messages",
        )
    bypass = ctx.http.headers.get("x-lm-cache", "").lower() in ("bypass", "no-cache", "off")
    ckey = cache_key(call) if cfg.cache.enabled and call.conversation_id is None and not bypass else None
    cacheable = ckey is not None and (call.params.get("temperature") == 0 or key.cache)
    ctx.audit["cache"] = "miss" if cacheable else "off"
    now = ctx.rt.clock()
    hit = _cache_hit(ctx, ckey, key, now) if cacheable and ckey is not None else None

    tokens, cost = (0, Decimal(0)) if hit is not None else accounting.reservation(
        cfg, alias, call.messages, call.params, conversation=call.conversation_id is not None)
    hold = admit(ctx, key, now, tokens, cost)
    usage = UsageDelta(alias=call.alias)
    if hit is not None:
        usage.cache_hit = True
        ctx.audit.update(cache="hit", provider="cache")
        ctx.metric(cache_hit=True, provider="cache")
        hit["id"] = f"chatcmpl-{os.urandom(16).hex()}"
        hit["created"] = int(now)
        try:
            message = ((hit.get("choices") or [{}])[0]).get("message") or {}
            store_exchange(ctx, call, key, [], None, None, message, now)
            if call.stream:
                from .streaming import replay

                return replay(ctx, call, hit)
            return json_response(200, render(call, hit), {"x-lm-cache": "hit", "x-lm-request-id": ctx.http.request_id})
        finally:
            record(ctx, key, usage, now, hold)
    if call.stream:
        from .streaming import stream_completion

        return stream_completion(ctx, alias, call, key, usage, hold, now, ckey if cacheable else None)
    try:
        body, headers, cache_body = _complete(ctx, alias, call, key, usage, now)
        if cacheable and ckey is not None and cache_body is not None:
            ctx.cache_put = (ckey, cache_body, cfg.cache.ttl_s)
        return json_response(200, render(call, body), headers)
    except GatewayError:
        usage.error = True
        raise
    finally:
        record(ctx, key, usage, now, hold)


def admit(ctx: Ctx, key: KeyInfo, now: float, tokens: int, cost: Decimal) -> Hold:
    from botocore.exceptions import BotoCoreError, ClientError

    tenant = ctx.cfg.tenants.get(key.tenant)
    tenant_limits = Limits(tenant.rpm, tenant.tpd, tenant.budget_usd) if tenant else Limits()
    try:
        hold = ctx.store.admit(key.key_id, key.tenant, key.limits, tenant_limits, now, reserve_tokens=tokens,
                               reserve_cost=cost, usage_ttl_days=ctx.cfg.usage_ttl_days)  # fmt: skip
    except QuotaExceeded as q:
        ctx.metric(quota_rejected=True)
        what, code = _QUOTA_TEXT[q.kind]
        if q.never:
            amount = f"{tokens} tokens" if q.kind == "tpd" else f"{cost:.6f} USD"
            raise GatewayError(
                429,
                f"{q.scope} quota exceeded: this request alone reserves {amount} (its prompt and max_tokens), more "
                f"than the whole {what} limit; send a smaller max_tokens",
                code,
                headers={"retry-after": str(q.retry_after)},
                should_retry=False,
            ) from None
        raise GatewayError(
            429,
            f"{q.scope} quota exceeded: {what}; retry after {q.retry_after}s",
            code,
            headers={"retry-after": str(q.retry_after)},
        ) from None
    except (ClientError, BotoCoreError) as exc:
        raise GatewayError(500, f"quota store unavailable ({type(exc).__name__})", "store_unavailable") from None
    if hold.tokens or hold.cost:
        ctx.audit["reserved"] = {"tokens": tokens, "cost_usd": str(cost)}
    return hold


def _cache_hit(ctx: Ctx, ckey: str, key: KeyInfo, now: float) -> dict[str, Any] | None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        item = ctx.store.get_cache(ckey)
    except (ClientError, BotoCoreError) as exc:  # the cache is an optimisation: a failed read is a miss
        ctx.audit["cache_read_error"] = type(exc).__name__
        return None
    if item is None or item.get("tenant") != key.tenant or int(item.get("expires_at", 0)) <= now:
        return None
    try:
        doc = json.loads(item.get("body", ""))
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def record(ctx: Ctx, key: KeyInfo, usage: UsageDelta, now: float, hold: Hold) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        ctx.store.record(key.key_id, key.tenant, usage, now, ctx.cfg.usage_ttl_days, ctx.cache_put, hold)
    except (ClientError, BotoCoreError) as exc:
        ctx.audit["usage_write_error"] = type(exc).__name__
        accounting.emit({"level": "ERROR", "msg": "usage write failed", "error": type(exc).__name__,
                         "request_id": ctx.http.request_id, "key_id": key.key_id})  # fmt: skip


def prepare(ctx: Ctx, alias: ModelAlias, call: ChatCall, key: KeyInfo, now: float) -> Prepared:
    """The messages to send: the request's, or with a conversation its stored history trimmed to the model's
    budget (dropped turns summarized when ``context.summarize_with`` is set)."""
    cfg, rt = ctx.cfg, ctx.rt
    prepared = Prepared(call.messages)
    if call.conversation_id is None:
        return prepared
    stored = ctx.store.get_conversation(key.tenant, call.conversation_id, now)
    if stored is None and call.api == "responses":
        raise GatewayError(404, f"previous response {call.conversation_id!r} not found (expired, or stored with "
                           "store: false)", "response_not_found", param="previous_response_id")
    history: list[dict[str, Any]] = []
    if stored is not None:
        try:
            history = json.loads(stored.get("messages") or "[]")
        except ValueError:
            history = []
    budget = alias.context_window - int(call.params.get("max_tokens") or cfg.context.reserve_output_tokens)
    summarizer = None
    if cfg.context.summarize_with:
        summary_alias = cfg.models[cfg.context.summarize_with]

        def summarizer(dropped: list[dict[str, Any]], previous: str | None) -> str | None:
            req = ChatRequest(
                [
                    {"role": "system", "content": "Summarize the conversation below in a few sentences. "
                     "Keep names, numbers, decisions and open questions."},
                    {"role": "user", "content": context.transcript(dropped, previous)},
                ],
                {"max_tokens": cfg.context.summary_max_tokens, "temperature": 0},
            )  # fmt: skip
            try:
                rr = route(cfg, summary_alias, req, ctx.remaining_ms, rt.secrets, rt.breaker, rt.rng)
            except GatewayError as exc:
                if isinstance(exc, RoutingFailed):
                    ctx.count_failures(exc.attempts)
                ctx.audit["summary"] = "failed"
                return None
            ctx.count_failures(rr.attempts)
            pt = rr.result.prompt_tokens or accounting.estimate_prompt_tokens(req.messages)
            ct = rr.result.completion_tokens or accounting.estimate_text_tokens(rr.result.content or "")
            prepared.extra_prompt += pt
            prepared.extra_completion += ct
            prepared.extra_cost += accounting.cost_usd(cfg.price_for(rr.target), pt, ct)
            ctx.audit["summary"] = rr.target.label
            return (rr.result.content or "").strip() or None

    prepared.plan = context.build(call.messages, stored, history, max(budget, 1), summarizer)
    prepared.messages = prepared.plan.messages
    ctx.audit["context"] = {"history": len(history), "dropped": len(prepared.plan.dropped),
                            "sent": len(prepared.messages)}  # fmt: skip
    return prepared


def routing_failed(ctx: Ctx, exc: RoutingFailed, usage: UsageDelta, prepared: Prepared | None) -> None:
    ctx.audit["fallback_path"] = [a.label() for a in exc.attempts]
    ctx.audit["attempts"] = sum(1 for a in exc.attempts if a.sent)
    ctx.count_failures(exc.attempts)
    if exc.status in (429, 502, 504):  # no provider answered (a provider's 400/413 is the request's fault)
        ctx.metric(upstream_failed=True)
    if prepared is not None:
        usage.prompt_tokens, usage.completion_tokens = prepared.extra_prompt, prepared.extra_completion
        usage.cost_usd = prepared.extra_cost


def account(
    ctx: Ctx,
    call: ChatCall | None,
    prepared: Prepared,
    usage: UsageDelta,
    target: Any,
    provider_type: str,
    attempts: list[Attempt],
    prompt_tokens: int | None,
    completion_tokens: int | None,
    completion_text: str,
    cached_tokens: int | None = None,
    cache_write_tokens: int | None = None,
) -> tuple[int, int, bool]:
    """Settle the usage of an answered request (estimating what the provider did not report), and record it in
    the audit line and the metrics. Returns the prompt and completion tokens of the answer and whether they were
    estimated."""
    cfg = ctx.cfg
    estimated = prompt_tokens is None or completion_tokens is None
    pt = prompt_tokens if prompt_tokens is not None else accounting.estimate_prompt_tokens(prepared.messages)
    ct = completion_tokens if completion_tokens is not None else accounting.estimate_text_tokens(completion_text)
    cached, written = cached_tokens or 0, cache_write_tokens or 0
    price = cfg.price_for(target)
    usage.prompt_tokens = pt + prepared.extra_prompt
    usage.completion_tokens = ct + prepared.extra_completion
    usage.cached_tokens, usage.cache_write_tokens = cached, written
    usage.cost_usd = accounting.cost_usd(price, pt, ct, cached, written) + prepared.extra_cost
    ctx.count_failures(attempts)
    ctx.audit.update({
        "provider": target.provider,
        "gen_ai.provider.name": GENAI_PROVIDER_NAMES.get(provider_type, provider_type),
        "gen_ai.response.model": target.model,
        "fallback_path": [a.label() for a in attempts],
        "attempts": sum(1 for a in attempts if a.sent),
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": usage.completion_tokens,
        "gen_ai.usage.cache_read.input_tokens": cached or None,
        "gen_ai.usage.cache_creation.input_tokens": written or None,
        "cost_usd": str(usage.cost_usd),
        "usage_estimated": estimated,
        "priced": price is not None,
    })  # fmt: skip
    ctx.metric(provider=target.provider, prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
               cost=usage.cost_usd, fallbacks=fallbacks(attempts), served=True)  # fmt: skip
    return pt, ct, estimated


def completion_body(
    call: ChatCall, message: dict[str, Any], finish_reason: str, prompt_tokens: int, completion_tokens: int,
    now: float, cached_tokens: int = 0, cache_write_tokens: int = 0,
) -> dict[str, Any]:
    """The answer as an OpenAI chat completion: what chat completions return, what the cache holds, and what
    the other APIs render their answers from (``render``)."""
    return {
        "id": f"chatcmpl-{os.urandom(16).hex()}",
        "object": "chat.completion",
        "created": int(now),
        "model": call.alias,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens,
                                      **({"cache_write_tokens": cache_write_tokens} if cache_write_tokens else {})},
        },
        "system_fingerprint": None,
    }


def render(call: ChatCall, body: dict[str, Any]) -> dict[str, Any]:
    """The chat completion ``body`` in the terms of the API the request came through."""
    if call.api == "chat":
        return body
    rendered: dict[str, Any] = api_module(call.api).render(call, body)
    return rendered


def api_module(api: str) -> Any:
    """The module of a non-chat API, imported when its first request arrives."""
    if api == "responses":
        from . import api_responses as module
    else:
        from . import api_messages as module  # type: ignore[no-redef]
    return module


def answer_headers(ctx: Ctx, call: ChatCall, target: Any, estimated: bool, attempts: list[Attempt]) -> dict[str, str]:
    headers = {
        "x-lm-cache": "miss",
        "x-lm-request-id": ctx.http.request_id,
        "x-lm-provider": target.provider,
        "x-lm-target-model": target.model,
        "x-lm-attempts": str(sum(1 for a in attempts if a.sent)),
    }
    if estimated:
        headers["x-lm-usage-estimated"] = "true"
    if call.prompt:
        headers["x-lm-prompt"] = call.prompt
    if call.conversation_id is not None:
        headers["x-lm-conversation-id"] = call.conversation_id
    return headers


def finish_answer(
    ctx: Ctx, call: ChatCall, key: KeyInfo, prepared: Prepared, message: dict[str, Any], body: dict[str, Any],
    now: float,
) -> str | None:
    """After an answer: log bodies when enabled, store the conversation, and return the cacheable JSON (None
    for a conversation, whose answer depends on its history)."""
    cfg = ctx.cfg
    if cfg.audit.log_bodies:
        ctx.audit["request_messages"] = redact_any(prepared.messages)
        ctx.audit["completion"] = redact(message.get("content") or "")
    plan = prepared.plan
    store_exchange(ctx, call, key, plan.kept if plan else [], plan.system if plan else None,
                   plan.summary if plan else None, message, now)  # fmt: skip
    if call.conversation_id is not None:
        return None
    return json.dumps({k: v for k, v in body.items() if k != "raw"}, separators=(",", ":"), ensure_ascii=False)


def store_exchange(
    ctx: Ctx, call: ChatCall, key: KeyInfo, kept: list[dict[str, Any]], system: str | None, summary: str | None,
    message: dict[str, Any], now: float,
) -> None:
    """Store the history after this exchange under ``call.store_as`` (a conversation id, or a Responses id that a
    later ``previous_response_id`` continues). A failed write is logged, not turned into an error: the answer is
    paid for."""
    if call.store_as is None:
        return
    cfg = ctx.cfg
    history_out = context.cap_history(
        kept + [m for m in call.messages if m["role"] not in ("system", "developer")] + [message],
        cfg.context.max_stored_messages,
    )
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        ctx.store.put_conversation(
            key.tenant,
            call.store_as,
            json.dumps(history_out, separators=(",", ":"), ensure_ascii=False),
            system if call.api != "responses" else None,  # Responses instructions do not carry over
            summary,
            now,
            cfg.context.ttl_s,
        )
    except (ClientError, BotoCoreError) as exc:
        ctx.audit["conversation_write_error"] = type(exc).__name__


def _complete(
    ctx: Ctx, alias: ModelAlias, call: ChatCall, key: KeyInfo, usage: UsageDelta, now: float
) -> tuple[dict[str, Any], dict[str, str], str | None]:
    rt = ctx.rt
    prepared = prepare(ctx, alias, call, key, now)
    req = ChatRequest(prepared.messages, call.params, call.native)
    try:
        rr = route(ctx.cfg, alias, req, ctx.remaining_ms, rt.secrets, rt.breaker, rt.rng)
    except RoutingFailed as exc:
        routing_failed(ctx, exc, usage, prepared)
        raise
    res = rr.result
    completion_text = (res.content or "") + "".join(
        str(tc.get("function", {}).get("arguments", "")) for tc in res.tool_calls or []
    )
    pt, ct, estimated = account(ctx, call, prepared, usage, rr.target, rr.provider_type, rr.attempts,
                                res.prompt_tokens, res.completion_tokens, completion_text, res.cached_tokens,
                                res.cache_write_tokens)  # fmt: skip
    ctx.audit["gen_ai.response.finish_reasons"] = [res.finish_reason]
    message: dict[str, Any] = {"role": "assistant", "content": res.content}
    if res.tool_calls:
        message["tool_calls"] = res.tool_calls
    body = completion_body(call, message, res.finish_reason, pt, ct, now, usage.cached_tokens,
                           usage.cache_write_tokens)
    if res.raw is not None and call.api == "messages":
        body["raw"] = res.raw  # the provider's own document, answered as it is (never cached: see finish_answer)
    headers = answer_headers(ctx, call, rr.target, estimated, rr.attempts)
    cache_body = finish_answer(ctx, call, key, prepared, message, body, now)
    return body, headers, cache_body
