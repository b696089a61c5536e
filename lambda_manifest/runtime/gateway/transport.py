"""The gateway's HTTP edge: API Gateway events (HTTP API payload 2.0 and REST API payload 1.0) in, proxy
responses or server-sent event streams out."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass

from .errors import GatewayError, bad_request

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any

JSON_HEADERS = {"content-type": "application/json"}
SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}


@dataclass
class Http:
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    body: bytes
    request_id: str
    too_large: bool = False


def parse_event(event: Any, max_body_bytes: int, request_id: str) -> Http:
    if not isinstance(event, dict):
        raise bad_request("malformed event: expected an object", "malformed_event")
    rc: dict[str, Any] = event["requestContext"] if isinstance(event.get("requestContext"), dict) else {}
    http: dict[str, Any] = rc["http"] if isinstance(rc.get("http"), dict) else {}
    method = http.get("method") or event.get("httpMethod")
    path = event.get("rawPath") or http.get("path") or event.get("path")
    if not isinstance(method, str) or not isinstance(path, str) or not method or not path:
        raise bad_request("malformed event: no method or path", "malformed_event")
    raw_headers = event.get("headers") or {}
    if not isinstance(raw_headers, dict):
        raise bad_request("malformed event: headers must be an object", "malformed_event")
    headers = {str(k).lower(): str(v) for k, v in raw_headers.items() if v is not None}
    query: dict[str, str] = {}
    qsp = event.get("queryStringParameters")
    if isinstance(qsp, dict):
        query = {str(k): str(v) for k, v in qsp.items() if v is not None}
    elif isinstance(event.get("rawQueryString"), str) and event["rawQueryString"]:
        from urllib.parse import parse_qsl

        query = dict(parse_qsl(event["rawQueryString"]))
    body_raw = event.get("body")
    body = b""
    too_large = False
    if body_raw is not None:
        if not isinstance(body_raw, str):
            raise bad_request("malformed event: body must be a string", "malformed_event")
        if len(body_raw) > max_body_bytes * 4 // 3 + 4:
            too_large = True
        elif event.get("isBase64Encoded") is True:
            try:
                body = base64.b64decode(body_raw, validate=True)
            except ValueError:
                raise bad_request("malformed event: body is not valid base64", "malformed_event") from None
        else:
            # A lone surrogate survives as its (invalid) UTF-8 bytes: decoding the body reports it as a 400.
            body = body_raw.encode("utf-8", "surrogatepass")
        if len(body) > max_body_bytes:
            too_large, body = True, b""
    rid = rc.get("requestId") if isinstance(rc.get("requestId"), str) else None
    return Http(
        method.upper(), path, headers, query, body, request_id or rid or os.urandom(16).hex(), too_large
    )


def normalize_path(path: str) -> str:
    i = path.find("/v1/")
    p = path[i:] if i >= 0 else path
    return p.rstrip("/") or "/"


def dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {**JSON_HEADERS, **(headers or {})},
        "body": dumps(body),
        "isBase64Encoded": False,
    }


def error_headers(exc: GatewayError, request_id: str) -> dict[str, str]:
    return {**exc.headers, "x-lm-request-id": request_id, "x-should-retry": "true" if exc.should_retry else "false"}


def error_response(exc: GatewayError, request_id: str, api: str = "chat") -> dict[str, Any]:
    return json_response(exc.status, exc.body(api), error_headers(exc, request_id))


def sse_data(doc: Any) -> bytes:
    """One server-sent event carrying ``doc`` as JSON (JSON never contains a raw newline)."""
    return b"data: " + dumps(doc).encode("utf-8") + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"
SSE_KEEPALIVE = b": keep-alive\n\n"
