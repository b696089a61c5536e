"""What HTTP and REST APIs share: the loopback HTTP server, throttling, IAM policy checks, local JWTs."""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from lambda_manifest.local.ids import api_request_id

TEXT_TYPES = re.compile(r"^(text/.*|application/(json|xml|javascript|x-www-form-urlencoded|.*\+json|.*\+xml)|.*charset=.*)",
                        re.IGNORECASE)


@dataclass
class Request:
    method: str
    raw_path: str
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"
    received: float = field(default_factory=time.time)

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key.lower() == name]

    @property
    def path(self) -> str:
        return unquote(self.raw_path)


class StreamAborted(Exception):
    """A streamed response failed midway: the client's connection is cut, as API Gateway cuts it."""


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    # A streamed body (REST ResponseTransferMode STREAM): sent chunk by chunk as the pieces arrive.
    stream: Iterator[bytes] | None = None

    @classmethod
    def message(cls, status: int, message: str | None, headers: list[tuple[str, str]] | None = None) -> Response:
        """API Gateway's own error bodies: ``{"message": "..."}``."""
        body = json.dumps({"message": message}).encode()
        return cls(status, [("content-type", "application/json"), *(headers or [])], body)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def is_text(content_type: str | None) -> bool:
    return not content_type or bool(TEXT_TYPES.match(content_type))


request_id = api_request_id  # API Gateway's request ids look like ``JKJaXmPLvHcESHA=``


_request_time: tuple[int, str] = (-1, "")


def request_time(epoch: float) -> str:
    """API Gateway's ``requestContext.time`` (``06/Dec/2026:03:51:33 +0000``): formatted once a second, since
    every request of that second carries the same text."""
    global _request_time
    second = int(epoch)
    cached = _request_time
    if cached[0] != second:
        cached = _request_time = (second, time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(second)))
    return cached[1]


class TokenBucket:
    """API Gateway's throttle: ``rate`` requests per second sustained, ``burst`` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = float(rate)
        self.capacity = float(max(burst, 0))
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return True
            return False


class TtlCache:
    def __init__(self) -> None:
        self._items: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] < time.monotonic():
                self._items.pop(key, None)
                return None
            return item[1]

    def put(self, key: Any, value: Any, ttl: float) -> None:
        if ttl > 0:
            with self._lock:
                self._items[key] = (time.monotonic() + ttl, value)


def _arn_matches(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def policy_decision(policy: Any, resource_arn: str) -> bool:
    """Evaluate an authorizer's IAM policy for ``execute-api:Invoke`` on ``resource_arn``: an explicit Deny
    wins, otherwise an Allow is needed."""
    statements = policy.get("Statement", []) if isinstance(policy, dict) else []
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict):
            continue
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(a in ("*", "execute-api:*", "execute-api:Invoke") for a in actions):
            continue
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if not any(_arn_matches(str(r), resource_arn) for r in resources):
            continue
        effect = str(statement.get("Effect", "")).lower()
        if effect == "deny":
            return False
        if effect == "allow":
            allowed = True
    return allowed


# -- local JWTs (stand-ins for an identity provider) ----------------------------------------------------------
class JwtError(ValueError):
    pass


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise JwtError("malformed token") from exc


def jwt_encode(claims: dict[str, Any], key: bytes, *, kid: str | None = None) -> str:
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT"}
    if kid:
        header["kid"] = kid
    signing_input = f"{_b64url(json.dumps(header, separators=(',', ':')).encode())}." \
                    f"{_b64url(json.dumps(claims, separators=(',', ':')).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def jwt_decode(token: str, key: bytes) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtError("token is not a JWS compact serialization")
    try:
        header = json.loads(_b64url_decode(parts[0]))
        claims = json.loads(_b64url_decode(parts[1]))
    except json.JSONDecodeError as exc:
        raise JwtError("malformed token") from exc
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise JwtError("the local runner signs and accepts HS256 tokens only")
    expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _b64url_decode(parts[2])):
        raise JwtError("signature verification failed")
    if not isinstance(claims, dict):
        raise JwtError("claims are not an object")
    return claims
