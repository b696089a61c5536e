"""Who is calling, which tools it may use, and whether its key has a call left this minute.

With virtual keys the caller authenticates exactly as it does at the AI gateway (the gateway's own code reads
the key from the request and its item from the gateway's table, so a key revoked there is refused here at
once). The key item's ``tools`` list is its allowlist (``*``: every tool; absent: none, so a key made for
models alone reaches no tool), and every ``tools/call`` counts against the key's and its tenant's ``rpm`` in
the same minute windows the gateway's requests use.

Behind the API's authorizer the caller is whoever the authorizer let through; scopes named ``tools:<name>``
(or ``tools:*``), in a Lambda authorizer's context or a JWT's scopes, narrow the tools, and without any such
scope every tool is open to it.
"""

from __future__ import annotations

from . import contract
from .protocol import RATE_LIMITED, UNAVAILABLE, RpcError

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any

    from lambda_manifest.runtime.gateway.transport import Http


class Caller:
    __slots__ = ("id", "key", "tenant", "tools")

    def __init__(self, id: str, tenant: str | None, tools: frozenset[str] | None, key: Any = None) -> None:
        self.id = id  # key id or the authorizer's principal, for the audit line
        self.tenant = tenant
        self.tools = tools  # None: every tool
        self.key = key  # the gateway's KeyInfo (virtual keys only)


class AccessError(Exception):
    """Authentication failed: an HTTP error before any JSON-RPC is read."""

    def __init__(self, status: int, message: str, code: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


def authenticate(http: Http, authorizer: dict[str, Any], config: dict[str, Any], table: str | None) -> Caller:
    auth = config.get("auth") or {}
    if auth.get("mode") == contract.AUTH_AUTHORIZER:
        return _authorized(authorizer)
    return _virtual_key(http, auth, table)


def _virtual_key(http: Http, auth: dict[str, Any], table: str | None) -> Caller:
    from botocore.exceptions import BotoCoreError, ClientError

    from lambda_manifest.runtime.gateway import auth as keys
    from lambda_manifest.runtime.gateway.aws import client
    from lambda_manifest.runtime.gateway.errors import GatewayError
    from lambda_manifest.runtime.gateway.store import Store

    if not table:
        raise AccessError(500, "the gateway has no key table configured", "misconfigured")
    try:
        token = keys.virtual_key(http, auth.get("key_header"))
        item = Store(client("dynamodb"), table).get_key(keys.hash_key(token))
        info = keys.key_info(item)
    except GatewayError as error:
        raise AccessError(error.status, error.message, error.code,
                          {"www-authenticate": "Bearer"} if error.status == 401 else None) from None
    except (ClientError, BotoCoreError) as exc:
        raise AccessError(503, f"key store unavailable ({type(exc).__name__})", "store_unavailable",
                          {"retry-after": "1"}) from None
    assert item is not None  # key_info refused a missing item
    listed = item.get("tools")
    names = [str(t) for t in listed] if isinstance(listed, list) else []
    tools = None if "*" in names else frozenset(names)
    return Caller(info.key_id, info.tenant, tools, info)


def _authorized(authorizer: dict[str, Any]) -> Caller:
    """The caller an API authorizer let through. A Lambda authorizer's context is the dict itself (REST, or
    HTTP's ``lambda`` unwrapped by the handler); a JWT authorizer's claims are under ``jwt.claims`` (HTTP, with
    the route's matched ``jwt.scopes``) or ``claims`` (REST Cognito), whose ``scope`` (or ``scp``) names the
    token's scopes."""
    jwt = authorizer.get("jwt")
    if isinstance(jwt, dict) or isinstance(authorizer.get("claims"), dict):
        found = jwt.get("claims") if isinstance(jwt, dict) else authorizer["claims"]
        claims: dict[str, Any] = found if isinstance(found, dict) else {}
        listed = jwt.get("scopes") if isinstance(jwt, dict) else None
        scope = claims.get("scope") or claims.get("scp") or ""
        scopes = [str(s) for s in listed] if isinstance(listed, list) else \
            ([str(s) for s in scope] if isinstance(scope, list) else str(scope).split())
        principal, tenant = claims.get("sub") or claims.get("client_id"), claims.get("tenant")
    else:
        principal = authorizer.get("principalId") or authorizer.get("sub")
        tenant = authorizer.get("tenant")
        scopes = str(authorizer.get("scopes") or authorizer.get("scope") or "").split()
    named = [s[len(contract.TOOL_SCOPE_PREFIX):] for s in scopes if s.startswith(contract.TOOL_SCOPE_PREFIX)]
    tools = None if not named or "*" in named else frozenset(named)
    return Caller(str(principal or "authorizer"), str(tenant) if tenant else None, tools)


def admit(caller: Caller, config: dict[str, Any], table: str | None, now: float) -> None:
    """Count one tool call against the key's and its tenant's requests per minute (virtual keys only)."""
    if caller.key is None or not table:
        return
    from botocore.exceptions import BotoCoreError, ClientError

    from lambda_manifest.runtime.gateway.aws import client
    from lambda_manifest.runtime.gateway.store import Limits, QuotaExceeded, Store

    tenant_rpm = ((config.get("auth") or {}).get("tenant_rpm") or {}).get(caller.tenant or "")
    key_limits = Limits(rpm=caller.key.limits.rpm)
    if key_limits.rpm is None and tenant_rpm is None:
        return
    try:
        Store(client("dynamodb"), table).admit(caller.key.key_id, caller.tenant or "", key_limits,
                                               Limits(rpm=tenant_rpm), now)
    except QuotaExceeded as exc:
        raise RpcError(RATE_LIMITED, f"Rate limited: the {exc.scope}'s requests per minute are used up; retry "
                                     f"after {exc.retry_after} s", {"retryAfter": exc.retry_after}, status=429,
                       headers={"retry-after": str(exc.retry_after)}) from None
    except (ClientError, BotoCoreError) as exc:
        raise RpcError(UNAVAILABLE, f"key store unavailable ({type(exc).__name__})", status=503,
                       headers={"retry-after": "1"}) from None
