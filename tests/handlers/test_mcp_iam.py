"""The MCP gateway function may call exactly what the MCP runtime calls.

The runtime is driven through everything that touches AWS (a virtual key read, a tools/call counted against
the key's and the tenant's rpm, the tool's invocation) against moto, while a botocore ``before-parameter-build``
hook on each of its clients records the operation (the Invoke is recorded, then stopped: moto cannot run a
function without Docker). Each operation is mapped to the IAM action that authorizes it, transactions by their
items' actions, and that set must equal the actions the synthesized template grants the gateway function on
the AI gateway's table and on the tool functions: nothing missing, nothing extra."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as sm
from aws_cdk.assertions import Template
from gateway_fakes import TABLE, cached_client, create_table
from moto import mock_aws

from lambda_manifest import (
    AiGatewayFunction,
    McpToolGateway,
    ModelAlias,
    ObservedFunction,
    Provider,
    Target,
    TenantQuota,
)
from lambda_manifest.keys import create_key
from lambda_manifest.runtime import aws as shared
from lambda_manifest.runtime.gateway import aws
from lambda_manifest.runtime.mcp import contract, handler
from tests.aws_calls import OperationRecorder
from tests.support import new_stack

OPERATION_ACTIONS = {("DynamoDB", "GetItem"): "dynamodb:GetItem", ("DynamoDB", "UpdateItem"): "dynamodb:UpdateItem",
                     ("Lambda", "Invoke"): "lambda:InvokeFunction"}


class Stopped(Exception):
    """Raised after recording a Lambda Invoke, which moto cannot run here."""


class Recorder(OperationRecorder):
    """Stops each Lambda Invoke once it is recorded."""

    def before_call(self, model: Any, params: dict[str, Any], **kwargs: Any) -> None:
        super().before_call(model, params, **kwargs)
        if (model.service_model.service_id, model.name) == ("Lambda", "Invoke"):
            raise Stopped("recorded")


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    recorder = Recorder(OPERATION_ACTIONS)
    with mock_aws():
        ddb = cached_client("dynamodb")
        create_table(ddb)
        real, real_shared = aws.client, shared.client
        aws.reset()
        monkeypatch.setattr(aws, "client", lambda *a, **kw: recorder.hook(real(*a, **kw)))
        monkeypatch.setattr(shared, "client", lambda *a, **kw: recorder.hook(real_shared(*a, **kw)))
        monkeypatch.setenv(contract.KEYS_TABLE_ENV, TABLE)
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv(contract.CONFIG_ENV, json.dumps({
            "auth": {"mode": "keys", "tenant_rpm": {"acme": 100}},
            "tools": [{"name": "t", "description": "d", "inputSchema": {"type": "object"}}]}))
        monkeypatch.setenv(contract.FUNCTIONS_ENV, json.dumps({"t": "arn:aws:lambda:us-east-1:123456789012:function:t"}))
        handler.reset()
        yield recorder
        aws.reset()
    handler.reset()


def test_granted_actions_are_exactly_the_runtimes_calls(recorder: Recorder) -> None:
    key = create_key(cached_client("dynamodb"), TABLE, tenant="acme", models=["*"], tools=["*"], rpm=10).api_key
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "t", "arguments": {}, "_meta": meta}}
    event = {"httpMethod": "POST", "path": "/mcp", "body": json.dumps(body), "requestContext": {"requestId": "r"},
             "headers": {"authorization": f"Bearer {key}", "mcp-protocol-version": "2026-07-28",
                         "mcp-method": "tools/call", "mcp-name": "t"}}
    reply = json.loads(handler.handle(event, None)["body"])
    assert reply["result"]["_meta"][contract.ERROR_TYPE_META] == "Stopped"  # the invoke was reached
    assert not recorder.unknown

    stack = new_stack()
    gateway = AiGatewayFunction(
        stack, "Gateway", track_cost=False, quotas={"acme": TenantQuota(rpm=100)},
        providers={"p": Provider.openai_compatible(base_url="https://api.example.com/v1", secret=sm.Secret.from_secret_complete_arn(
            stack, "S", "arn:aws:secretsmanager:us-east-1:111122223333:secret:x-AbCdEf"))},
        models={"m": ModelAlias(targets=[Target(provider="p", model="m")])})
    tool = ObservedFunction(stack, "Tool", handler="index.main", timeout=cdk.Duration.seconds(5),
                            code=lambda_.Code.from_inline("def main(event, context):\n    return {}\n"))
    tools = McpToolGateway(stack, "Tools", keys=gateway)
    tools.add_tool("t", tool, description="d", input_schema={"type": "object"})
    assert tools.function is not None
    policy = stack.resolve(tools.function.managed_policy.document.to_json())
    table, function = stack.resolve(gateway.table.table_arn), stack.resolve(tool.function_arn)
    granted: set[str] = set()
    for statement in policy["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if table in resources or function in resources:
            actions = statement["Action"]
            granted.update([actions] if isinstance(actions, str) else actions)
    assert granted == recorder.actions == set(contract.KEYS_TABLE_ACTIONS) | {"lambda:InvokeFunction"}
    Template.from_stack(stack)  # and it synthesizes
