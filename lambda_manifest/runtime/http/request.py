"""A payload-neutral view of the current request, for route functions.

Routes call ``current_request()`` instead of reaching into the raw event, so the same code reads headers,
query parameters, the JSON body and the caller's identity from HTTP API (2.0) and REST API (1.0) events.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from .errors import MalformedJson
from .validation import Schema

_CURRENT: ContextVar[Request] = ContextVar("lm_http_current_request")


@dataclass(frozen=True)
class Principal:
    """Who is calling, as established by the API's authorizer.

    ``sub`` is the subject (user or API-key principal), ``tenant`` the tenant it belongs to ("" if none),
    ``scopes`` the granted scopes.
    """

    sub: str
    tenant: str = ""
    scopes: tuple[str, ...] = field(default_factory=tuple)


def _reject_constant(name: str) -> Any:
    # json.loads accepts NaN/Infinity by default, but they are not JSON and DynamoDB cannot store them.
    raise ValueError(f"{name} is not valid JSON")


# Deeper documents are refused on every Python version: 3.11's parser gives up near 1,000 levels
# (RecursionError) while 3.14's goes much deeper, and code that walks the result recursively would not.
MAX_JSON_DEPTH = 500


def parse_json(text: str) -> Any:
    """``json.loads`` that rejects NaN/Infinity and nesting deeper than ``MAX_JSON_DEPTH``, and turns every
    failure into ``MalformedJson``."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError and ints longer than Python's digit limit; RecursionError
        # deeply nested arrays.
        raise MalformedJson() from None
    # Counting brackets is a fast C loop; only a body with that many of them is walked.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _depth_exceeds(value, MAX_JSON_DEPTH):
        raise MalformedJson(f"The request body nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def _depth_exceeds(value: Any, limit: int) -> bool:
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            if depth > limit:
                return True
            pending.extend((child, depth + 1) for child in node)
    return False


def _scopes(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list):
        return tuple(s for s in value if isinstance(s, str))
    return ()


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


class Request:
    """The current API Gateway request.

    Parameters
    ----------
    event:
        The raw proxy event (already shape-checked by ``lambda_handler``).
    payload:
        ``"2.0"`` (HTTP API) or ``"1.0"`` (REST API).
    request_id:
        API Gateway's request id, or Lambda's when the event has none.
    """

    def __init__(self, event: Mapping[str, Any], payload: str, request_id: str) -> None:
        self.event = event
        self.payload = payload
        self.request_id = request_id
        # Header names are case-insensitive; HTTP APIs lower-case them, REST APIs pass them through.
        self.headers: dict[str, str] = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        self.query: dict[str, str] = dict(event.get("queryStringParameters") or {})
        self.path_parameters: dict[str, str] = dict(event.get("pathParameters") or {})

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def query_param(self, name: str) -> str | None:
        return self.query.get(name)

    def body_text(self) -> str:
        """The body as text, base64-decoded when API Gateway encoded it."""
        body = self.event.get("body") or ""
        if self.event.get("isBase64Encoded"):
            try:
                return base64.b64decode(body, validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                raise MalformedJson("The request body is not valid UTF-8 text") from None
        return str(body)

    def json(self, schema: Schema | None = None) -> Any:
        """Parse the JSON body and, when ``schema`` is given, validate it.

        Raises
        ------
        MalformedJson
            400 ``MALFORMED_JSON`` for a missing, non-UTF-8 or unparsable body.
        ValidationFailed
            400 ``VALIDATION_FAILED`` when the document does not match ``schema``.
        """
        text = self.body_text()
        if not text.strip():
            raise MalformedJson("A JSON request body is required")
        document = parse_json(text)
        return schema.validate(document) if schema is not None else document

    def principal(self) -> Principal | None:
        """The caller established by a Lambda, JWT or Cognito authorizer, or ``None``.

        HTTP API: ``requestContext.authorizer.lambda`` (Lambda authorizer context) or
        ``requestContext.authorizer.jwt.claims`` (JWT authorizer). REST API: ``requestContext.authorizer``
        (Lambda authorizer context, flattened) or its ``claims`` (Cognito authorizer).
        """
        context = self.event.get("requestContext") or {}
        authorizer = context.get("authorizer")
        if not isinstance(authorizer, dict):
            return None
        if self.payload == "2.0":
            lambda_ctx = authorizer.get("lambda")
            jwt = authorizer.get("jwt")
            if isinstance(lambda_ctx, dict):
                source, scopes = lambda_ctx, lambda_ctx.get("scopes")
            elif isinstance(jwt, dict) and isinstance(jwt.get("claims"), dict):
                source = jwt["claims"]
                scopes = jwt.get("scopes") or source.get("scope")
            else:
                return None
        else:
            claims = authorizer.get("claims")
            source = claims if isinstance(claims, dict) else authorizer
            scopes = source.get("scopes") or source.get("scope")
        sub = _text(source.get("sub"))
        tenant = _text(source.get("tenant")) or _text(source.get("custom:tenant"))
        if not sub and not tenant:
            return None
        return Principal(sub=sub, tenant=tenant, scopes=_scopes(scopes))

    def api_key_id(self) -> str | None:
        """REST API only: the id of the API key the caller presented (``requestContext.identity.apiKeyId``).

        API Gateway fills it in after matching the ``x-api-key`` header against a usage plan, so it is
        trustworthy, unlike the header itself.
        """
        identity = (self.event.get("requestContext") or {}).get("identity") or {}
        value = identity.get("apiKeyId")
        return value if isinstance(value, str) and value else None


def current_request() -> Request:
    """The request being handled; only valid inside a handler built with ``lambda_handler``."""
    try:
        return _CURRENT.get()
    except LookupError:
        raise RuntimeError(
            "current_request() is only available inside a handler built by lambda_handler()"
        ) from None
