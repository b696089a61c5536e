"""OpenAI-style errors: ``{"error": {"message", "type", "code", "param"}}`` with an HTTP status, and the
``x-should-retry`` answer the OpenAI SDKs obey (``true``: retry, honouring ``Retry-After``; ``false``: never).

Whether a retry makes sense: a 429 whose ``Retry-After`` is at most a minute (a rate window, a provider's rate
limit, store contention) yes, a longer one (a daily or monthly quota) no; a 502/504 no, because the gateway has
already retried and fallen back within the invocation's time, and an SDK retry would multiply the upstream calls;
a 500 only when it is transient (the store was unavailable); every 4xx no.
"""

from __future__ import annotations

_DEFAULT_TYPE = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    504: "api_error",
}
# Anthropic's error types by status (its API answers 529 overloaded_error; the gateway's own 5xx are api_error).
_ANTHROPIC_TYPE = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
}
MAX_SDK_RETRY_AFTER_S = 60
TRANSIENT_500_CODES = frozenset({"store_unavailable"})


class GatewayError(Exception):
    """An error the gateway returns to the client as-is."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        *,
        type_: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        should_retry: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.type = type_ or _DEFAULT_TYPE.get(status, "api_error")
        self.param = param
        self.headers = headers or {}
        self._should_retry = should_retry

    @property
    def should_retry(self) -> bool:
        if self._should_retry is not None:
            return self._should_retry
        if self.status == 429:
            try:
                return float(self.headers.get("retry-after", "")) <= MAX_SDK_RETRY_AFTER_S
            except ValueError:
                return True
        if self.status == 500:
            return self.code in TRANSIENT_500_CODES
        return False

    def body(self, api: str = "chat") -> dict[str, object]:
        """The error document: OpenAI's shape, or Anthropic's on the Anthropic Messages routes (``api``
        ``"messages"``), which the ``anthropic`` SDK maps to its exception classes by status."""
        if api == "messages":
            return {"type": "error", "error": {"type": _ANTHROPIC_TYPE.get(self.status, "api_error"),
                                               "message": self.message}}
        return {"error": {"message": self.message, "type": self.type, "code": self.code, "param": self.param}}


def bad_request(message: str, code: str = "invalid_request", param: str | None = None) -> GatewayError:
    return GatewayError(400, message, code, param=param)
