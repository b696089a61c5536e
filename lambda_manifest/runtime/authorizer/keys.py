"""Per-container caches for verification keys: the JWKS (RS256) and the HS256 secret."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from lambda_manifest.runtime import aws

from .config import AWS_CLIENT
from .jwt import MIN_HS256_SECRET_BYTES, RsaPublicKey, TokenError

Clock = Callable[[], float]
# JWKS documents are a few KB; refuse to buffer an unbounded response.
MAX_JWKS_BYTES = 1_000_000


def fetch_jwks(url: str, timeout: float = 3.0) -> dict[str, Any]:
    """GET the JWKS document; any failure raises."""
    # urllib pulls in http.client, email and ssl (~20 ms): only pay for it on a cache miss.
    import urllib.request

    request = urllib.request.Request(
        url, headers={"Accept": "application/json", "User-Agent": "lambda-manifest-authorizer"}
    )
    # AuthConfig.problems() already refused non-https schemes, so urlopen cannot be steered to file://.
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read(MAX_JWKS_BYTES + 1)
    if len(body) > MAX_JWKS_BYTES:
        raise ValueError("JWKS document too large")
    document = json.loads(body)
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("JWKS document has no keys list")
    return document


class JwksCache:
    """RS256 keys from a JWKS URL, cached per container.

    Keys are refetched when older than ``ttl_seconds``, and once more when a token names an unknown
    ``kid`` (the IdP rotated keys), but at most every ``min_refetch_seconds`` so tokens with random
    ``kid`` values cannot turn the authorizer into a JWKS request amplifier. If a refetch fails, the
    previous keys stay in use for up to ``max_stale_seconds`` past their expiry, so a brief IdP outage
    does not lock every caller out.
    """

    def __init__(
        self,
        url: str,
        *,
        ttl_seconds: float = 300,
        min_refetch_seconds: float = 10,
        max_stale_seconds: float = 3600,
        clock: Clock = time.monotonic,
        fetcher: Callable[[str], dict[str, Any]] = fetch_jwks,
    ) -> None:
        self.url = url
        self.ttl_seconds = ttl_seconds
        self.min_refetch_seconds = min_refetch_seconds
        self.max_stale_seconds = max_stale_seconds
        self._clock = clock
        self._fetcher = fetcher
        self._keys: dict[str, RsaPublicKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self.fetch_count = 0
        self.last_error: str | None = None

    def _refresh(self, now: float) -> None:
        self._attempted_at = now
        self.fetch_count += 1
        document = self._fetcher(self.url)
        keys: dict[str, RsaPublicKey] = {}
        for jwk in document["keys"]:
            if not isinstance(jwk, dict):
                continue
            try:
                key = RsaPublicKey.from_jwk(jwk)
            except ValueError:
                # One exotic key (EC, encryption-only) must not make the whole set unusable.
                continue
            if key.kid is not None:
                keys[key.kid] = key
        self._keys = keys
        self._fetched_at = now

    def _may_fetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self.min_refetch_seconds

    def _try_refresh(self, now: float) -> None:
        try:
            self._refresh(now)
            self.last_error = None
        except Exception as exc:
            # Only the type: a URL or response fragment has no business in the authorizer's logs.
            self.last_error = type(exc).__name__

    def key(self, kid: str) -> RsaPublicKey | None:
        """The key for ``kid``, fetching the JWKS when needed; ``None`` when the IdP does not publish it.

        Raises
        ------
        TokenError
            When no JWKS could be fetched, or the last good one is older than its TTL plus
            ``max_stale_seconds``.
        """
        now = self._clock()
        expired = self._fetched_at is None or now - self._fetched_at >= self.ttl_seconds
        if expired and self._may_fetch(now):
            self._try_refresh(now)
        if self._fetched_at is None or now - self._fetched_at >= self.ttl_seconds + self.max_stale_seconds:
            raise TokenError("JWKS unavailable")
        key = self._keys.get(kid)
        if key is None and self._may_fetch(now):
            self._try_refresh(now)
            key = self._keys.get(kid)
        return key


def hs256_key(secret_id: str) -> bytes:
    """The HS256 key held by a Secrets Manager secret.

    The secret's ``SecretString`` (UTF-8) or ``SecretBinary`` is the key itself, as CDK's
    ``secretsmanager.Secret`` generates it; it must be at least 32 bytes (RFC 7518 §3.2).
    """
    value = aws.get_secret(secret_id, **AWS_CLIENT)
    key = value.encode("utf-8") if isinstance(value, str) else value
    if len(key) < MIN_HS256_SECRET_BYTES:
        raise TokenError("HS256 secret shorter than 32 bytes")
    return key


def hs256_keys(*, ttl_seconds: float = 300, clock: Clock = time.monotonic) -> aws.TtlCache[bytes]:
    """HS256 keys by secret id, cached per container for ``ttl_seconds`` (a rejected secret is not cached)."""
    return aws.TtlCache(hs256_key, ttl_seconds=ttl_seconds, clock=clock)
