"""McpToolsStack through ``make local``'s runner, driven by the official MCP Python SDK's client (``mcp`` 2.x):
the stateless 2026-07-28 revision and the 2025-11-25 initialize handshake, over real HTTP on loopback, with the
tool functions invoked through the runner's Lambda Invoke API and the items table in moto."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from local_support import Running

pytestmark = pytest.mark.xdist_group("examples")

T = TypeVar("T")
STACK = "McpToolsStack"


def endpoint(examples: Running) -> str:
    api = next(a for a in examples.info["apis"] if a["stack"] == STACK and a["label"].startswith("Tools"))
    return f"{api['url']}/mcp"


def local_key(examples: Running) -> str:
    value = next(v["value"] for k, v in examples.info["credentials"].items() if k.startswith(f"{STACK}/gateway-"))
    return str(value).removeprefix("Bearer ")


def gateway_table(examples: Running) -> str:
    return next(r["name"] for r in examples.info["resources"]
                if r["kind"] == "table" and r["stack"] == STACK and "GatewayTable" in r["name"])


def run(examples: Running, key: str, mode: str, use: Callable[[Any], Awaitable[T]]) -> T:
    """Connect the SDK's client to the local endpoint with ``key`` and run ``use(client)``."""
    import httpx2
    from mcp.client.client import Client
    from mcp.client.streamable_http import streamable_http_client

    async def main() -> T:
        async with (httpx2.AsyncClient(headers={"authorization": f"Bearer {key}"}, timeout=30) as http,
                    Client(streamable_http_client(endpoint(examples), http_client=http), mode=mode) as client):
            return await use(client)

    try:
        return asyncio.run(main())
    except BaseExceptionGroup as group:  # the SDK's task group wraps what the call raised
        leaves = group.exceptions
        while len(leaves) == 1 and isinstance(leaves[0], BaseExceptionGroup):
            leaves = leaves[0].exceptions
        if len(leaves) == 1:
            raise leaves[0] from group
        raise


@pytest.fixture(scope="module")
def item(examples: Running) -> str:
    table = next(r["name"] for r in examples.info["resources"]
                 if r["kind"] == "table" and r["stack"] == STACK and r["label"].startswith("ItemsTable"))
    examples.client("dynamodb").put_item(TableName=table, Item={
        "pk": {"S": "ITEM#sku-1"}, "name": {"S": "Teapot"}, "price": {"N": "12.5"},
        "tags": {"L": [{"S": "kitchen"}]}})
    return "sku-1"


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
def test_sdk_lists_the_tools_with_schemas_from_the_handlers_type_hints(examples: Running, mode: str) -> None:
    async def use(client: Any) -> Any:
        return await client.list_tools()

    listed = run(examples, local_key(examples), mode, use)
    tools = {tool.name: tool for tool in listed.tools}
    assert set(tools) == {"lookup_item", "summarize_text"}
    assert tools["lookup_item"].input_schema["required"] == ["id"]
    assert tools["lookup_item"].input_schema["properties"]["id"]["type"] == "string"
    assert tools["lookup_item"].annotations.read_only_hint is True
    summarize = tools["summarize_text"].input_schema
    assert summarize["properties"]["max_words"] == {
        "type": "integer", "default": 60, "description": "At most this many words in the summary."}
    assert summarize["required"] == ["text"]


@pytest.mark.parametrize("mode", ["2026-07-28", "legacy"])
def test_sdk_calls_a_tool_that_reads_the_items_table(examples: Running, item: str, mode: str) -> None:
    async def use(client: Any) -> Any:
        return await client.call_tool("lookup_item", {"id": item})

    result = run(examples, local_key(examples), mode, use)
    assert result.is_error is False
    assert result.structured_content == {"id": "sku-1", "name": "Teapot", "price": 12.5, "tags": ["kitchen"]}


def test_sdk_calls_the_tool_that_asks_the_ai_gateway(examples: Running) -> None:
    async def use(client: Any) -> Any:
        return await client.call_tool("summarize_text", {"text": "A long text about teapots. " * 20,
                                                         "max_words": 10})

    result = run(examples, local_key(examples), "2026-07-28", use)
    assert result.is_error is False, result.content
    assert result.structured_content["model"] and "local model" in result.structured_content["summary"]


def test_a_failing_tool_is_a_tool_error_with_the_functions_error_type(examples: Running) -> None:
    async def use(client: Any) -> Any:
        return await client.call_tool("lookup_item", {"id": "no-such-item"})

    result = run(examples, local_key(examples), "2026-07-28", use)
    assert result.is_error is True
    assert result.content[0].text.startswith("ItemNotFound: no item with id 'no-such-item'")


def test_arguments_that_break_the_schema_are_a_tool_error_the_model_can_read(examples: Running) -> None:
    async def use(client: Any) -> Any:
        return await client.call_tool("summarize_text", {"text": 42})

    result = run(examples, local_key(examples), "2026-07-28", use)
    assert result.is_error is True
    assert result.content[0].text.startswith("InvalidArguments: arguments.text")


def test_a_key_reaches_only_the_tools_in_its_allowlist(examples: Running, item: str) -> None:
    from mcp.shared.exceptions import MCPError

    from lambda_manifest.keys import create_key

    restricted = create_key(examples.client("dynamodb"), gateway_table(examples), tenant="agents", models=["*"],
                            tools=["summarize_text"], name="e2e summarize only").api_key

    async def listed(client: Any) -> Any:
        return await client.list_tools()

    assert [t.name for t in run(examples, restricted, "2026-07-28", listed).tools] == ["summarize_text"]

    async def forbidden(client: Any) -> Any:
        return await client.call_tool("lookup_item", {"id": item})

    with pytest.raises(MCPError) as raised:
        run(examples, restricted, "2026-07-28", forbidden)
    assert raised.value.code == -32602 and "allowlist" in str(raised.value)


def test_calls_count_against_the_keys_rpm(examples: Running, item: str) -> None:
    from mcp.shared.exceptions import MCPError

    from lambda_manifest.keys import create_key

    limited = create_key(examples.client("dynamodb"), gateway_table(examples), tenant="agents", models=["*"],
                         tools=["*"], rpm=1, name="e2e one a minute").api_key

    async def twice(client: Any) -> Any:
        await client.call_tool("lookup_item", {"id": item})
        return await client.call_tool("lookup_item", {"id": item})

    with pytest.raises(MCPError, match="Rate limited"):
        run(examples, limited, "2026-07-28", twice)


def test_a_request_without_a_valid_key_is_refused_before_anything_runs(examples: Running) -> None:
    async def use(client: Any) -> Any:
        return await client.list_tools()

    with pytest.raises(Exception) as raised:  # the SDK surfaces the 401 as its own error type
        run(examples, "lmg-not-a-key", "2026-07-28", use)
    assert "401" in repr(raised.value) or "invalid API key" in repr(raised.value)
