"""Routing: alias -> ordered targets, weighted first tier, retries with backoff, fallback, circuit breaker.

Attempt plan for an alias: the leading run of targets that carry a ``weight`` is the first tier; its members
are ordered by a weighted random draw (so the first attempt is a weighted choice, and the others in the tier
follow as fallbacks), then the remaining targets in config order.

For each target: skipped while its circuit is open; otherwise up to ``1 + routing.retries`` attempts. A
``connection``/``server``/``bad_response`` failure is retried on the same target after a full-jitter
exponential backoff (``uniform(0, min(backoff_max_ms, backoff_base_ms * 2**n))``); ``timeout``,
``rate_limited`` and ``auth`` move on to the next target at once. A ``client`` error (provider 4xx other
than 401/403/404/408/429) stops routing and is returned as 400 (413 for a provider 413). No attempt or
backoff starts when less than ``MIN_ATTEMPT_MS`` would remain.

Per-attempt timeout (``attempt_timeout``), with ``budget = remaining Lambda time - deadline_margin_ms`` taken
when the attempt starts::

    timeout = min(target.timeout_s or provider.timeout_s, budget)      # when either is set
    timeout = max(MIN_ATTEMPT_MS, budget / targets_left)                # otherwise

``targets_left`` counts this target and the targets after it in the attempt plan whose circuit is not open.
So with nothing set, a lone target may use the whole budget, and the first of two gets half of it, leaving
the other half to its fallback (which, being last, then gets whatever remains). A retry on the same target
recomputes the share from the time then remaining.

Circuit breaker (per container, per provider/model): ``breaker_threshold`` consecutive fallback-worthy
failures open it for ``breaker_cooldown_s``; after the cool-down one trial is let through (half-open): a
success closes it, a failure opens it again for another cool-down.

When every target failed: 504 if every failure was a timeout (or the deadline ran out), else 502.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .config import GatewayConfig, ModelAlias, Target
from .credentials import SecretCache
from .errors import GatewayError
from .providers import RETRY_SAME_TARGET_KINDS, ChatRequest, ChatResult, ProviderError, call_target

MIN_ATTEMPT_MS = 100

# Indirections the tests patch.
monotonic: Callable[[], float] = time.monotonic
sleep: Callable[[float], None] = time.sleep


class CircuitBreaker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._open_until: dict[str, float] = {}

    def allow(self, label: str, now: float) -> bool:
        with self._lock:
            return self._open_until.get(label, 0.0) <= now

    def is_open(self, label: str, now: float) -> bool:
        return not self.allow(label, now)

    def success(self, label: str) -> None:
        with self._lock:
            self._failures.pop(label, None)
            self._open_until.pop(label, None)

    def failure(self, label: str, now: float, threshold: int, cooldown_s: float) -> bool:
        """Record a failure; True when this opened (or re-opened) the circuit."""
        with self._lock:
            n = self._failures.get(label, 0) + 1
            self._failures[label] = n
            if n >= threshold:
                self._open_until[label] = now + cooldown_s
                return True
            return False

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()
            self._open_until.clear()


@dataclass
class Attempt:
    target: str
    outcome: str  # "ok" | error kind | "circuit_open"
    status: int | None = None
    ms: float = 0.0
    provider: str = ""

    def label(self) -> str:
        return f"{self.target}:{self.outcome}" + (f"({self.status})" if self.status else "")

    @property
    def failed(self) -> bool:
        """A provider failure: a call that counted against the provider (not a skip, not a request the
        provider rejected as the caller's fault)."""
        return self.outcome not in ("ok", "circuit_open", "client")


@dataclass
class RouteResult:
    result: ChatResult
    target: Target
    provider_type: str
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def fallbacks(self) -> int:
        tried = []
        for a in self.attempts:
            if a.outcome != "circuit_open" and a.target not in tried:
                tried.append(a.target)
        return max(0, len(tried) - 1)


class RoutingFailed(GatewayError):
    def __init__(self, status: int, message: str, code: str, attempts: list[Attempt]) -> None:
        super().__init__(status, message, code)
        self.attempts = attempts


def attempt_plan(alias: ModelAlias, rng: random.Random) -> list[Target]:
    targets = list(alias.targets)
    n = 0
    while n < len(targets) and targets[n].weight is not None:
        n += 1
    tier, rest = targets[:n], targets[n:]
    if len(tier) > 1:
        # Weighted random order without replacement (Efraimidis-Spirakis): key = u ** (1 / w).
        tier.sort(key=lambda t: rng.random() ** (1.0 / (t.weight or 1.0)), reverse=True)
    return tier + rest


def attempt_timeout(configured_s: float | None, budget_ms: float, targets_left: int) -> float:
    """Seconds for one attempt: the configured timeout capped at the budget, else an equal share of the budget
    among the targets left (see the module docstring)."""
    if configured_s is not None:
        return min(configured_s, budget_ms / 1000.0)
    return max(float(MIN_ATTEMPT_MS), budget_ms / max(1, targets_left)) / 1000.0


def route(
    cfg: GatewayConfig,
    alias: ModelAlias,
    req: ChatRequest,
    remaining_ms: Callable[[], float],
    secrets: SecretCache,
    breaker: CircuitBreaker,
    rng: random.Random,
) -> RouteResult:
    rc = cfg.routing
    attempts: list[Attempt] = []
    deadline_hit = False
    plan = attempt_plan(alias, rng)
    for i, target in enumerate(plan):
        label = target.label
        if not breaker.allow(label, monotonic()):
            attempts.append(Attempt(label, "circuit_open", provider=target.provider))
            continue
        provider = cfg.providers[target.provider]
        configured = target.timeout_s or provider.timeout_s
        for n in range(1 + rc.retries):
            budget_ms = remaining_ms() - rc.deadline_margin_ms
            if budget_ms < MIN_ATTEMPT_MS:
                deadline_hit = True
                break
            targets_left = 1
            if configured is None:
                now = monotonic()
                targets_left += sum(1 for t in plan[i + 1 :] if breaker.allow(t.label, now))
            timeout = attempt_timeout(configured, budget_ms, targets_left)
            t0 = time.perf_counter()
            try:
                result = call_target(provider, target, req, timeout, secrets)
            except ProviderError as exc:
                attempts.append(
                    Attempt(label, exc.kind, exc.status, (time.perf_counter() - t0) * 1000, target.provider)
                )
                if not exc.fallback:
                    status = 413 if exc.status == 413 else 400
                    raise RoutingFailed(
                        status,
                        f"the provider rejected the request: {exc.message}",
                        "provider_rejected_request",
                        attempts,
                    ) from None
                breaker.failure(label, monotonic(), rc.breaker_threshold, rc.breaker_cooldown_s)
                if (
                    exc.kind in RETRY_SAME_TARGET_KINDS
                    and n < rc.retries
                    and breaker.allow(label, monotonic())
                ):
                    delay_ms = rng.uniform(0, min(rc.backoff_max_ms, rc.backoff_base_ms * (2**n)))
                    if remaining_ms() - rc.deadline_margin_ms - delay_ms >= MIN_ATTEMPT_MS:
                        sleep(delay_ms / 1000.0)
                        continue
                break
            attempts.append(Attempt(label, "ok", None, (time.perf_counter() - t0) * 1000, target.provider))
            breaker.success(label)
            return RouteResult(result, target, provider.type, attempts)
        if deadline_hit:
            break
    summary = "; ".join(a.label() for a in attempts) or "no target attempted"
    failures = [a for a in attempts if a.outcome != "circuit_open"]
    if deadline_hit and not failures:
        raise RoutingFailed(
            504, f"not enough time left to call a provider ({summary})", "upstream_timeout", attempts
        )
    if failures and all(a.outcome == "timeout" for a in failures):
        raise RoutingFailed(504, f"every provider timed out ({summary})", "upstream_timeout", attempts)
    if not failures:
        raise RoutingFailed(
            502, f"every target is unavailable: circuit open ({summary})", "upstream_unavailable", attempts
        )
    if deadline_hit and failures[-1].outcome == "timeout":
        raise RoutingFailed(
            504, f"deadline reached after provider failures ({summary})", "upstream_timeout", attempts
        )
    raise RoutingFailed(502, f"every provider failed ({summary})", "upstream_error", attempts)
