"""Errors a route may raise; each one becomes a JSON error response with its status and machine code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ApiError(Exception):
    """Base for every error a client is allowed to see.

    Parameters
    ----------
    message:
        Human-readable text returned to the client; never put secrets or internal details in it.
    code:
        Machine-readable code (``UPPER_SNAKE``); defaults to the class's ``code``.
    status:
        HTTP status; defaults to the class's ``status``.
    details:
        Optional JSON-serialisable extra information (for example the list of validation issues).
    headers:
        Extra response headers (for example ``Allow`` on a 405).
    """

    status: int = 500
    code: str = "INTERNAL_ERROR"
    default_message: str = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(self.message)


class BadRequest(ApiError):
    status = 400
    code = "BAD_REQUEST"
    default_message = "The request is invalid"


class MalformedJson(BadRequest):
    code = "MALFORMED_JSON"
    default_message = "The request body must be a JSON document"


class ValidationFailed(BadRequest):
    code = "VALIDATION_FAILED"
    default_message = "The request failed validation"


class Unauthorized(ApiError):
    status = 401
    code = "UNAUTHENTICATED"
    default_message = "The caller is not authenticated"


class Forbidden(ApiError):
    status = 403
    code = "FORBIDDEN"
    default_message = "The caller may not perform this action"


class NotFound(ApiError):
    status = 404
    code = "NOT_FOUND"
    default_message = "Resource not found"


class MethodNotAllowed(ApiError):
    status = 405
    code = "METHOD_NOT_ALLOWED"
    default_message = "Method not allowed on this resource"


class Conflict(ApiError):
    status = 409
    code = "CONFLICT"
    default_message = "The request conflicts with the current state of the resource"


class UnprocessableEntity(ApiError):
    status = 422
    code = "UNPROCESSABLE_ENTITY"
    default_message = "The request is well-formed but cannot be processed"
