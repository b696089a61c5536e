"""Shared toolkit for API Gateway handlers: routing (``router.py``, Powertools' decorator API without its
import cost), Powertools' Logger, and what every API handler in this project needs on top:

* one JSON error shape everywhere: ``{"error": {"code": "<MACHINE_CODE>", "message": "...",
  "request_id": "..."}}`` (plus ``details`` for validation failures);
* 400 ``MALFORMED_JSON`` for missing, non-UTF-8 or unparsable bodies (NaN/Infinity rejected), 400
  ``VALIDATION_FAILED`` with per-field ``details`` from a small dependency-free JSON-Schema subset
  (``Schema``);
* 404 ``ROUTE_NOT_FOUND`` for unknown paths, 405 ``METHOD_NOT_ALLOWED`` with an ``Allow`` header for a
  known path with the wrong method;
* 500 ``INTERNAL_ERROR`` for anything unexpected: the traceback is logged, the client only gets the
  request id; events of the wrong shape (wrong payload version) give 500 ``INVALID_EVENT``;
* the request id (API Gateway's ``requestContext.requestId``, else Lambda's ``aws_request_id``) in every
  error body and, as ``request_id``, in every log line, next to Powertools' ``function_request_id``;
* ``current_request()``: headers, query parameters, JSON body, authorizer principal and REST API key id,
  read the same way from HTTP API (2.0) and REST API (1.0) events;
* opaque pagination cursors and ``limit`` parsing (``lambda_manifest.runtime.http.pagination``).

Route functions raise ``ApiError`` subclasses (``BadRequest``, ``NotFound``, ``Conflict`` …) to answer
with an error; they return a dict (200), a ``(dict, status)`` tuple or a ``Response``. Decimals
from DynamoDB serialise as JSON numbers.

Examples
--------
::

    from lambda_manifest.runtime.http import NotFound, Schema, create_app, current_request, lambda_handler

    app = create_app("2.0")          # "1.0" for a REST API
    NEW_ITEM = Schema({"type": "object", "required": ["name"],
                       "properties": {"name": {"type": "string", "minLength": 1}}})

    @app.get("/items/<item_id>")
    def get_item(item_id: str) -> dict:
        raise NotFound(f"item {item_id} not found")

    @app.post("/items")
    def create_item() -> tuple[dict, int]:
        body = current_request().json(NEW_ITEM)
        return {"name": body["name"]}, 201

    main = lambda_handler(app)       # the Lambda handler string points here: "my_api.handler.main"
"""

from .app import allowed_methods, create_app, error_response, lambda_handler, logger, to_json
from .errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    MalformedJson,
    MethodNotAllowed,
    NotFound,
    Unauthorized,
    UnprocessableEntity,
    ValidationFailed,
)
from .request import Principal, Request, current_request, parse_json
from .router import App, Response
from .validation import Issue, Schema, SchemaError

__all__ = [
    "ApiError",
    "App",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "Issue",
    "MalformedJson",
    "MethodNotAllowed",
    "NotFound",
    "Principal",
    "Request",
    "Response",
    "Schema",
    "SchemaError",
    "Unauthorized",
    "UnprocessableEntity",
    "ValidationFailed",
    "allowed_methods",
    "create_app",
    "current_request",
    "error_response",
    "lambda_handler",
    "logger",
    "parse_json",
    "to_json",
]
