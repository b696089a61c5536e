"""Virtual keys: where the caller's key is read from, and what its DynamoDB item allows.

Authentication comes first on every route: the key item is read before the request body is even parsed, so
a caller without a valid key gets a 401 whatever it sent and costs no parsing.

A warm container keeps each valid key's item for ``auth.key_cache_ttl_s`` seconds (10 by default,
``KeyCache``), so a key's requests skip that read, which otherwise comes before the first token of every answer.
The price is that a revocation, or a changed limit on the key, takes effect in a container up to that long after
it was written; 0 reads the key on every request (a revocation is then refused at once). Only valid keys are
kept: an unknown or revoked key is read again on every request, so a cached refusal never outlives a fix.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal

from .errors import GatewayError
from .store import Limits, Store
from .transport import Http

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any

MAX_KEY_LENGTH = 512
# Keys a container keeps at most (least recently used out first): a few hundred bytes each.
MAX_CACHED_KEYS = 1024
# Keys are printable ASCII (``lmg-`` + URL-safe base64); anything else cannot be one.
_KEY_RE = re.compile(r"^[\x21-\x7e]+$")


@dataclass
class KeyInfo:
    key_id: str
    tenant: str
    models: list[str]
    limits: Limits
    cache: bool

    def allows(self, alias: str) -> bool:
        return "*" in self.models or alias in self.models


def virtual_key(http: Http, key_header: str | None) -> str:
    """The caller's virtual key.

    With ``auth.key_header`` configured, only that header is read: ``Bearer <key>`` when it is
    ``authorization``, the bare key otherwise (an API authorizer owns the other headers). Without it,
    ``Authorization: Bearer <key>`` (what OpenAI clients send) and else ``x-api-key: <key>``; when both are
    sent, Authorization wins and x-api-key is not looked at.
    """
    if key_header is None:
        header = "authorization" if http.headers.get("authorization", "").strip() else "x-api-key"
        how = "Authorization: Bearer <key> or x-api-key: <key>"
    else:
        header = key_header
        how = "Authorization: Bearer <key>" if header == "authorization" else f"{header}: <key>"
    value = http.headers.get(header, "").strip()
    if not value:
        raise GatewayError(401, f"missing API key: send {how}", "missing_api_key")
    token = value
    if header == "authorization":
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer":
            token = ""
        token = token.strip()
    if not token or len(token) > MAX_KEY_LENGTH or not _KEY_RE.match(token):
        raise GatewayError(401, "invalid API key", "invalid_api_key")
    return token


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def key_info(item: dict[str, Any] | None) -> KeyInfo:
    if item is None or not isinstance(item.get("key_id"), str) or not isinstance(item.get("tenant"), str):
        raise GatewayError(401, "invalid API key", "invalid_api_key")
    if item.get("revoked"):
        raise GatewayError(401, "this API key has been revoked", "invalid_api_key")

    def opt_int(v: Any) -> int | None:
        return int(v) if v is not None else None

    models = item.get("models") or []
    return KeyInfo(
        key_id=item["key_id"],
        tenant=item["tenant"],
        models=[str(m) for m in models] if isinstance(models, list) else [],
        limits=Limits(
            rpm=opt_int(item.get("rpm")),
            tpd=opt_int(item.get("tpd")),
            budget_usd=Decimal(str(item["budget_usd"])) if item.get("budget_usd") is not None else None,
        ),
        cache=bool(item.get("cache")),
    )


class KeyCache:
    """Valid keys read in this container, by key hash, each for ``ttl_s`` seconds after its read (a monotonic
    clock); ``ttl_s`` 0 keeps nothing.

    Not the runtimes' shared ``TtlCache`` (``lambda_manifest.runtime.aws``), which suits a handful of secrets:
    the key is read through the request's ``Store``, so the caller fetches and puts; a refusal is never kept; and
    a container may see many keys, so this one is bounded (``size``, least recently used out first)."""

    def __init__(self, ttl_s: float, clock: Any = time.monotonic, size: int = MAX_CACHED_KEYS) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self.size = size
        self._items: OrderedDict[str, tuple[float, KeyInfo]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> KeyInfo | None:
        if self.ttl_s <= 0:
            return None
        with self._lock:
            entry = self._items.get(key_hash)
            if entry is None:
                return None
            if entry[0] <= self.clock():
                del self._items[key_hash]
                return None
            self._items.move_to_end(key_hash)
            return entry[1]

    def put(self, key_hash: str, info: KeyInfo) -> None:
        if self.ttl_s <= 0:
            return
        with self._lock:
            self._items[key_hash] = (self.clock() + self.ttl_s, info)
            self._items.move_to_end(key_hash)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def authenticate(http: Http, store: Store, key_header: str | None, cache: KeyCache | None = None) -> KeyInfo:
    """The caller's key: from ``cache`` while it is fresh there, else read from the table (a consistent read,
    so a key is refused as soon as its revocation is written and no cached copy is older than the TTL)."""
    from botocore.exceptions import BotoCoreError, ClientError

    token = virtual_key(http, key_header)
    key_hash = hash_key(token)
    if cache is not None:
        cached = cache.get(key_hash)
        if cached is not None:
            return cached
    try:
        item = store.get_key(key_hash)
    except (ClientError, BotoCoreError) as exc:
        raise GatewayError(500, f"key store unavailable ({type(exc).__name__})", "store_unavailable") from None
    info = key_info(item)
    if cache is not None:
        cache.put(key_hash, info)
    return info
