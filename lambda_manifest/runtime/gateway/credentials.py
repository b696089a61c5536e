"""Provider API keys from Secrets Manager, cached per container with a TTL. Never read from env vars, never
logged: errors name the secret ARN only, not its value."""

from __future__ import annotations

import json

from lambda_manifest.runtime.aws import TtlCache, error_code

from . import aws

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any


class SecretUnavailable(Exception):
    pass


class SecretCache:
    """Provider keys by secret ARN, kept ``ttl_s`` per container (the runtimes' shared ``TtlCache``)."""

    def __init__(self, ttl_s: float = 300.0) -> None:
        self._cache = TtlCache(lambda arn: self._fetch(arn), ttl_seconds=ttl_s)

    @property
    def ttl_s(self) -> float:
        return self._cache.ttl_seconds

    @ttl_s.setter
    def ttl_s(self, value: float) -> None:
        self._cache.ttl_seconds = value

    def get(self, secret_arn: str) -> str:
        return self._cache.get(secret_arn)

    def invalidate(self, secret_arn: str) -> None:
        self._cache.invalidate(secret_arn)

    @staticmethod
    def _fetch(secret_arn: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            resp: dict[str, Any] = aws.client("secretsmanager").get_secret_value(SecretId=secret_arn)
        except ClientError as exc:
            raise SecretUnavailable(f"secret {secret_arn}: {error_code(exc) or 'error'}") from None
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
