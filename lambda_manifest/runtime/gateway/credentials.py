"""Provider API keys from Secrets Manager, cached per container with a TTL. Never read from env vars, never
logged: errors name the secret ARN only, not its value."""

from __future__ import annotations

import json
import threading
import time

from . import aws

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any


class SecretUnavailable(Exception):
    pass


class SecretCache:
    def __init__(self, ttl_s: float = 300.0) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._values: dict[str, tuple[float, str]] = {}

    def get(self, secret_arn: str) -> str:
        now = time.monotonic()
        hit = self._values.get(secret_arn)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        value = self._fetch(secret_arn)
        with self._lock:
            self._values[secret_arn] = (now, value)
        return value

    def invalidate(self, secret_arn: str) -> None:
        with self._lock:
            self._values.pop(secret_arn, None)

    @staticmethod
    def _fetch(secret_arn: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            resp: dict[str, Any] = aws.client("secretsmanager").get_secret_value(SecretId=secret_arn)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise SecretUnavailable(f"secret {secret_arn}: {code}") from None
        except BotoCoreError as exc:
            raise SecretUnavailable(f"secret {secret_arn}: {type(exc).__name__}") from None
        raw = resp.get("SecretString")
        if not raw:
            raise SecretUnavailable(f"secret {secret_arn}: no SecretString")
        raw = raw.strip()
        if raw.startswith("{"):
            try:
                doc = json.loads(raw)
            except ValueError:
                raise SecretUnavailable(f"secret {secret_arn}: not valid JSON") from None
            for field in ("api_key", "apiKey", "key"):
                if isinstance(doc.get(field), str) and doc[field]:
                    return str(doc[field])
            raise SecretUnavailable(f'secret {secret_arn}: JSON secret without an "api_key" field')
        return str(raw)
