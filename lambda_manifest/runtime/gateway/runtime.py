"""Per-container state: configuration, secret cache, circuit breaker, clock. Built on the first request."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable

from . import aws
from .config import ConfigError, GatewayConfig, load_config
from .contract import TABLE_ENV
from .credentials import SecretCache
from .router import CircuitBreaker

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any


class Runtime:
    def __init__(self, config: GatewayConfig | None, config_error: str | None, table: str | None) -> None:
        self.config = config
        self.config_error = config_error
        self.table = table
        self.secrets = SecretCache(config.secrets_ttl_s if config else 300)
        self.breaker = CircuitBreaker()
        self.rng = random.Random()
        self.clock: Callable[[], float] = time.time

    def ddb(self) -> Any:
        return aws.client("dynamodb")


_lock = threading.Lock()
_runtime: Runtime | None = None


def _build(config: GatewayConfig | dict[str, Any] | str | None, table: str | None) -> Runtime:
    try:
        cfg = config if isinstance(config, GatewayConfig) else load_config(config)
        error = None
    except ConfigError as exc:
        cfg, error = None, str(exc)
    tbl = table if table is not None else os.environ.get(TABLE_ENV) or None
    if error is None and not tbl:
        cfg, error = None, f"{TABLE_ENV} is not set"
    return Runtime(cfg, error, tbl)


def get() -> Runtime:
    global _runtime
    rt = _runtime
    if rt is None:
        with _lock:
            if _runtime is None:
                _runtime = _build(None, None)
            rt = _runtime
    return rt


def configure(
    config: GatewayConfig | dict[str, Any] | str | None = None,
    table: str | None = None,
    *,
    reset_clients: bool = True,
) -> Runtime:
    """(Re)build the container state, e.g. from tests; ``None`` reads the env vars again."""
    global _runtime
    from .upstream import POOL

    with _lock:
        aws.reset(keep_clients=not reset_clients)
        POOL.clear()
        _runtime = _build(config, table)
        return _runtime


def reset() -> None:
    global _runtime
    with _lock:
        _runtime = None
