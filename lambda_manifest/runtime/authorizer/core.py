"""The authorization decision and the two response shapes API Gateway expects."""

from __future__ import annotations

import hashlib
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lambda_manifest.runtime.aws import TtlCache

from .apikeys import GetItem, dynamodb_get_item, lookup_api_key
from .config import AuthConfig
from .jwt import TokenError, check_claims, parse, verify_hs256, verify_rs256
from .keys import JwksCache, hs256_keys

Log = Callable[..., None]


@dataclass(frozen=True)
class Decision:
    """The outcome for one request. ``reason`` and ``fingerprint`` are safe to log; nothing else is secret."""

    allow: bool
    reason: str
    credential: str = "none"
    fingerprint: str | None = None
    sub: str = ""
    tenant: str = ""
    scopes: tuple[str, ...] = field(default_factory=tuple)

    def context(self) -> dict[str, str]:
        """What downstream handlers see as ``requestContext.authorizer[.lambda]``; strings only, as REST
        APIs accept no nested values."""
        if not self.allow:
            return {}
        return {
            "sub": self.sub,
            "tenant": self.tenant,
            "scopes": " ".join(self.scopes),
            "auth_type": self.credential,
        }


def fingerprint(secret: str) -> str:
    """A short SHA-256 prefix: enough to correlate log lines, useless for recovering the credential."""
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()[:12]


def _headers(event: Mapping[str, Any]) -> dict[str, str]:
    headers = event.get("headers")
    if not isinstance(headers, dict):
        return {}
    return {k.lower(): v for k, v in headers.items() if isinstance(k, str) and isinstance(v, str)}


def _bearer(value: str) -> str:
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise TokenError("malformed authorization header")
    return token


def _claim_scopes(claims: Mapping[str, Any]) -> tuple[str, ...]:
    for name in ("scope", "scp", "scopes"):
        value = claims.get(name)
        if isinstance(value, str):
            return tuple(value.split())
        if isinstance(value, list):
            return tuple(s for s in value if isinstance(s, str))
    return ()


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


class Authorizer:
    """Decides requests for one configuration. Holds the per-container key caches.

    Parameters
    ----------
    config:
        The configuration (``AuthConfig.from_env()`` in Lambda).
    jwks:
        Override the JWKS cache (tests inject one with a fake clock).
    secret:
        Override the HS256 key cache (by secret id).
    get_item:
        Override the DynamoDB lookup for API keys.
    log:
        ``log(level, message, **fields)``; the handler passes Powertools' Logger.
    """

    def __init__(
        self,
        config: AuthConfig,
        *,
        jwks: JwksCache | None = None,
        secret: TtlCache[bytes] | None = None,
        get_item: GetItem = dynamodb_get_item,
        log: Log | None = None,
    ) -> None:
        self.config = config
        self.problems = config.problems()
        ttl = config.cache_ttl_seconds
        self.jwks = jwks or (JwksCache(config.jwks_url, ttl_seconds=ttl) if config.jwks_url else None)
        self.secret = secret or (hs256_keys(ttl_seconds=ttl) if config.hs256_secret_arn else None)
        self._get_item = get_item
        self._log: Log = log or (lambda level, message, **fields: None)

    def decide(self, event: Any, now: float | None = None) -> Decision:
        """Allow or deny ``event``. Never raises: every failure, expected or not, is a deny."""
        now = time.time() if now is None else now
        credential, presented = "none", ""
        try:
            if self.problems:
                return Decision(False, "authorizer misconfigured: " + "; ".join(self.problems))
            if not isinstance(event, dict):
                return Decision(False, "event is not an object")
            headers = _headers(event)
            authorization = headers.get("authorization")
            if authorization is None and event.get("type") == "TOKEN":
                token_value = event.get("authorizationToken")
                authorization = token_value if isinstance(token_value, str) else None
            if authorization is not None:
                credential, presented = "jwt", authorization
                return replace(self._jwt(_bearer(authorization), now), fingerprint=fingerprint(presented))
            api_key = headers.get("x-api-key")
            if api_key is not None:
                credential, presented = "api_key", api_key
                return replace(self._api_key(api_key, now), fingerprint=fingerprint(presented))
            return Decision(False, "missing credentials")
        except TokenError as error:
            return Decision(False, str(error), credential, fingerprint(presented) if presented else None)
        except Exception as error:
            # Unexpected: keep the traceback for debugging, but scrub the credential in case an exception
            # message echoed part of it.
            detail = _redact("".join(traceback.format_exception(error)), [presented])
            self._log("error", "authorizer error, denying", error_type=type(error).__name__, traceback=detail)
            return Decision(
                False, "internal error", credential, fingerprint(presented) if presented else None
            )

    def _jwt(self, token: str, now: float) -> Decision:
        config = self.config
        if not config.algorithms:
            raise TokenError("bearer tokens are not enabled")
        parsed = parse(token)
        alg = parsed.header["alg"]
        if alg.lower() == "none":
            raise TokenError("alg none rejected")
        if alg not in config.algorithms:
            # Also stops alg confusion: an HS256 token is never checked against an RSA public key.
            raise TokenError("alg not allowed")
        if alg == "RS256" and self.jwks is not None:
            kid = parsed.header.get("kid")
            if not isinstance(kid, str) or not kid or len(kid) > 256:
                raise TokenError("malformed token: missing kid")
            key = self.jwks.key(kid)
            if self.jwks.last_error:
                self._log("warning", "JWKS refresh failed", error_type=self.jwks.last_error)
            if key is None:
                raise TokenError("unknown kid")
            valid = verify_rs256(parsed, key)
        elif alg == "HS256" and self.secret is not None and config.hs256_secret_arn:
            valid = verify_hs256(parsed, self.secret.get(config.hs256_secret_arn))
        else:
            raise TokenError("alg not allowed")
        if not valid:
            raise TokenError("bad signature")
        claims = parsed.claims
        check_claims(
            claims, now=now, leeway=config.leeway_seconds, issuer=config.issuer, audiences=config.audiences
        )
        tenant = claims.get(config.tenant_claim)
        return Decision(
            True,
            "valid token",
            "jwt",
            sub=claims["sub"],
            tenant=tenant if isinstance(tenant, str) else "",
            scopes=_claim_scopes(claims),
        )

    def _api_key(self, api_key: str, now: float) -> Decision:
        if not self.config.api_key_table:
            raise TokenError("api keys are not enabled")
        principal = lookup_api_key(api_key, table=self.config.api_key_table, now=now, get_item=self._get_item)
        return Decision(
            True,
            "valid api key",
            "api_key",
            sub=principal.sub,
            tenant=principal.tenant,
            scopes=principal.scopes,
        )


def _policy_resource(method_arn: Any) -> str:
    """Widen the method ARN to the whole stage: REST APIs cache the policy per identity, and a policy
    naming only the first method would deny that caller's next, different request from the cache."""
    if not isinstance(method_arn, str):
        return "*"
    prefix, sep, path = method_arn.rpartition(":")
    api_id, _, rest = path.partition("/")
    stage = rest.partition("/")[0]
    if not (prefix and sep and api_id and stage):
        return method_arn
    return f"{prefix}:{api_id}/{stage}/*"


def build_response(event: Any, decision: Decision) -> dict[str, Any]:
    """The response for the event's flavour.

    HTTP API payload 2.0 gets a simple response (``{"isAuthorized", "context"}``; the authorizer must have
    simple responses enabled). Everything else (REST API REQUEST/TOKEN authorizers, HTTP API payload 1.0)
    gets an IAM policy document, with ``Resource`` widened to the stage (see ``_policy_resource``).
    """
    if isinstance(event, dict) and event.get("version") == "2.0":
        return {"isAuthorized": decision.allow, "context": decision.context()}
    method_arn = event.get("methodArn") if isinstance(event, dict) else None
    return {
        "principalId": decision.sub or "anonymous",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow" if decision.allow else "Deny",
                    "Resource": _policy_resource(method_arn),
                }
            ],
        },
        "context": decision.context(),
    }
