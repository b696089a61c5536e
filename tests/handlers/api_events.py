"""Builders for real-shaped API Gateway events and a fake Lambda context, shared by the handler tests.

The shapes follow the AWS documentation samples: HTTP API payload 2.0 proxy events, REST API (payload 1.0)
proxy events, and the REQUEST authorizer events for both.
"""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

ACCOUNT = "123456789012"
REGION = "us-east-1"
API_ID = "a1b2c3d4e5"


@dataclass
class FakeLambdaContext:
    """The attributes Powertools' Logger reads from the real LambdaContext."""

    function_name: str = "test-fn"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:test-fn"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def http_event(
    method: str,
    path: str,
    *,
    route_key: str | None = None,
    path_parameters: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    raw_body: str | None = None,
    base64_body: bool = False,
    authorizer: Mapping[str, Any] | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """An HTTP API payload 2.0 proxy event (``$default`` stage).

    ``body`` is JSON-encoded; ``raw_body`` is sent as is.
    """
    text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    if text is not None and base64_body:
        text = base64.b64encode(text.encode()).decode()
    all_headers = {
        "accept": "*/*",
        "content-length": str(len(text or "")),
        "content-type": "application/json",
        "host": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
        "user-agent": "pytest",
        "x-amzn-trace-id": "Root=1-5f84c7a6-0e2e5c4d2b8e7b5e6a0f1c2d",
        "x-forwarded-for": "203.0.113.10",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    request_id = request_id or base64.b32encode(uuid.uuid4().bytes)[:16].decode()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key or f"{method} {path}",
        "rawPath": path,
        "rawQueryString": urlencode(dict(query or {})),
        "headers": all_headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "domainName": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
            "domainPrefix": API_ID,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "pytest",
            },
            "requestId": request_id,
            "routeKey": route_key or f"{method} {path}",
            "stage": "$default",
            "time": "12/Mar/2025:19:03:58 +0000",
            "timeEpoch": 1741806238000,
        },
        "isBase64Encoded": base64_body,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if text is not None:
        event["body"] = text
    if authorizer is not None:
        event["requestContext"]["authorizer"] = dict(authorizer)
    return event


def rest_event(
    method: str,
    path: str,
    *,
    resource: str | None = None,
    path_parameters: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    raw_body: str | None = None,
    api_key_id: str | None = None,
    authorizer: Mapping[str, Any] | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """A REST API proxy event (payload 1.0), stage ``prod``."""
    text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    all_headers = {
        "Accept": "*/*",
        "Content-Type": "application/json",
        "Host": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
        "User-Agent": "pytest",
        "X-Amzn-Trace-Id": "Root=1-5f84c7a6-0e2e5c4d2b8e7b5e6a0f1c2d",
        "X-Forwarded-For": "203.0.113.10",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    }
    all_headers.update(headers or {})
    request_id = request_id or str(uuid.uuid4())
    identity: dict[str, Any] = {
        "accessKey": None,
        "accountId": None,
        "apiKey": None,
        "apiKeyId": api_key_id,
        "caller": None,
        "cognitoAuthenticationProvider": None,
        "cognitoAuthenticationType": None,
        "cognitoIdentityId": None,
        "cognitoIdentityPoolId": None,
        "principalOrgId": None,
        "sourceIp": "203.0.113.10",
        "user": None,
        "userAgent": "pytest",
        "userArn": None,
    }
    event: dict[str, Any] = {
        "resource": resource or path,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": dict(query) if query else None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": dict(path_parameters) if path_parameters else None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "domainName": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
            "extendedRequestId": "abcdEFGHijklMNO=",
            "httpMethod": method,
            "identity": identity,
            "path": f"/prod{path}",
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": "12/Mar/2025:19:03:58 +0000",
            "requestTimeEpoch": 1741806238000,
            "resourceId": "abc123",
            "resourcePath": resource or path,
            "stage": "prod",
        },
        "body": text,
        "isBase64Encoded": False,
    }
    if authorizer is not None:
        event["requestContext"]["authorizer"] = dict(authorizer)
    return event


def http_authorizer_event(headers: Mapping[str, str], *, route_key: str = "GET /items") -> dict[str, Any]:
    """An HTTP API Lambda REQUEST authorizer event, payload format 2.0."""
    method, path = route_key.split(" ", 1)
    lowered = {k.lower(): v for k, v in headers.items()}
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/$default/{method}{path}",
        "identitySource": [v for k, v in lowered.items() if k in ("authorization", "x-api-key")],
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": f"{API_ID}.execute-api.{REGION}.amazonaws.com", **lowered},
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": API_ID,
            "domainName": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10"},
            "requestId": "authz-req-1",
            "routeKey": route_key,
            "stage": "$default",
        },
    }


def rest_authorizer_event(
    headers: Mapping[str, str], *, method: str = "GET", path: str = "/catalog"
) -> dict[str, Any]:
    """A REST API Lambda REQUEST authorizer event (payload 1.0)."""
    return {
        "type": "REQUEST",
        "methodArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/prod/{method}{path}",
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {},
        "multiValueQueryStringParameters": {},
        "pathParameters": {},
        "stageVariables": {},
        "requestContext": {
            "path": f"/prod{path}",
            "accountId": ACCOUNT,
            "resourceId": "abc123",
            "stage": "prod",
            "requestId": "authz-req-2",
            "identity": {"sourceIp": "203.0.113.10", "userAgent": "pytest", "apiKey": None},
            "resourcePath": path,
            "httpMethod": method,
            "apiId": API_ID,
        },
    }


def response_json(response: Mapping[str, Any]) -> Any:
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return json.loads(body) if body else None


def response_header(response: Mapping[str, Any], name: str) -> str | None:
    """A response header from either ``headers`` (2.0) or ``multiValueHeaders`` (1.0)."""
    for key, value in (response.get("headers") or {}).items():
        if key.lower() == name.lower():
            return str(value)
    for key, values in (response.get("multiValueHeaders") or {}).items():
        if key.lower() == name.lower():
            return ", ".join(values)
    return None


def assert_error_response(
    response: Any, status: int | None = None, code: str | None = None
) -> dict[str, Any]:
    """Assert the toolkit's error contract and return the ``error`` object."""
    assert isinstance(response, dict)
    assert isinstance(response["statusCode"], int)
    if status is not None:
        assert response["statusCode"] == status, response
    assert response["statusCode"] >= 400
    body = response_json(response)
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), response
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str)
    assert isinstance(error["request_id"], str) and error["request_id"]
    assert "Traceback" not in response["body"]
    if code is not None:
        assert error["code"] == code, error
    return error


@contextmanager
def captured_logs(logger: Any) -> Iterator[io.StringIO]:
    """Capture what a Powertools Logger writes, exactly as CloudWatch would receive it."""
    buffer = io.StringIO()
    handler = logger.registered_handler
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)
