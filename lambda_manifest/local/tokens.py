"""Ready-to-use credentials for the local APIs.

- JWT authorizers (HTTP APIs) are verified against a *local* HS256 key that stands in for the issuer's JWKS:
  the runner signs tokens with the template's issuer and audience, and the API accepts only tokens signed
  with that key. Set ``LM_LOCAL_JWT_SECRET`` to choose the key; the default is fixed, so tokens survive a
  restart. It is not a secret: never reuse it anywhere else.
- The library's own Lambda authorizer (``lambda_manifest.runtime.authorizer``) reads an HS256 key from Secrets Manager: the
  runner signs a token with the secret's local (placeholder or overridden) value, the issuer and audience
  from the function's environment, and, when it validates API keys, stores a local key in its table.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from typing import Any

from lambda_manifest.local.gateway import jwt_encode
from lambda_manifest.runtime.authorizer import contract as auth_contract

DEFAULT_LOCAL_SECRET = "lambda-manifest-local-jwt-signing-key-not-a-secret"
TOKEN_LIFETIME_SECONDS = 12 * 3600
LOCAL_API_KEY = "lm-local-api-key-0123456789abcdef"


def local_jwt_key() -> bytes:
    return os.environ.get("LM_LOCAL_JWT_SECRET", DEFAULT_LOCAL_SECRET).encode()


@dataclass
class Credential:
    """One header that authorizes requests to a route, and where it came from."""

    header: str
    value: str
    note: str

    def curl(self) -> str:
        return f"-H '{self.header}: {self.value}'"


def mint(key: bytes, *, issuer: str | None, audience: str | None, scopes: list[str], sub: str = "local-user",
         extra: dict[str, Any] | None = None) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "iat": now, "nbf": now, "exp": now + TOKEN_LIFETIME_SECONDS}
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    if scopes:
        claims["scope"] = " ".join(sorted(set(scopes)))
    claims.update(extra or {})
    return jwt_encode(claims, key, kid="lambda-manifest-local")


def jwt_authorizer_token(issuer: str, audiences: list[str], scopes: list[str], *, cognito: bool = False) -> Credential:
    token = mint(local_jwt_key(), issuer=issuer, audience=audiences[0] if audiences else None, scopes=scopes)
    what = "Cognito authorizer: HS256 with the runner's local key (stands in for the user pool)" if cognito else \
        "JWT authorizer: HS256 with the runner's local key (stands in for the issuer's JWKS)"
    return Credential("Authorization", f"Bearer {token}", what)


def lm_authorizer_token(env: dict[str, str], secrets: dict[str, str], scopes: list[str]) -> Credential | None:
    """A bearer token the library's ``lambda_manifest.runtime.authorizer`` accepts, when it is configured for HS256."""
    secret_arn = env.get(auth_contract.ENV_HS256_SECRET_ARN, "")
    secret = secrets.get(secret_arn)
    if not secret:
        return None
    audiences = [a.strip() for a in env.get(auth_contract.ENV_AUDIENCE, "").split(",") if a.strip()]
    tenant_claim = env.get(auth_contract.ENV_TENANT_CLAIM, "tenant") or "tenant"
    token = mint(secret.encode(), issuer=env.get(auth_contract.ENV_ISSUER), audience=audiences[0] if audiences else None,
                 scopes=scopes, extra={tenant_claim: "local-tenant"})
    return Credential("Authorization", f"Bearer {token}",
                      "lambda_manifest.runtime.authorizer: HS256 signed with the local value of its secret")


def lm_api_key_item(scopes: list[str]) -> dict[str, Any]:
    """The DynamoDB item (low-level shape) that makes ``LOCAL_API_KEY`` valid for ``lambda_manifest.runtime.authorizer``."""
    item: dict[str, Any] = {
        auth_contract.API_KEY_PARTITION_KEY: {"S": auth_contract.API_KEY_PREFIX + hashlib.sha256(LOCAL_API_KEY.encode()).hexdigest()},
        "tenant": {"S": "local-tenant"},
        "sub": {"S": "local-api-key"},
        "name": {"S": "created by python -m lambda_manifest.local"},
    }
    if scopes:
        item["scopes"] = {"SS": sorted(set(scopes))}
    return item
