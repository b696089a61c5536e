"""Tokens, cost, CloudWatch EMF metrics and the audit line."""

from __future__ import annotations

import json
import math
import sys
import time
from decimal import Decimal

from .config import GatewayConfig, ModelAlias, Price
from .contract import (
    DIMENSIONED_METRICS,
    DIMENSIONS,
    GATEWAY_WIDE_METRICS,
    GENAI_DIMENSIONS,
    GENAI_DURATION_METRIC,
    GENAI_TOKEN_USAGE_METRIC,
    GENAI_TTFT_METRIC,
    PROVIDER_FAILURES_METRIC,
)

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any

MESSAGE_OVERHEAD_TOKENS = 4  # role + separators, as the OpenAI tokenizer guidance counts them
REQUEST_OVERHEAD_TOKENS = 3  # the reply's priming tokens
_MILLION = Decimal(1_000_000)


def estimate_text_tokens(text: str) -> int:
    """~4 characters per token, rounded up."""
    return math.ceil(len(text) / 4) if text else 0


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        text = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    else:
        text = ""
    for tc in message.get("tool_calls") or []:
        if isinstance(tc, dict):
            fn = tc.get("function") or {}
            text += str(fn.get("name", "")) + str(fn.get("arguments", ""))
    return text


def estimate_message_tokens(message: dict[str, Any]) -> int:
    return MESSAGE_OVERHEAD_TOKENS + estimate_text_tokens(message_text(message))


def estimate_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(estimate_message_tokens(m) for m in messages)


def prompt_token_bound(messages: list[dict[str, Any]], params: dict[str, Any]) -> int:
    """An upper bound on the prompt's tokens for byte-level BPE tokenizers (GPT, Claude, Llama 3, Nova...): no
    token covers less than one UTF-8 byte, so a text never has more tokens than bytes. Each message adds its
    framing; tool definitions and a JSON schema count with their JSON bytes."""
    total = REQUEST_OVERHEAD_TOKENS
    for m in messages:
        total += MESSAGE_OVERHEAD_TOKENS + len(message_text(m).encode("utf-8", "surrogatepass"))
    for name in ("tools", "response_format"):
        if params.get(name):
            total += len(json.dumps(params[name], separators=(",", ":")).encode("utf-8", "surrogatepass"))
    return total


def reservation(
    cfg: GatewayConfig, alias: ModelAlias, messages: list[dict[str, Any]], params: dict[str, Any], *,
    conversation: bool = False,
) -> tuple[int, Decimal]:
    """Tokens and USD a request holds against its limits while it runs: the prompt's bound (the model's whole
    context window when stored history is added) plus ``max_tokens`` (``context.reserve_output_tokens`` when
    the request sets none), priced at the dearest target of the alias (a fallback may answer)."""
    prompt = prompt_token_bound(messages, params)
    if conversation:
        prompt = max(prompt, alias.context_window)
    output = int(params.get("max_tokens") or cfg.context.reserve_output_tokens)
    # Priced as if nothing came from the prompt cache, and every input token at the dearer of the input and the
    # cache-write price: a reservation must never be below what the request can cost.
    cost = max((cost_usd(_dearest_input(cfg.price_for(t)), prompt, output) for t in alias.targets),
               default=Decimal(0))
    return prompt + output, cost


def _dearest_input(price: Price | None) -> Price | None:
    if price is None or price.cache_write is None or price.cache_write <= price.input:
        return price
    return Price(price.cache_write, price.output)


def cost_usd(
    price: Price | None, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0, cache_write_tokens: int = 0
) -> Decimal:
    """USD, exact (Decimal): tokens * price-per-1M / 1M. ``prompt_tokens`` includes the cached and cache-written
    input tokens, which are priced at ``cached_input`` and ``cache_write`` (the input price when unset)."""
    if price is None:
        return Decimal(0)
    cached = min(max(cached_tokens, 0), prompt_tokens)
    written = min(max(cache_write_tokens, 0), prompt_tokens - cached)
    read_price = price.input if price.cached_input is None else price.cached_input
    write_price = price.input if price.cache_write is None else price.cache_write
    return (price.input * (prompt_tokens - cached - written) + read_price * cached + write_price * written
            + price.output * completion_tokens) / _MILLION


def emit(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()


# CloudWatch metrics (EMF). One record per request, plus one per provider that failed during it:
#
# * by Tenant, by Model, by Provider and by Tenant+Model (Provider = the provider that answered, "cache" for a
#   cache hit, "none" when no provider answered): Requests, PromptTokens, CompletionTokens, CostUSD, LatencyMs,
#   Fallbacks, CacheHits, QuotaRejections, Errors, UpstreamFailures;
# * with no dimension (one gateway-wide metric each, for alarms that must not enumerate providers): Requests,
#   Served, Errors, UpstreamFailures, ProviderFailures, Fallbacks, QuotaRejections, CacheHits;
# * by Provider, from the per-provider records: ProviderFailures.
#
# Served = a provider answered (200, not from the cache). UpstreamFailures = the request failed because no
# provider answered (502/504). ProviderFailures = failed attempts (timeout, connection, 429, 5xx, malformed
# answer, 401/403/404; not circuit-open skips, not a provider's 4xx about the request itself), including
# attempts a fallback or retry then made good.
def emf(
    namespace: str,
    tenant: str,
    model: str,
    provider: str,
    *,
    requests: int = 1,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    cost: Decimal = Decimal(0),
    latency_ms: float = 0.0,
    fallbacks: int = 0,
    cache_hit: bool = False,
    quota_rejected: bool = False,
    error: bool = False,
    served: bool = False,
    upstream_failed: bool = False,
    provider_failures: int = 0,
) -> dict[str, Any]:
    """The request's EMF record: the dimensioned metrics and the gateway-wide (dimensionless) counters."""
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [list(d) for d in DIMENSIONS],
                    "Metrics": [{"Name": n, "Unit": u} for n, u in DIMENSIONED_METRICS],
                },
                {
                    "Namespace": namespace,
                    "Dimensions": [[]],
                    "Metrics": [{"Name": n, "Unit": "Count"} for n in GATEWAY_WIDE_METRICS],
                },
            ],
        },
        "Tenant": tenant or "unknown",
        "Model": model or "unknown",
        "Provider": provider or "none",
        "Requests": requests,
        "PromptTokens": prompt_tokens,
        "CompletionTokens": completion_tokens,
        "CostUSD": float(cost),
        "LatencyMs": round(latency_ms, 3),
        "Fallbacks": fallbacks,
        "CacheHits": 1 if cache_hit else 0,
        "QuotaRejections": 1 if quota_rejected else 0,
        "Errors": 1 if error else 0,
        "Served": 1 if served else 0,
        "UpstreamFailures": 1 if upstream_failed else 0,
        "ProviderFailures": provider_failures,
    }


def emf_provider_failures(namespace: str, provider: str, model: str, failures: int) -> dict[str, Any]:
    """``ProviderFailures`` of one provider during one request, by Provider (``Model`` is only a property)."""
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [["Provider"]],
                    "Metrics": [{"Name": PROVIDER_FAILURES_METRIC, "Unit": "Count"}],
                }
            ],
        },
        "Provider": provider,
        "Model": model or "unknown",
        PROVIDER_FAILURES_METRIC: failures,
    }


def emf_genai(
    namespace: str, operation: str, model: str, duration_s: float, ttft_s: float | None, input_tokens: int,
    output_tokens: int, served: bool,
) -> list[dict[str, Any]]:
    """The request in the OpenTelemetry GenAI semantic conventions' metrics, by ``gen_ai.operation.name`` and
    ``gen_ai.request.model`` (a configured alias): ``gen_ai.client.operation.duration`` and, for a streamed
    answer, ``gen_ai.server.time_to_first_token`` (seconds); ``gen_ai.client.token.usage`` once per
    ``gen_ai.token.type`` (``input``, ``output``) when a provider answered."""
    dims = {GENAI_DIMENSIONS[0]: operation, GENAI_DIMENSIONS[1]: model}
    metrics = [{"Name": GENAI_DURATION_METRIC, "Unit": "Seconds"}]
    values: dict[str, Any] = {GENAI_DURATION_METRIC: round(duration_s, 6)}
    if ttft_s is not None:
        metrics.append({"Name": GENAI_TTFT_METRIC, "Unit": "Seconds"})
        values[GENAI_TTFT_METRIC] = round(ttft_s, 6)
    ts = int(time.time() * 1000)

    def record(dimensions: list[str], names: list[dict[str, str]], fields: dict[str, Any]) -> dict[str, Any]:
        return {"_aws": {"Timestamp": ts, "CloudWatchMetrics": [
            {"Namespace": namespace, "Dimensions": [dimensions], "Metrics": names}]}, **fields}

    out = [record(list(GENAI_DIMENSIONS), metrics, {**dims, **values})]
    if served:
        token_dims = [*GENAI_DIMENSIONS, "gen_ai.token.type"]
        for kind, count in (("input", input_tokens), ("output", output_tokens)):
            out.append(record(token_dims, [{"Name": GENAI_TOKEN_USAGE_METRIC, "Unit": "Count"}],
                              {**dims, "gen_ai.token.type": kind, GENAI_TOKEN_USAGE_METRIC: count}))
    return out
