"""The gateway's boto3 clients: the runtimes' shared ones (``lambda_manifest.runtime.aws``), plus per-service
overrides for tests. boto3 is imported on first use, never at handler import."""

from __future__ import annotations

import threading

from lambda_manifest.runtime import aws as shared

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any

_lock = threading.Lock()
_overrides: dict[str, Any] = {}


def client(service: str, region: str | None = None, timeout_s: float | None = None) -> Any:
    """One client per (service, region, timeout) per container. ``timeout_s`` also disables SDK retries
    (the router does its own), which is what the Bedrock adapter wants."""
    override = _overrides.get(service)
    if override is not None:
        return override
    if timeout_s is None:
        return shared.client(service, region=region)
    return shared.client(service, region=region, connect_timeout=min(timeout_s, 5.0), read_timeout=timeout_s,
                         max_attempts=1)


def set_client(service: str, value: Any) -> None:
    """Use ``value`` for every region/timeout of ``service`` (tests: a Stubber-wrapped client)."""
    with _lock:
        _overrides[service] = value


def reset(*, keep_clients: bool = False) -> None:
    """Forget the overrides and (unless ``keep_clients``) the cached clients."""
    with _lock:
        if not keep_clients:
            shared.reset_clients()
        _overrides.clear()
