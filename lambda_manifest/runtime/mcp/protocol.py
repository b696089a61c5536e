"""MCP over Streamable HTTP, one POST at a time: the JSON-RPC envelope, the protocol revision of each request,
and the methods a tool server answers.

Two revisions share the endpoint (see ``contract.MODERN_VERSIONS`` / ``HANDSHAKE_VERSIONS``):

* 2026-07-28, stateless: every request carries ``io.modelcontextprotocol/protocolVersion`` and
  ``.../clientCapabilities`` in ``params._meta``, mirrored in the ``MCP-Protocol-Version``, ``Mcp-Method`` and
  ``Mcp-Name`` headers; ``server/discover`` advertises the server; list results carry ``ttlMs`` and
  ``cacheScope``; every result carries ``resultType``; ``ping`` and ``initialize`` are gone.
* 2025-11-25 (and 2025-06-18, 2025-03-26), the handshake: ``initialize`` answers with the negotiated version
  and no ``Mcp-Session-Id`` (sessions are optional there), ``notifications/initialized`` gets 202, and later
  requests may carry the negotiated ``MCP-Protocol-Version`` header.

A request is stateless when its ``MCP-Protocol-Version`` header names anything but a handshake revision, or
when its ``params._meta`` names a protocol version; anything else is a handshake-era request. Nothing is kept
between requests, so any container answers any request.
"""

from __future__ import annotations

import base64
import binascii
import json

from . import contract

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# Implementation-defined server errors (-32000..-32019): the key's request rate, and a failure of the
# gateway itself (its key store).
RATE_LIMITED = -32000
UNAVAILABLE = -32001
# Defined by 2026-07-28.
HEADER_MISMATCH = -32020
UNSUPPORTED_PROTOCOL_VERSION = -32022

# The HTTP status of a JSON-RPC error on the stateless path (the spec's table; other codes answer 200).
MODERN_HTTP_STATUS = {
    PARSE_ERROR: 400, INVALID_REQUEST: 400, INVALID_PARAMS: 400, HEADER_MISMATCH: 400,
    UNSUPPORTED_PROTOCOL_VERSION: 400, METHOD_NOT_FOUND: 404,
}  # fmt: skip

META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
HEADER_PROTOCOL_VERSION = "mcp-protocol-version"
HEADER_METHOD = "mcp-method"
HEADER_NAME = "mcp-name"
CAPABILITIES = {"tools": {"listChanged": False}}


class RpcError(Exception):
    """A JSON-RPC error answer; ``status`` is the HTTP status it travels with (None: the revision's default)."""

    def __init__(self, code: int, message: str, data: Any = None, *, status: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.status = status
        self.headers = headers or {}

    def body(self, request_id: Any) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return {"jsonrpc": "2.0", "id": request_id, "error": error}


class Request:
    """One JSON-RPC request as the dispatcher sees it."""

    __slots__ = ("id", "method", "modern", "params", "version")

    def __init__(self, id: Any, method: str, params: dict[str, Any], version: str, modern: bool) -> None:
        self.id = id
        self.method = method
        self.params = params
        self.version = version
        self.modern = modern


class Reply:
    """What goes back over HTTP: a status, a JSON body (None: no body) and extra headers."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: dict[str, Any] | None, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}


def read_request(raw: bytes, headers: dict[str, str]) -> Request | Reply:
    """The request in ``raw``, or the reply it gets without reaching a method (an error, or 202 for a
    notification or a client's response)."""
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurd nesting
        return _error_reply(RpcError(PARSE_ERROR, "Parse error: the body is not a JSON value"), None, True)
    if isinstance(message, list):
        return _error_reply(RpcError(INVALID_REQUEST, "JSON-RPC batches are not supported: send one message "
                                                      "per POST"), None, True)
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return _error_reply(RpcError(INVALID_REQUEST, "Invalid Request: expected a JSON-RPC 2.0 object"), None, True)
    if "method" not in message:
        if "id" in message and ("result" in message or "error" in message):
            return Reply(202, None)  # a response to a server request; this server sends none
        return _error_reply(RpcError(INVALID_REQUEST, "Invalid Request: no method"), None, True)
    method = message["method"]
    params = message.get("params", {})
    if not isinstance(method, str) or not isinstance(params, dict):
        return _error_reply(RpcError(INVALID_REQUEST, "Invalid Request: method must be a string and params an "
                                                      "object"), _id(message), True)
    if "id" not in message:
        return Reply(202, None)  # a notification (notifications/initialized, cancellations): nothing to answer
    request_id = message["id"]
    if isinstance(request_id, bool) or not isinstance(request_id, (str, int)):
        return _error_reply(RpcError(INVALID_REQUEST, "Invalid Request: id must be a string or an integer"),
                            None, True)
    meta = params.get("_meta")
    header_version = headers.get(HEADER_PROTOCOL_VERSION)
    modern = (header_version is not None and header_version not in contract.HANDSHAKE_VERSIONS) or (
        isinstance(meta, dict) and META_PROTOCOL_VERSION in meta)
    if not modern:
        return Request(request_id, method, params, header_version or "", False)
    try:
        version = _modern_version(method, params, headers)
    except RpcError as error:
        return _error_reply(error, request_id, True)
    return Request(request_id, method, params, version, True)


def _id(message: dict[str, Any]) -> Any:
    value = message.get("id")
    return value if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def _modern_version(method: str, params: dict[str, Any], headers: dict[str, str]) -> str:
    """The stateless revision's checks, in the order the spec's reference SDK runs them: the envelope keys,
    then the headers against the body, then the version itself."""
    meta = params.get("_meta")
    if not isinstance(meta, dict):
        raise RpcError(INVALID_PARAMS, f"params._meta must be an object carrying {META_PROTOCOL_VERSION!r} and "
                                       f"{META_CLIENT_CAPABILITIES!r}")
    missing = [key for key in (META_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES) if key not in meta]
    if missing:
        raise RpcError(INVALID_PARAMS, f"params._meta is missing {', '.join(missing)}")
    version = meta[META_PROTOCOL_VERSION]
    if headers.get(HEADER_PROTOCOL_VERSION) != version:
        raise RpcError(HEADER_MISMATCH, "the MCP-Protocol-Version header does not match params._meta's protocol "
                                        "version")
    if headers.get(HEADER_METHOD) != method:
        raise RpcError(HEADER_MISMATCH, "the Mcp-Method header does not match the request's method")
    if method == "tools/call" and params.get("name") is not None and _header_text(headers.get(HEADER_NAME)) != \
            params.get("name"):
        raise RpcError(HEADER_MISMATCH, "the Mcp-Name header does not match the tool name in params")
    if not isinstance(version, str):
        raise RpcError(INVALID_PARAMS, "the protocol version in params._meta must be a string")
    if version not in contract.MODERN_VERSIONS:
        raise RpcError(UNSUPPORTED_PROTOCOL_VERSION, "Unsupported protocol version",
                       {"supported": list(contract.MODERN_VERSIONS), "requested": version})
    return version


def _header_text(value: str | None) -> str | None:
    """A header value, decoding the spec's ``=?base64?...?=`` form used for values that are not plain ASCII."""
    if value is None or not (value.startswith("=?base64?") and value.endswith("?=")):
        return value
    try:
        return base64.b64decode(value[9:-2], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return value


def _error_reply(error: RpcError, request_id: Any, modern: bool) -> Reply:
    status = error.status or (MODERN_HTTP_STATUS.get(error.code, 200) if modern else
                              (400 if error.code in (PARSE_ERROR, INVALID_REQUEST) else 200))
    return Reply(status, error.body(request_id), error.headers)


def error_reply(error: RpcError, request: Request | None) -> Reply:
    """The reply to ``request`` (None: a request not read yet) that failed with ``error``."""
    return _error_reply(error, request.id if request else None, request.modern if request else True)


# --------------------------------------------------------------------------------------------------------
# Methods


class Server:
    """The methods of a tool server. ``list_tools(cursor)`` returns the caller's page of tool definitions
    and the next cursor; ``call_tool(name, arguments)`` returns a ``CallToolResult`` (raising ``RpcError``
    for an unknown tool); ``ttl_ms`` is the list's cache hint."""

    def __init__(self, info: dict[str, Any], instructions: str | None, ttl_ms: int,
                 list_tools: Callable[[str | None], tuple[list[dict[str, Any]], str | None]],
                 call_tool: Callable[[str, dict[str, Any]], dict[str, Any]]) -> None:
        self.info = info
        self.instructions = instructions
        self.ttl_ms = ttl_ms
        self.list_tools = list_tools
        self.call_tool = call_tool

    def dispatch(self, request: Request) -> Reply:
        try:
            result = self._result(request)
        except RpcError as error:
            return error_reply(error, request)
        if request.modern:
            result["resultType"] = "complete"
        return Reply(200, {"jsonrpc": "2.0", "id": request.id, "result": result})

    def _result(self, request: Request) -> dict[str, Any]:
        method, params = request.method, request.params
        if method == "tools/call":
            name = params.get("name")
            arguments = params.get("arguments", {})
            if not isinstance(name, str) or not name:
                raise RpcError(INVALID_PARAMS, "tools/call needs params.name, the tool's name")
            if arguments is None:
                arguments = {}
            if not isinstance(arguments, dict):
                raise RpcError(INVALID_PARAMS, "params.arguments must be an object")
            return self.call_tool(name, arguments)
        if method == "tools/list":
            cursor = params.get("cursor")
            if cursor is not None and not isinstance(cursor, str):
                raise RpcError(INVALID_PARAMS, "params.cursor must be the string a previous tools/list returned")
            tools, next_cursor = self.list_tools(cursor)
            result: dict[str, Any] = {"tools": tools}
            if next_cursor is not None:
                result["nextCursor"] = next_cursor
            if request.modern:
                # The list depends on the caller's key (its allowlist), so no cache may share it.
                result.update(ttlMs=self.ttl_ms, cacheScope="private")
            return result
        if request.modern:
            if method == "server/discover":
                result = {"supportedVersions": list(contract.MODERN_VERSIONS), "capabilities": CAPABILITIES,
                          "serverInfo": self.info, "ttlMs": self.ttl_ms, "cacheScope": "public"}
                if self.instructions:
                    result["instructions"] = self.instructions
                return result
        elif method == "initialize":
            requested = params.get("protocolVersion")
            version = requested if requested in contract.HANDSHAKE_VERSIONS else contract.LATEST_HANDSHAKE_VERSION
            result = {"protocolVersion": version, "capabilities": CAPABILITIES, "serverInfo": self.info}
            if self.instructions:
                result["instructions"] = self.instructions
            return result
        elif method == "ping":
            return {}
        raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method}"
                       + (" (removed in the stateless revision)" if request.modern and method in ("ping", "initialize")
                          else ""))


# --------------------------------------------------------------------------------------------------------
# Pagination: an opaque cursor holding the offset of the next page in the caller's list.


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        if text.startswith("o:") and text[2:].isdigit():
            return int(text[2:])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise RpcError(INVALID_PARAMS, "Invalid cursor: pass the nextCursor of a previous tools/list unchanged")
