"""A small client for the AI gateway's ``moderate-text`` prompt endpoint (stdlib ``urllib`` and boto3, both
imported on first use: ``urllib.request`` brings ``http.client``, ``ssl`` and ``email``, about a sixth of the
handler's cold-start import on Python 3.14, and a request that fails validation never needs them).

The gateway URL (its OpenAI ``base_url``, ending in ``/v1``) comes from ``GATEWAY_URL`` and the ARN of the
secret holding the virtual key from ``GATEWAY_KEY_SECRET_ARN``. The key is read once per container and cached
for five minutes; a 401 from the gateway (a rotated key) reads it again and retries once. The key is never
logged.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lambda_manifest.runtime.aws import TtlCache, get_secret

GATEWAY_URL_ENV = "GATEWAY_URL"
GATEWAY_KEY_ENV = "GATEWAY_KEY_SECRET_ARN"
PROMPT = "moderate-text"
CATEGORIES = ("hate", "harassment", "self-harm", "sexual", "sexual/minors", "violence", "illicit", "spam", "pii")
SEVERITIES = ("none", "low", "medium", "high")
KEY_TTL_SECONDS = 300.0
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


class GatewayUnavailable(Exception):
    """The gateway could not answer: a retry may succeed. ``status`` is the gateway's (0 for no response)."""

    def __init__(self, message: str, status: int = 0, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class GatewayRejected(Exception):
    """The gateway refused the request for good (bad key, unknown prompt, invalid variables)."""

    def __init__(self, message: str, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Verdict:
    """The moderation result. ``needs_review`` is set when the model's answer was not a usable verdict: such
    content is treated as flagged (fail closed) so a human looks at it."""

    flagged: bool
    categories: tuple[str, ...] = ()
    severity: str = "none"
    reason: str = ""
    needs_review: bool = False
    model: str = ""
    gateway_request_id: str = ""
    usage: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "flagged": self.flagged, "categories": list(self.categories), "severity": self.severity,
            "reason": self.reason, "needs_review": self.needs_review, "model": self.model,
            "gateway_request_id": self.gateway_request_id,
        }


def parse_verdict(content: str | None, *, model: str = "", request_id: str = "",
                  usage: dict[str, int] | None = None) -> Verdict:
    """Read the model's JSON verdict; anything unusable becomes a flagged verdict that needs review."""
    meta = {"model": model, "gateway_request_id": request_id, "usage": dict(usage or {})}
    doc: Any = None
    if content:
        text = content.strip()
        try:
            doc = json.loads(text)
        except ValueError:
            match = _JSON_OBJECT.search(text)  # tolerate code fences or a sentence around the object
            if match:
                try:
                    doc = json.loads(match.group(0))
                except ValueError:
                    doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("flagged"), bool):
        return Verdict(flagged=True, categories=("unclassified",), severity="unknown",
                       reason="the model's answer was not a verdict; a human must decide", needs_review=True, **meta)
    raw_categories = doc.get("categories") or []
    categories = tuple(dict.fromkeys(
        c for c in (raw_categories if isinstance(raw_categories, list) else []) if c in CATEGORIES))
    severity = doc.get("severity") if doc.get("severity") in SEVERITIES else ("medium" if doc["flagged"] else "none")
    reason = doc.get("reason") if isinstance(doc.get("reason"), str) else ""
    flagged = doc["flagged"] or bool(categories)  # a category without the flag is still a finding
    return Verdict(flagged=flagged, categories=categories, severity=severity, reason=reason[:500], **meta)


class SecretKey:
    """The virtual key from Secrets Manager (the bare key or JSON ``{"api_key": ...}``), cached with a TTL by the
    runtimes' shared cache (``lambda_manifest.runtime.aws``, which the HTTP toolkit's and the worker's layers
    carry)."""

    def __init__(self, secret_arn: str, ttl_s: float = KEY_TTL_SECONDS) -> None:
        self.secret_arn = secret_arn
        self._cache = TtlCache(_virtual_key, ttl_seconds=ttl_s)

    def __call__(self, *, refresh: bool = False) -> str:
        return self._cache.get(self.secret_arn, refresh=refresh)


def _virtual_key(secret_arn: str) -> str:
    value = get_secret(secret_arn)
    raw = (value.decode("utf-8", "replace") if isinstance(value, bytes) else value).strip()
    if raw.startswith("{"):
        try:
            key = json.loads(raw).get("api_key", "")
        except (ValueError, AttributeError):
            key = ""
        raw = key if isinstance(key, str) else ""
    if not raw:
        raise GatewayRejected(f"the secret {secret_arn} holds no virtual key", 401, "missing_key")
    return raw


class GatewayClient:
    """Calls ``POST <base_url>/prompts/moderate-text`` with ``{"variables": {"text", "language"}}``."""

    def __init__(
        self,
        base_url: str,
        key: Callable[..., str],
        *,
        timeout_s: float = 27.0,
        opener: Callable[..., Any] | None = None,
    ) -> None:
        if not base_url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError(f"{GATEWAY_URL_ENV} must be an https:// URL, got {base_url!r}")
        self.url = f"{base_url.rstrip('/')}/prompts/{PROMPT}"
        self.key = key
        self.timeout_s = timeout_s
        self.opener = opener  # None: urllib.request.urlopen, imported on the first call

    def moderate(self, text: str, language: str = "und", *, budget_s: float | None = None) -> Verdict:
        """Moderate one text. ``budget_s`` caps the wait at what the calling invocation has left, so the caller
        answers before its own timeout instead of being killed mid-request."""
        body = json.dumps({"variables": {"text": text, "language": language}}).encode("utf-8")
        timeout = self.timeout_s if budget_s is None else max(0.5, min(self.timeout_s, budget_s))
        try:
            _, headers, doc = self._post(body, self.key(), timeout)
        except GatewayRejected as error:
            if error.status != 401:
                raise
            _, headers, doc = self._post(body, self.key(refresh=True), timeout)  # the key may have been rotated
        choices = doc.get("choices") if isinstance(doc, dict) else None
        message = choices[0].get("message", {}) if isinstance(choices, list) and choices and \
            isinstance(choices[0], dict) else {}
        usage = doc.get("usage") if isinstance(doc.get("usage"), dict) else {}
        return parse_verdict(
            message.get("content") if isinstance(message, dict) else None,
            model=str(doc.get("model") or ""), request_id=headers.get("x-lm-request-id", ""),
            usage={k: int(v) for k, v in usage.items() if isinstance(v, int) and not isinstance(v, bool)},
        )

    def _post(self, body: bytes, key: str, timeout: float) -> tuple[int, dict[str, str], dict[str, Any]]:
        import urllib.error
        import urllib.request

        opener = self.opener or urllib.request.urlopen
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Authorization": f"Bearer {key}", "Content-Type": "application/json", "Accept": "application/json"})
        try:
            with opener(request, timeout=timeout) as response:
                status, headers, raw = response.status, dict(response.headers.items()), response.read()
        except urllib.error.HTTPError as error:
            status, headers = error.code, dict(error.headers.items()) if error.headers else {}
            raw = error.read() or b""
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
            raise GatewayUnavailable(f"the gateway did not answer: {type(error).__name__}") from None
        headers = {k.lower(): v for k, v in headers.items()}
        try:
            doc = json.loads(raw) if raw else {}
        except ValueError:
            doc = {}
        if not isinstance(doc, dict):
            doc = {}
        if 200 <= status < 300:
            return status, headers, doc
        error_doc = doc.get("error") if isinstance(doc.get("error"), dict) else {}
        message = str(error_doc.get("message") or f"HTTP {status}")[:300]
        code = str(error_doc.get("code") or "error")
        if status == 429 or status >= 500:
            retry_after = headers.get("retry-after", "")
            raise GatewayUnavailable(f"gateway {status} {code}: {message}", status,
                                     int(retry_after) if retry_after.isdigit() else None)
        raise GatewayRejected(f"gateway {status} {code}: {message}", status, code)


_CLIENT: GatewayClient | None = None
_CLIENT_LOCK = threading.Lock()


def default_client() -> GatewayClient:
    """The container's client, built from the environment on first use."""
    global _CLIENT
    if _CLIENT is None:
        import os

        with _CLIENT_LOCK:
            if _CLIENT is None:
                _CLIENT = GatewayClient(os.environ[GATEWAY_URL_ENV], SecretKey(os.environ[GATEWAY_KEY_ENV]))
    return _CLIENT


def reset() -> None:
    """Forget the container's client (tests)."""
    global _CLIENT
    _CLIENT = None
