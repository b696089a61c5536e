"""Structural checks on API Gateway proxy events, run before Powertools sees them.

API Gateway always sends well-formed events, so a malformed one means a misconfiguration (wrong payload
version, a test or console invoke with a hand-written event). Powertools would fail on it with a
``KeyError``/``AttributeError`` deep inside routing, outside any exception handler; checking the shape
first turns that into one clear log line and a JSON 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _str_map(value: Any) -> bool:
    return value is None or (
        isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    )


def _str_list_map(value: Any) -> bool:
    return value is None or (
        isinstance(value, dict)
        and all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(x, str) for x in v)
            for k, v in value.items()
        )
    )


def _common_problem(event: Mapping[str, Any]) -> str | None:
    for field in ("headers", "queryStringParameters", "pathParameters", "stageVariables"):
        if not _str_map(event.get(field)):
            return f"{field} must be an object of strings"
    if not isinstance(event.get("body"), (str, type(None))):
        return "body must be a string or null"
    if not isinstance(event.get("isBase64Encoded", False), (bool, type(None))):
        return "isBase64Encoded must be a boolean"
    request_id = event["requestContext"].get("requestId")
    if not isinstance(request_id, (str, type(None))):
        return "requestContext.requestId must be a string"
    return None


def http_api_problem(event: Any) -> str | None:
    """Why ``event`` is not an HTTP API payload 2.0 proxy event, or ``None`` when it is one."""
    if not isinstance(event, dict):
        return "event must be an object"
    if event.get("version") != "2.0":
        return "version must be '2.0' (is the integration's payload format version 1.0?)"
    context = event.get("requestContext")
    if not isinstance(context, dict):
        return "requestContext must be an object"
    http = context.get("http")
    if not isinstance(http, dict) or not isinstance(http.get("method"), str):
        return "requestContext.http.method must be a string"
    if not isinstance(http.get("path"), str):
        return "requestContext.http.path must be a string"
    if not isinstance(context.get("stage"), str):
        return "requestContext.stage must be a string"
    if not isinstance(event.get("rawPath"), str):
        return "rawPath must be a string"
    cookies = event.get("cookies")
    if cookies is not None and not (isinstance(cookies, list) and all(isinstance(c, str) for c in cookies)):
        return "cookies must be a list of strings"
    authorizer = context.get("authorizer")
    if authorizer is not None and not isinstance(authorizer, dict):
        return "requestContext.authorizer must be an object"
    return _common_problem(event)


def rest_api_problem(event: Any) -> str | None:
    """Why ``event`` is not a REST API (payload 1.0) proxy event, or ``None`` when it is one."""
    if not isinstance(event, dict):
        return "event must be an object"
    if not isinstance(event.get("httpMethod"), str):
        return "httpMethod must be a string (is the integration's payload format version 2.0?)"
    if not isinstance(event.get("path"), str):
        return "path must be a string"
    context = event.get("requestContext")
    if not isinstance(context, dict):
        return "requestContext must be an object"
    for field in ("identity", "authorizer"):
        if not isinstance(context.get(field), (dict, type(None))):
            return f"requestContext.{field} must be an object"
    for field in ("multiValueHeaders", "multiValueQueryStringParameters"):
        if not _str_list_map(event.get(field)):
            return f"{field} must be an object of string lists"
    return _common_problem(event)
