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
from lambda_manifest import _tool_schema, monitoring
from lambda_manifest._api_auth import Authorizer
from lambda_manifest._api_options import ApiType
from lambda_manifest._validation import Problems, is_token, seconds
from lambda_manifest.ai_gateway import KEY_ACTIONS, AiGatewayFunction
from lambda_manifest.observed_function import ObservedFunction
from lambda_manifest.runtime.mcp import contract
from lambda_manifest.serverless_api import ApiRoute, ServerlessApi
from lambda_manifest.shared import StackResources

__all__ = ["McpTool", "McpToolGateway", "ToolAnnotations"]

_TOOL_NAME = re.compile(contract.TOOL_NAME_PATTERN)
_MODES = ("lambda", "agentcore")


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


class McpToolGateway(Construct):
    """Lambda functions published as tools of an MCP server (Streamable HTTP, the stateless 2026-07-28 revision
    and the 2025-11-25 handshake), authenticated with the AI gateway's virtual keys, each key limited to its
    allowlist of tools and its requests per minute, every call audited, measured and alarmed.

    ``tool = gateway.add_tool("search_items", fn, description="...")`` publishes any ``IFunction``; a Python
    handler's input schema is read from its type hints at synth. MCP clients connect to :attr:`url`.

    Parameters
    ----------
    keys:
        The ``AiGatewayFunction`` whose virtual keys callers present (``Authorization: Bearer <key>``, or its
        ``key_header``). A key's ``tools`` (``python -m lambda_manifest.keys create --tools a,b``) are its
        allowlist, and each ``tools/call`` counts against the key's and its tenant's ``rpm``. Default: - none:
        then ``authorizer`` is required.
    authorizer:
        Authenticate with the API's authorizer instead: any ``Authorizer``. Scopes ``tools:<name>`` /
        ``tools:*`` in a Lambda authorizer's context narrow the tools. Default: - none.
    mode:
        ``"lambda"``: the gateway function behind a REST ``ServerlessApi``. ``"agentcore"``: the same tools as an
        Amazon Bedrock AgentCore Gateway with Lambda targets (AWS runs the MCP endpoint; its own authorizer,
        IAM by default, replaces ``keys``). Default: ``"lambda"``.
    server_name / instructions:
        What ``server/discover`` and ``initialize`` report. Default: - the construct id / none.
    api:
        A REST ``ServerlessApi`` to add the endpoint to. Default: - a new REST ``ServerlessApi`` (REST, so the
        endpoint can take WAF, usage plans and response streaming).
    api_options:
        Extra props of the ``ServerlessApi`` this construct creates. Default: - none.
    path:
        The endpoint's path. Default: ``/mcp``.
    page_size / list_ttl:
        ``tools/list`` page size and the ``ttlMs`` cache hint. Default: 50 / 5 minutes.
    timeout / memory_size / function_options:
        The gateway function's. Default: 28 s / 256 MB / - none.
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
        mode: str = "lambda",
        server_name: str | None = None,
        instructions: str | None = None,
        api: ServerlessApi | None = None,
        api_options: dict[str, Any] | None = None,
        path: str = defaults.MCP_PATH.value,
        page_size: int = defaults.MCP_PAGE_SIZE.value,
        list_ttl: cdk.Duration | None = None,
        timeout: cdk.Duration | None = None,
        memory_size: int = defaults.MCP_MEMORY_SIZE_MB.value,
        function_options: dict[str, Any] | None = None,
        metrics_namespace: str | None = None,
        alarm_topic: sns.ITopic | None = None,
        error_rate_alarm_percent: float | None = defaults.MCP_ERROR_RATE_ALARM_PERCENT.value,
        latency_alarm_fraction: float | None = defaults.MCP_LATENCY_ALARM_FRACTION.value,
        alarm_min_calls: int = defaults.MCP_ALARM_MIN_CALLS.value,
        dashboard: bool = True,
    ) -> None:
        super().__init__(scope, id)
        timeout = timeout or cdk.Duration.seconds(defaults.MCP_TIMEOUT_SECONDS.value)
        list_ttl = list_ttl or cdk.Duration.seconds(defaults.MCP_LIST_TTL_SECONDS.value)
        self._validate(id, keys=keys, authorizer=authorizer, mode=mode, api=api, api_options=api_options,
                       path=path, page_size=page_size, list_ttl=list_ttl, timeout=timeout,
                       error_rate=error_rate_alarm_percent, latency_fraction=latency_alarm_fraction,
                       alarm_min_calls=alarm_min_calls, server_name=server_name)
        shared = StackResources.of(self)
        self.mode = mode
        self.keys = keys
        self.server_name = server_name or id
        self.instructions = instructions
        self.path = path
        self.page_size = page_size
        self.list_ttl = list_ttl
        self.timeout_seconds = float(seconds(timeout) or defaults.MCP_TIMEOUT_SECONDS.value)
        self.metrics_namespace = metrics_namespace or "McpTools/" + re.sub(r"[^A-Za-z0-9._/#:-]", "-",
                                                                           self.node.path)[:240]
        self.alarm_topic: sns.ITopic = alarm_topic or shared.alarm_topic
        self.tools: dict[str, McpTool] = {}
        self._alarm_settings = (error_rate_alarm_percent, latency_alarm_fraction, alarm_min_calls)
        self._dashboard = shared.dashboard if dashboard else None
        self.node.add_validation(_Catalogue(self))

        self.function: ObservedFunction | None = None
        self.api: ServerlessApi | None = None
        self.routes: list[ApiRoute] = []
        self.agentcore_gateway: Any = None
        if mode == "agentcore":
            from lambda_manifest import _agentcore

            self.agentcore_gateway = _agentcore.gateway(self, instructions=instructions)
            return

        options = dict(function_options or {})
        environment = {
            **dict(options.pop("environment", None) or {}),
            contract.CONFIG_ENV: cdk.Lazy.string(_Producer(self._render_config)),
            contract.FUNCTIONS_ENV: cdk.Lazy.string(_Producer(self._render_functions)),
        }
        if keys is not None:
            environment[contract.KEYS_TABLE_ENV] = keys.table.table_name
        self.function = ObservedFunction(
            self, "Function", handler=contract.HANDLER,
            description=f"MCP tool gateway {self.node.path}: Lambda functions as MCP tools",
            timeout=timeout, memory_size=memory_size, powertools=False, alarm_topic=self.alarm_topic,
            dashboard=dashboard, **{"service_name": id, **options, "environment": environment},
        )
        if keys is not None:
            keys.table.grant(self.function, *contract.KEYS_TABLE_ACTIONS)
            keys.table_key.grant(self.function, *KEY_ACTIONS)
        self.api = api or ServerlessApi(self, "Api", **{
            "api_type": ApiType.REST, "authorizer": authorizer, "alarm_topic": self.alarm_topic,
            "dashboard": dashboard, "description": f"MCP endpoint of {self.node.path}", **(api_options or {})})
        reason = None if authorizer is not None else defaults.MCP_PUBLIC_REASON.value
        self.routes = [self.api.add_route(f"{method} {path}", self.function, public_reason=reason)
                       for method in contract.ENDPOINT_METHODS]
        if self._dashboard is not None:
            self._add_dashboard_row(self._dashboard)
        cdk.CfnOutput(self, "Url", value=self.url, description=f"MCP endpoint (Streamable HTTP) of {self.node.path}")

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
        limit = self.timeout_seconds - defaults.MCP_INVOKE_MARGIN_SECONDS
        if timeout_s is None:
            timeout_s = limit
        elif timeout_s > limit + 1e-9:
            problems.add("function timeout", f"at most {limit:g} s: the gateway (timeout {self.timeout_seconds:g} s, "
                         "under API Gateway's 29 s) must outlive the call", f"{timeout_s:g} s",
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
                actions=["lambda:InvokeFunction"], resources=[function.function_arn]))
            tool = McpTool(name, function, definition, timeout_s, _runtime_validates(input_schema),
                           self._tool_alarms(name, timeout_s))
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
            "page_size": self.page_size,
            "list_ttl_ms": int((seconds(self.list_ttl) or 0) * 1000),
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

    # ----------------------------------------------------------------------------------------------
    # Metrics and alarms
    # ----------------------------------------------------------------------------------------------
    def metric(self, metric_name: str, tool: str | None = None, **options: Any) -> cloudwatch.Metric:
        """One of the runtime's metrics (``ToolCalls``, ``ToolErrors``, ``ToolLatencyMs``, ``ToolCallsRejected``)
        of one tool, or gateway-wide. Default: sum over 5 minutes (p99 for ``ToolLatencyMs``)."""
        props: dict[str, Any] = {
            "namespace": self.metrics_namespace, "metric_name": metric_name, "period": monitoring.period(),
            "statistic": "p99" if metric_name == contract.METRIC_LATENCY else "Sum",
            **({"dimensions_map": {contract.TOOL_DIMENSION: tool}} if tool is not None else {}), **options}
        return cloudwatch.Metric(**props)

    def metric_error_rate(self, tool: str | None = None, min_calls: int = 1) -> cloudwatch.MathExpression:
        """Tool errors as a percentage of calls (0 in periods with fewer than ``min_calls`` calls)."""
        return cloudwatch.MathExpression(
            expression=f"IF(calls >= {min_calls}, 100 * errors / calls, 0)",
            using_metrics={"calls": self.metric(contract.METRIC_CALLS, tool),
                           "errors": self.metric(contract.METRIC_ERRORS, tool)},
            period=monitoring.period(), label=f"{tool or 'all tools'}: tool errors (%)")

    def _tool_alarms(self, name: str, timeout_s: float) -> dict[str, cloudwatch.Alarm]:
        error_rate, fraction, min_calls = self._alarm_settings
        alarms: dict[str, cloudwatch.Alarm] = {}
        safe = re.sub(r"[^A-Za-z0-9]", "", name.title()) or "Tool"
        if error_rate is not None:
            alarms["ErrorRate"] = monitoring.create_alarm(
                self, f"{safe}ErrorRateAlarm", metric=self.metric_error_rate(name, min_calls), threshold=error_rate,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, action_topic=self.alarm_topic,
                description=f"{self.node.path}: more than {error_rate:g}% of calls to MCP tool '{name}' ended in a "
                            "tool error in 5 minutes. The audit lines (type mcp_tool_call) name each error_type; "
                            "the tool function's own logs and alarms say why.")
        if fraction is not None:
            threshold_ms = round(timeout_s * 1000 * fraction)
            alarms["LatencyP99"] = monitoring.create_alarm(
                self, f"{safe}LatencyAlarm", metric=self.metric(contract.METRIC_LATENCY, name),
                threshold=threshold_ms, comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                action_topic=self.alarm_topic,
                description=f"{self.node.path}: p99 latency of MCP tool '{name}' above {threshold_ms} ms, "
                            f"{fraction:g} of its {timeout_s:g} s timeout: calls will start timing out. See the "
                            "tool function's duration and its dependencies.")
        return alarms

    def _add_dashboard_row(self, dashboard: cloudwatch.Dashboard) -> None:
        ns = self.metrics_namespace

        def search(metric: str, stat: str) -> cloudwatch.MathExpression:
            return cloudwatch.MathExpression(
                expression=f"SEARCH('{{\"{ns}\",{contract.TOOL_DIMENSION}}} MetricName=\"{metric}\"', '{stat}', 300)",
                using_metrics={}, label=metric, period=monitoring.period())

        dashboard.add_widgets(monitoring.header(f"MCP tools {self.node.path}", f"Namespace `{ns}`"))
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Calls by tool", width=8, height=6, left=[search(contract.METRIC_CALLS, "Sum")]),
            cloudwatch.GraphWidget(title="Tool errors by tool", width=8, height=6,
                                   left=[search(contract.METRIC_ERRORS, "Sum")],
                                   right=[self.metric(contract.METRIC_REJECTED, label="rejected calls")]),
            cloudwatch.GraphWidget(title="Latency p99 by tool (ms)", width=8, height=6,
                                   left=[search(contract.METRIC_LATENCY, "p99")]),
        )

    # ----------------------------------------------------------------------------------------------
    # Validation
    # ----------------------------------------------------------------------------------------------
    @staticmethod
    def _validate(id: str, **p: Any) -> None:
        problems = Problems("McpToolGateway", id)
        mode = p["mode"]
        if mode not in _MODES:
            problems.add("mode", "'lambda' or 'agentcore'", mode, "use mode='lambda' (default) or 'agentcore'")
        elif mode == "agentcore":
            for prop in ("keys", "authorizer", "api", "api_options"):
                if p[prop]:
                    problems.add(prop, "unset with mode='agentcore'", type(p[prop]).__name__,
                                 "AgentCore Gateway runs the MCP endpoint and authenticates callers itself (IAM); "
                                 "drop the prop or use mode='lambda'")
        elif p["keys"] is None and p["authorizer"] is None and p["api"] is None:
            problems.add("keys / authorizer", "one of them: who may call the tools", None,
                         "pass keys=<your AiGatewayFunction> (virtual keys with tool allowlists) or "
                         "authorizer=Authorizer....")
        if p["keys"] is not None and p["authorizer"] is not None:
            problems.add("authorizer", "unset when keys= is given (callers present a virtual key)", "an Authorizer",
                         "choose one way to authenticate")
        if p["keys"] is not None and not isinstance(p["keys"], AiGatewayFunction):
            problems.add("keys", "an AiGatewayFunction (whose virtual keys callers present)", type(p["keys"]).__name__,
                         "pass the AiGatewayFunction of this app")
        api = p["api"]
        if api is not None and getattr(api, "api_type", None) is not ApiType.REST:
            problems.add("api", "a REST ServerlessApi", type(api).__name__, "pass ServerlessApi(api_type=ApiType.REST)")
        path = p["path"]
        if not isinstance(path, str) or not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", path):
            problems.add("path", "a path like '/mcp'", path, "use '/mcp' or another literal path")
        problems.check_range("page_size", p["page_size"], 1, 1000, "", "choose a page size of tools/list")
        problems.check_range("list_ttl", seconds(p["list_ttl"]), 0, 86400, "s", "use a TTL up to a day")
        timeout_s = seconds(p["timeout"])
        problems.check_range("timeout", timeout_s, 4, 28, "s",
                             "the gateway answers through API Gateway's 29 s REST integration timeout")
        if p["error_rate"] is not None:
            problems.check_range("error_rate_alarm_percent", p["error_rate"], 0.001, 100, "%", "or None to disable")
        if p["latency_fraction"] is not None:
            problems.check_range("latency_alarm_fraction", p["latency_fraction"], 0.01, 1, "", "or None to disable")
        problems.check_range("alarm_min_calls", p["alarm_min_calls"], 1, 1_000_000, "", "at least 1")
        name = p["server_name"]
        if name is not None and (not isinstance(name, str) or not name.strip()):
            problems.add("server_name", "a non-empty string", name, "name the server or leave the default")
        problems.raise_if_any()


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

