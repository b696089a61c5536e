"""The published tools: their definitions, the caller's view of them, and a call's ``CallToolResult``.

A tool is a Lambda function. Its arguments object is the invocation's event, and what it returns becomes the
result: a JSON object is the ``structuredContent`` (and its JSON text the ``content``, for clients that read
only text), a string is the text, anything else its JSON text. A function error (an exception, a timeout, an
out-of-memory) is a tool error (``isError: true``) carrying the function's error type, so the model sees what
went wrong and may try again; so are arguments that do not match the input schema (2025-11-25 made input
validation a tool error for the same reason).
"""

from __future__ import annotations

import json

from . import contract
from .protocol import INVALID_PARAMS, RpcError, decode_cursor, encode_cursor

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    # (function ARN, event bytes, timeout seconds) -> (response payload, Lambda's FunctionError or None)
    Invoke = Callable[[str, bytes, float], tuple[bytes, str | None]]

# Keys of a tool's definition as ``tools/list`` shows it (the rest of its configuration stays inside).
_DEFINITION_KEYS = ("name", "title", "description", "inputSchema", "outputSchema", "annotations")


class Tool:
    __slots__ = ("definition", "function", "name", "output_schema", "schema", "timeout_s", "validate")

    def __init__(self, spec: dict[str, Any]) -> None:
        self.name: str = spec["name"]
        self.function: str = spec["function"]
        self.timeout_s: float = float(spec.get("timeout_s") or 30)
        self.validate: bool = bool(spec.get("validate"))
        self.schema: dict[str, Any] = spec["inputSchema"]
        self.output_schema: dict[str, Any] | None = spec.get("outputSchema")
        self.definition = {k: spec[k] for k in _DEFINITION_KEYS if spec.get(k) is not None}


class Toolbox:
    """Every tool of the gateway, in the order they were added."""

    def __init__(self, specs: list[dict[str, Any]], page_size: int) -> None:
        self.tools = [Tool(spec) for spec in specs]
        self.by_name = {tool.name: tool for tool in self.tools}
        self.page_size = max(1, page_size)

    def page(self, allowed: frozenset[str] | None, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """The caller's tools (``allowed`` None: all of them) from ``cursor`` on, one page."""
        visible = [t for t in self.tools if allowed is None or t.name in allowed]
        start = decode_cursor(cursor) if cursor is not None else 0
        if start > len(visible):
            raise RpcError(INVALID_PARAMS, "Invalid cursor: the list is shorter than it says")
        end = start + self.page_size
        return [t.definition for t in visible[start:end]], (encode_cursor(end) if end < len(visible) else None)

    def find(self, name: str, allowed: frozenset[str] | None) -> Tool:
        tool = self.by_name.get(name)
        if tool is None:
            raise RpcError(INVALID_PARAMS, f"Unknown tool: {name}")
        if allowed is not None and name not in allowed:
            raise RpcError(INVALID_PARAMS, f"Tool {name} is not available to this caller (not in its key's tool "
                                           "allowlist)")
        return tool


def call(tool: Tool, arguments: dict[str, Any], invoke: Invoke) -> dict[str, Any]:
    """Run ``tool`` with ``arguments``: its ``CallToolResult``."""
    if tool.validate:
        from lambda_manifest.runtime.gateway.schema import validate

        problems = validate(arguments, tool.schema, "arguments")
        if problems:
            return error_result("InvalidArguments", "; ".join(problems[:10]))
    try:
        payload, function_error = invoke(tool.function, json.dumps(arguments).encode(), tool.timeout_s)
    except Exception as exc:  # the call itself failed (throttled, no permission, network): a tool error
        return error_result(_invoke_error_type(exc), str(exc) or type(exc).__name__)
    if function_error:
        return _function_error(payload, function_error)
    try:
        value = json.loads(payload) if payload.strip() else None
    except ValueError:
        return text_result(payload.decode("utf-8", "replace"))
    if isinstance(value, str):
        if tool.output_schema is not None:
            return error_result("OutputSchemaMismatch", "the tool returned a string; its output schema expects an "
                                                        "object")
        return text_result(value)
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, dict):
        return {"content": [{"type": "text", "text": text}], "structuredContent": value, "isError": False}
    if tool.output_schema is not None:
        return error_result("OutputSchemaMismatch", f"the tool returned {type(value).__name__}; its output schema "
                                                    "expects an object")
    return text_result(text)


def text_result(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": False}


def error_result(error_type: str, message: str) -> dict[str, Any]:
    return {
        "content": [{"type": "text", "text": f"{error_type}: {message}" if message else error_type}],
        "isError": True,
        "_meta": {contract.ERROR_TYPE_META: error_type},
    }


def _function_error(payload: bytes, function_error: str) -> dict[str, Any]:
    """Lambda's error document (``errorType``, ``errorMessage``) as a tool error; a function that did not say
    (a crash before the runtime could answer) gets Lambda's own ``Unhandled``."""
    try:
        doc = json.loads(payload)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return error_result(function_error, payload.decode("utf-8", "replace")[:1000])
    error_type, message = doc.get("errorType"), doc.get("errorMessage")
    return error_result(error_type if isinstance(error_type, str) and error_type else function_error,
                        message if isinstance(message, str) else "")


def _invoke_error_type(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str) and code:
            return f"Lambda.{code}"
    return type(exc).__name__
