"""What one request carries from the edge to the end of its answer (a streamed answer ends after ``handle``
has returned, so its telemetry is written by whoever finishes it)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from . import runtime
from .auth import KeyInfo, authenticate
from .config import GatewayConfig
from .router import Attempt
from .store import Store
from .transport import Http

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any


@dataclass
class Ctx:
    rt: runtime.Runtime
    cfg: GatewayConfig
    http: Http
    store: Store
    remaining_ms: Any
    audit: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    cache_put: tuple[str, str, int] | None = None
    provider_failures: dict[str, int] = field(default_factory=dict)  # failed attempts per provider
    started: float = field(default_factory=time.perf_counter)

    def authenticate(self) -> KeyInfo:
        """The caller's virtual key (``auth.authenticate``, through the container's key cache)."""
        return authenticate(self.http, self.store, self.cfg.auth.key_header, self.rt.keys)

    def metric(self, **values: Any) -> None:
        if self.metrics is None:
            self.metrics = {}
        self.metrics.update(values)

    def count_failures(self, attempts: list[Attempt]) -> None:
        for a in attempts:
            if a.failed:
                self.provider_failures[a.provider] = self.provider_failures.get(a.provider, 0) + 1
