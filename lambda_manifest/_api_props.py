"""The props of the two API constructs: the option objects a caller writes, and the resolved props the builders
read.

``HttpApiOptions`` and ``RestApiOptions`` are what ``AiGatewayFunction(api_options=...)`` takes to create an API of
that kind; ``HttpServerlessApi`` and ``RestServerlessApi`` take the same fields as keyword arguments. ``ApiProps``
(both kinds) and ``RestProps`` (REST only) are the resolved, validated values: every default applied from
:mod:`lambda_manifest._defaults`, every problem collected into one ``PropsError``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns

from lambda_manifest import _defaults as defaults
from lambda_manifest._api_auth import Authorizer
from lambda_manifest._api_options import (
    ApiType,
    Canary,
    Cors,
    CustomDomain,
    ResponseCache,
    Throttle,
    UsagePlan,
    Waf,
)
from lambda_manifest._function_props import FunctionOptions, function_options
from lambda_manifest._validation import Problems, is_token, pick, seconds


@dataclass(frozen=True, kw_only=True)
class ApiOptions:
    """The props both API kinds share. Every field is optional; ``None`` means the library default (see the
    API reference in docs/)."""

    authorizer: Authorizer | None = None
    default_handler: lambda_.IFunction | FunctionOptions | None = None
    code: lambda_.Code | None = None
    api_name: str | None = None
    description: str | None = None
    stage_name: str | None = None
    throttle: Throttle | None = None
    cors: Cors | None = None
    access_log_retention: logs.RetentionDays | None = None
    log_encryption_key: kms.IKey | None = None
    detailed_metrics: bool | None = None
    domain: CustomDomain | None = None
    disable_execute_api_endpoint: bool | None = None
    alarm_topic: sns.ITopic | None = None
    server_error_rate_alarm_percent: float | None = None
    client_error_rate_alarm_percent: float | None = None
    alarm_min_requests: int | None = None
    latency_alarm_threshold: cdk.Duration | None = None
    integration_latency_alarm_threshold: cdk.Duration | None = None
    dashboard: bool | None = None

    def given(self) -> dict[str, Any]:
        """The fields that were set, as keyword arguments of the API construct."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}

    def with_defaults(self, **values: Any) -> Any:
        """A copy in which each of ``values`` fills a field that was not set."""
        return dataclasses.replace(self, **{k: v for k, v in values.items() if getattr(self, k) is None})


@dataclass(frozen=True, kw_only=True)
class HttpApiOptions(ApiOptions):
    """The props of an :class:`~lambda_manifest.HttpServerlessApi` another construct creates for you."""


@dataclass(frozen=True, kw_only=True)
class RestApiOptions(ApiOptions):
    """The props of a :class:`~lambda_manifest.RestServerlessApi` another construct creates for you: the
    shared ones and the REST API's own."""

    endpoint_type: apigateway.EndpointType | None = None
    tracing: bool | None = None
    execution_logging_level: apigateway.MethodLoggingLevel | None = None
    cloud_watch_role: bool | None = None
    waf: Waf | None = None
    cache: ResponseCache | None = None
    usage_plans: Sequence[UsagePlan] | None = None
    canary: Canary | None = None
    minimum_compression_size: int | None = None
    client_certificate: bool | None = None


API_FIELDS = frozenset(f.name for f in dataclasses.fields(ApiOptions))
REST_FIELDS = frozenset(f.name for f in dataclasses.fields(RestApiOptions))


@dataclass(frozen=True, kw_only=True)
class ApiProps:
    """Resolved, validated props both API kinds build from."""

    kind: ApiType
    authorizer: Authorizer | None
    default_handler: lambda_.IFunction | FunctionOptions | None
    code: lambda_.Code | None
    api_name: str | None
    description: str | None
    stage_name: str
    throttle: Throttle
    cors: Cors | None
    access_log_retention: logs.RetentionDays
    log_encryption_key: kms.IKey | None
    detailed_metrics: bool
    domain: CustomDomain | None
    disable_execute_api_endpoint: bool
    alarm_topic: sns.ITopic | None
    server_error_rate_alarm_percent: float
    client_error_rate_alarm_percent: float
    alarm_min_requests: int
    latency_alarm_ms: int
    integration_latency_alarm_ms: int
    dashboard: bool

    @staticmethod
    def resolve(kind: ApiType, o: ApiOptions, problems: Problems) -> ApiProps:
        """Apply the defaults of an API of ``kind`` and add every problem with the shared props."""
        stage_default = defaults.HTTP_STAGE_NAME if kind is ApiType.HTTP else defaults.REST_STAGE_NAME
        props = ApiProps(
            kind=kind,
            authorizer=o.authorizer,
            default_handler=o.default_handler,
            code=o.code,
            api_name=o.api_name,
            description=o.description,
            stage_name=o.stage_name if o.stage_name is not None else stage_default.value,
            throttle=o.throttle or Throttle(defaults.THROTTLE_RATE_LIMIT.value, defaults.THROTTLE_BURST_LIMIT.value),
            cors=o.cors,
            access_log_retention=o.access_log_retention or logs.RetentionDays[defaults.ACCESS_LOG_RETENTION.value],
            log_encryption_key=o.log_encryption_key,
            detailed_metrics=pick(o.detailed_metrics, defaults.DETAILED_METRICS.value),
            domain=o.domain,
            disable_execute_api_endpoint=bool(o.disable_execute_api_endpoint),
            alarm_topic=o.alarm_topic,
            server_error_rate_alarm_percent=pick(o.server_error_rate_alarm_percent,
                                                  defaults.SERVER_ERROR_RATE_ALARM_PERCENT.value),
            client_error_rate_alarm_percent=pick(o.client_error_rate_alarm_percent,
                                                  defaults.CLIENT_ERROR_RATE_ALARM_PERCENT.value),
            alarm_min_requests=pick(o.alarm_min_requests, defaults.ALARM_MIN_REQUESTS.value),
            latency_alarm_ms=_ms(o.latency_alarm_threshold, defaults.LATENCY_ALARM_MS.value),
            integration_latency_alarm_ms=_ms(o.integration_latency_alarm_threshold,
                                             defaults.INTEGRATION_LATENCY_ALARM_MS.value),
            dashboard=pick(o.dashboard, defaults.API_DASHBOARD.value),
        )
        props._check(problems, o)
        return props

    def _check(self, problems: Problems, o: ApiOptions) -> None:
        stage_name = o.stage_name
        if stage_name is not None and not is_token(stage_name):
            if self.kind is ApiType.REST and (not stage_name or not all(c.isalnum() or c == "_" for c in stage_name)):
                problems.add("stage_name", "letters, digits and '_'", stage_name, "e.g. 'prod'")
            if self.kind is ApiType.HTTP and stage_name != "$default" \
                    and not all(c.isalnum() or c in "_-" for c in stage_name):
                problems.add("stage_name", "'$default' or letters, digits, '-' and '_'", stage_name, "e.g. 'live'")
        if self.authorizer is not None:
            if not isinstance(self.authorizer, Authorizer):
                problems.add("authorizer", "an Authorizer from Authorizer.jwt/cognito/lambda_/iam",
                             type(self.authorizer).__name__, "use the factories")
            else:
                self.authorizer.check(problems, self.kind)
        if isinstance(self.default_handler, dict):
            function_options(problems, "default_handler", self.default_handler)
        self.throttle.check(problems, "throttle")
        if self.cors is not None:
            self.cors.check(problems)
        if self.access_log_retention == logs.RetentionDays.INFINITE:
            problems.add("access_log_retention", "a bounded retention", "INFINITE",
                         "pass e.g. RetentionDays.ONE_YEAR; unbounded logs grow cost forever")
        if self.domain is not None:
            self.domain.check(problems)
        elif self.disable_execute_api_endpoint:
            problems.add("disable_execute_api_endpoint", "used with a custom domain", True,
                         "pass domain=CustomDomain(...) or the API would have no endpoint at all")
        for prop in ("server_error_rate_alarm_percent", "client_error_rate_alarm_percent"):
            value = getattr(self, prop)
            if not 0 < value <= 100:
                problems.add(prop, "a percentage in (0, 100]", value, "pass e.g. 1.0")
        minimum = self.alarm_min_requests
        if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 1:
            problems.add("alarm_min_requests", "a whole number >= 1", minimum, "pass e.g. 20")
        low, high = defaults.LATENCY_ALARM_RANGE_MS
        for prop in ("latency_alarm_threshold", "integration_latency_alarm_threshold"):
            value = seconds(getattr(o, prop))
            problems.check_range(prop, None if value is None else value * 1000, low, high, "ms",
                                 "pass e.g. Duration.seconds(3); API Gateway times out at 29-30 s")


@dataclass(frozen=True, kw_only=True)
class RestProps:
    """Resolved, validated props only a REST API has."""

    endpoint_type: apigateway.EndpointType
    tracing: bool
    execution_logging_level: apigateway.MethodLoggingLevel
    cloud_watch_role: bool
    waf: Waf
    cache: ResponseCache | None
    usage_plans: list[UsagePlan]
    canary: Canary | None
    minimum_compression_size: int
    client_certificate: bool

    @staticmethod
    def resolve(o: RestApiOptions, problems: Problems) -> RestProps:
        props = RestProps(
            endpoint_type=o.endpoint_type or apigateway.EndpointType[defaults.REST_ENDPOINT_TYPE.value],
            tracing=pick(o.tracing, defaults.REST_TRACING.value),
            execution_logging_level=o.execution_logging_level
            or apigateway.MethodLoggingLevel[defaults.REST_EXECUTION_LOGGING.value],
            cloud_watch_role=pick(o.cloud_watch_role, defaults.REST_CLOUD_WATCH_ROLE.value),
            waf=o.waf or Waf(mode=defaults.REST_WAF.value),
            cache=o.cache,
            usage_plans=list(o.usage_plans or []),
            canary=o.canary,
            minimum_compression_size=pick(o.minimum_compression_size, defaults.REST_MIN_COMPRESSION_BYTES.value),
            client_certificate=pick(o.client_certificate, defaults.REST_CLIENT_CERTIFICATE.value),
        )
        props._check(problems, o)
        return props

    def _check(self, problems: Problems, o: RestApiOptions) -> None:
        self.waf.check(problems)
        if self.cache is not None:
            self.cache.check(problems)
        names: set[str] = set()
        keys: set[str] = set()
        for plan in self.usage_plans:
            plan.check(problems)
            if plan.name in names:
                problems.add("usage_plans", "uniquely named plans", plan.name, "rename one")
            names.add(plan.name)
            for key in plan.api_keys:
                if key in keys:
                    problems.add("usage_plans", "unique API key names across plans", key, "rename one")
                keys.add(key)
        if self.canary is not None:
            self.canary.check(problems)
        if o.minimum_compression_size is not None:
            low, high = defaults.MIN_COMPRESSION_RANGE_BYTES
            problems.check_range("minimum_compression_size", o.minimum_compression_size, low, high, "bytes",
                                 "pass e.g. 1024")


def check_api_choice(problems: Problems, api: Any, api_options: Any, authorizer: Any, *, api_fix: str,
                     options_example: str) -> bool:
    """Problems with where a construct that adds routes puts them: an API given as ``api=`` (any
    ``IServerlessApi``), or the ``api_options`` and ``authorizer`` of the API it creates. False when ``api`` is
    not an API at all (nothing more about it can be checked)."""
    if api is not None and not callable(getattr(api, "add_route", None)):
        problems.add("api", "an HttpServerlessApi or a RestServerlessApi", type(api).__name__,
                     "create one with HttpServerlessApi(...) or RestServerlessApi(...)")
        return False
    if api is not None and (authorizer is not None or api_options is not None):
        problems.add("authorizer/api_options", "used only when the construct creates the API", "set with api=",
                     api_fix)
    if api_options is not None and not isinstance(api_options, (HttpApiOptions, RestApiOptions)):
        problems.add("api_options", "HttpApiOptions(...) or RestApiOptions(...)", type(api_options).__name__,
                     f"pass e.g. api_options={options_example}")
    elif api_options is not None and api_options.authorizer is not None:
        problems.add("api_options.authorizer", "passed as authorizer=", "set", "move it to authorizer=")
    return True


def _ms(duration: cdk.Duration | None, default: int) -> int:
    value = seconds(duration)
    return default if value is None else round(value * 1000)
