"""The app factory and Lambda entry point wrapper (see the package docstring for usage)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools import Logger

from .errors import ApiError
from .events import http_api_problem, rest_api_problem
from .request import _CURRENT, Request
from .router import App, NotFoundError, Response, service_error_status

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

PayloadVersion = Literal["2.0", "1.0"]
Handler = Callable[[Any, "LambdaContext"], dict[str, Any]]

# No explicit service name: POWERTOOLS_SERVICE_NAME (set by the construct) decides it.
logger = Logger()

JSON = "application/json"


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # DynamoDB hands numbers back as Decimal; clients expect plain JSON numbers.
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(value: Any) -> str:
    """Compact JSON that understands DynamoDB's Decimals and sets."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_default)


def _error_body(code: str, message: str, request_id: str, details: Any = None) -> str:
    error: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    if details is not None:
        error["details"] = details
    return to_json({"error": error})


def _current_request_id() -> str:
    try:
        return _CURRENT.get().request_id
    except LookupError:
        # Only when a test calls app.resolve() directly, bypassing lambda_handler.
        return "unknown"


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A ``Response`` with the standard error body ``{"error": {code, message, request_id}}``."""
    return Response(
        status_code=int(status),
        content_type=JSON,
        body=_error_body(code, message, _current_request_id(), details),
        headers=dict(headers or {}),
    )


def _install_error_handlers(app: App) -> None:
    def _api_error(exc: ApiError) -> Response:
        logger.info("client error", extra={"status": exc.status, "code": exc.code, "error": exc.message})
        return error_response(exc.status, exc.code, exc.message, details=exc.details, headers=exc.headers)

    def _no_route(_: NotFoundError) -> Response:
        allowed = allowed_methods(app, app.current_event.path)
        if allowed:
            # RFC 9110 wants 405 with the methods the resource does support, not 404.
            return error_response(
                405,
                "METHOD_NOT_ALLOWED",
                "Method not allowed on this resource",
                headers={"Allow": ", ".join(allowed)},
            )
        return error_response(404, "ROUTE_NOT_FOUND", "No route matches this path")

    def _unexpected(exc: Exception) -> Response:
        status = service_error_status(exc)
        if status is not None:
            # Routes may still raise Powertools' own BadRequestError & co; keep their status, our body shape.
            code = _status_code_name(status)
            message = getattr(exc, "msg", None)
            message = message if isinstance(message, str) else "Request failed"
            logger.info("client error", extra={"status": status, "code": code, "error": message})
            return error_response(status, code, message)
        # The traceback goes to the log, tagged with the request id; the client only gets the id.
        logger.exception("unhandled error in route")
        return error_response(500, "INTERNAL_ERROR", "Internal server error")

    app.exception_handler(ApiError)(_api_error)
    app.not_found(_no_route)
    app.exception_handler(Exception)(_unexpected)


def _status_code_name(status: int) -> str:
    try:
        return HTTPStatus(status).name
    except ValueError:
        return "ERROR"


def allowed_methods(app: App, path: str) -> list[str]:
    """Methods registered for routes whose rule matches ``path`` (empty when the path is unknown)."""
    return sorted({route.method for route in app.routes if route.rule.match(path)})


def create_app(payload: PayloadVersion = "2.0", *, cors: Any = None) -> App:
    """Create a resolver for ``payload`` with the toolkit's error handling installed.

    Parameters
    ----------
    payload:
        ``"2.0"`` for HTTP APIs, ``"1.0"`` for REST APIs.
    cors:
        Optional Powertools ``CORSConfig`` (or anything with its ``to_dict(origin)``); usually CORS is
        configured on the API instead.
    """
    if payload not in ("2.0", "1.0"):
        raise ValueError(f"payload must be '2.0' (HTTP API) or '1.0' (REST API), got {payload!r}")
    resolver = App(payload, to_json, cors)
    _install_error_handlers(resolver)
    return resolver


def _raw_error(status: int, code: str, message: str, request_id: str) -> dict[str, Any]:
    # Used where Powertools cannot build the response; this shape is valid for both payload versions.
    return {
        "statusCode": status,
        "headers": {"Content-Type": JSON},
        "body": _error_body(code, message, request_id),
        "isBase64Encoded": False,
    }


def _api_request_id(event: Any) -> str | None:
    context = event.get("requestContext") if isinstance(event, dict) else None
    value = context.get("requestId") if isinstance(context, dict) else None
    return value if isinstance(value, str) and value else None


def lambda_handler(app: App) -> Handler:
    """Wrap ``app`` into the Lambda entry point.

    Per invocation it resets and sets the log keys (``request_id``, plus Powertools' Lambda context keys
    such as ``function_request_id``), rejects events of the wrong shape with a JSON 500, makes the request
    available through ``current_request()``, and turns anything that escapes Powertools into a JSON 500.
    """
    if not isinstance(app, App):
        raise TypeError("lambda_handler() needs an app made by create_app()")
    payload = app.payload
    problem_of = http_api_problem if payload == "2.0" else rest_api_problem

    # log_event=False overrides POWERTOOLS_LOGGER_LOG_EVENT: events carry Authorization headers.
    @logger.inject_lambda_context(clear_state=True, log_event=False)
    def main(event: Any, context: LambdaContext) -> dict[str, Any]:
        request_id = _api_request_id(event) or getattr(context, "aws_request_id", None) or "unknown"
        logger.append_keys(request_id=request_id)
        problem = problem_of(event)
        if problem is not None:
            logger.error(
                "event is not an API Gateway proxy event", extra={"problem": problem, "payload": payload}
            )
            return _raw_error(500, "INVALID_EVENT", "Internal server error", request_id)
        token = _CURRENT.set(Request(event, payload, request_id))
        try:
            return app.resolve(event, context)
        except Exception:
            logger.exception("unhandled error outside routes")
            return _raw_error(500, "INTERNAL_ERROR", "Internal server error", request_id)
        finally:
            _CURRENT.reset(token)

    return main
