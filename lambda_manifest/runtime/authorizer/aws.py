"""Lazily created, per-container boto3 clients."""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def client(service: str) -> Any:
    """A boto3 client for ``service``, created on first use (tests call ``client.cache_clear()``)."""
    # boto3 costs ~150 ms to import; a token-only authorizer never needs it.
    import boto3
    from botocore.config import Config

    # An authorizer has a hard deadline (API Gateway gives up after ~10 s): fail fast, retry a little.
    config = Config(connect_timeout=2, read_timeout=3, retries={"mode": "standard", "max_attempts": 2})
    return boto3.client(service, config=config)
