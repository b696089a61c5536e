"""McpToolGateway: Lambda functions published as MCP tools, behind the AI gateway's keys, quotas and alarms."""

from __future__ import annotations

import base64
import json
import re
import zlib
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import constructs
import jsii
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from lambda_manifest import _defaults as defaults
from lambda_manifest import _tool_schema
from lambda_manifest._api_auth import Authorizer
from lambda_manifest._api_props import HttpApiOptions, RestApiOptions
from lambda_manifest._function_props import FunctionOptions
from lambda_manifest._mcp_monitoring import McpMonitoring
from lambda_manifest._mcp_props import McpProps
from lambda_manifest._validation import Problems, is_token, seconds
from lambda_manifest.ai_gateway import KEY_ACTIONS, AiGatewayFunction
from lambda_manifest.http_serverless_api import HttpServerlessApi
from lambda_manifest.observed_function import ObservedFunction
from lambda_manifest.rest_serverless_api import RestServerlessApi
from lambda_manifest.runtime.mcp import contract
from lambda_manifest.serverless_api import ApiRoute, IServerlessApi
from lambda_manifest.shared import StackResources

__all__ = ["McpTool", "McpToolGateway", "ToolAnnotations"]

_TOOL_NAME = re.compile(contract.TOOL_NAME_PATTERN)


@dataclass(frozen=True, kw_only=True)
class ToolAnnotations:
    """What a tool does, as hints MCP clients show users and use to decide whether to ask before calling it
    (the spec's ``ToolAnnotations``). Hints are not enforced: a client must not trust them from an untrusted
    server. Every field defaults to - not stated (clients then assume the cautious reading)."""

    title: str | None = None
    read_only: bool | None = None
    destructive: bool | None = None
    idempotent: bool | None = None
    open_world: bool | None = None

    def to_config(self) -> dict[str, Any]:
        pairs = (("title", self.title), ("readOnlyHint", self.read_only), ("destructiveHint", self.destructive),
                 ("idempotentHint", self.idempotent), ("openWorldHint", self.open_world))
        return {k: v for k, v in pairs if v is not None}


@dataclass(frozen=True)
class McpTool:
    """One published tool: its definition as ``tools/list`` shows it and the function that runs it."""

    name: str
    function: lambda_.IFunction
    definition: dict[str, Any]
    timeout_seconds: float
    validate_arguments: bool
    alarms: dict[str, cloudwatch.Alarm]


class McpToolGateway(McpMonitoring):
    """Lambda functions published as tools of an MCP server (Streamable HTTP, the stateless 2026-07-28 revision
    and the 2025-11-25 handshake), authenticated with the AI gateway's virtual keys, each key limited to its
    allowlist of tools and its requests per minute, every call audited, measured and alarmed.

    ``tool = gateway.add_tool("search_items", fn, description="...")`` publishes any ``IFunction``; a Python
    handler's input schema is read from its type hints at synth. MCP clients connect to :attr:`url`. Every
    default comes from :mod:`lambda_manifest._defaults`; docs/constructs/mcp-tool-gateway.md lists each prop.

    Parameters
    ----------
    keys:
        The ``AiGatewayFunction`` whose virtual keys callers present (``Authorization: Bearer <key>``, or its
        ``key_header``). A key's ``tools`` (``python -m lambda_manifest.keys create --tools a,b``) are its
        allowlist, and each ``tools/call`` counts against the key's and its tenant's ``rpm``. Default: - none:
        then ``authorizer``, or an ``api`` with an authorizer, is required.
    authorizer:
        Authenticate with an authorizer of the API this construct creates instead: any ``Authorizer``. Scopes
        ``tools:<name>`` / ``tools:*`` (a Lambda authorizer's context, or a JWT's ``scope`` claim) narrow the
        tools. Default: - none.
    mode:
        ``"lambda"``: the gateway function behind an API Gateway API. ``"agentcore"``: the same tools as an
        Amazon Bedrock AgentCore Gateway with Lambda targets (AWS runs the MCP endpoint; its own authorizer,
        IAM by default, replaces ``keys``). Default: ``"lambda"``.
    server_name / instructions:
        What ``server/discover`` and ``initialize`` report. Default: - the construct id / none.
    api:
        An ``HttpServerlessApi`` or ``RestServerlessApi`` (any ``IServerlessApi``) to add the endpoint to; without
        ``keys``, its authorizer guards the endpoint. Default: - a new ``RestServerlessApi`` (REST, so the
        endpoint can take WAF, usage plans and response streaming).
    api_options:
        The props of the API this construct creates: ``RestApiOptions(...)``, or ``HttpApiOptions(...)`` for an
        HTTP API. Default: - the gateway's own (description, alarm topic, dashboard).
    path:
        The endpoint's path. Default: ``/mcp``.
    page_size / list_ttl:
        ``tools/list`` page size and the ``ttlMs`` cache hint. Default: 50 / 5 minutes.
    timeout / memory_size:
        The gateway function's; the timeout stays one second under the API's integration timeout. Default:
        28 s / 256 MB.
    function_options:
        More ``ObservedFunction`` props of the gateway function: ``FunctionOptions(environment=..., vpc=...)``;
        the construct sets the handler, code, timeout, memory and the Powertools choice itself. Default: - none.
    metrics_namespace:
        Namespace of the per-tool metrics. Default: ``McpTools/<construct path>``.
    alarm_topic:
        Default: - the stack's shared alarm topic.
    error_rate_alarm_percent / latency_alarm_fraction / alarm_min_calls:
        Per tool: tool errors above this percentage of calls; p99 latency above this fraction of the tool's
        timeout; rate alarms ignore periods with fewer calls. ``None`` disables an alarm. Default: 5 / 0.8 / 10.
    dashboard:
        Add a row to the stack's dashboard. Default: ``True``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        keys: AiGatewayFunction | None = None,
        authorizer: Authorizer | None = None,
        mode: str = defaults.MCP_MODE.value,
        server_name: str | None = None,
        instructions: str | None = None,
        api: IServerlessApi | None = None,
        api_options: HttpApiOptions | RestApiOptions | None = None,
        path: str = defaults.MCP_PATH.value,
        page_size: int = defaults.MCP_PAGE_SIZE.value,
        list_ttl: cdk.Duration | None = None,
        timeout: cdk.Duration | None = None,
        memory_size: int = defaults.MCP_MEMORY_SIZE_MB.value,
        function_options: FunctionOptions | None = None,
        metrics_namespace: str | None = None,
        alarm_topic: sns.ITopic | None = None,
        error_rate_alarm_percent: float | None = defaults.MCP_ERROR_RATE_ALARM_PERCENT.value,
        latency_alarm_fraction: float | None = defaults.MCP_LATENCY_ALARM_FRACTION.value,
        alarm_min_calls: int = defaults.MCP_ALARM_MIN_CALLS.value,
        dashboard: bool = defaults.MCP_DASHBOARD.value,
    ) -> None:
        super().__init__(scope, id)
        props = McpProps.resolve(
            id, self.node.path, keys=keys, authorizer=authorizer, mode=mode, server_name=server_name,
            instructions=instructions, api=api, api_options=api_options, path=path, page_size=page_size,
            list_ttl=list_ttl, timeout=timeout, memory_size=memory_size, function_options=function_options,
            metrics_namespace=metrics_namespace, alarm_topic=alarm_topic,
            error_rate_alarm_percent=error_rate_alarm_percent, latency_alarm_fraction=latency_alarm_fraction,
            alarm_min_calls=alarm_min_calls, dashboard=dashboard)
        shared = StackResources.of(self)
        self._props = props
        self.mode = props.mode
        self.keys = props.keys
        self.server_name = props.server_name
        self.instructions = props.instructions
        self.path = props.path
        self.timeout_seconds = props.timeout_seconds
        self.metrics_namespace = props.metrics_namespace
        self.alarm_topic: sns.ITopic = props.alarm_topic or shared.alarm_topic
        self.tools: dict[str, McpTool] = {}
        self._dashboard = shared.dashboard if props.dashboard else None
        self.node.add_validation(_Catalogue(self))

        self.function: ObservedFunction | None = None
        self.api: IServerlessApi | None = None
        self.routes: list[ApiRoute[Construct]] = []
        self.agentcore_gateway: Any = None
        if props.mode == "agentcore":
            from lambda_manifest import _agentcore

            self.agentcore_gateway = _agentcore.gateway(self, instructions=props.instructions)
            return

        options = props.function_options.with_defaults(service_name=id)
        environment = {
            **dict(options.environment or {}),
            contract.CONFIG_ENV: cdk.Lazy.string(_Producer(self._render_config)),
            contract.FUNCTIONS_ENV: cdk.Lazy.string(_Producer(self._render_functions)),
        }
        if props.keys is not None:
            environment[contract.KEYS_TABLE_ENV] = props.keys.table.table_name
        self.function = ObservedFunction(self, "Function", **{
            **options.given(),
            "handler": contract.HANDLER,
            "description": options.description or f"MCP tool gateway {self.node.path}: Lambda functions as MCP tools",
            "timeout": cdk.Duration.seconds(props.timeout_seconds),
            "memory_size": props.memory_size,
            "powertools": False,
            "alarm_topic": self.alarm_topic,
            "dashboard": props.dashboard,
            "environment": environment,
        })
        if props.keys is not None:
            props.keys.table.grant(self.function, *contract.KEYS_TABLE_ACTIONS)
            props.keys.table_key.grant(self.function, *KEY_ACTIONS)
        self.api = props.api or self._create_api(props)
        reason = None if props.authorized_by_api else defaults.MCP_PUBLIC_REASON.value
        self.routes = [self.api.add_route(f"{method} {props.path}", self.function, public_reason=reason)
                       for method in contract.ENDPOINT_METHODS]
        if self._dashboard is not None:
            self._add_dashboard_row(self._dashboard)
        cdk.CfnOutput(self, "Url", value=self.url, description=f"MCP endpoint (Streamable HTTP) of {self.node.path}")

    def _create_api(self, props: McpProps) -> IServerlessApi:
        """The endpoint's own API: REST unless the options are an ``HttpApiOptions``."""
        options = (props.api_options or RestApiOptions()).with_defaults(
            authorizer=props.authorizer, alarm_topic=self.alarm_topic, dashboard=props.dashboard,
            description=f"MCP endpoint of {self.node.path}")
        if isinstance(options, HttpApiOptions):
            return HttpServerlessApi(self, "Api", **options.given())
        return RestServerlessApi(self, "Api", **options.given())

    # ----------------------------------------------------------------------------------------------
    # Tools
    # ----------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The MCP endpoint's URL (what an MCP client is configured with)."""
        if self.agentcore_gateway is not None:
            return str(self.agentcore_gateway.gateway_url)
        assert self.api is not None
        return f"{self.api.url}{self.path.lstrip('/')}"

    def add_tool(
        self,
        name: str,
        function: lambda_.IFunction,
        *,
        description: str,
        input_schema: dict[str, Any] | None = None,
        output_schema: dict[str, Any] | None = None,
        annotations: ToolAnnotations | None = None,
        title: str | None = None,
        timeout: cdk.Duration | None = None,
    ) -> McpTool:
        """Publish ``function`` as the tool ``name``: its arguments object is the invocation's event, its return
        value the tool's result (an object becomes ``structuredContent``), its errors tool errors with its error
        type.

        Parameters
        ----------
        input_schema:
            The arguments' JSON schema (``"type": "object"`` at the root). Default: - derived from the Python
            handler's first parameter (a TypedDict or dataclass), read from its module at synth.
        output_schema:
            The JSON schema of the object the function returns. Default: - none (results are not checked).
        annotations:
            ``ToolAnnotations(read_only=True, ...)``. Default: - none.
        timeout:
            The function's timeout, for a function whose timeout this construct cannot read (an imported one).
            Default: - the function's own.
        """
        problems = Problems("McpToolGateway.add_tool", name if isinstance(name, str) else str(name))
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            problems.add("name", "1-128 characters of A-Z a-z 0-9 _ - .", name, "rename the tool")
        elif name in self.tools:
            problems.add("name", "unique within the gateway", name, "give each tool its own name")
        if not (hasattr(function, "function_arn") and hasattr(function, "grant_invoke")):
            problems.add("function", "a Lambda function (any IFunction)", type(function).__name__,
                         "pass e.g. an ObservedFunction or lambda_.Function.from_function_arn(...)")
        if not isinstance(description, str) or not description.strip():
            problems.add("description", "a sentence telling the model what the tool does and when to use it",
                         description, "describe the tool: models choose tools by their descriptions")
        for prop, schema in (("input_schema", input_schema), ("output_schema", output_schema)):
            if schema is not None and (not isinstance(schema, dict) or schema.get("type") != "object"):
                problems.add(prop, 'a JSON schema object with "type": "object" at its root (MCP tool arguments '
                             'and structured results are JSON objects)', schema, 'wrap the fields in '
                             '{"type": "object", "properties": {...}}')
        timeout_s = seconds(timeout) if timeout is not None else _function_timeout(function)
        limit = self._props.tool_timeout_limit_seconds
        if timeout_s is None:
            timeout_s = limit
        elif timeout_s > limit + 1e-9:
            problems.add("function timeout", f"at most {limit:g} s: the gateway (timeout {self.timeout_seconds:g} s, "
                         f"under API Gateway's {self._props.max_timeout_seconds + 1} s) must outlive the call",
                         f"{timeout_s:g} s",
                         "give the tool's function a shorter timeout (e.g. timeout=Duration.seconds(10))")
        problems.raise_if_any()
        if input_schema is None:
            input_schema = self._derived_schema(name, function)
        definition: dict[str, Any] = {"name": name, "description": description.strip(), "inputSchema": input_schema}
        if title:
            definition["title"] = title
        if output_schema is not None:
            definition["outputSchema"] = output_schema
        if annotations is not None and annotations.to_config():
            definition["annotations"] = annotations.to_config()

        if self.agentcore_gateway is not None:
            from lambda_manifest import _agentcore

            _agentcore.add_target(self, self.agentcore_gateway, definition, function)
            tool = McpTool(name, function, definition, timeout_s, False, {})
        else:
            assert self.function is not None
            # Exactly this function: its ARN, not ARN:* (no versions or aliases the gateway does not call).
            self.function.add_to_role_policy(iam.PolicyStatement(
                actions=list(contract.TOOL_ACTIONS), resources=[function.function_arn]))
            props = self._props
            alarms = self._tool_alarms(name, timeout_s, error_rate=props.error_rate_alarm_percent,
                                       fraction=props.latency_alarm_fraction, min_calls=props.alarm_min_calls)
            tool = McpTool(name, function, definition, timeout_s, _runtime_validates(input_schema), alarms)
        self.tools[name] = tool
        return tool

    def _derived_schema(self, name: str, function: lambda_.IFunction) -> dict[str, Any]:
        handler, code = _handler_and_code(function)
        problems = Problems("McpToolGateway.add_tool", name)
        how = ("pass input_schema={\"type\": \"object\", \"properties\": {...}} to add_tool, or type the handler's "
               "first parameter with a TypedDict or @dataclass (def handler(event: SearchItems, context): ...)")
        if handler is None:
            problems.add("input_schema", "given, or derivable from a Python handler's type hints",
                         "a function whose handler and code cannot be read at synth (imported, or not Python)", how)
            problems.raise_if_any()
        assert handler is not None
        try:
            return _tool_schema.derive_input_schema(handler, code, scope=self)
        except _tool_schema.SchemaProblem as problem:
            problems.add("input_schema", "given, or derivable from the handler's type hints", str(problem), how)
            problems.raise_if_any()
        raise AssertionError("unreachable")

    # ----------------------------------------------------------------------------------------------
    # What the runtime reads
    # ----------------------------------------------------------------------------------------------
    def _render_config(self) -> str:
        tools = [{**t.definition, "timeout_s": t.timeout_seconds, **({"validate": True} if t.validate_arguments else {})}
                 for t in self.tools.values()]
        doc: dict[str, Any] = {
            "version": 1,
            "server": {"name": self.server_name, "version": _library_version()},
            "page_size": self._props.page_size,
            "list_ttl_ms": self._props.list_ttl_ms,
            "metrics_namespace": self.metrics_namespace,
            "auth": self._auth_config(),
            "tools": tools,
        }
        if self.instructions:
            doc["instructions"] = self.instructions
        return encode_config(doc)

    def _auth_config(self) -> dict[str, Any]:
        if self.keys is None:
            return {"mode": contract.AUTH_AUTHORIZER}
        auth: dict[str, Any] = {"mode": contract.AUTH_KEYS}
        if self.keys.key_header is not None:
            auth["key_header"] = self.keys.key_header
        tenant_rpm = {tenant: q.rpm for tenant, q in self.keys.quotas.items() if q.rpm is not None}
        if tenant_rpm:
            auth["tenant_rpm"] = tenant_rpm
        return auth

    def _render_functions(self) -> str:
        return cdk.Stack.of(self).to_json_string({name: t.function.function_arn for name, t in self.tools.items()})


def encode_config(doc: dict[str, Any]) -> str:
    """The runtime's configuration as it travels in the environment: JSON, compressed when that saves room (the
    function's whole environment must fit Lambda's 4 KB)."""
    text = json.dumps(doc, separators=(",", ":"), sort_keys=True)
    packed = "zlib:" + base64.b64encode(zlib.compress(text.encode(), 9)).decode()
    return packed if len(packed) < len(text) else text


@jsii.implements(constructs.IValidation)
class _Catalogue:
    """At synth, once every tool is added: there is at least one, and the catalogue fits the environment."""

    def __init__(self, gateway: McpToolGateway) -> None:
        self._gateway = gateway

    def validate(self) -> list[str]:
        gateway = self._gateway
        if not gateway.tools:
            return [f"McpToolGateway '{gateway.node.id}' publishes no tools; call add_tool(name, function, "
                    "description=...)"]
        if gateway.function is None:
            return []
        size = len(gateway._render_config()) + 90 * len(gateway.tools)  # an ARN is about 90 characters deployed
        if size > defaults.MCP_ENVIRONMENT_BUDGET_BYTES:
            return [f"McpToolGateway '{gateway.node.id}': the catalogue of {len(gateway.tools)} tools takes about "
                    f"{size} bytes of the function's environment (Lambda allows 4 KB in all); shorten descriptions "
                    "and schemas or split the tools across two gateways"]
        return []


@jsii.implements(cdk.IStableStringProducer)
class _Producer:
    def __init__(self, produce: Any) -> None:
        self._produce = produce

    def produce(self) -> str | None:
        return str(self._produce())


def _function_timeout(function: lambda_.IFunction) -> float | None:
    if isinstance(function, lambda_.Function):
        return seconds(function.timeout)
    return None


def _handler_and_code(function: lambda_.IFunction) -> tuple[str | None, lambda_.Code | None]:
    """The handler string and (a stand-in for) the code of a function defined in this app, or (None, None)."""
    cfn = function.node.default_child
    if not isinstance(cfn, lambda_.CfnFunction) or not isinstance(cfn.handler, str) or is_token(cfn.handler):
        return None, None
    if isinstance(cfn.runtime, str) and not cfn.runtime.startswith("python"):
        return None, None
    code = cfn.code
    inline = getattr(code, "zip_file", None)
    if isinstance(inline, str) and not is_token(inline):
        return cfn.handler, lambda_.Code.from_inline(inline)
    from pathlib import Path

    # The asset's object key is "<asset hash>.zip" and its staged copy "asset.<asset hash>" in the assembly; the
    # CDK binds a Code object shared by several functions once, so the key is the one thing every function has.
    object_key = cdk.Stack.of(function).resolve(getattr(code, "s3_key", None))
    outdir = cdk.Stage.of(function).asset_outdir  # type: ignore[union-attr]
    if isinstance(object_key, str) and object_key.endswith(".zip"):
        staged = Path(outdir) / f"asset.{object_key[:-4]}"
        if staged.is_dir():
            return cfn.handler, lambda_.Code.from_asset(str(staged))
    return cfn.handler, None


def _runtime_validates(schema: dict[str, Any]) -> bool:
    """Whether the runtime checks arguments itself: when every keyword of the schema is one its validator knows
    (the gateway's JSON-schema subset); otherwise the tool function checks its own input."""
    from lambda_manifest.runtime.gateway.schema import SchemaError, check_schema

    try:
        check_schema(schema)
    except SchemaError:
        return False
    return True


def _library_version() -> str:
    from lambda_manifest import __version__

    return __version__

