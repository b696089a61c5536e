"""Lazily created, per-container boto3 clients (boto3 is imported on first use, never at handler import)."""

from __future__ import annotations

import threading

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any

_lock = threading.Lock()
_clients: dict[tuple[str, str | None, float | None], Any] = {}
_overrides: dict[str, Any] = {}


def client(service: str, region: str | None = None, timeout_s: float | None = None) -> Any:
    """One client per (service, region, timeout) per container. ``timeout_s`` also disables SDK retries
    (the router does its own), which is what the Bedrock adapter wants."""
    override = _overrides.get(service)
    if override is not None:
        return override
    key = (service, region, timeout_s)
    c = _clients.get(key)
    if c is not None:
        return c
    with _lock:
        c = _clients.get(key)
        if c is None:
            import boto3
            from botocore.config import Config

            if timeout_s is None:
                cfg = Config(
                    retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=5
                )
            else:
                cfg = Config(
                    retries={"max_attempts": 1, "mode": "standard"},
                    connect_timeout=min(timeout_s, 5.0),
                    read_timeout=timeout_s,
                )
            c = boto3.client(service, region_name=region, config=cfg)
            _clients[key] = c
    return c


def set_client(service: str, value: Any) -> None:
    """Use ``value`` for every region/timeout of ``service`` (tests: a Stubber-wrapped client)."""
    with _lock:
        _overrides[service] = value


def reset(*, keep_clients: bool = False) -> None:
    """Forget the overrides and (unless ``keep_clients``) the cached clients."""
    with _lock:
        if not keep_clients:
            _clients.clear()
        _overrides.clear()
