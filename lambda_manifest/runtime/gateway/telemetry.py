"""The audit line and the CloudWatch EMF records of one request, written when its answer is complete: at the
end of ``handle`` for an ordinary answer, when the stream ends for a streamed one."""

from __future__ import annotations

import time
from decimal import Decimal

from . import accounting
from .state import Ctx

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any


def finish(audit: dict[str, Any], ctx: Ctx | None, status: int, started: float, *, error: bool | None = None) -> None:
    """``error``: whether the request failed (default: ``status >= 400``; a stream that broke after its 200
    prelude is an error with status 200)."""
    failed = status >= 400 if error is None else error
    latency_ms = (time.perf_counter() - started) * 1000
    audit["status"] = status
    audit["latency_ms"] = round(latency_ms, 3)
    if ctx is not None:
        audit["ddb_calls"] = ctx.store.stats.calls
        audit["ddb_ms"] = round(ctx.store.stats.ms, 3)
        audit.setdefault("cache", None)
    audit["ts"] = int(time.time() * 1000)
    accounting.emit({k: v for k, v in audit.items() if v is not None})
    if ctx is None or ctx.metrics is None:
        return
    m = ctx.metrics
    namespace = ctx.cfg.audit.metrics_namespace
    accounting.emit(
        accounting.emf(
            namespace,
            m.get("tenant", ""),
            m.get("model", ""),
            m.get("provider", "none"),
            prompt_tokens=m.get("prompt_tokens", 0),
            completion_tokens=m.get("completion_tokens", 0),
            cost=m.get("cost", Decimal(0)),
            latency_ms=latency_ms,
            fallbacks=m.get("fallbacks", 0),
            cache_hit=m.get("cache_hit", False),
            quota_rejected=m.get("quota_rejected", False),
            error=failed,
            served=m.get("served", False) and not failed,
            upstream_failed=m.get("upstream_failed", False),
            provider_failures=sum(ctx.provider_failures.values()),
        )
    )
    # Provider names come from the configuration only, so no caller can mint a dimension value.
    for provider, failures in sorted(ctx.provider_failures.items()):
        accounting.emit(accounting.emf_provider_failures(namespace, provider, m.get("model", ""), failures))
    operation = audit.get("gen_ai.operation.name")
    if operation and m.get("model"):
        for record in accounting.emf_genai(namespace, str(operation), m["model"], latency_ms / 1000,
                                           m.get("ttft_s"), m.get("prompt_tokens", 0), m.get("completion_tokens", 0),
                                           m.get("served", False) and not failed):  # fmt: skip
            accounting.emit(record)
