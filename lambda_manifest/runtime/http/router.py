"""Routing for API Gateway proxy events: the part of Powertools' event handler this toolkit used.

The toolkit was built on Powertools' ``APIGatewayHttpResolver``/``APIGatewayRestResolver``. Measured on
Python 3.14 with bytecode (bench/bench_handler_imports.py), importing Powertools' event handler loads about
300 modules (``asyncio``, ``ssl``, every AppSync/Bedrock/VPC Lattice resolver and event class) and was most
of every API handler's cold start, which no API handler here could get under 60 ms with. This module keeps
the same decorator API (``@app.get("/items/<item_id>")``, ``Response``, ``exception_handler``,
``not_found``, ``current_event``, ``lambda_context``) with the standard library only.

Behaviour follows Powertools where routes can tell: ``<name>`` matches one path segment, a non-default
HTTP API stage is stripped from the path, the first route registered for a method and path wins, exception
handlers are looked up along the exception's MRO, a 2.0 response has ``headers`` and ``cookies``, a 1.0
response ``multiValueHeaders``. Powertools' own ``ServiceError`` subclasses (``BadRequestError`` & co)
raised by a route keep their status.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any

JSON = "application/json"
# Powertools' segment pattern for ``<name>``: anything but a slash that may appear in a URL path.
_SEGMENT = r"[-._~()'!*:@,;=+&$%<> \[\]{}|^\w]+"
_PARAM = re.compile(r"<(\w+)>")

RouteFn = Callable[..., Any]
ErrorFn = Callable[[Any], Any]


class Response:
    """A route's answer: status, body (``str``, ``bytes`` or anything the serializer takes), headers."""

    def __init__(
        self,
        status_code: int,
        content_type: str | None = None,
        body: Any = None,
        headers: Mapping[str, str | list[str]] | None = None,
        cookies: list[str] | None = None,
    ) -> None:
        self.status_code = int(status_code)
        self.body = body
        self.headers: dict[str, str | list[str]] = dict(headers or {})
        self.cookies = list(cookies or [])
        if content_type is not None:
            self.headers.setdefault("Content-Type", content_type)


class NotFoundError(Exception):
    """Passed to the ``not_found`` handler when no route matches the method and path."""


class CurrentEvent:
    """What routing read from the event (``path`` without a non-default stage, ``http_method``)."""

    def __init__(self, raw: Mapping[str, Any], payload: str) -> None:
        self.raw_event = raw
        context = raw.get("requestContext") or {}
        if payload == "2.0":
            self.http_method = str((context.get("http") or {}).get("method", "")).upper()
            path = str(raw.get("rawPath") or "/")
            stage = context.get("stage")
            if isinstance(stage, str) and stage not in ("", "$default") and path.startswith(f"/{stage}/"):
                path = path[len(stage) + 1 :]
            self.path = path
        else:
            self.http_method = str(raw.get("httpMethod", "")).upper()
            self.path = str(raw.get("path") or "/")


class Route:
    __slots__ = ("function", "method", "rule")

    def __init__(self, method: str, rule: re.Pattern[str], function: RouteFn) -> None:
        self.method, self.rule, self.function = method, rule, function


def compile_rule(path: str) -> re.Pattern[str]:
    """``/items/<item_id>`` as a regular expression with one named group per parameter."""
    parts = _PARAM.split(path)
    pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>{_SEGMENT})" for i, p in enumerate(parts))
    return re.compile(f"^{pattern}$")


class App:
    """An API Gateway proxy-event resolver for one payload format (``"2.0"`` HTTP API, ``"1.0"`` REST API)."""

    def __init__(self, payload: str, serializer: Callable[[Any], str], cors: Any = None) -> None:
        self.payload = payload
        self.serializer = serializer
        self.cors = cors  # a Powertools CORSConfig, or anything with its to_dict(origin) method
        self.routes: list[Route] = []
        self._error_handlers: dict[type[BaseException], ErrorFn] = {}
        self._not_found: ErrorFn | None = None
        self.current_event: CurrentEvent = CurrentEvent({}, payload)
        self.lambda_context: Any = None

    # -- registration ----------------------------------------------------------------------------------

    def route(self, rule: str, method: str | list[str] | tuple[str, ...] = "GET") -> Callable[[RouteFn], RouteFn]:
        methods = [method] if isinstance(method, str) else list(method)

        def register(function: RouteFn) -> RouteFn:
            compiled = compile_rule(rule)
            self.routes.extend(Route(m.upper(), compiled, function) for m in methods)
            return function

        return register

    def get(self, rule: str) -> Callable[[RouteFn], RouteFn]:
        return self.route(rule, "GET")

    def post(self, rule: str) -> Callable[[RouteFn], RouteFn]:
        return self.route(rule, "POST")

    def put(self, rule: str) -> Callable[[RouteFn], RouteFn]:
        return self.route(rule, "PUT")

    def patch(self, rule: str) -> Callable[[RouteFn], RouteFn]:
        return self.route(rule, "PATCH")

    def delete(self, rule: str) -> Callable[[RouteFn], RouteFn]:
        return self.route(rule, "DELETE")

    def head(self, rule: str) -> Callable[[RouteFn], RouteFn]:
        return self.route(rule, "HEAD")

    def exception_handler(self, exc_class: type[BaseException]) -> Callable[[ErrorFn], ErrorFn]:
        def register(function: ErrorFn) -> ErrorFn:
            self._error_handlers[exc_class] = function
            return function

        return register

    def not_found(self, function: ErrorFn) -> ErrorFn:
        self._not_found = function
        return function

    # -- resolution ------------------------------------------------------------------------------------

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        self.current_event = current = CurrentEvent(event, self.payload)
        self.lambda_context = context
        try:
            response = self._dispatch(current)
        except Exception as exc:
            response = self._on_error(exc)
        return self._build(response, current)

    def _dispatch(self, current: CurrentEvent) -> Response:
        for route in self.routes:
            if route.method == current.http_method:
                match = route.rule.match(current.path)
                if match:
                    return self._as_response(route.function(**match.groupdict()))
        if current.http_method == "OPTIONS" and self.cors is not None:
            return Response(204, body="")  # preflight: the CORS headers are added in _build
        if self._not_found is not None:
            return self._as_response(self._not_found(NotFoundError(current.path)))
        return Response(404, JSON, self.serializer({"statusCode": 404, "message": "Not found"}))

    def _on_error(self, exc: Exception) -> Response:
        for cls in type(exc).__mro__:
            handler = self._error_handlers.get(cls)
            if handler is not None:
                return self._as_response(handler(exc))
        raise exc

    def _as_response(self, result: Any) -> Response:
        if isinstance(result, Response):
            return result
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], int):
            return Response(result[1], JSON, result[0])
        if hasattr(result, "status_code") and hasattr(result, "body"):  # a Powertools Response
            headers = dict(getattr(result, "headers", None) or {})
            return Response(result.status_code, None, result.body, headers, list(getattr(result, "cookies", [])))
        return Response(200, JSON, result)

    def _build(self, response: Response, current: CurrentEvent) -> dict[str, Any]:
        body, encoded = response.body, False
        if isinstance(body, bytes):
            body, encoded = base64.b64encode(body).decode(), True
        elif body is not None and not isinstance(body, str):
            body = self.serializer(body)
        headers = response.headers
        if self.cors is not None:
            origin = _header(current.raw_event, "origin")
            headers = {**self.cors.to_dict(origin), **headers}
        out: dict[str, Any] = {"statusCode": response.status_code, "body": body, "isBase64Encoded": encoded}
        if self.payload == "2.0":
            out["headers"] = {k: ", ".join(v) if isinstance(v, list) else v for k, v in headers.items()}
            out["cookies"] = response.cookies
        else:
            multi = {k: list(v) if isinstance(v, list) else [v] for k, v in headers.items()}
            if response.cookies:
                multi["Set-Cookie"] = list(response.cookies)
            out["multiValueHeaders"] = multi
        return out


def _header(event: Mapping[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if isinstance(key, str) and key.lower() == name and isinstance(value, str):
            return value
    return None


def service_error_status(exc: BaseException) -> int | None:
    """The status of a Powertools ``ServiceError`` (``BadRequestError`` & co) without importing Powertools."""
    status = getattr(exc, "status_code", None)
    module = type(exc).__module__
    return status if isinstance(status, int) and module.startswith("aws_lambda_powertools.") else None
