"""McpToolGateway: what it builds, the exact invoke grants, the catalogue the runtime reads, input schemas read
from handler type hints (never importing the handler), the AgentCore mode, and one ``test_fails_*`` per
validation."""

from __future__ import annotations

import base64
import json
import textwrap
import zlib
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from lambda_manifest import (
    AiGatewayFunction,
    Authorizer,
    FunctionOptions,
    HttpApiOptions,
    HttpServerlessApi,
    IServerlessApi,
    McpToolGateway,
    ModelAlias,
    ObservedFunction,
    PropsError,
    Provider,
    RestApiOptions,
    RestServerlessApi,
    Target,
    TenantQuota,
    Throttle,
    ToolAnnotations,
)
from lambda_manifest._tool_schema import SchemaProblem, derive_input_schema
from lambda_manifest.runtime.mcp import contract
from tests.support import nag_findings, new_stack

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:gw/openai-AbCdEf"
TYPED = lambda_.Code.from_inline(textwrap.dedent("""
    from typing import TypedDict

    class Query(TypedDict):
        q: str

    def main(event: Query, context):
        return {"hits": []}
"""))


def gateway_keys(stack: cdk.Stack, **quotas: TenantQuota) -> AiGatewayFunction:
    from aws_cdk import aws_secretsmanager as secretsmanager

    return AiGatewayFunction(
        stack, "Gateway",
        providers={"openai": Provider.openai_compatible(
            base_url="https://api.openai.com/v1",
            secret=secretsmanager.Secret.from_secret_complete_arn(stack, "Key", SECRET_ARN))},
        models={"fast": ModelAlias(targets=[Target(provider="openai", model="gpt-4o-mini")])},
        track_cost=False, quotas=quotas or None)


def tool_function(stack: cdk.Stack, id: str = "Search", code: lambda_.Code = TYPED, timeout: int = 10,
                  handler: str = "index.main") -> ObservedFunction:
    return ObservedFunction(stack, id, handler=handler, code=code, timeout=cdk.Duration.seconds(timeout))


def config_of(template: Template) -> tuple[dict[str, Any], Any]:
    for resource in template.find_resources("AWS::Lambda::Function").values():
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        if contract.CONFIG_ENV in variables:
            text = variables[contract.CONFIG_ENV]
            if text.startswith("zlib:"):
                text = zlib.decompress(base64.b64decode(text[5:])).decode()
            return json.loads(text), variables[contract.FUNCTIONS_ENV]
    raise AssertionError("no MCP gateway function")


def test_builds_a_rest_endpoint_and_a_gateway_function_on_the_runtime() -> None:
    stack = new_stack()
    tools = McpToolGateway(stack, "Tools", keys=gateway_keys(stack))
    tools.add_tool("search", tool_function(stack), description="Search the catalogue")
    template = Template.from_stack(stack)
    assert tools.api is not None and tools.function is not None
    methods = {(m["Properties"]["HttpMethod"], m["Properties"]["AuthorizationType"])
               for m in template.find_resources("AWS::ApiGateway::Method").values()}
    assert methods == {("POST", "NONE"), ("GET", "NONE"), ("DELETE", "NONE")}
    assert len(template.find_resources("AWS::ApiGateway::RestApi")) == 1
    logical_id = stack.get_logical_id(tools.function.node.default_child)  # type: ignore[arg-type]
    assert template.to_json()["Resources"][logical_id]["Properties"]["Handler"] == contract.HANDLER


def test_the_gateway_function_runs_the_runtime_from_its_own_asset_with_no_layer() -> None:
    stack = new_stack()
    tools = McpToolGateway(stack, "Tools", keys=gateway_keys(stack))
    tools.add_tool("search", tool_function(stack), description="Search the catalogue")
    assert tools.function is not None
    logical_id = stack.get_logical_id(tools.function.node.default_child)  # type: ignore[arg-type]
    function = Template.from_stack(stack).to_json()["Resources"][logical_id]["Properties"]
    # The MCP runtime and the AI gateway's key code travel in the function's code; it never streams, so no
    # stream runtime layer and no exec wrapper.
    assert "Layers" not in function
    assert "AWS_LAMBDA_EXEC_WRAPPER" not in function["Environment"]["Variables"]


def endpoint_routes(template: Template) -> set[tuple[str, str]]:
    rest = {(m["Properties"]["HttpMethod"], m["Properties"]["AuthorizationType"])
            for m in template.find_resources("AWS::ApiGateway::Method").values()}
    http = {(r["Properties"]["RouteKey"].split()[0], r["Properties"]["AuthorizationType"])
            for r in template.find_resources("AWS::ApiGatewayV2::Route").values()}
    return rest | http


@pytest.mark.parametrize("kind", ["http", "rest"])
def test_either_api_kind_takes_the_endpoint_through_iserverlessapi_behind_its_authorizer(kind: str) -> None:
    stack = new_stack()
    api: IServerlessApi = (
        HttpServerlessApi(stack, "Api", authorizer=Authorizer.jwt(issuer="https://idp.example.com/", audience=["mcp"]))
        if kind == "http" else RestServerlessApi(stack, "Api", authorizer=Authorizer.cognito()))
    tools = McpToolGateway(stack, "Tools", api=api, timeout=cdk.Duration.seconds(api.integration_timeout_seconds - 1))
    tools.add_tool("search", tool_function(stack), description="Search the catalogue")
    template = Template.from_stack(stack)
    expected = "JWT" if kind == "http" else "COGNITO_USER_POOLS"
    assert endpoint_routes(template) == {("POST", expected), ("GET", expected), ("DELETE", expected)}
    assert tools.api is api and tools.url.endswith("mcp")
    config, _ = config_of(template)
    assert config["auth"] == {"mode": "authorizer"}
    assert tools.timeout_seconds == (29 if kind == "http" else 28)


def test_api_options_choose_the_kind_of_the_api_it_creates() -> None:
    stack = new_stack()
    http = McpToolGateway(stack, "Http", keys=gateway_keys(stack),
                          api_options=HttpApiOptions(throttle=Throttle(rate_limit=20, burst_limit=40)))
    http.add_tool("search", tool_function(stack), description="Search")
    rest = McpToolGateway(stack, "Rest", authorizer=Authorizer.cognito(),
                          api_options=RestApiOptions(stage_name="live"))
    rest.add_tool("search", tool_function(stack, "Other"), description="Search")
    assert isinstance(http.api, HttpServerlessApi) and isinstance(rest.api, RestServerlessApi)
    template = Template.from_stack(stack)
    routes = endpoint_routes(template)
    assert ("POST", "NONE") in routes and ("POST", "COGNITO_USER_POOLS") in routes
    stages = template.find_resources("AWS::ApiGatewayV2::Stage").values()  # the AI gateway's and the MCP one's
    assert sorted(s["Properties"]["DefaultRouteSettings"]["ThrottlingRateLimit"] for s in stages)[0] == 20
    assert [s["Properties"]["StageName"] for s in template.find_resources("AWS::ApiGateway::Stage").values()] \
        == ["live"]


def test_function_options_reach_the_gateway_function() -> None:
    stack = new_stack()
    tools = McpToolGateway(stack, "Tools", keys=gateway_keys(stack),
                           function_options=FunctionOptions(environment={"TEAM": "search"}, description="Tools"))
    tools.add_tool("search", tool_function(stack), description="Search")
    assert tools.function is not None
    logical_id = stack.get_logical_id(tools.function.node.default_child)  # type: ignore[arg-type]
    function = Template.from_stack(stack).to_json()["Resources"][logical_id]["Properties"]
    assert function["Environment"]["Variables"]["TEAM"] == "search" and function["Description"] == "Tools"
    assert {contract.CONFIG_ENV, contract.FUNCTIONS_ENV, contract.KEYS_TABLE_ENV} <= set(
        function["Environment"]["Variables"])


def test_the_gateway_may_invoke_exactly_its_tools() -> None:
    stack = new_stack()
    tools = McpToolGateway(stack, "Tools", keys=gateway_keys(stack))
    one, two = tool_function(stack, "One"), tool_function(stack, "Two")
    tool_function(stack, "NotATool")
    tools.add_tool("one", one, description="First")
    tools.add_tool("two", two, description="Second")
    assert tools.function is not None
    policy = stack.resolve(tools.function.managed_policy.document.to_json())
    invokes = [s["Resource"] for s in policy["Statement"] if s["Action"] == "lambda:InvokeFunction"]
    assert invokes == [stack.resolve(one.function_arn), stack.resolve(two.function_arn)]
    table = [s for s in policy["Statement"] if str(s["Action"]).startswith("['dynamodb") or
             (isinstance(s["Action"], list) and s["Action"][0].startswith("dynamodb:"))]
    assert [s["Action"] for s in table] == [["dynamodb:GetItem", "dynamodb:UpdateItem"]]


def test_the_catalogue_carries_definitions_timeouts_auth_and_tenant_rpm() -> None:
    stack = new_stack()
    tools = McpToolGateway(stack, "Tools", keys=gateway_keys(stack, acme=TenantQuota(rpm=30)),
                           server_name="catalogue", instructions="Use search first.")
    function = tool_function(stack, timeout=12)
    tools.add_tool("search", function, description="Search the catalogue", title="Search",
                   annotations=ToolAnnotations(read_only=True, open_world=False),
                   output_schema={"type": "object", "properties": {"hits": {"type": "array"}}})
    config, functions = config_of(Template.from_stack(stack))
    assert config["server"]["name"] == "catalogue" and config["instructions"] == "Use search first."
    assert config["auth"] == {"mode": "keys", "tenant_rpm": {"acme": 30}}
    (tool,) = config["tools"]
    assert tool == {
        "name": "search", "title": "Search", "description": "Search the catalogue",
        "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        "outputSchema": {"type": "object", "properties": {"hits": {"type": "array"}}},
        "annotations": {"readOnlyHint": True, "openWorldHint": False}, "timeout_s": 12.0, "validate": True}
    assert json.dumps(stack.resolve(function.function_arn)) in json.dumps(functions)
    assert (config["page_size"], config["list_ttl_ms"]) == (50, 300000)


def test_alarms_per_tool_on_error_rate_and_p99_latency_against_its_timeout() -> None:
    stack = new_stack()
    tools = McpToolGateway(stack, "Tools", keys=gateway_keys(stack), error_rate_alarm_percent=7,
                           latency_alarm_fraction=0.5)
    tool = tools.add_tool("search", tool_function(stack, timeout=10), description="Search")
    assert set(tool.alarms) == {"ErrorRate", "LatencyP99"}
    latency = stack.resolve(tool.alarms["LatencyP99"].node.default_child._cfn_properties)  # type: ignore[union-attr]
    assert latency["threshold"] == 5000 and latency["metricName"] == contract.METRIC_LATENCY
    assert latency["dimensions"] == [{"name": "Tool", "value": "search"}] and latency["extendedStatistic"] == "p99"
    rate = stack.resolve(tool.alarms["ErrorRate"].node.default_child._cfn_properties)  # type: ignore[union-attr]
    assert rate["threshold"] == 7 and "IF(calls >= 10, 100 * errors / calls, 0)" in json.dumps(rate["metrics"])


def test_the_example_stack_passes_all_five_packs_in_both_modes(tmp_path: Path) -> None:
    def build(stack: cdk.Stack) -> None:
        tools = McpToolGateway(stack, "Tools", keys=gateway_keys(stack))
        tools.add_tool("search", tool_function(stack), description="Search")
        managed = McpToolGateway(stack, "Managed", mode="agentcore")
        managed.add_tool("lookup", tool_function(stack, "Lookup"), description="Look up")

    assert nag_findings(build, tmp_path) == []


def test_agentcore_mode_builds_a_gateway_with_lambda_targets_and_inline_schemas() -> None:
    stack = new_stack()
    tools = McpToolGateway(stack, "Tools", mode="agentcore", instructions="Look things up")
    tools.add_tool("lookup_item", tool_function(stack), description="Look up one item")
    template = Template.from_stack(stack)
    (gateway,) = template.find_resources("AWS::BedrockAgentCore::Gateway").values()
    assert gateway["Properties"]["AuthorizerType"] == "AWS_IAM"
    assert gateway["Properties"]["ProtocolConfiguration"]["Mcp"]["Instructions"] == "Look things up"
    (target,) = template.find_resources("AWS::BedrockAgentCore::GatewayTarget").values()
    assert target["Properties"]["Name"] == "lookup-item"
    (payload,) = target["Properties"]["TargetConfiguration"]["Mcp"]["Lambda"]["ToolSchema"]["InlinePayload"]
    assert payload["Name"] == "lookup_item"
    assert payload["InputSchema"] == {"Type": "object", "Properties": {"q": {"Type": "string"}}, "Required": ["q"]}
    assert not template.find_resources("AWS::ApiGateway::RestApi") and tools.function is None


# -- input schemas from type hints ----------------------------------------------------------------------------


def schema_of(tmp_path: Path, source: str, handler: str = "tool.main", **files: str) -> dict[str, Any]:
    (tmp_path / "tool.py").write_text(textwrap.dedent(source))
    for name, text in files.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))
    return derive_input_schema(handler, lambda_.Code.from_asset(str(tmp_path)))


def test_schema_from_a_typed_dict_with_docs_optional_fields_and_nested_types(tmp_path: Path) -> None:
    schema = schema_of(tmp_path, '''
        from typing import Annotated, Literal, NotRequired, TypedDict
        raise SystemExit("importing this module would fail")

        class Window(TypedDict, total=False):
            start: str
            days: int

        class Search(TypedDict):
            """Search the catalogue."""

            query: str
            """Words to look for."""
            limit: NotRequired[int | None]
            sort: Literal["price", "name"]
            tags: list[str]
            weights: dict[str, float]
            window: Window
            note: Annotated[str, "Free text"]

        def main(event: Search, context):
            return {}
    ''')
    assert schema == {
        "type": "object", "description": "Search the catalogue.",
        "required": ["query", "sort", "tags", "weights", "window", "note"],
        "properties": {
            "query": {"type": "string", "description": "Words to look for."},
            "limit": {"type": ["integer", "null"]},
            "sort": {"type": "string", "enum": ["price", "name"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "weights": {"type": "object", "additionalProperties": {"type": "number"}},
            "window": {"type": "object", "properties": {"start": {"type": "string"}, "days": {"type": "integer"}}},
            "note": {"type": "string", "description": "Free text"},
        },
    }


def test_schema_from_a_dataclass_imported_from_a_sibling_module(tmp_path: Path) -> None:
    schema = schema_of(tmp_path, '''
        from models import Order
        from lambda_manifest.runtime.mcp.tool import tool

        @tool
        def main(order: Order, context):
            return {}
    ''', models='''
        import dataclasses
        from dataclasses import dataclass, field
        from datetime import date
        from typing import Optional

        @dataclass
        class Order:
            sku: str
            quantity: int = 1
            due: Optional[date] = None
            notes: list[str] = field(default_factory=list)
            rush: bool = field(default=False)
    ''')
    assert schema == {"type": "object", "required": ["sku"], "properties": {
        "sku": {"type": "string"}, "quantity": {"type": "integer", "default": 1},
        "due": {"type": ["string", "null"], "format": "date", "default": None},
        "notes": {"type": "array", "items": {"type": "string"}}, "rush": {"type": "boolean", "default": False}}}


@pytest.mark.parametrize("source, found", [
    ("def main(event, context):\n    pass\n", "(event) has no type hint"),
    ("def main(event: dict, context):\n    pass\n", "not a TypedDict or dataclass"),
    ("class A:\n    x: int\ndef main(event: A, context):\n    pass\n", "neither a TypedDict nor a @dataclass"),
    ("from typing import TypedDict\nclass A(TypedDict):\n    x: set[tuple[int, str]]\ndef main(event: A, c):\n"
     "    pass\n", "fixed-length tuple"),
    ("from typing import TypedDict\nimport re\nclass A(TypedDict):\n    x: re.Pattern\ndef main(event: A, c):\n"
     "    pass\n", "A.x is typed re.Pattern"),
    ("def other(event, context):\n    pass\n", "defines no function 'main'"),
    ("def main(:\n", "does not parse"),
])
def test_schema_problems_name_what_was_found(tmp_path: Path, source: str, found: str) -> None:
    with pytest.raises(SchemaProblem, match=found.replace("(", r"\(").replace(")", r"\)")):
        schema_of(tmp_path, source)


def test_fails_when_no_schema_can_be_derived_and_says_how_to_give_one() -> None:
    stack = new_stack()
    tools = McpToolGateway(stack, "Tools", keys=gateway_keys(stack))
    untyped = tool_function(stack, code=lambda_.Code.from_inline("def main(event, context):\n    return 1\n"))
    with pytest.raises(PropsError, match=r"input_schema must be given.*has no type hint.*pass input_schema="):
        tools.add_tool("search", untyped, description="Search")
    imported = lambda_.Function.from_function_arn(stack, "Imported", "arn:aws:lambda:us-east-1:1:function:x")
    with pytest.raises(PropsError, match="cannot be read at synth"):
        tools.add_tool("imported", imported, description="Imported")
    tool = tools.add_tool("imported", imported, description="Imported", input_schema={"type": "object"})
    assert tool.timeout_seconds == 26  # unknown: the longest a call may take


# -- validation ------------------------------------------------------------------------------------------------


def test_fails_add_tool_with_every_problem_named() -> None:
    stack = new_stack()
    tools = McpToolGateway(stack, "Tools", keys=gateway_keys(stack))
    with pytest.raises(PropsError) as raised:
        tools.add_tool("bad name!", tool_function(stack, timeout=27), description=" ",
                       input_schema={"type": "array"})
    message = str(raised.value)
    for expected in ("name must be 1-128 characters", "description must be a sentence",
                     'input_schema must be a JSON schema object with "type": "object"',
                     "function timeout must be at most 26 s"):
        assert expected in message


def test_fails_a_duplicate_tool_name() -> None:
    stack = new_stack()
    tools = McpToolGateway(stack, "Tools", keys=gateway_keys(stack))
    tools.add_tool("search", tool_function(stack), description="Search")
    with pytest.raises(PropsError, match="unique within the gateway"):
        tools.add_tool("search", tool_function(stack, "Other"), description="Again")


def test_fails_without_a_way_to_authenticate_or_with_two() -> None:
    stack = new_stack()
    with pytest.raises(PropsError, match="keys / authorizer must be one of them"):
        McpToolGateway(stack, "Tools")
    with pytest.raises(PropsError, match="authorizer must be unset when keys= is given"):
        McpToolGateway(stack, "Both", keys=gateway_keys(stack), authorizer=Authorizer.iam())


def test_fails_an_api_without_an_authorizer_and_without_keys() -> None:
    stack = new_stack()
    with pytest.raises(PropsError, match=r"keys / authorizer must be one of them.*or an api= that has an authorizer"):
        McpToolGateway(stack, "Tools", api=HttpServerlessApi(stack, "Open"))


def test_fails_authorizer_or_api_options_beside_an_api() -> None:
    stack = new_stack()
    api = RestServerlessApi(stack, "Api", authorizer=Authorizer.cognito())
    with pytest.raises(PropsError, match="authorizer/api_options must be used only when the construct creates"):
        McpToolGateway(stack, "Tools", api=api, api_options=RestApiOptions(stage_name="live"))
    with pytest.raises(PropsError, match=r"api_options\.authorizer must be passed as authorizer="):
        McpToolGateway(stack, "Other", api_options=HttpApiOptions(authorizer=Authorizer.iam()),
                       authorizer=Authorizer.iam())


def test_fails_untyped_or_reserved_function_options() -> None:
    stack = new_stack()
    keys = gateway_keys(stack)
    with pytest.raises(PropsError, match=r"function_options must be a FunctionOptions\(...\), got 'a dict'; write "
                                         r"FunctionOptions\(memory_size=...\)"):
        McpToolGateway(stack, "Tools", keys=keys, function_options={"memory_size": 512})  # type: ignore[arg-type]
    with pytest.raises(PropsError) as raised:
        McpToolGateway(stack, "Other", keys=keys, function_options=FunctionOptions(
            handler="app.main", timeout=cdk.Duration.seconds(5), environment={contract.CONFIG_ENV: "{}"}))
    message = str(raised.value)
    for expected in ("function_options.handler must be not set here", "pass timeout= to McpToolGateway itself",
                     f"function_options.environment must be without {contract.CONFIG_ENV}"):
        assert expected in message


def test_fails_a_timeout_past_the_api_kinds_integration_timeout() -> None:
    stack = new_stack()
    with pytest.raises(PropsError, match="timeout must be between 4 and 29 s, got 30.0; the gateway answers "
                                         r"through API Gateway's HTTP integration timeout \(30 s\)"):
        McpToolGateway(stack, "Tools", keys=gateway_keys(stack), api_options=HttpApiOptions(),
                       timeout=cdk.Duration.seconds(30))


def test_fails_agentcore_mode_with_the_lambda_modes_props() -> None:
    stack = new_stack()
    with pytest.raises(PropsError, match="keys must be unset with mode='agentcore'"):
        McpToolGateway(stack, "Tools", mode="agentcore", keys=gateway_keys(stack))
    with pytest.raises(PropsError, match="mode must be 'lambda' or 'agentcore'"):
        McpToolGateway(stack, "Other", mode="fargate", authorizer=Authorizer.iam())


def test_fails_out_of_range_settings() -> None:
    stack = new_stack()
    with pytest.raises(PropsError) as raised:
        McpToolGateway(stack, "Tools", keys=gateway_keys(stack), path="mcp", page_size=0,
                       timeout=cdk.Duration.seconds(29), latency_alarm_fraction=2.0)
    message = str(raised.value)
    for expected in ("path must be a path like '/mcp'", "page_size must be between 1 and 1000",
                     "timeout must be between 4 and 28 s", "latency_alarm_fraction must be between 0.01 and 1"):
        assert expected in message


def test_fails_synth_without_tools() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Empty")
    McpToolGateway(stack, "Tools", keys=gateway_keys(stack))
    with pytest.raises(Exception, match="publishes no tools; call add_tool"):
        app.synth()


def test_fails_synth_when_the_catalogue_outgrows_the_environment() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Big")
    tools = McpToolGateway(stack, "Tools", keys=gateway_keys(stack))
    function = tool_function(stack)
    for index in range(40):
        tools.add_tool(f"tool_{index}", function, description=f"Tool number {index}: " + "x" * 60,
                       input_schema={"type": "object", "properties": {f"p{index}": {"type": "string"}}})
    with pytest.raises(Exception, match="of the function's environment"):
        app.synth()
