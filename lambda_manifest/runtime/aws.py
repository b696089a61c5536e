"""AWS helpers every runtime shares: boto3 clients made on first use, one TTL cache for secrets (or any value
fetched by name), and the error code of a failed call.

boto3 with botocore is about 150 ms of a cold start, so it is imported when the first client is made, never
when this module is: a token-only authorizer, a worker without idempotency and an API request that fails
validation never load it. This module imports the standard library only.

It travels in every runtime's asset and layer (``lambda_manifest._assets.RUNTIME_SHARED``), so app code that
uses a runtime (imports ``lambda_manifest.runtime.worker``, ``.http``, ...) can use it too; a function whose code
imports this module and no runtime gets no layer, and so no module, in Lambda.
"""

from __future__ import annotations

import threading
import time

# ``typing`` is about 3.5 ms of a Python 3.14 cold start, and the gateway runtime never imports it otherwise:
# the annotations here are for mypy only (``TYPE_CHECKING`` is true for it, false at run time).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Generic, TypeVar

    V = TypeVar("V")

    class _Generic(Generic[V]):
        pass
else:

    class _Generic:
        def __class_getitem__(cls, item):
            return cls

    V = object

# The defaults suit a function behind API Gateway, which gives up after 29 s: a stalled connection fails in
# seconds and leaves room for a clean error reply. A caller with a tighter deadline (the authorizer) passes less.
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 5.0
MAX_ATTEMPTS = 3

_lock = threading.Lock()
_clients: dict[tuple[str, str | None, float, float, int], Any] = {}


def client(
    service: str,
    *,
    region: str | None = None,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    read_timeout: float = READ_TIMEOUT_SECONDS,
    max_attempts: int = MAX_ATTEMPTS,
) -> Any:
    """The execution environment's boto3 client for ``service`` with these settings, made on first use.

    ``max_attempts`` counts the first try (botocore's standard retry mode); ``1`` leaves retries to the caller.
    Clients are shared between threads, as boto3 allows; making one is not thread-safe, hence the lock.
    """
    key = (service, region, connect_timeout, read_timeout, max_attempts)
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        found = _clients.get(key)
        if found is None:
            import boto3
            from botocore.config import Config

            config = Config(
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"mode": "standard", "max_attempts": max_attempts},
            )
            found = _clients[key] = boto3.client(service, region_name=region, config=config)
    return found


def reset_clients() -> None:
    """Forget every client (tests that swap the AWS backend underneath call this)."""
    with _lock:
        _clients.clear()


def error_code(error: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (read without importing botocore), else ``None``."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        details = response.get("Error")
        code = details.get("Code") if isinstance(details, dict) else None
        return code if isinstance(code, str) else None
    return None


def get_secret(secret_id: str, **client_options: Any) -> str | bytes:
    """One ``GetSecretValue`` call: the ``SecretString``, or the ``SecretBinary`` of a binary secret.

    ``client_options`` go to :func:`client` (timeouts, attempts).
    """
    response = client("secretsmanager", **client_options).get_secret_value(SecretId=secret_id)
    binary = response.get("SecretBinary")
    if binary is not None:
        return bytes(binary)
    return str(response.get("SecretString") or "")


class TtlCache(_Generic[V]):
    """Values fetched by name and reused for ``ttl_seconds`` within an execution environment.

    ``fetch(name)`` runs on a miss, on expiry and on ``get(name, refresh=True)`` (e.g. after the value was
    rejected, as a rotated key is); its exceptions reach the caller and nothing is stored. Two threads that miss
    together both fetch, and the later value stays; no lock is held across the network call.

    Examples
    --------
    >>> cache = TtlCache(lambda name: name.upper(), ttl_seconds=300)
    >>> cache.get("key")
    'KEY'
    """

    def __init__(
        self,
        fetch: Callable[[str], V],
        *,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self._fetch = fetch
        self._clock = clock
        self._values: dict[str, tuple[float, V]] = {}

    def get(self, name: str, *, refresh: bool = False) -> V:
        now = self._clock()
        hit = self._values.get(name)
        if hit is not None and not refresh and now - hit[0] < self.ttl_seconds:
            return hit[1]
        value = self._fetch(name)
        self._values[name] = (now, value)
        return value

    def invalidate(self, name: str | None = None) -> None:
        """Drop ``name`` (every value when ``None``), so the next ``get`` fetches again."""
        if name is None:
            self._values.clear()
        else:
            self._values.pop(name, None)
