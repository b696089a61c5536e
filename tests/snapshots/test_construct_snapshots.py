"""One small snapshot per construct and configuration, beside the per-stack ones.

Each builds a stack holding one construct in one configuration (and the per-stack resources it shares), so a
change to a construct shows up in a review as a diff of that construct's resources, not somewhere inside a
100 KB example stack. Templates go through ``lambda_manifest.testing.normalized_template``. Update with
``pytest tests/snapshots --snapshot-update`` and read the diff.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from lambda_manifest import (
    AiGatewayFunction,
    AsyncWorker,
    Authorizer,
    DataTable,
    FunctionOptions,
    HttpServerlessApi,
    McpToolGateway,
    ModelAlias,
    ObservedFunction,
    Price,
    Provider,
    ResponseCache,
    RestServerlessApi,
    RouteCache,
    Target,
    ToolAnnotations,
    UsagePlan,
)
from lambda_manifest.testing import normalized_template

INLINE = "def main(event, context):\n    return event\n"
APP_CODE = Path(__file__).resolve().parents[1] / "constructs" / "app_code"
REASON = "Health checks from the load balancer carry no credentials and return no data."
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:gw/openai-AbCdEf"
TOOL = ("from typing import TypedDict\n"
        "class Lookup(TypedDict):\n"
        "    id: str\n"
        "def main(event: Lookup, context):\n"
        "    return {'id': event['id']}\n")


def code() -> lambda_.Code:
    return lambda_.Code.from_inline(INLINE)


def function(stack: cdk.Stack, timeout: int = 29) -> ObservedFunction:
    return ObservedFunction(stack, "Fn", handler="index.main", code=code(), timeout=cdk.Duration.seconds(timeout))


def observed_function_default(stack: cdk.Stack) -> None:
    ObservedFunction(stack, "Fn", handler="index.main", code=code())


def observed_function_scheduled(stack: cdk.Stack) -> None:
    job = ObservedFunction(stack, "Job", handler="index.main", code=code(), async_invocation=True,
                           reserved_concurrent_executions=2, timeout=cdk.Duration.minutes(5))
    job.add_schedule("Nightly", events.Schedule.cron(minute="0", hour="3"))


def http_api_jwt(stack: cdk.Stack) -> None:
    api = HttpServerlessApi(stack, "Api", authorizer=Authorizer.jwt(issuer="https://idp.example.com/",
                                                                    audience=["items"]))
    fn = function(stack)
    api.add_route("GET /items/{id}", fn)
    api.add_route("GET /health", fn, public_reason=REASON)


def http_api_lambda_authorizer(stack: cdk.Stack) -> None:
    api = HttpServerlessApi(stack, "Api", code=code(), authorizer=Authorizer.lambda_(
        jwks_url="https://idp.example.com/.well-known/jwks.json", issuer="https://idp.example.com/",
        audience=["items"], function_options=FunctionOptions(code=code())))
    api.add_route("POST /items", FunctionOptions(handler="index.main"))


def rest_api_cognito_cache_keys(stack: cdk.Stack) -> None:
    api = RestServerlessApi(stack, "Api", authorizer=Authorizer.cognito(), cache=ResponseCache(),
                            usage_plans=[UsagePlan(name="Gold", quota_limit=1000, api_keys=["Acme"])])
    fn = function(stack)
    api.add_route("GET /catalog", fn, cache=RouteCache(query_strings=["limit"]))
    api.add_route("POST /orders", fn, request_model={"type": "object", "required": ["sku"]})


def rest_api_streaming_route(stack: cdk.Stack) -> None:
    api = RestServerlessApi(stack, "Api", authorizer=Authorizer.cognito())
    api.add_route("GET /events", function(stack, timeout=300), stream=True)


def async_worker_process(stack: cdk.Stack) -> None:
    AsyncWorker(stack, "Worker", process="jobs.worker:process", code=lambda_.Code.from_asset(str(APP_CODE)))


def async_worker_fifo_idempotent_http_route(stack: cdk.Stack) -> None:
    worker = AsyncWorker(stack, "Worker", process="jobs.worker:process", code=lambda_.Code.from_asset(str(APP_CODE)),
                         fifo=True, idempotency=True)
    worker.add_api_route(HttpServerlessApi(stack, "Api"), "POST /jobs", public_reason=REASON,
                         message_group_id="$request.header.X-Group-Id")


def async_worker_rest_route(stack: cdk.Stack) -> None:
    worker = AsyncWorker(stack, "Worker", process="jobs.worker:process", code=lambda_.Code.from_asset(str(APP_CODE)))
    worker.add_api_route(RestServerlessApi(stack, "Api", authorizer=Authorizer.cognito()), "POST /jobs")


def _gateway(stack: cdk.Stack, **options: object) -> AiGatewayFunction:
    secret = secretsmanager.Secret.from_secret_complete_arn(stack, "OpenAiKey", SECRET_ARN)
    return AiGatewayFunction(
        stack, "Gateway",
        providers={"openai": Provider.openai_compatible(base_url="https://api.openai.com/v1", secret=secret)},
        models={"fast": ModelAlias(targets=[Target(provider="openai", model="gpt-4o-mini")])},
        prices={"openai/gpt-4o-mini": Price(input=0.15, output=0.60)},
        **options,  # type: ignore[arg-type]
    )


def ai_gateway_http(stack: cdk.Stack) -> None:
    _gateway(stack)


def ai_gateway_streaming(stack: cdk.Stack) -> None:
    _gateway(stack, streaming=True)


def _tool(stack: cdk.Stack) -> ObservedFunction:
    return ObservedFunction(stack, "Lookup", handler="index.main", code=lambda_.Code.from_inline(TOOL),
                            timeout=cdk.Duration.seconds(10))


def mcp_tool_gateway_keys(stack: cdk.Stack) -> None:
    tools = McpToolGateway(stack, "Tools", keys=_gateway(stack))
    tools.add_tool("lookup", _tool(stack), description="Look one item up by its id.",
                   annotations=ToolAnnotations(read_only=True))


def mcp_tool_gateway_http_jwt(stack: cdk.Stack) -> None:
    api = HttpServerlessApi(stack, "Api", authorizer=Authorizer.jwt(issuer="https://idp.example.com/",
                                                                    audience=["tools"]))
    tools = McpToolGateway(stack, "Tools", api=api, timeout=cdk.Duration.seconds(29))
    tools.add_tool("lookup", _tool(stack), description="Look one item up by its id.")


def mcp_tool_gateway_agentcore(stack: cdk.Stack) -> None:
    tools = McpToolGateway(stack, "Tools", mode="agentcore")
    tools.add_tool("lookup", _tool(stack), description="Look one item up by its id.")


def data_table_default(stack: cdk.Stack) -> None:
    DataTable(stack, "Table", partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING))


CONFIGURATIONS: dict[str, Callable[[cdk.Stack], None]] = {
    build.__name__: build for build in (
        observed_function_default, observed_function_scheduled, http_api_jwt, http_api_lambda_authorizer,
        rest_api_cognito_cache_keys, rest_api_streaming_route, async_worker_process,
        async_worker_fifo_idempotent_http_route, async_worker_rest_route, ai_gateway_http, ai_gateway_streaming,
        mcp_tool_gateway_keys, mcp_tool_gateway_http_jwt, mcp_tool_gateway_agentcore, data_table_default,
    )
}


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("configuration", sorted(CONFIGURATIONS))
def test_construct_template_snapshot(configuration: str, snapshot_json: SnapshotAssertion) -> None:
    stack = cdk.Stack(cdk.App(), "Snapshot")
    CONFIGURATIONS[configuration](stack)
    assert normalized_template(stack) == snapshot_json
