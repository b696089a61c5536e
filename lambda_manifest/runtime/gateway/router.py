"""Routing: alias -> ordered targets, weighted first tier, retries with backoff, fallback, circuit breaker.

Attempt plan for an alias: the leading run of targets that carry a ``weight`` is the first tier; its members
are ordered by a weighted random draw (so the first attempt is a weighted choice, and the others in the tier
follow as fallbacks), then the remaining targets in config order.

For each target: skipped while its circuit is open; otherwise up to ``1 + routing.retries`` attempts. A
``connection``/``server``/``bad_response`` failure is retried on the same target after a full-jitter
exponential backoff (``uniform(0, min(backoff_max_ms, backoff_base_ms * 2**n))``); ``timeout``, ``reset``,
``rate_limited``, ``auth`` and ``not_found`` move on to the next target at once (a ``reset`` or ``timeout``
request may have reached the provider, so it is never sent to it again). A ``client`` error (provider 4xx
other than 401/403/404/408/429) stops routing and is returned as 400 (413 for a provider 413). No attempt or
backoff starts when less than ``MIN_ATTEMPT_MS`` would remain.

Every attempt has one total deadline, taken when it starts (``upstream`` and the Bedrock adapter bound the
connect, the send and every read by it), with ``budget = remaining Lambda time - deadline_margin_ms``::

    timeout = min(target.timeout_s or provider.timeout_s, budget)      # when either is set
    timeout = max(MIN_ATTEMPT_MS, budget / targets_left)                # otherwise

``targets_left`` counts this target and the targets after it in the attempt plan whose circuit is not open.
So with nothing set, a lone target may use the whole budget, and the first of two gets half of it, leaving
the other half to its fallback (which, being last, then gets whatever remains). A retry on the same target
recomputes the share from the time then remaining. A streamed attempt uses that deadline until its first
output (text, tool call or finish); then it may run until the invocation's budget ends, as long as no gap
between two bytes is longer than the attempt's timeout.

Circuit breaker (per container, per provider/model): ``breaker_threshold`` consecutive fallback-worthy
failures open it for ``breaker_cooldown_s``; after the cool-down one trial is let through (half-open): a
success closes it, a failure opens it again for another cool-down.

When every target failed: 429 (``Retry-After`` = the shortest the providers asked for) when every failure was
a provider 429; 504 if every failure was a timeout (or the deadline ran out), else 502.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .config import GatewayConfig, ModelAlias, ProviderConfig, Target
from .credentials import SecretCache
from .errors import GatewayError
from .providers import (
    RETRY_SAME_TARGET_KINDS,
    ChatRequest,
    ChatResult,
    Delta,
    ProviderError,
    StreamBudget,
    call_target,
    stream_target,
)

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

MIN_ATTEMPT_MS = 100
DEFAULT_RETRY_AFTER_S = 1

# Indirections the tests patch: the circuit breaker's clock and the backoff sleep. Deadlines always use
# time.monotonic, as the sockets that enforce them do.
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
    retry_after: float | None = None

    def label(self) -> str:
        return f"{self.target}:{self.outcome}" + (f"({self.status})" if self.status else "")

    @property
    def failed(self) -> bool:
        """A provider failure: a call that counted against the provider (not a skip, not a request the
        provider rejected as the caller's fault)."""
        return self.outcome not in ("ok", "circuit_open", "client", "unsupported")

    @property
    def sent(self) -> bool:
        """A request was made (not a circuit-open skip, not a target that cannot do what was asked)."""
        return self.outcome not in ("circuit_open", "unsupported")


@dataclass
class RouteResult:
    result: ChatResult
    target: Target
    provider_type: str
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def fallbacks(self) -> int:
        return fallbacks(self.attempts)


def fallbacks(attempts: list[Attempt]) -> int:
    tried: list[str] = []
    for a in attempts:
        if a.outcome != "circuit_open" and a.target not in tried:
            tried.append(a.target)
    return max(0, len(tried) - 1)


class RoutingFailed(GatewayError):
    def __init__(
        self, status: int, message: str, code: str, attempts: list[Attempt], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status, message, code, headers=headers)
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


@dataclass
class Try:
    """One attempt the plan hands out: call ``target`` before ``deadline`` (monotonic), then report back."""

    target: Target
    provider: ProviderConfig
    deadline: float
    timeout_s: float
    started: float = field(default_factory=time.perf_counter)
    outcome: str | None = None
    retry: bool = False


class Attempts:
    """The attempt plan of one request, fed back with each outcome (``failed``/``succeeded``)."""

    def __init__(
        self,
        cfg: GatewayConfig,
        alias: ModelAlias,
        remaining_ms: Callable[[], float],
        breaker: CircuitBreaker,
        rng: random.Random,
    ) -> None:
        self.cfg, self.alias, self.remaining_ms, self.breaker, self.rng = cfg, alias, remaining_ms, breaker, rng
        self.attempts: list[Attempt] = []
        self.unsupported: list[str] = []
        self.deadline_hit = False

    def budget_ms(self) -> float:
        return self.remaining_ms() - self.cfg.routing.deadline_margin_ms

    def end(self) -> float:
        """The monotonic time by which everything, a stream included, must be done."""
        return time.monotonic() + max(0.0, self.budget_ms()) / 1000.0

    def __iter__(self) -> Iterator[Try]:
        rc = self.cfg.routing
        plan = attempt_plan(self.alias, self.rng)
        for i, target in enumerate(plan):
            label = target.label
            if not self.breaker.allow(label, monotonic()):
                self.attempts.append(Attempt(label, "circuit_open", provider=target.provider))
                continue
            provider = self.cfg.providers[target.provider]
            configured = target.timeout_s or provider.timeout_s
            for n in range(1 + rc.retries):
                budget_ms = self.budget_ms()
                if budget_ms < MIN_ATTEMPT_MS:
                    self.deadline_hit = True
                    break
                targets_left = 1
                if configured is None:
                    now = monotonic()
                    targets_left += sum(1 for t in plan[i + 1 :] if self.breaker.allow(t.label, now))
                timeout = attempt_timeout(configured, budget_ms, targets_left)
                attempt = Try(target, provider, time.monotonic() + timeout, timeout)
                yield attempt
                if attempt.outcome == "ok" or not attempt.retry or n == rc.retries:
                    break
                delay_ms = self.rng.uniform(0, min(rc.backoff_max_ms, rc.backoff_base_ms * (2**n)))
                if self.budget_ms() - delay_ms < MIN_ATTEMPT_MS:
                    break
                sleep(delay_ms / 1000.0)
            if self.deadline_hit:
                break

    def failed(self, attempt: Try, exc: ProviderError, *, may_retry: bool = True) -> None:
        rc = self.cfg.routing
        label = attempt.target.label
        attempt.outcome = exc.kind
        self.attempts.append(Attempt(label, exc.kind, exc.status, (time.perf_counter() - attempt.started) * 1000,
                                     attempt.target.provider, exc.retry_after))  # fmt: skip
        if not exc.fallback:
            status = 413 if exc.status == 413 else 400
            raise RoutingFailed(
                status, f"the provider rejected the request: {exc.message}", "provider_rejected_request", self.attempts
            )
        if exc.kind == "unsupported":  # not the provider's failure: the next target may do it
            attempt.retry = False
            self.unsupported.append(exc.message)
            return
        self.breaker.failure(label, monotonic(), rc.breaker_threshold, rc.breaker_cooldown_s)
        attempt.retry = may_retry and exc.kind in RETRY_SAME_TARGET_KINDS and self.breaker.allow(label, monotonic())

    def succeeded(self, attempt: Try) -> None:
        attempt.outcome = "ok"
        label = attempt.target.label
        self.attempts.append(Attempt(label, "ok", None, (time.perf_counter() - attempt.started) * 1000,
                                     attempt.target.provider))  # fmt: skip
        self.breaker.success(label)

    def exhausted(self) -> RoutingFailed:
        attempts = self.attempts
        summary = "; ".join(a.label() for a in attempts) or "no target attempted"
        failures = [a for a in attempts if a.outcome not in ("circuit_open", "unsupported")]
        if self.unsupported and not failures:
            return RoutingFailed(400, f"no target of this model can serve the request: {'; '.join(self.unsupported)}",
                                 "unsupported_parameter", attempts)  # fmt: skip
        if self.deadline_hit and not failures:
            return RoutingFailed(504, f"not enough time left to call a provider ({summary})", "upstream_timeout",
                                 attempts)  # fmt: skip
        if failures and all(a.outcome == "rate_limited" for a in failures):
            waits = [a.retry_after for a in failures if a.retry_after is not None]
            after = max(DEFAULT_RETRY_AFTER_S, int(min(waits) + 0.999)) if waits else DEFAULT_RETRY_AFTER_S
            return RoutingFailed(429, f"every provider is rate limiting ({summary}); retry after {after}s",
                                 "upstream_rate_limited", attempts, {"retry-after": str(after)})  # fmt: skip
        if failures and all(a.outcome == "timeout" for a in failures):
            return RoutingFailed(504, f"every provider timed out ({summary})", "upstream_timeout", attempts)
        if not failures:
            return RoutingFailed(502, f"every target is unavailable: circuit open ({summary})",
                                 "upstream_unavailable", attempts)  # fmt: skip
        if self.deadline_hit and failures[-1].outcome == "timeout":
            return RoutingFailed(504, f"deadline reached after provider failures ({summary})", "upstream_timeout",
                                 attempts)  # fmt: skip
        return RoutingFailed(502, f"every provider failed ({summary})", "upstream_error", attempts)


def route(
    cfg: GatewayConfig,
    alias: ModelAlias,
    req: ChatRequest,
    remaining_ms: Callable[[], float],
    secrets: SecretCache,
    breaker: CircuitBreaker,
    rng: random.Random,
) -> RouteResult:
    rr = route_call(cfg, alias, lambda t: call_target(t.provider, t.target, req, t.deadline, secrets), remaining_ms,
                    breaker, rng)  # fmt: skip
    return RouteResult(rr[0], rr[1], rr[2], rr[3])


def route_call(
    cfg: GatewayConfig,
    alias: ModelAlias,
    call: Callable[[Try], Any],
    remaining_ms: Callable[[], float],
    breaker: CircuitBreaker,
    rng: random.Random,
) -> tuple[Any, Target, str, list[Attempt]]:
    """``call`` on the alias's targets until one answers: the answer, its target and provider type, the attempts."""
    plan = Attempts(cfg, alias, remaining_ms, breaker, rng)
    for attempt in plan:
        try:
            result = call(attempt)
        except ProviderError as exc:
            plan.failed(attempt, exc)
            continue
        plan.succeeded(attempt)
        return result, attempt.target, attempt.provider.type, plan.attempts
    raise plan.exhausted()


@dataclass
class StreamRoute:
    """What ``route_stream`` found out, readable while and after it runs."""

    attempts: list[Attempt] = field(default_factory=list)
    target: Target | None = None
    provider_type: str | None = None
    # Usage that arrived before the first output (e.g. Anthropic's message_start input tokens).
    early: list[Delta] = field(default_factory=list)


TICK = None  # what route_stream yields when it has no output yet: a moment to send a keep-alive if one is due


def route_stream(
    cfg: GatewayConfig,
    alias: ModelAlias,
    req: ChatRequest,
    remaining_ms: Callable[[], float],
    secrets: SecretCache,
    breaker: CircuitBreaker,
    rng: random.Random,
    state: StreamRoute,
    tick_s: float | None,
) -> Iterator[Delta | None]:
    """Stream from the first target that produces output. A target that fails before its first output (an HTTP
    error, a broken or empty stream, an error event) is a failed attempt and the next one is tried, exactly as in
    ``route``. Once output has been yielded the target is fixed: a later failure raises ``ProviderError``."""
    plan = Attempts(cfg, alias, remaining_ms, breaker, rng)
    state.attempts = plan.attempts
    for attempt in plan:
        budget = StreamBudget(attempt.deadline, plan.end(), attempt.timeout_s, tick_s)
        early: list[Delta] = []
        events = None
        try:
            events = stream_target(attempt.provider, attempt.target, req, budget, secrets)
            first: Delta | None = None
            for delta in events:
                if delta is None:
                    yield TICK
                elif delta.output:
                    first = delta
                    break
                else:
                    early.append(delta)
                    yield TICK
            if first is None:
                raise ProviderError("bad_response", f"{attempt.target.label}: the stream ended without output")
        except ProviderError as exc:
            if events is not None:
                events.close()  # type: ignore[attr-defined]
            # A stream that broke after the request was sent is never re-sent to the same target.
            plan.failed(attempt, exc, may_retry=exc.kind == "connection")
            continue
        budget.start()
        plan.succeeded(attempt)
        state.target, state.provider_type, state.early = attempt.target, attempt.provider.type, early
        try:
            yield first
            yield from events
        finally:
            events.close()  # type: ignore[attr-defined]
        return
    raise plan.exhausted()
