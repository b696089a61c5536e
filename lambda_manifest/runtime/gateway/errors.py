"""OpenAI-style errors: ``{"error": {"message", "type", "code", "param"}}`` with an HTTP status."""

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
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.type = type_ or _DEFAULT_TYPE.get(status, "api_error")
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        return {"error": {"message": self.message, "type": self.type, "code": self.code, "param": self.param}}


def bad_request(message: str, code: str = "invalid_request", param: str | None = None) -> GatewayError:
    return GatewayError(400, message, code, param=param)
