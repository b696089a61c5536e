"""The authorizer's configuration, read once per container from environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from . import contract

DEFAULT_LEEWAY_SECONDS = 30
DEFAULT_CACHE_TTL_SECONDS = 300
# More skew than this means a broken clock, and accepting it would stretch every token's lifetime.
MAX_LEEWAY_SECONDS = 300
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
# API Gateway gives up on an authorizer after about 10 s: AWS calls fail fast and retry once.
AWS_CLIENT: dict[str, Any] = {"connect_timeout": 2.0, "read_timeout": 3.0, "max_attempts": 2}


@dataclass(frozen=True)
class AuthConfig:
    """What the authorizer accepts. Built by ``from_env``; ``problems()`` lists misconfigurations.

    Parameters
    ----------
    jwks_url:
        ``LM_AUTH_JWKS_URL``: JWKS endpoint; enables RS256 bearer tokens.
    hs256_secret_arn:
        ``LM_AUTH_HS256_SECRET_ARN``: Secrets Manager secret whose ``SecretString`` is the HMAC key (at least
        32 bytes); enables HS256 bearer tokens.
    issuer:
        ``LM_AUTH_ISSUER``: required ``iss`` (mandatory when bearer tokens are enabled).
    audiences:
        ``LM_AUTH_AUDIENCE``: comma-separated accepted ``aud`` values (mandatory when bearer tokens are
        enabled, so tokens minted for another app of the same IdP are refused).
    leeway_seconds:
        ``LM_AUTH_LEEWAY_SECONDS``: clock-skew allowance for ``exp``/``nbf``/``iat``; 0-300, default 30.
    api_key_table:
        ``LM_AUTH_API_KEY_TABLE``: DynamoDB table of hashed API keys; enables the ``x-api-key`` header.
    cache_ttl_seconds:
        ``LM_AUTH_CACHE_TTL_SECONDS``: how long the JWKS and the HS256 secret are cached per container;
        default 300.
    tenant_claim:
        ``LM_AUTH_TENANT_CLAIM``: JWT claim holding the tenant; default ``tenant``.
    """

    jwks_url: str | None = None
    hs256_secret_arn: str | None = None
    issuer: str | None = None
    audiences: tuple[str, ...] = ()
    leeway_seconds: int = DEFAULT_LEEWAY_SECONDS
    api_key_table: str | None = None
    cache_ttl_seconds: int = DEFAULT_CACHE_TTL_SECONDS
    tenant_claim: str = "tenant"
    env_problems: tuple[str, ...] = ()

    @property
    def algorithms(self) -> frozenset[str]:
        """The JWS algorithms accepted: only those whose key source is configured."""
        return frozenset(
            alg for alg, enabled in (("RS256", self.jwks_url), ("HS256", self.hs256_secret_arn)) if enabled
        )

    def problems(self) -> list[str]:
        found = list(self.env_problems)
        if not self.algorithms and not self.api_key_table:
            found.append(
                f"no credential type is enabled: set {contract.ENV_JWKS_URL}, {contract.ENV_HS256_SECRET_ARN} "
                f"or {contract.ENV_API_KEY_TABLE}"
            )
        if self.algorithms:
            if not self.issuer:
                found.append(f"{contract.ENV_ISSUER} is required when bearer tokens are enabled")
            if not self.audiences:
                found.append(f"{contract.ENV_AUDIENCE} is required when bearer tokens are enabled")
        if self.jwks_url:
            parts = urlsplit(self.jwks_url)
            plain_http_ok = parts.scheme == "http" and parts.hostname in _LOOPBACK
            if parts.scheme != "https" and not plain_http_ok:
                found.append(f"{contract.ENV_JWKS_URL} must be an https:// URL (http only for loopback)")
        if not 0 <= self.leeway_seconds <= MAX_LEEWAY_SECONDS:
            found.append(
                f"{contract.ENV_LEEWAY_SECONDS} must be 0-{MAX_LEEWAY_SECONDS}, got {self.leeway_seconds}")
        if self.cache_ttl_seconds < 0:
            found.append(f"{contract.ENV_CACHE_TTL_SECONDS} must not be negative")
        return found

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AuthConfig:
        env = os.environ if env is None else env
        problems: list[str] = []

        def integer(name: str, default: int) -> int:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                return int(raw)
            except ValueError:
                problems.append(f"{name} must be an integer, got {raw!r}")
                return default

        def text(name: str) -> str | None:
            return env.get(name, "").strip() or None

        audiences = tuple(a.strip() for a in env.get(contract.ENV_AUDIENCE, "").split(",") if a.strip())
        return cls(
            jwks_url=text(contract.ENV_JWKS_URL),
            hs256_secret_arn=text(contract.ENV_HS256_SECRET_ARN),
            issuer=text(contract.ENV_ISSUER),
            audiences=audiences,
            leeway_seconds=integer(contract.ENV_LEEWAY_SECONDS, DEFAULT_LEEWAY_SECONDS),
            api_key_table=text(contract.ENV_API_KEY_TABLE),
            cache_ttl_seconds=integer(contract.ENV_CACHE_TTL_SECONDS, DEFAULT_CACHE_TTL_SECONDS),
            tenant_claim=text(contract.ENV_TENANT_CLAIM) or "tenant",
            env_problems=tuple(problems),
        )
