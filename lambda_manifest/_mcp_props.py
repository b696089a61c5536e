"""The props of an McpToolGateway, resolved and checked before anything is built.

``McpProps.resolve`` applies the defaults (all from :mod:`lambda_manifest._defaults`) and collects every problem
into one ``PropsError``. The API the endpoint goes to is an API given as ``api=`` (either kind, through
``IServerlessApi``), or the kind and options of the one the gateway creates (REST unless ``api_options`` is an
``HttpApiOptions``): the gateway's timeout must fit that kind's integration timeout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aws_cdk as cdk
from aws_cdk import aws_sns as sns

from lambda_manifest import _defaults as defaults
from lambda_manifest._api_auth import Authorizer
from lambda_manifest._api_options import ApiType
from lambda_manifest._api_props import HttpApiOptions, RestApiOptions, check_api_choice
from lambda_manifest._function_props import FunctionOptions, check_owned_options
from lambda_manifest._function_props import function_options as typed_function_options
from lambda_manifest._validation import Problems, pick, seconds
from lambda_manifest.runtime.mcp import contract
from lambda_manifest.serverless_api import IServerlessApi

if TYPE_CHECKING:
    from lambda_manifest.ai_gateway import AiGatewayFunction

MODES = ("lambda", "agentcore")
_PATH = re.compile(r"(/[A-Za-z0-9._~-]+)+")
_NAMESPACE = re.compile(r"^[A-Za-z0-9._/#:-]{1,255}$")
# ObservedFunction props the gateway sets itself, and why.
_FIXED = {"handler": "the gateway's handler is the MCP runtime's", "code": "the gateway's code is the library's",
          "powertools": "the MCP runtime is stdlib + boto3 only"}
_OWN = ("timeout", "memory_size", "alarm_topic", "dashboard")
_MIN_TIMEOUT_SECONDS = 4


@dataclass(frozen=True, kw_only=True)
class McpProps:
    """Resolved, validated McpToolGateway props: what its builders read."""

    keys: AiGatewayFunction | None
    authorizer: Authorizer | None
    mode: str
    server_name: str
    instructions: str | None
    api: IServerlessApi | None
    #: The options of the API the gateway creates (``api`` is None): HttpApiOptions makes an HTTP API.
    api_options: HttpApiOptions | RestApiOptions | None
    path: str
    page_size: int
    list_ttl_ms: int
    timeout_seconds: float
    memory_size: int
    function_options: FunctionOptions
    metrics_namespace: str
    alarm_topic: sns.ITopic | None
    error_rate_alarm_percent: float | None
    latency_alarm_fraction: float | None
    alarm_min_calls: int
    dashboard: bool

    @staticmethod
    def resolve(id: str, node_path: str, *, keys: AiGatewayFunction | None, authorizer: Authorizer | None,
                mode: str, server_name: str | None, instructions: str | None, api: IServerlessApi | None,
                api_options: HttpApiOptions | RestApiOptions | None, path: str, page_size: int,
                list_ttl: cdk.Duration | None, timeout: cdk.Duration | None, memory_size: int,
                function_options: FunctionOptions | None, metrics_namespace: str | None,
                alarm_topic: sns.ITopic | None, error_rate_alarm_percent: float | None,
                latency_alarm_fraction: float | None, alarm_min_calls: int, dashboard: bool) -> McpProps:
        """Apply the defaults the signature cannot hold (durations, names derived from the construct's id and
        ``node_path``) and raise one ``PropsError`` with every problem."""
        problems = Problems("McpToolGateway", id)
        options = typed_function_options(problems, "function_options", function_options) or FunctionOptions()
        ttl = seconds(list_ttl) if list_ttl is not None else defaults.MCP_LIST_TTL_SECONDS.value
        props = McpProps(
            keys=keys, authorizer=authorizer, mode=mode, server_name=pick(server_name, id),
            instructions=instructions, api=api, api_options=api_options, path=path, page_size=page_size,
            list_ttl_ms=round((ttl or 0) * 1000),
            timeout_seconds=float(seconds(timeout) or defaults.MCP_TIMEOUT_SECONDS.value),
            memory_size=memory_size, function_options=options,
            metrics_namespace=metrics_namespace or "McpTools/" + re.sub(r"[^A-Za-z0-9._/#:-]", "-", node_path)[:240],
            alarm_topic=alarm_topic, error_rate_alarm_percent=error_rate_alarm_percent,
            latency_alarm_fraction=latency_alarm_fraction, alarm_min_calls=alarm_min_calls, dashboard=dashboard,
        )
        props._check(problems)
        problems.raise_if_any()
        return props

    @property
    def api_type(self) -> ApiType:
        """The kind of API the endpoint goes to."""
        if self.api is not None:
            return self.api.api_type
        return ApiType.HTTP if isinstance(self.api_options, HttpApiOptions) else ApiType.REST

    @property
    def max_timeout_seconds(self) -> int:
        """The longest the gateway may run: one second under API Gateway's integration timeout for its kind."""
        if self.api is not None:
            limit = self.api.integration_timeout_seconds
        else:
            limit = defaults.HTTP_INTEGRATION_TIMEOUT_SECONDS if self.api_type is ApiType.HTTP \
                else defaults.REST_INTEGRATION_TIMEOUT_SECONDS
        return limit - 1

    @property
    def tool_timeout_limit_seconds(self) -> float:
        """The longest a tool's function may run: the gateway must outlive the call."""
        return self.timeout_seconds - contract.INVOKE_MARGIN_SECONDS

    @property
    def authorized_by_api(self) -> bool:
        """Whether API Gateway authorizes the endpoint (no virtual keys): the given authorizer or ``api``'s."""
        return self.keys is None and (self.authorizer is not None or
                                      (self.api is not None and self.api.authorizer is not None))

    def _check(self, problems: Problems) -> None:
        if self.mode not in MODES:
            problems.add("mode", "'lambda' or 'agentcore'", self.mode, "use mode='lambda' (default) or 'agentcore'")
        elif self.mode == "agentcore":
            for prop in ("keys", "authorizer", "api", "api_options"):
                if getattr(self, prop) is not None:
                    problems.add(prop, "unset with mode='agentcore'", type(getattr(self, prop)).__name__,
                                 "AgentCore Gateway runs the MCP endpoint and authenticates callers itself (IAM); "
                                 "drop the prop or use mode='lambda'")
        else:
            self._check_access(problems)
            self._check_api(problems)
            self._check_function(problems)
        path = self.path
        if not isinstance(path, str) or not _PATH.fullmatch(path):
            problems.add("path", "a path like '/mcp'", path, "use '/mcp' or another literal path")
        problems.check_range("page_size", self.page_size, 1, 1000, "", "choose a page size of tools/list")
        problems.check_range("list_ttl", self.list_ttl_ms / 1000, 0, 86400, "s", "use a TTL up to a day")
        if self.error_rate_alarm_percent is not None:
            problems.check_range("error_rate_alarm_percent", self.error_rate_alarm_percent, 0.001, 100, "%",
                                 "or None to disable")
        if self.latency_alarm_fraction is not None:
            problems.check_range("latency_alarm_fraction", self.latency_alarm_fraction, 0.01, 1, "",
                                 "or None to disable")
        problems.check_range("alarm_min_calls", self.alarm_min_calls, 1, 1_000_000, "", "at least 1")
        name = self.server_name
        if not isinstance(name, str) or not name.strip():
            problems.add("server_name", "a non-empty string", name, "name the server or leave the default")
        namespace = self.metrics_namespace
        if not isinstance(namespace, str) or not _NAMESPACE.match(namespace) or namespace.startswith("AWS/"):
            problems.add("metrics_namespace", "1-255 of A-Z a-z 0-9 . _ / # : - and not starting with AWS/",
                         namespace, "pass e.g. 'McpTools/prod'")

    def _check_access(self, problems: Problems) -> None:
        from lambda_manifest.ai_gateway import AiGatewayFunction

        keys, authorizer, api = self.keys, self.authorizer, self.api
        if keys is not None and not isinstance(keys, AiGatewayFunction):
            problems.add("keys", "an AiGatewayFunction (whose virtual keys callers present)", type(keys).__name__,
                         "pass the AiGatewayFunction of this app")
        if keys is not None and authorizer is not None:
            problems.add("authorizer", "unset when keys= is given (callers present a virtual key)", "an Authorizer",
                         "choose one way to authenticate")
        if authorizer is not None and not isinstance(authorizer, Authorizer):
            problems.add("authorizer", "an Authorizer", type(authorizer).__name__,
                         "use the factories: Authorizer.jwt/cognito/lambda_/iam")
        if keys is None and authorizer is None and (api is None or getattr(api, "authorizer", None) is None):
            problems.add("keys / authorizer", "one of them: who may call the tools", None,
                         "pass keys=<your AiGatewayFunction> (virtual keys with tool allowlists), authorizer="
                         "Authorizer...., or an api= that has an authorizer")

    def _check_api(self, problems: Problems) -> None:
        if not check_api_choice(
                problems, self.api, self.api_options, self.authorizer,
                options_example="RestApiOptions(throttle=Throttle(50, 100))",
                api_fix="configure your API directly; its authorizer guards the endpoint when keys= is not given"):
            return
        problems.check_range("timeout", self.timeout_seconds, _MIN_TIMEOUT_SECONDS, self.max_timeout_seconds, "s",
                             f"the gateway answers through API Gateway's {self.api_type.value} integration timeout "
                             f"({self.max_timeout_seconds + 1} s)")

    def _check_function(self, problems: Problems) -> None:
        check_owned_options(problems, self.function_options, construct="McpToolGateway", fixed=_FIXED, own=_OWN,
                            reserved_env=contract.ENV_NAMES)
