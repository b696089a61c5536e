"""API keys stored hashed in DynamoDB.

Item shape (table partition key ``pk``, string; no sort key)::

    pk          S     "APIKEY#<sha256 hex of the key>"
    tenant      S     tenant the key belongs to (required)
    scopes      SS/L/S  granted scopes: a string set, a list of strings or one space-separated string (optional)
    revoked     BOOL  true once the key is revoked (optional, default false)
    expires_at  N     epoch seconds after which the key stops working (optional)
    sub         S     principal to report as ``sub`` (optional, default "apikey:<first 12 hex of the hash>")
    name        S     free-form label for humans (optional, ignored)

The key is looked up by its hash, so the secret is never compared in Python (no timing side channel)
and a table dump does not reveal usable keys.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lambda_manifest.runtime import aws

from .config import AWS_CLIENT
from .contract import API_KEY_PARTITION_KEY, API_KEY_PREFIX
from .jwt import TokenError

# Generated keys are URL-safe tokens; refusing anything else skips a DynamoDB call for garbage.
_API_KEY_FORMAT = re.compile(r"[A-Za-z0-9._~+/=-]{16,256}")

GetItem = Callable[[str, str], Mapping[str, Any] | None]


def key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def partition_key(api_key: str) -> str:
    return f"{API_KEY_PREFIX}{key_hash(api_key)}"


@dataclass(frozen=True)
class ApiKeyPrincipal:
    sub: str
    tenant: str
    scopes: tuple[str, ...]


def dynamodb_get_item(table: str, pk: str) -> Mapping[str, Any] | None:
    item = aws.client("dynamodb", **AWS_CLIENT).get_item(
        TableName=table, Key={API_KEY_PARTITION_KEY: {"S": pk}}).get("Item")
    return item if isinstance(item, dict) else None


def _scopes(attribute: Any) -> tuple[str, ...]:
    if not isinstance(attribute, dict):
        return ()
    if "SS" in attribute:
        return tuple(sorted(str(s) for s in attribute["SS"]))
    if "L" in attribute:
        return tuple(str(v["S"]) for v in attribute["L"] if isinstance(v, dict) and "S" in v)
    if "S" in attribute:
        return tuple(str(attribute["S"]).split())
    return ()


def lookup_api_key(
    api_key: str,
    *,
    table: str,
    now: float,
    get_item: GetItem = dynamodb_get_item,
) -> ApiKeyPrincipal:
    """Resolve an API key to its principal or raise ``TokenError`` (unknown, revoked, expired, bad item)."""
    if not _API_KEY_FORMAT.fullmatch(api_key):
        raise TokenError("malformed api key")
    digest = key_hash(api_key)
    item = get_item(table, f"{API_KEY_PREFIX}{digest}")
    if item is None:
        raise TokenError("unknown api key")
    if item.get("revoked", {}).get("BOOL") is True:
        raise TokenError("api key revoked")
    expires_at = item.get("expires_at", {}).get("N")
    if expires_at is not None:
        try:
            expired = now >= float(expires_at)
        except ValueError:
            expired = True
        if expired:
            raise TokenError("api key expired")
    tenant = item.get("tenant", {}).get("S")
    if not isinstance(tenant, str) or not tenant:
        raise TokenError("api key item has no tenant")
    sub = item.get("sub", {}).get("S")
    return ApiKeyPrincipal(
        sub=sub if isinstance(sub, str) and sub else f"apikey:{digest[:12]}",
        tenant=tenant,
        scopes=_scopes(item.get("scopes")),
    )
