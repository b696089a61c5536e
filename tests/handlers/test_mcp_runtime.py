"""The MCP gateway runtime (lambda_manifest.runtime.mcp) in-process: its wire answers for both protocol revisions,
virtual keys with tool allowlists and rpm against the AI gateway's table (moto), tool results and tool errors,
and the audit/metrics line. Tool functions are fakes of Lambda's Invoke (what they return is what Lambda would
hand back); the e2e tests run real functions through the local runner."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from gateway_fakes import TABLE, cached_client, create_table
from moto import mock_aws

from lambda_manifest.keys import create_key
from lambda_manifest.runtime.gateway import aws
from lambda_manifest.runtime.mcp import contract, handler

MODERN = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "pytest", "version": "1"}}
SEARCH = {"name": "search", "description": "Search items",
          "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
          "validate": True, "timeout_s": 5}
TOOLS = [SEARCH, {"name": "fail", "description": "Always fails", "inputSchema": {"type": "object"}},
         {"name": "shaped", "description": "Has an output schema", "inputSchema": {"type": "object"},
          "outputSchema": {"type": "object"}}]


class Lambda:
    """Lambda's Invoke as the gateway sees it: (payload, FunctionError)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, float]] = []
        self.answers: dict[str, tuple[bytes, str | None]] = {
            "fn-search": (b'{"hits": ["a"]}', None),
            "fn-fail": (b'{"errorType": "ItemNotFound", "errorMessage": "no item 7", "stackTrace": []}', "Unhandled"),
            "fn-shaped": (b'"just text"', None),
        }

    def __call__(self, function: str, payload: bytes, timeout_s: float) -> tuple[bytes, str | None]:
        self.calls.append((function, json.loads(payload), timeout_s))
        return self.answers[function]


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mock_aws():
        ddb = cached_client("dynamodb")
        create_table(ddb)
        aws.set_client("dynamodb", ddb)
        monkeypatch.setenv(contract.KEYS_TABLE_ENV, TABLE)
        configure(monkeypatch)
        yield ddb
        aws.reset()
    handler.reset()


def configure(monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> None:
    doc = {"auth": {"mode": "keys", "tenant_rpm": {}}, "page_size": 50, "list_ttl_ms": 60000,
           "metrics_namespace": "Test/Mcp", "server": {"name": "test-tools", "version": "0.1.0"}, "tools": TOOLS,
           **overrides}
    text = json.dumps(doc)
    packed = "zlib:" + base64.b64encode(__import__("zlib").compress(text.encode())).decode()
    monkeypatch.setenv(contract.CONFIG_ENV, packed)
    monkeypatch.setenv(contract.FUNCTIONS_ENV, json.dumps({t["name"]: f"fn-{t['name']}" for t in doc["tools"]}))
    handler.reset()


def key(ddb: Any, tools: list[str], **limits: Any) -> str:
    return create_key(ddb, TABLE, tenant="acme", models=["*"], tools=tools, name="test", **limits).api_key


def post(body: Any, *, api_key: str | None, modern: bool = True, lambda_: Lambda | None = None,
         headers: dict[str, str] | None = None, method: str = "POST") -> tuple[int, dict[str, str], Any]:
    sent = dict(headers or {})
    if modern and isinstance(body, dict) and "method" in body:
        sent.setdefault("mcp-protocol-version", MODERN)
        sent.setdefault("mcp-method", body["method"])
        if body["method"] == "tools/call":
            sent.setdefault("mcp-name", body["params"]["name"])
    if api_key is not None:
        sent["authorization"] = f"Bearer {api_key}"
    event = {"httpMethod": method, "path": "/mcp", "headers": sent, "requestContext": {"requestId": "req-1"},
             "body": body if isinstance(body, str) else json.dumps(body)}
    reply = handler.handle(event, None, invoke=lambda_ or Lambda())
    return reply["statusCode"], reply["headers"], json.loads(reply["body"]) if reply["body"] else None


def rpc(method: str, params: dict[str, Any] | None = None, *, id: int = 1, modern: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method, "params": dict(params or {})}
    if modern:
        body["params"]["_meta"] = META
    return body


# -- the stateless revision (2026-07-28) ----------------------------------------------------------------------


def test_discover_advertises_the_revision_tools_and_a_public_cache_hint(table: Any) -> None:
    status, _, reply = post(rpc("server/discover"), api_key=key(table, ["*"]))
    assert status == 200
    assert reply["result"] == {"supportedVersions": [MODERN], "capabilities": {"tools": {"listChanged": False}},
                               "serverInfo": {"name": "test-tools", "version": "0.1.0"}, "ttlMs": 60000,
                               "cacheScope": "public", "resultType": "complete"}


def test_list_is_the_keys_allowlist_with_a_private_cache_hint(table: Any) -> None:
    _, _, reply = post(rpc("tools/list"), api_key=key(table, ["search", "shaped"]))
    result = reply["result"]
    assert [t["name"] for t in result["tools"]] == ["search", "shaped"]
    assert result["tools"][0] == {k: v for k, v in SEARCH.items() if k not in ("validate", "timeout_s")}
    assert (result["ttlMs"], result["cacheScope"], result["resultType"]) == (60000, "private", "complete")
    assert "nextCursor" not in result


def test_a_key_without_tools_sees_none(table: Any) -> None:
    _, _, reply = post(rpc("tools/list"), api_key=key(table, []))
    assert reply["result"]["tools"] == []


def test_list_pages_with_an_opaque_cursor(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, page_size=2)
    api_key = key(table, ["*"])
    _, _, first = post(rpc("tools/list"), api_key=api_key)
    assert [t["name"] for t in first["result"]["tools"]] == ["search", "fail"]
    cursor = first["result"]["nextCursor"]
    _, _, second = post(rpc("tools/list", {"cursor": cursor}), api_key=api_key)
    assert [t["name"] for t in second["result"]["tools"]] == ["shaped"]
    assert "nextCursor" not in second["result"]
    status, _, bad = post(rpc("tools/list", {"cursor": "not-a-cursor"}), api_key=api_key)
    assert (status, bad["error"]["code"]) == (400, -32602)


def test_call_returns_structured_content_and_its_text(table: Any) -> None:
    lambda_ = Lambda()
    status, _, reply = post(rpc("tools/call", {"name": "search", "arguments": {"q": "tea"}}),
                            api_key=key(table, ["*"]), lambda_=lambda_)
    assert status == 200
    assert reply["result"] == {"content": [{"type": "text", "text": '{"hits":["a"]}'}],
                               "structuredContent": {"hits": ["a"]}, "isError": False, "resultType": "complete"}
    assert lambda_.calls == [("fn-search", {"q": "tea"}, 5.0)]


def test_a_function_error_is_a_tool_error_with_its_error_type(table: Any) -> None:
    _, _, reply = post(rpc("tools/call", {"name": "fail", "arguments": {}}), api_key=key(table, ["*"]))
    assert reply["result"]["isError"] is True
    assert reply["result"]["content"] == [{"type": "text", "text": "ItemNotFound: no item 7"}]
    assert reply["result"]["_meta"] == {contract.ERROR_TYPE_META: "ItemNotFound"}


def test_invalid_arguments_are_a_tool_error_and_the_function_is_not_invoked(table: Any) -> None:
    lambda_ = Lambda()
    _, _, reply = post(rpc("tools/call", {"name": "search", "arguments": {"q": 3}}), api_key=key(table, ["*"]),
                       lambda_=lambda_)
    assert reply["result"]["isError"] is True
    assert reply["result"]["content"][0]["text"] == "InvalidArguments: arguments.q: expected string"
    assert lambda_.calls == []


def test_a_result_that_breaks_the_output_schema_is_a_tool_error(table: Any) -> None:
    _, _, reply = post(rpc("tools/call", {"name": "shaped"}), api_key=key(table, ["*"]))
    assert reply["result"]["_meta"][contract.ERROR_TYPE_META] == "OutputSchemaMismatch"


def test_an_invoke_that_fails_is_a_tool_error_named_after_lambdas_error_code(table: Any) -> None:
    from botocore.exceptions import ClientError

    def throttled(function: str, payload: bytes, timeout_s: float) -> tuple[bytes, str | None]:
        raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "Invoke")

    _, _, reply = post(rpc("tools/call", {"name": "search", "arguments": {"q": "x"}}), api_key=key(table, ["*"]),
                       lambda_=throttled)  # type: ignore[arg-type]
    assert reply["result"]["_meta"][contract.ERROR_TYPE_META] == "Lambda.TooManyRequestsException"


def test_unknown_and_not_allowed_tools_are_invalid_params(table: Any) -> None:
    api_key = key(table, ["search"])
    status, _, unknown = post(rpc("tools/call", {"name": "nope"}), api_key=api_key)
    assert (status, unknown["error"]["code"], unknown["error"]["message"]) == (400, -32602, "Unknown tool: nope")
    status, _, denied = post(rpc("tools/call", {"name": "fail"}), api_key=api_key)
    assert (status, denied["error"]["code"]) == (400, -32602) and "allowlist" in denied["error"]["message"]


def test_every_call_is_audited_with_its_metrics(table: Any, capsys: pytest.CaptureFixture[str]) -> None:
    api_key = key(table, ["search", "fail"])
    post(rpc("tools/call", {"name": "search", "arguments": {"q": "x"}}), api_key=api_key)
    post(rpc("tools/call", {"name": "fail"}), api_key=api_key)
    post(rpc("tools/call", {"name": "shaped"}), api_key=api_key)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    calls = [line for line in lines if line.get("type") == "mcp_tool_call"]
    assert [(c["tool"], c["outcome"], c.get("error_type")) for c in calls] == [
        ("search", "ok", None), ("fail", "error", "ItemNotFound"), ("shaped", "rejected", None)]
    assert all(c["tenant"] == "acme" and c["client"] == "pytest" and c["protocol_version"] == MODERN for c in calls)
    ok, failed, rejected = calls
    assert (ok["ToolCalls"], ok["ToolErrors"], failed["ToolErrors"], rejected["ToolCallsRejected"]) == (1, 0, 1, 1)
    directive = ok["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Test/Mcp" and directive["Dimensions"] == [["Tool"], []]
    assert {m["Name"] for m in directive["Metrics"]} == {"ToolCalls", "ToolErrors", "ToolLatencyMs"}
    assert ok["Tool"] == "search" and ok["ToolLatencyMs"] >= 0


def test_headers_that_disagree_with_the_body_are_refused(table: Any) -> None:
    api_key = key(table, ["*"])
    status, _, reply = post(rpc("tools/list"), api_key=api_key, headers={"mcp-method": "tools/call"})
    assert (status, reply["error"]["code"]) == (400, -32020)
    status, _, reply = post(rpc("tools/call", {"name": "search", "arguments": {"q": "x"}}), api_key=api_key,
                            headers={"mcp-name": "fail"})
    assert (status, reply["error"]["code"]) == (400, -32020)
    body = rpc("tools/list")
    body["params"]["_meta"] = {"io.modelcontextprotocol/protocolVersion": MODERN}
    status, _, reply = post(body, api_key=api_key)
    assert (status, reply["error"]["code"]) == (400, -32602)


def test_an_unsupported_version_names_the_supported_ones(table: Any) -> None:
    body = rpc("tools/list")
    body["params"]["_meta"] = {**META, "io.modelcontextprotocol/protocolVersion": "2099-01-01"}
    status, _, reply = post(body, api_key=key(table, ["*"]), headers={"mcp-protocol-version": "2099-01-01"})
    assert status == 400
    assert reply["error"] == {"code": -32022, "message": "Unsupported protocol version",
                              "data": {"supported": [MODERN], "requested": "2099-01-01"}}


def test_ping_and_initialize_are_gone_in_the_stateless_revision(table: Any) -> None:
    for method in ("ping", "initialize"):
        status, _, reply = post(rpc(method), api_key=key(table, ["*"]))
        assert (status, reply["error"]["code"]) == (404, -32601)


# -- the handshake revision (2025-11-25) ----------------------------------------------------------------------


def test_initialize_negotiates_a_handshake_revision_and_issues_no_session(table: Any) -> None:
    api_key = key(table, ["*"])
    for requested, answered in (("2025-11-25", "2025-11-25"), ("2025-06-18", "2025-06-18"),
                                ("2024-11-05", "2025-11-25")):
        status, headers, reply = post(
            rpc("initialize", {"protocolVersion": requested, "capabilities": {},
                               "clientInfo": {"name": "old", "version": "1"}}, modern=False),
            api_key=api_key, modern=False)
        assert status == 200 and reply["result"]["protocolVersion"] == answered
        assert reply["result"]["capabilities"] == {"tools": {"listChanged": False}}
        assert not any(h.lower() == "mcp-session-id" for h in headers)
    status, _, reply = post({"jsonrpc": "2.0", "method": "notifications/initialized"}, api_key=api_key, modern=False)
    assert (status, reply) == (202, None)


def test_handshake_requests_get_results_without_the_stateless_fields(table: Any) -> None:
    api_key = key(table, ["*"])
    headers = {"mcp-protocol-version": "2025-11-25"}
    _, _, pong = post(rpc("ping", modern=False), api_key=api_key, modern=False, headers=headers)
    assert pong["result"] == {}
    _, _, listed = post(rpc("tools/list", modern=False), api_key=api_key, modern=False, headers=headers)
    assert set(listed["result"]) == {"tools"}
    _, _, called = post(rpc("tools/call", {"name": "search", "arguments": {"q": "x"}}, modern=False),
                        api_key=api_key, modern=False, headers=headers)
    assert "resultType" not in called["result"] and called["result"]["isError"] is False
    status, _, unknown = post(rpc("tools/call", {"name": "nope"}, modern=False), api_key=api_key, modern=False)
    assert (status, unknown["error"]["code"]) == (200, -32602)


# -- transport and access -------------------------------------------------------------------------------------


def test_no_sessions_and_no_stream_get_405(table: Any) -> None:
    for method in ("GET", "DELETE"):
        status, headers, _ = post("", api_key=key(table, ["*"]), method=method)
        assert status == 405 and headers["allow"] == "POST"


@pytest.mark.parametrize("body, code", [("{not json", -32700), ("[]", -32600), ('{"jsonrpc": "1.0"}', -32600),
                                        ('{"jsonrpc": "2.0", "id": true, "method": "x"}', -32600),
                                        ("\ud800", -32700)])
def test_bytes_that_are_not_a_request_get_a_json_rpc_400(table: Any, body: str, code: int) -> None:
    status, _, reply = post(body, api_key=key(table, ["*"]))
    assert (status, reply["error"]["code"], reply["id"]) == (400, code, None)


def test_keys_are_checked_before_the_body_is_read(table: Any) -> None:
    for api_key in (None, "lmg-not-a-real-key"):
        status, headers, reply = post("{not json", api_key=api_key)
        assert status == 401 and headers["www-authenticate"] == "Bearer"
        assert reply["error"]["data"]["code"] in ("missing_api_key", "invalid_api_key")


def test_a_revoked_key_is_refused_at_once(table: Any) -> None:
    from lambda_manifest.keys import revoke_key

    created = create_key(table, TABLE, tenant="acme", models=["*"], tools=["*"])
    assert post(rpc("tools/list"), api_key=created.api_key)[0] == 200
    revoke_key(table, TABLE, created.key_id)
    assert post(rpc("tools/list"), api_key=created.api_key)[0] == 401


def test_tool_calls_count_against_the_keys_rpm_and_listing_does_not(table: Any) -> None:
    api_key = key(table, ["*"], rpm=2)
    call = rpc("tools/call", {"name": "search", "arguments": {"q": "x"}})
    for _ in range(3):
        assert post(rpc("tools/list"), api_key=api_key)[0] == 200
    assert post(call, api_key=api_key)[0] == 200
    assert post(call, api_key=api_key)[0] == 200
    status, headers, reply = post(call, api_key=api_key)
    assert status == 429 and 1 <= int(headers["retry-after"]) <= 60
    assert reply["error"]["code"] == -32000 and reply["error"]["data"]["retryAfter"] == int(headers["retry-after"])


def test_the_tenants_rpm_spans_its_keys(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, auth={"mode": "keys", "tenant_rpm": {"acme": 1}})
    call = rpc("tools/call", {"name": "search", "arguments": {"q": "x"}})
    assert post(call, api_key=key(table, ["*"]))[0] == 200
    assert post(call, api_key=key(table, ["*"]))[0] == 429


def test_behind_an_authorizer_tool_scopes_narrow_the_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, auth={"mode": "authorizer"})
    try:
        def listed(authorizer: dict[str, Any]) -> list[str]:
            event = {"httpMethod": "POST", "path": "/mcp", "body": json.dumps(rpc("tools/list")),
                     "headers": {"mcp-protocol-version": MODERN, "mcp-method": "tools/list"},
                     "requestContext": {"requestId": "r", "authorizer": authorizer}}
            return [t["name"] for t in json.loads(handler.handle(event, None, invoke=Lambda())["body"])["result"]["tools"]]

        assert listed({"principalId": "svc", "scopes": "read tools:fail"}) == ["fail"]
        assert listed({"principalId": "svc", "scopes": "read"}) == ["search", "fail", "shaped"]
        assert listed({"lambda": {"principalId": "svc", "scopes": "tools:*"}}) == ["search", "fail", "shaped"]
        # JWT authorizers: HTTP API (jwt.claims, the matched jwt.scopes) and REST Cognito (claims).
        assert listed({"jwt": {"claims": {"sub": "agent", "scope": "openid tools:search"}, "scopes": None}}) \
            == ["search"]
        assert listed({"jwt": {"claims": {"sub": "agent"}, "scopes": ["tools:shaped"]}}) == ["shaped"]
        assert listed({"claims": {"sub": "agent", "scope": "tools:fail tools:search"}}) == ["search", "fail"]
        assert listed({"claims": {"sub": "agent", "scp": ["profile"]}}) == ["search", "fail", "shaped"]
    finally:
        handler.reset()
