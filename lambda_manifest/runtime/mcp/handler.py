"""Lambda entry point of the MCP tool gateway: ``lambda_manifest.runtime.mcp.handler.main`` (API Gateway REST
payload 1.0 or HTTP payload 2.0, one JSON-RPC message per POST, answered with one JSON object).

The order of a request: authenticate (before the body is parsed, so a caller without a valid key costs no
parsing and learns nothing), read the JSON-RPC message and its protocol revision, then the method. A
``tools/call`` is counted against the key's rate, invoked, audited and measured: one JSON line per call that
is both the audit record and its CloudWatch metrics (embedded metric format).

Importing this module is cheap on purpose (the cold-start budget is 60 ms on Python 3.14): boto3 and the AI
gateway's key code are imported on the first request, the configuration is read then too.
"""

from __future__ import annotations

import json
import os
import sys
import time

from . import contract
from .protocol import INTERNAL_ERROR, Reply, Request, RpcError, Server, error_reply, read_request

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any

    from .access import Caller
    from .tools import Invoke, Toolbox

JSON_HEADERS = {"content-type": "application/json"}
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_PAGE_SIZE = 50
DEFAULT_TTL_MS = 300_000

_state: dict[str, Any] = {}


def main(event: Any, context: Any) -> dict[str, Any]:
    return handle(event, context)


def handle(event: Any, context: Any, *, invoke: Invoke | None = None) -> dict[str, Any]:
    from lambda_manifest.runtime.gateway.errors import GatewayError
    from lambda_manifest.runtime.gateway.transport import parse_event

    config, toolbox = _configured()
    request_id = str(getattr(context, "aws_request_id", "") or "")
    try:
        http = parse_event(event, int(config.get("max_body_bytes") or DEFAULT_MAX_BODY_BYTES), request_id)
    except GatewayError as error:
        return _http_error(error.status, error.message, error.code, {})
    if http.method != "POST":
        return _http_error(405, f"{http.method} is not served: this MCP endpoint keeps no sessions and no "
                                "server-to-client stream; send each JSON-RPC message in a POST", "method_not_allowed",
                           {"allow": "POST"})
    from .access import AccessError, authenticate

    table = os.environ.get(contract.KEYS_TABLE_ENV)
    request_context = event.get("requestContext")
    found = request_context.get("authorizer") if isinstance(request_context, dict) else None
    authorizer: dict[str, Any] = found if isinstance(found, dict) else {}
    if isinstance(authorizer.get("lambda"), dict):  # HTTP API payload 2.0 puts a Lambda authorizer's context here
        authorizer = authorizer["lambda"]
    try:
        caller = authenticate(http, authorizer, config, table)
    except AccessError as error:
        return _http_error(error.status, error.message, error.code, error.headers)
    if http.too_large:
        return _http_error(413, "the request body is larger than this endpoint accepts", "body_too_large", {})
    read = read_request(http.body, http.headers)
    if isinstance(read, Reply):
        return _response(read)
    server = Server(
        info=config.get("server") or {"name": "lambda-manifest-mcp", "version": "1"},
        instructions=config.get("instructions"),
        ttl_ms=int(config.get("list_ttl_ms", DEFAULT_TTL_MS)),
        list_tools=lambda cursor: toolbox.page(caller.tools, cursor),
        call_tool=lambda name, arguments: _call(name, arguments, caller, read, config, toolbox, table,
                                                invoke or _lambda_invoke, http.request_id),
    )
    try:
        return _response(server.dispatch(read))
    except Exception as exc:  # a defect here must still answer JSON-RPC, and say which request failed
        _log({"type": "mcp_error", "request_id": http.request_id, "error": f"{type(exc).__name__}: {exc}"})
        return _response(error_reply(RpcError(INTERNAL_ERROR, "Internal error", status=500), read))


def _call(name: str, arguments: dict[str, Any], caller: Caller, request: Request, config: dict[str, Any],
          toolbox: Toolbox, table: str | None, invoke: Invoke, request_id: str) -> dict[str, Any]:
    from . import access, tools

    namespace = config.get("metrics_namespace") or "LambdaManifest/Mcp"
    audit = {"type": "mcp_tool_call", "request_id": request_id, "tool": name, "caller": caller.id,
             "tenant": caller.tenant, "protocol_version": request.version or "handshake",
             "client": _client_name(request)}
    try:
        tool = toolbox.find(name, caller.tools)
        access.admit(caller, config, table, time.time())
    except RpcError as error:
        _log({**audit, "outcome": "rejected", "reason": error.message,
              **_emf(namespace, name if name in toolbox.by_name else "unknown", rejected=True)})
        raise
    started = time.perf_counter()
    result = tools.call(tool, arguments, invoke)
    latency_ms = (time.perf_counter() - started) * 1000
    failed = bool(result.get("isError"))
    error_type = (result.get("_meta") or {}).get(contract.ERROR_TYPE_META) if failed else None
    _log({**audit, "outcome": "error" if failed else "ok", "error_type": error_type,
          **_emf(namespace, name, latency_ms=latency_ms, error=failed)})
    return result


def _client_name(request: Request) -> str | None:
    meta = request.params.get("_meta")
    info = meta.get("io.modelcontextprotocol/clientInfo") if isinstance(meta, dict) else None
    return str(info.get("name")) if isinstance(info, dict) and info.get("name") else None


def _emf(namespace: str, tool: str, *, latency_ms: float = 0.0, error: bool = False,
         rejected: bool = False) -> dict[str, Any]:
    """The call's metrics by tool and gateway-wide, as fields of its audit line (CloudWatch reads ``_aws``)."""
    if rejected:
        metrics = [{"Name": contract.METRIC_REJECTED, "Unit": "Count"}]
        values: dict[str, Any] = {contract.METRIC_REJECTED: 1}
    else:
        metrics = [{"Name": contract.METRIC_CALLS, "Unit": "Count"}, {"Name": contract.METRIC_ERRORS, "Unit": "Count"},
                   {"Name": contract.METRIC_LATENCY, "Unit": "Milliseconds"}]
        values = {contract.METRIC_CALLS: 1, contract.METRIC_ERRORS: 1 if error else 0,
                  contract.METRIC_LATENCY: round(latency_ms, 3)}
    return {
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [
            {"Namespace": namespace, "Dimensions": [[contract.TOOL_DIMENSION], []], "Metrics": metrics}]},
        contract.TOOL_DIMENSION: tool, **values,
    }


def _log(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()


def _lambda_invoke(function: str, payload: bytes, timeout_s: float) -> tuple[bytes, str | None]:
    """Lambda's synchronous Invoke, waiting as long as the tool may run. One attempt: a retry after a read
    timeout would run the tool twice."""
    from lambda_manifest.runtime.aws import client

    lambda_client = client("lambda", read_timeout=timeout_s + contract.INVOKE_MARGIN_SECONDS, max_attempts=1)
    response = lambda_client.invoke(FunctionName=function, Payload=payload)
    return response["Payload"].read(), response.get("FunctionError")


def _configured() -> tuple[dict[str, Any], Toolbox]:
    cached = _state.get("config")
    if cached is None:
        from .tools import Toolbox

        config = read_config(os.environ.get(contract.CONFIG_ENV) or "{}")
        functions = json.loads(os.environ.get(contract.FUNCTIONS_ENV) or "{}")
        specs = [{**spec, "function": functions.get(spec.get("name"), spec.get("function"))}
                 for spec in config.get("tools") or []]
        cached = _state["config"] = (config, Toolbox(specs, int(config.get("page_size") or DEFAULT_PAGE_SIZE)))
    return cached


def read_config(text: str) -> dict[str, Any]:
    """The configuration document: JSON, or ``zlib:`` and the base64 of compressed JSON (the construct compresses
    it when that saves room in Lambda's 4 KB environment)."""
    if text.startswith("zlib:"):
        import base64
        import zlib

        text = zlib.decompress(base64.b64decode(text[5:])).decode()
    doc = json.loads(text)
    return doc if isinstance(doc, dict) else {}


def reset() -> None:
    """Forget the configuration read from the environment (tests change it between cases)."""
    _state.clear()


def _response(reply: Reply) -> dict[str, Any]:
    body = "" if reply.body is None else json.dumps(reply.body, separators=(",", ":"), ensure_ascii=False)
    headers = {**JSON_HEADERS, **reply.headers} if reply.body is not None else dict(reply.headers)
    return {"statusCode": reply.status, "headers": headers, "body": body, "isBase64Encoded": False}


def _http_error(status: int, message: str, code: str, headers: dict[str, str]) -> dict[str, Any]:
    """An error before any JSON-RPC message was read: a JSON-RPC error with a null id, and its HTTP status."""
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": INTERNAL_ERROR if status >= 500 else -32600,
                                                     "message": message, "data": {"code": code}}}
    return _response(Reply(status, body, headers))
