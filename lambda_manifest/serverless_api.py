"""ServerlessApi: Lambda behind API Gateway, authorized, throttled, logged and alarmed by default."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import aws_cdk as cdk
import constructs
import jsii
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from lambda_manifest import _defaults as defaults
from lambda_manifest import monitoring
from lambda_manifest._api_auth import Authorizer, AuthorizerKind
from lambda_manifest._api_options import (
    PRICE_NOTE,
    ApiType,
    Canary,
    Cors,
    CustomDomain,
    ResponseCache,
    RouteCache,
    Throttle,
    UsagePlan,
    Waf,
    parse_route,
    route_id,
)
from lambda_manifest._api_rest import account_cloud_watch_role, managed_web_acl, method_setting_path
from lambda_manifest._validation import Problems, PropsError, is_token, seconds
from lambda_manifest.compliance import Pack, acknowledge, acknowledge_all
from lambda_manifest.observed_function import ObservedFunction
from lambda_manifest.shared import StackResources

__all__ = [
    "ApiRoute",
    "ApiType",
    "Authorizer",
    "Canary",
    "Cors",
    "CustomDomain",
    "ResponseCache",
    "RouteCache",
    "RouteGroup",
    "ServerlessApi",
    "Throttle",
    "UsagePlan",
    "Waf",
]

_HTTP_ACCESS_LOG = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "routeKey": "$context.routeKey",
    "httpMethod": "$context.httpMethod",
    "path": "$context.path",
    "protocol": "$context.protocol",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    "integrationError": "$context.integrationErrorMessage",
    "authorizerError": "$context.authorizer.error",
    "errorMessage": "$context.error.message",
    "sourceIp": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
}
_REST_ACCESS_LOG = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTime",
    "routeKey": "$context.httpMethod $context.resourcePath",
    "httpMethod": "$context.httpMethod",
    "path": "$context.path",
    "protocol": "$context.protocol",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integration.latency",
    "integrationStatus": "$context.integration.status",
    "integrationError": "$context.integration.error",
    "authorizerError": "$context.authorizer.error",
    "wafResponseCode": "$context.wafResponseCode",
    "errorMessage": "$context.error.message",
    "apiKeyId": "$context.identity.apiKeyId",
    "xrayTraceId": "$context.xrayTraceId",
    "sourceIp": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
}
_BODY_METHODS = ("POST", "PUT", "PATCH", "ANY")
_JSON_SCHEMA_DRAFT4 = "http://json-schema.org/draft-04/schema#"


@dataclass(frozen=True)
class ApiRoute:
    """One route of a ServerlessApi.

    ``resource`` is the ``HttpRoute`` (HTTP) or ``apigateway.Method`` (REST); ``function`` is the handler
    for Lambda routes.
    """

    key: str
    method: str
    path: str
    function: lambda_.IFunction | None
    public_reason: str | None
    resource: Construct


class RouteGroup:
    """Routes under a path prefix, e.g. a version: ``v1 = api.version("v1"); v1.add_route("GET /items", fn)``
    adds ``GET /v1/items``."""

    def __init__(self, api: ServerlessApi, prefix: str) -> None:
        self.api = api
        self.prefix = prefix

    def _route(self, route: str) -> str:
        method, _, path = route.partition(" ")
        return f"{method} {self.prefix}{'' if path == '/' else path}"

    def add_route(self, route: str, handler: lambda_.IFunction | Mapping[str, Any], **options: Any) -> ApiRoute:
        """``ServerlessApi.add_route`` with the prefix in front of the path."""
        return self.api.add_route(self._route(route), handler, **options)

    def add_integration_route(self, route: str, integration: Any, **options: Any) -> ApiRoute:
        """``ServerlessApi.add_integration_route`` with the prefix in front of the path."""
        return self.api.add_integration_route(self._route(route), integration, **options)


class ServerlessApi(Construct):
    """An API Gateway API in front of Lambda functions: authorization on every route, throttling, JSON access
    logs, alarms and a dashboard row by default; REST extras (WAF, cache, API keys, validation) when chosen.

    Every default comes from :mod:`lambda_manifest._defaults`; the README's reference lists each with its
    range. Invalid props raise one ``PropsError`` listing every problem.

    Parameters
    ----------
    api_type:
        ``ApiType.HTTP`` (payload 2.0, $1.00/million requests) or ``ApiType.REST`` (payload 1.0,
        $3.50/million, us-east-1 list prices). Default: ``ApiType.HTTP``.
    authorizer:
        ``Authorizer.jwt(...)`` (HTTP), ``Authorizer.cognito(...)``, ``Authorizer.lambda_(...)`` or
        ``Authorizer.iam()``; applied to every route. Default: - none, and then every route needs a
        ``public_reason``.
    default_handler:
        Catch-all handler (``$default`` on HTTP, ``ANY /`` and ``ANY /{proxy+}`` on REST); an
        function or a dict of ``ObservedFunction`` props. Default: - none (unknown routes get API Gateway's 404).
    code:
        The code of every route handler given as a dict without its own ``code``, e.g.
        ``Code.from_asset("src")``. Default: - none; each dict names its ``code``.
    api_name / description:
        Default: - the construct path / none.
    stage_name:
        Default: ``$default`` (HTTP), ``prod`` (REST).
    throttle:
        Stage-wide ``Throttle(rate_limit, burst_limit)``. Default: ``Throttle(100, 200)``.
    cors:
        ``Cors(allow_origins=[...])``. Default: - no CORS.
    access_log_retention:
        Default: ``RetentionDays.ONE_YEAR``; ``INFINITE`` is rejected.
    log_encryption_key:
        Default: - the stack's shared KMS key.
    detailed_metrics:
        Per-route (HTTP) / per-method (REST) CloudWatch metrics, billed as custom metrics. Default: ``False``.
    domain:
        ``CustomDomain(domain_name, certificate, hosted_zone=None, base_path=None)``. Default: - none.
    disable_execute_api_endpoint:
        Serve only through ``domain``. Default: ``False``.
    endpoint_type:
        REST only. Default: ``EndpointType.REGIONAL``.
    tracing:
        REST only: X-Ray on the stage. Default: ``True``.
    execution_logging_level:
        REST only. Default: ``MethodLoggingLevel.ERROR``.
    cloud_watch_role:
        REST only: create the account-level API Gateway CloudWatch role (one per account and region).
        Default: ``False``.
    waf:
        REST only: ``Waf.managed()``, ``Waf.from_web_acl_arn(arn)`` or ``Waf.disabled(reason)``.
        Default: ``Waf.managed()``.
    cache:
        REST only: ``ResponseCache(size="0.5", ttl=...)``; routes opt in with ``add_route(..., cache=True)``.
        Default: - no cache cluster.
    usage_plans:
        REST only: ``[UsagePlan(name, quota_limit, ...)]``; every route then requires an API key.
        Default: - none.
    canary:
        REST only: ``Canary(percent_traffic, stage_variable_overrides)``. Default: - none.
    minimum_compression_size:
        REST only, bytes (0-10 MiB). Default: ``1024``.
    client_certificate:
        REST only: a client certificate API Gateway presents to HTTP backends. Default: ``False``.
    alarm_topic:
        Default: - the stack's shared alarm topic.
    server_error_rate_alarm_percent / client_error_rate_alarm_percent:
        Default: ``1.0`` / ``10.0`` percent of requests in 5 minutes.
    alarm_min_requests:
        Rate alarms ignore periods with fewer requests. Default: ``20``.
    latency_alarm_threshold / integration_latency_alarm_threshold:
        p99 thresholds. Default: 3 s / 2.5 s.
    dashboard:
        Add a row to the stack's dashboard. Default: ``True``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        api_type: ApiType = ApiType.HTTP,
        authorizer: Authorizer | None = None,
        default_handler: lambda_.IFunction | Mapping[str, Any] | None = None,
        code: lambda_.Code | None = None,
        api_name: str | None = None,
        description: str | None = None,
        stage_name: str | None = None,
        throttle: Throttle | None = None,
        cors: Cors | None = None,
        access_log_retention: logs.RetentionDays = logs.RetentionDays.ONE_YEAR,
        log_encryption_key: kms.IKey | None = None,
        detailed_metrics: bool = False,
        domain: CustomDomain | None = None,
        disable_execute_api_endpoint: bool = False,
        endpoint_type: apigateway.EndpointType | None = None,
        tracing: bool | None = None,
        execution_logging_level: apigateway.MethodLoggingLevel | None = None,
        cloud_watch_role: bool | None = None,
        waf: Waf | None = None,
        cache: ResponseCache | None = None,
        usage_plans: Sequence[UsagePlan] | None = None,
        canary: Canary | None = None,
        minimum_compression_size: int | None = None,
        client_certificate: bool | None = None,
        alarm_topic: sns.ITopic | None = None,
        server_error_rate_alarm_percent: float = defaults.SERVER_ERROR_RATE_ALARM_PERCENT.value,
        client_error_rate_alarm_percent: float = defaults.CLIENT_ERROR_RATE_ALARM_PERCENT.value,
        alarm_min_requests: int = defaults.ALARM_MIN_REQUESTS.value,
        latency_alarm_threshold: cdk.Duration | None = None,
        integration_latency_alarm_threshold: cdk.Duration | None = None,
        dashboard: bool = True,
    ) -> None:
        super().__init__(scope, id)
        throttle = throttle or Throttle(defaults.THROTTLE_RATE_LIMIT.value, defaults.THROTTLE_BURST_LIMIT.value)
        usage_plans = list(usage_plans or [])
        rest_only = {
            "endpoint_type": endpoint_type, "tracing": tracing, "execution_logging_level": execution_logging_level,
            "cloud_watch_role": cloud_watch_role, "waf": waf, "cache": cache, "usage_plans": usage_plans or None,
            "canary": canary, "minimum_compression_size": minimum_compression_size,
            "client_certificate": client_certificate,
        }
        self._validate(
            id, api_type=api_type, authorizer=authorizer, stage_name=stage_name, throttle=throttle, cors=cors,
            access_log_retention=access_log_retention, domain=domain,
            disable_execute_api_endpoint=disable_execute_api_endpoint, rest_only=rest_only,
            server_error_rate=server_error_rate_alarm_percent, client_error_rate=client_error_rate_alarm_percent,
            alarm_min_requests=alarm_min_requests, latency=latency_alarm_threshold,
            integration_latency=integration_latency_alarm_threshold,
        )

        shared = StackResources.of(self)
        self.api_type = api_type
        self.authorizer = authorizer
        self.throttle = throttle
        self.cors = cors
        self.alarm_topic: sns.ITopic = alarm_topic or shared.alarm_topic
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self.routes: dict[str, ApiRoute] = {}
        self.functions: list[lambda_.IFunction] = []
        self._code = code
        self.usage_plans: dict[str, apigateway.UsagePlan] = {}
        self.api_keys: dict[str, apigateway.ApiKey] = {}
        self.web_acl: wafv2.CfnWebACL | None = None
        self.domain_url: str | None = None
        self._detailed_metrics = detailed_metrics
        self._route_throttles: dict[str, Throttle] = {}
        self._route_caches: dict[str, tuple[str, str, int]] = {}
        self._http_integrations: dict[str, apigwv2.HttpRouteIntegration] = {}
        self._streaming: dict[str, bool] = {}  # function node address -> whether its routes stream
        self._key = log_encryption_key or shared.key
        self._retention = access_log_retention
        self._cache: ResponseCache | None = None
        self._cache_ttl = defaults.REST_CACHE_TTL_SECONDS.value
        self._api_key_required = False
        self._logging_level = apigateway.MethodLoggingLevel.ERROR

        if api_type is ApiType.HTTP:
            self.stage_name = stage_name or defaults.HTTP_STAGE_NAME.value
        else:
            self.stage_name = stage_name or defaults.REST_STAGE_NAME.value

        self.access_log_group = logs.LogGroup(
            self, "AccessLogs", retention=access_log_retention, encryption_key=self._key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        if authorizer is not None:
            authorizer.bind(self, api_type)
        if cors is not None and cors.any_origin:
            cdk.Annotations.of(self).add_warning_v2(
                "lambda-manifest:cors-any-origin",
                f"{self.node.path}: cors allow_origins=['*'] lets every web site call this API from a browser. "
                "List the origins that need it unless the API is meant to be public to all sites.",
            )

        if api_type is ApiType.HTTP:
            self._build_http(api_name=api_name, description=description,
                             disable_execute_api_endpoint=disable_execute_api_endpoint)
        else:
            self._build_rest(
                api_name=api_name, description=description, disable_execute_api_endpoint=disable_execute_api_endpoint,
                endpoint_type=endpoint_type or apigateway.EndpointType.REGIONAL,
                tracing=defaults.REST_TRACING.value if tracing is None else tracing,
                logging_level=execution_logging_level or apigateway.MethodLoggingLevel.ERROR,
                cloud_watch_role=bool(cloud_watch_role), waf=waf or Waf.managed(), cache=cache,
                usage_plans=usage_plans, canary=canary,
                minimum_compression_size=(defaults.REST_MIN_COMPRESSION_BYTES.value
                                          if minimum_compression_size is None else minimum_compression_size),
                client_certificate=bool(client_certificate),
            )
        if domain is not None:
            self._add_domain(domain)

        self._create_alarms(
            server_error_rate=server_error_rate_alarm_percent,
            client_error_rate=client_error_rate_alarm_percent,
            min_requests=alarm_min_requests,
            latency_ms=_ms(latency_alarm_threshold, defaults.LATENCY_ALARM_MS.value),
            integration_latency_ms=_ms(integration_latency_alarm_threshold,
                                       defaults.INTEGRATION_LATENCY_ALARM_MS.value),
        )
        self.dashboard: cloudwatch.Dashboard | None = None
        if dashboard:
            self.dashboard = shared.dashboard
            self._add_dashboard_row(self.dashboard)
        cdk.CfnOutput(self, "Url", value=self.url, description=f"Base URL of {self.node.path}")

        if default_handler is not None:
            self.add_default_route(default_handler)
        self.node.add_validation(_HasRoutes(self))

    # ----------------------------------------------------------------------------------------------
    # Attributes
    # ----------------------------------------------------------------------------------------------
    @property
    def api(self) -> apigwv2.HttpApi | apigateway.RestApi:
        """The ``HttpApi`` or ``RestApi``."""
        return self._http if self.api_type is ApiType.HTTP else self._rest

    @property
    def stage(self) -> apigwv2.HttpStage | apigateway.Stage:
        return self._http_stage if self.api_type is ApiType.HTTP else self._rest.deployment_stage

    @property
    def url(self) -> str:
        """The stage's invoke URL, ending in ``/``."""
        if self.api_type is ApiType.HTTP:
            return self._http_stage.url
        return self._rest.url

    @property
    def api_id(self) -> str:
        return self._http.api_id if self.api_type is ApiType.HTTP else self._rest.rest_api_id

    # ----------------------------------------------------------------------------------------------
    # Routes
    # ----------------------------------------------------------------------------------------------
    def version(self, name: str) -> RouteGroup:
        """Routes under ``/<name>``: ``api.version("v1").add_route("GET /items", fn)`` adds ``GET /v1/items``."""
        if not name or not all(c.isalnum() or c in "._-" for c in name):
            raise PropsError(f"ServerlessApi '{self.node.id}': version must be one path segment like 'v1', "
                             f"got {name!r}")
        return RouteGroup(self, f"/{name}")

    def add_route(
        self,
        route: str,
        handler: lambda_.IFunction | Mapping[str, Any],
        *,
        public_reason: str | None = None,
        throttle: Throttle | None = None,
        cache: bool | RouteCache | None = None,
        request_model: Mapping[str, Any] | None = None,
        authorization_scopes: Sequence[str] | None = None,
        stream: bool = False,
    ) -> ApiRoute:
        """Route ``"METHOD /path"`` (e.g. ``"GET /items/{id}"``) to a Lambda function (proxy integration).

        Parameters
        ----------
        handler:
            Any Lambda function (an ``ObservedFunction``, a plain ``aws_lambda.Function``, an imported one), or
            a dict of ``ObservedFunction`` props to create one (its ``code`` defaults to the API's ``code``).
            Its timeout must fit the integration timeout (30 s HTTP, 29 s REST).
        public_reason:
            Make this route public (no authorizer). Required when the API has no authorizer; the sentence is
            recorded as this route's cdk-nag acknowledgement.
        throttle:
            Per-route ``Throttle``. Default: - the stage throttle.
        cache:
            REST only: cache responses (``True`` or ``RouteCache(ttl, query_strings, headers)``); GET only.
        request_model:
            REST only: a JSON schema (draft 4) the request body must match, checked by API Gateway.
        authorization_scopes:
            JWT / Cognito authorizers only: scopes the token must carry.
        stream:
            REST only: stream the response (integration ``ResponseTransferMode: STREAM``): the handler may return
            a ``lambda_manifest.runtime.stream.StreamingResponse`` or be a generator, and each piece reaches the
            client as it is produced; it may run up to 15 minutes. A Python function then runs the stream
            runtime's loop (``AWS_LAMBDA_EXEC_WRAPPER``; its other answers keep working) and answers every route
            in the streaming format, so all its routes must stream. Default: ``False``.
        """
        problems = Problems("ServerlessApi", self.node.id)
        parsed = self._check_route(problems, route, public_reason, throttle, authorization_scopes)
        self._check_lambda_route_options(problems, route, parsed, cache, request_model)
        if stream:
            self._check_stream(problems, route, handler, cache)
        props: dict[str, Any] | None = None
        if isinstance(handler, Mapping):
            props = dict(handler)
            if self._code is not None:
                props.setdefault("code", self._code)
            if self.api_type is ApiType.REST and "timeout" not in props and not stream:
                # ObservedFunction's 30 s default is one second past the REST integration timeout.
                props["timeout"] = cdk.Duration.seconds(defaults.REST_INTEGRATION_TIMEOUT_SECONDS)
            if props.get("code") is None:
                problems.add("handler['code']", "the code of the route's function", None,
                             "add 'code': Code.from_asset('src') to the dict, or pass code= to ServerlessApi")
        elif not (hasattr(handler, "function_arn") and hasattr(handler, "grant_invoke")):
            problems.add("handler", "a Lambda function (any IFunction) or a dict of ObservedFunction props",
                         type(handler).__name__, "pass e.g. an ObservedFunction or {'handler': 'api.main'}")
        else:
            self._check_timeout(problems, route, handler, stream)
            self._check_stream_mode(problems, route, handler, stream)
        problems.raise_if_any()
        assert parsed is not None
        method, path = parsed
        public = public_reason is not None
        function: lambda_.IFunction
        if props is not None:
            function = ObservedFunction(self, f"{route_id(route)}Handler", **props)
            self._check_timeout(problems, route, function, stream)  # its timeout is known only now
            problems.raise_if_any()
        else:
            function = cast(lambda_.IFunction, handler)
        self._streaming[function.node.addr] = stream
        if stream:
            _enable_streaming(function)
        invocable = function.invocable if isinstance(function, ObservedFunction) else function
        if all(function is not f for f in self.functions):
            self.functions.append(function)
        if self.api_type is ApiType.HTTP:
            integration = self._http_integrations.get(function.node.addr)
            if integration is None:
                integration = integrations.HttpLambdaIntegration(
                    "LambdaIntegration", invocable,
                    payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
                )
                self._http_integrations[function.node.addr] = integration
            resource: Construct = self._add_http_route(route, method, path, integration, authorization_scopes,
                                                       public=public)
        else:
            route_cache = RouteCache() if cache is True else (cache or None)
            cache_keys = self._cache_key_parameters(path, route_cache)
            stream_options: dict[str, Any] = {}
            if stream:
                # API Gateway waits as long as the function may run (up to 15 minutes for a streamed answer).
                timeout_s = seconds(function.timeout) if isinstance(function, lambda_.Function) else None
                stream_options = {
                    "response_transfer_mode": apigateway.ResponseTransferMode.STREAM,
                    "timeout": cdk.Duration.seconds(min(timeout_s or defaults.STREAM_INTEGRATION_TIMEOUT_SECONDS,
                                                        defaults.STREAM_INTEGRATION_TIMEOUT_SECONDS)),
                }
            rest_integration = apigateway.LambdaIntegration(
                invocable, proxy=True, allow_test_invoke=False,
                cache_key_parameters=list(cache_keys) or None, **stream_options,
            )
            resource = self._add_rest_method(route, method, path, rest_integration, authorization_scopes,
                                             public=public, request_model=request_model, cache_keys=cache_keys)
            if route_cache is not None:
                ttl = seconds(route_cache.ttl)
                self._route_caches[route] = (method, path, int(ttl) if ttl is not None else self._cache_ttl)
        return self._register(route, method, path, function, public_reason, throttle, resource)

    def add_default_route(
        self,
        handler: lambda_.IFunction | Mapping[str, Any],
        *,
        public_reason: str | None = None,
        throttle: Throttle | None = None,
    ) -> list[ApiRoute]:
        """The catch-all handler: ``$default`` on HTTP APIs, ``ANY /`` and ``ANY /{proxy+}`` on REST APIs."""
        if self.api_type is ApiType.HTTP:
            return [self.add_route("$default", handler, public_reason=public_reason, throttle=throttle)]
        first = self.add_route("ANY /", handler, public_reason=public_reason, throttle=throttle)
        assert first.function is not None
        return [first, self.add_route("ANY /{proxy+}", first.function, public_reason=public_reason,
                                      throttle=throttle)]

    def add_integration_route(
        self,
        route: str,
        integration: apigwv2.HttpRouteIntegration | apigateway.Integration,
        *,
        public_reason: str | None = None,
        throttle: Throttle | None = None,
        authorization_scopes: Sequence[str] | None = None,
        request_model: Mapping[str, Any] | None = None,
    ) -> ApiRoute:
        """Route to a non-Lambda integration, with the API's authorizer like every other route.

        HTTP APIs take an ``aws_apigatewayv2.HttpRouteIntegration`` (e.g. an SQS ``SendMessage``
        integration); REST APIs take an ``aws_apigateway.Integration`` (AWS service / VTL / HTTP).
        """
        problems = Problems("ServerlessApi", self.node.id)
        parsed = self._check_route(problems, route, public_reason, throttle, authorization_scopes)
        is_http = isinstance(integration, apigwv2.HttpRouteIntegration)
        is_rest = isinstance(integration, apigateway.Integration)
        if self.api_type is ApiType.HTTP and is_rest:
            _rest_only(problems, "integration", "an aws_apigateway.Integration",
                       "custom (VTL mapping template) integrations")
        elif self.api_type is ApiType.HTTP and not is_http:
            problems.add("integration", "an aws_apigatewayv2.HttpRouteIntegration", type(integration).__name__,
                         "use aws_apigatewayv2_integrations (HttpSqsIntegration, HttpUrlIntegration, ...)")
        elif self.api_type is ApiType.REST and not is_rest:
            problems.add("integration", "an aws_apigateway.Integration on a REST API", type(integration).__name__,
                         "use aws_apigateway.AwsIntegration / HttpIntegration / MockIntegration")
        if request_model is not None:
            self._check_request_model(problems, route, parsed, request_model)
        problems.raise_if_any()
        assert parsed is not None
        method, path = parsed
        if self.api_type is ApiType.HTTP:
            assert isinstance(integration, apigwv2.HttpRouteIntegration)
            resource: Construct = self._add_http_route(route, method, path, integration, authorization_scopes,
                                                       public=public_reason is not None)
        else:
            assert isinstance(integration, apigateway.Integration)
            resource = self._add_rest_method(route, method, path, integration, authorization_scopes,
                                             public=public_reason is not None, request_model=request_model,
                                             cache_keys=())
        return self._register(route, method, path, None, public_reason, throttle, resource)

    def grant_invoke(self, grantee: iam.IGrantable, route: str | None = None) -> iam.Grant:
        """Allow ``grantee`` to call the API (or one ``"METHOD /path"`` route) with SigV4: ``execute-api:Invoke``.

        Only meaningful with ``Authorizer.iam()``.
        """
        if self.authorizer is None or self.authorizer.kind is not AuthorizerKind.IAM:
            raise PropsError(f"ServerlessApi '{self.node.id}': grant_invoke needs authorizer=Authorizer.iam(); "
                             "other authorizers do not check IAM permissions")
        method, path = "*", "/*"
        if route is not None:
            parsed = parse_route(route)
            if parsed is None or parsed[1] == "$default":
                raise PropsError(f"ServerlessApi '{self.node.id}': route must be 'METHOD /path', got {route!r}")
            method, path = parsed
            method = "*" if method == "ANY" else method
            path = _arn_path(path)
        arn = self.api.arn_for_execute_api(method, path, self.stage_name)
        return iam.Grant.add_to_principal(grantee=grantee, actions=["execute-api:Invoke"], resource_arns=[arn])

    # ----------------------------------------------------------------------------------------------
    # Metrics
    # ----------------------------------------------------------------------------------------------
    def _metric(self, http_name: str, rest_name: str, statistic: str, options: Mapping[str, Any]) -> cloudwatch.Metric:
        props: dict[str, Any] = {"period": monitoring.period(), "statistic": statistic, **options}
        if self.api_type is ApiType.HTTP:
            return self._http.metric(http_name, **props)
        return self._rest.deployment_stage.metric(rest_name, **props)

    def metric_count(self, **options: Any) -> cloudwatch.Metric:
        """Requests. Default: sum over 5 minutes."""
        return self._metric("Count", "Count", "Sum", options)

    def metric_server_errors(self, **options: Any) -> cloudwatch.Metric:
        """5xx responses. Default: sum over 5 minutes."""
        return self._metric("5xx", "5XXError", "Sum", options)

    def metric_client_errors(self, **options: Any) -> cloudwatch.Metric:
        """4xx responses. Default: sum over 5 minutes."""
        return self._metric("4xx", "4XXError", "Sum", options)

    def metric_latency(self, **options: Any) -> cloudwatch.Metric:
        """End-to-end latency. Default: p99 over 5 minutes."""
        return self._metric("Latency", "Latency", "p99", options)

    def metric_integration_latency(self, **options: Any) -> cloudwatch.Metric:
        """Backend latency. Default: p99 over 5 minutes."""
        return self._metric("IntegrationLatency", "IntegrationLatency", "p99", options)

    def metric_server_error_rate(self, min_requests: int = 1) -> cloudwatch.MathExpression:
        """Percentage of requests answered 5xx (0 in periods with fewer than ``min_requests`` requests)."""
        return self._rate(self.metric_server_errors(), "5xx", "server", min_requests)

    def metric_client_error_rate(self, min_requests: int = 1) -> cloudwatch.MathExpression:
        """Percentage of requests answered 4xx (0 in periods with fewer than ``min_requests`` requests)."""
        return self._rate(self.metric_client_errors(), "4xx", "client", min_requests)

    def _rate(self, errors: cloudwatch.Metric, label: str, kind: str, min_requests: int) -> cloudwatch.MathExpression:
        # Distinct ids per kind, so both rates can share one graph.
        e, n = f"{kind}Errors", f"{kind}Requests"
        return cloudwatch.MathExpression(
            expression=f"IF({n} >= {min_requests}, 100 * {e} / {n}, 0)",
            using_metrics={e: errors, n: self.metric_count()},
            period=monitoring.period(),
            label=f"{label} rate (%)",
        )

    # ----------------------------------------------------------------------------------------------
    # HTTP API
    # ----------------------------------------------------------------------------------------------
    def _build_http(self, *, api_name: str | None, description: str | None,
                    disable_execute_api_endpoint: bool) -> None:
        cors = self.cors
        self._http = apigwv2.HttpApi(
            self,
            "Api",
            api_name=api_name,
            description=description,
            create_default_stage=False,
            disable_execute_api_endpoint=disable_execute_api_endpoint,
            cors_preflight=None if cors is None else apigwv2.CorsPreflightOptions(
                allow_origins=list(cors.allow_origins),
                allow_methods=[getattr(apigwv2.CorsHttpMethod, m.upper()) for m in (cors.allow_methods or ["ANY"])],
                allow_headers=list(cors.allow_headers),
                expose_headers=list(cors.expose_headers) or None,
                allow_credentials=cors.allow_credentials,
                max_age=cdk.Duration.seconds(cors.max_age_seconds),
            ),
        )
        self._http_stage = apigwv2.HttpStage(
            self,
            "Stage",
            http_api=self._http,
            stage_name=self.stage_name,
            auto_deploy=True,
            detailed_metrics_enabled=self._detailed_metrics,
            throttle=apigwv2.ThrottleSettings(rate_limit=self.throttle.rate_limit,
                                              burst_limit=self.throttle.burst_limit),
        )
        cfn_stage = self._http_stage.node.default_child
        assert isinstance(cfn_stage, apigwv2.CfnStage)
        cfn_stage.access_log_settings = apigwv2.CfnStage.AccessLogSettingsProperty(
            destination_arn=self.access_log_group.log_group_arn,
            format=json.dumps(_HTTP_ACCESS_LOG, separators=(",", ":")),
        )
        self._cfn_http_stage = cfn_stage

    def _add_http_route(
        self, route: str, method: str, path: str, integration: apigwv2.HttpRouteIntegration,
        scopes: Sequence[str] | None, *, public: bool,
    ) -> apigwv2.HttpRoute:
        key = apigwv2.HttpRouteKey.DEFAULT if path == "$default" else apigwv2.HttpRouteKey.with_(
            path, apigwv2.HttpMethod(method))
        authorizer: apigwv2.IHttpRouteAuthorizer | None = None
        if self.authorizer is not None and not public:
            authorizer = self.authorizer.http_authorizer
        http_route = apigwv2.HttpRoute(
            self._http,
            f"Route{route_id(route)}",
            http_api=self._http,
            route_key=key,
            integration=integration,
            authorizer=authorizer or apigwv2.HttpNoneAuthorizer(),
            authorization_scopes=list(scopes) if scopes and authorizer else None,
        )
        return http_route

    # ----------------------------------------------------------------------------------------------
    # REST API
    # ----------------------------------------------------------------------------------------------
    def _build_rest(
        self,
        *,
        api_name: str | None,
        description: str | None,
        disable_execute_api_endpoint: bool,
        endpoint_type: apigateway.EndpointType,
        tracing: bool,
        logging_level: apigateway.MethodLoggingLevel,
        cloud_watch_role: bool,
        waf: Waf,
        cache: ResponseCache | None,
        usage_plans: Sequence[UsagePlan],
        canary: Canary | None,
        minimum_compression_size: int,
        client_certificate: bool,
    ) -> None:
        cors = self.cors
        self._logging_level = logging_level
        self._cache = cache
        self._cache_ttl = cache.ttl_seconds if cache is not None else defaults.REST_CACHE_TTL_SECONDS.value
        self._api_key_required = bool(usage_plans)
        self._rest = apigateway.RestApi(
            self,
            "Api",
            rest_api_name=api_name or cdk.Names.unique_resource_name(self, max_length=128, separator="-"),
            description=description,
            endpoint_types=[endpoint_type],
            cloud_watch_role=False,
            min_compression_size=cdk.Size.bytes(minimum_compression_size),
            disable_execute_api_endpoint=disable_execute_api_endpoint,
            api_key_source_type=apigateway.ApiKeySourceType.HEADER if usage_plans else None,
            default_cors_preflight_options=None if cors is None else apigateway.CorsOptions(
                allow_origins=list(cors.allow_origins),
                allow_methods=[m.upper() for m in cors.allow_methods] if cors.allow_methods
                else apigateway.Cors.ALL_METHODS,
                allow_headers=list(cors.allow_headers),
                expose_headers=list(cors.expose_headers) or None,
                allow_credentials=cors.allow_credentials,
                max_age=cdk.Duration.seconds(cors.max_age_seconds),
            ),
            deploy_options=apigateway.StageOptions(
                stage_name=self.stage_name,
                tracing_enabled=tracing,
                access_log_destination=apigateway.LogGroupLogDestination(self.access_log_group),
                access_log_format=apigateway.AccessLogFormat.custom(
                    json.dumps(_REST_ACCESS_LOG, separators=(",", ":"))),
                cache_cluster_enabled=cache is not None,
                cache_cluster_size=cache.size if cache is not None else None,
            ),
        )
        # One URL output for both API types (ours, below), not RestApi's extra "Endpoint" output.
        self._rest.node.try_remove_child("Endpoint")
        stage = self._rest.deployment_stage
        cfn_stage = stage.node.default_child
        assert isinstance(cfn_stage, apigateway.CfnStage)
        self._cfn_rest_stage = cfn_stage
        self._render_method_settings()

        # Execution logs: pre-create API Gateway's log group so it is encrypted and expires.
        self.execution_log_group: logs.LogGroup | None = None
        if logging_level != apigateway.MethodLoggingLevel.OFF:
            self.execution_log_group = logs.LogGroup(
                self, "ExecutionLogs",
                log_group_name=f"API-Gateway-Execution-Logs_{self._rest.rest_api_id}/{self.stage_name}",
                retention=self._retention, encryption_key=self._key, removal_policy=cdk.RemovalPolicy.RETAIN,
            )
            stage.node.add_dependency(self.execution_log_group)
        if cloud_watch_role:
            stage.node.add_dependency(account_cloud_watch_role(self))

        # One validator for every method: parameters always, the body where a route has a request_model.
        self._validator = self._rest.add_request_validator(
            "RequestValidator", validate_request_body=True, validate_request_parameters=True,
        )
        if cors is not None and len(cors.allow_origins) == 1:
            # Authorizer and throttling errors come from API Gateway, not the function: give them the CORS
            # header too, so browsers show the real 401/429 instead of a CORS failure.
            origin = cors.allow_origins[0]
            for name, response_type in (("Default4xx", apigateway.ResponseType.DEFAULT_4_XX),
                                        ("Default5xx", apigateway.ResponseType.DEFAULT_5_XX)):
                self._rest.add_gateway_response(
                    name, type=response_type,
                    response_headers={"Access-Control-Allow-Origin": f"'{origin}'"},
                )
        if canary is not None:
            cfn_stage.canary_setting = apigateway.CfnStage.CanarySettingProperty(
                percent_traffic=canary.percent_traffic,
                stage_variable_overrides=dict(canary.stage_variable_overrides) or None,
                use_stage_cache=False,
            )
        if client_certificate:
            certificate = apigateway.CfnClientCertificate(
                self, "ClientCertificate", description=f"Presented by {self.node.path} to HTTP backends")
            cfn_stage.client_certificate_id = certificate.ref
        self._add_usage_plans(usage_plans, stage)
        self._add_waf(waf, stage)
        self._acknowledge_rest_stage(cfn_stage, logging_level=logging_level, client_certificate=client_certificate)

    def _render_method_settings(self) -> None:
        """(Re)write the stage's method settings: the ``/*/*`` defaults plus one entry per overridden route."""
        level = self._logging_level.value

        def setting(method: str, resource: str, throttle: Throttle, caching: bool, ttl: int) -> Any:
            return apigateway.CfnStage.MethodSettingProperty(
                http_method=method,
                resource_path=resource,
                logging_level=level,
                data_trace_enabled=False,
                metrics_enabled=self._detailed_metrics,
                throttling_rate_limit=throttle.rate_limit,
                throttling_burst_limit=throttle.burst_limit,
                caching_enabled=caching if self._cache is not None else None,
                cache_ttl_in_seconds=ttl if self._cache is not None else None,
                cache_data_encrypted=True if self._cache is not None else None,
            )

        settings = [setting("*", "/*", self.throttle, False, self._cache_ttl)]
        for route in sorted(set(self._route_throttles) | set(self._route_caches)):
            method, path = self._rest_route_parts(route)
            for actual in (["*"] if method == "ANY" else [method]):
                cached = self._route_caches.get(route)
                settings.append(setting(actual, method_setting_path(path), self._route_throttles.get(route, self.throttle),
                                        cached is not None, cached[2] if cached else self._cache_ttl))
        self._cfn_rest_stage.method_settings = settings

    def _rest_route_parts(self, route: str) -> tuple[str, str]:
        parsed = parse_route(route)
        assert parsed is not None
        return parsed

    def _cache_key_parameters(self, path: str, cache: RouteCache | None) -> tuple[str, ...]:
        if cache is None:
            return ()
        keys = [f"method.request.path.{s[1:-1].rstrip('+')}" for s in path.split("/") if s.startswith("{")]
        keys += [f"method.request.querystring.{q}" for q in cache.query_strings]
        keys += [f"method.request.header.{h}" for h in cache.headers]
        return tuple(keys)

    def _add_rest_method(
        self, route: str, method: str, path: str, integration: apigateway.Integration,
        scopes: Sequence[str] | None, *, public: bool, request_model: Mapping[str, Any] | None,
        cache_keys: Sequence[str],
    ) -> apigateway.Method:
        resource = self._rest.root if path == "/" else self._rest.root.resource_for_path(path)
        options: dict[str, Any] = {
            "request_validator": self._validator,
            # A public route is public: it needs no credential of any kind, API keys included.
            "api_key_required": (self._api_key_required and not public) or None,
        }
        if self.authorizer is not None and not public:
            kind = self.authorizer.kind
            if kind is AuthorizerKind.IAM:
                options["authorization_type"] = apigateway.AuthorizationType.IAM
            else:
                options["authorizer"] = self.authorizer.rest_authorizer_for_route()
                options["authorization_type"] = (apigateway.AuthorizationType.COGNITO if kind is AuthorizerKind.COGNITO
                                                 else apigateway.AuthorizationType.CUSTOM)
            if scopes:
                options["authorization_scopes"] = list(scopes)
        else:
            options["authorization_type"] = apigateway.AuthorizationType.NONE
        if cache_keys:
            options["request_parameters"] = {key: key.startswith("method.request.path.") for key in cache_keys}
        if request_model is not None:
            schema = {"$schema": _JSON_SCHEMA_DRAFT4, **request_model}
            model = apigateway.CfnModel(
                self, f"Model{route_id(route)}", rest_api_id=self._rest.rest_api_id,
                content_type="application/json", schema=schema,
                description=f"Request body of {route}",
            )
            options["request_models"] = {
                "application/json": apigateway.Model.from_model_name(self, f"ModelRef{route_id(route)}", model.ref)
            }
        rest_method = resource.add_method(method, integration, **options)
        if request_model is not None:
            rest_method.node.add_dependency(self.node.find_child(f"Model{route_id(route)}"))
        return rest_method

    def _add_usage_plans(self, usage_plans: Sequence[UsagePlan], stage: apigateway.Stage) -> None:
        for plan in usage_plans:
            created = apigateway.UsagePlan(
                self, f"UsagePlan{plan.name}",
                name=f"{self._rest.rest_api_name}-{plan.name}",
                quota=apigateway.QuotaSettings(limit=plan.quota_limit, period=plan.quota_period),
                throttle=None if plan.throttle is None else apigateway.ThrottleSettings(
                    rate_limit=plan.throttle.rate_limit, burst_limit=plan.throttle.burst_limit),
                api_stages=[apigateway.UsagePlanPerApiStage(api=self._rest, stage=stage)],
            )
            self.usage_plans[plan.name] = created
            for key_name in plan.api_keys:
                key = apigateway.ApiKey(self, f"ApiKey{plan.name}{key_name}",
                                        description=f"{key_name} ({plan.name} plan of {self.node.path})")
                created.add_api_key(key)
                self.api_keys[key_name] = key

    def _add_waf(self, waf: Waf, stage: apigateway.Stage) -> None:
        if waf.mode == "disabled":
            acknowledge_all(
                stage.node.default_child or stage,
                [(Pack.AWS_SOLUTIONS, "AwsSolutions-APIG3"),
                 (Pack.NIST_800_53_R5, "NIST.800.53.R5-APIGWAssociatedWithWAF"),
                 (Pack.PCI_DSS_321, "PCI.DSS.321-APIGWAssociatedWithWAF")],
                f"WAF was turned off for {self.node.path} with Waf.disabled(): {waf.reason}",
            )
            return
        if waf.mode == "managed":
            self.web_acl, self.waf_log_group = managed_web_acl(self, retention=self._retention, key=self._key)
            acl_arn = self.web_acl.attr_arn
        else:
            assert waf.web_acl_arn is not None
            acl_arn = waf.web_acl_arn
        association = wafv2.CfnWebACLAssociation(self, "WebAclAssociation", resource_arn=stage.stage_arn,
                                                 web_acl_arn=acl_arn)
        association.node.add_dependency(stage)

    def _acknowledge_rest_stage(self, cfn_stage: apigateway.CfnStage, *, logging_level: apigateway.MethodLoggingLevel,
                                client_certificate: bool) -> None:
        path = self.node.path
        acknowledge_all(
            cfn_stage,
            [(Pack.HIPAA_SECURITY, "HIPAA.Security-APIGWCacheEnabledAndEncrypted"),
             (Pack.NIST_800_53_R5, "NIST.800.53.R5-APIGWCacheEnabledAndEncrypted"),
             (Pack.PCI_DSS_321, "PCI.DSS.321-APIGWCacheEnabledAndEncrypted")],
            f"{path} caches only the routes given add_route(cache=...), always encrypted: the API Gateway cache key "
            "does not include the caller, so caching every method would serve one caller's authorized response "
            "to the next.",
        )
        if not client_certificate:
            acknowledge_all(
                cfn_stage,
                [(Pack.HIPAA_SECURITY, "HIPAA.Security-APIGWSSLEnabled"),
                 (Pack.NIST_800_53_R5, "NIST.800.53.R5-APIGWSSLEnabled"),
                 (Pack.PCI_DSS_321, "PCI.DSS.321-APIGWSSLEnabled")],
                f"A client certificate authenticates API Gateway to HTTP backends; {path} invokes Lambda functions "
                "and AWS services through IAM, which never see one. Pass client_certificate=True for HTTP backends.",
            )
        if logging_level == apigateway.MethodLoggingLevel.OFF:
            acknowledge_all(
                cfn_stage,
                [(Pack.AWS_SOLUTIONS, "AwsSolutions-APIG6"),
                 (Pack.HIPAA_SECURITY, "HIPAA.Security-APIGWExecutionLoggingEnabled"),
                 (Pack.NIST_800_53_R5, "NIST.800.53.R5-APIGWExecutionLoggingEnabled"),
                 (Pack.PCI_DSS_321, "PCI.DSS.321-APIGWExecutionLoggingEnabled")],
                f"Execution logging of {path} was turned off with execution_logging_level=OFF (the account has no "
                "API Gateway CloudWatch role); JSON access logs still record every request.",
            )

    # ----------------------------------------------------------------------------------------------
    # Shared route plumbing
    # ----------------------------------------------------------------------------------------------
    def _check_route(
        self, problems: Problems, route: str, public_reason: str | None, throttle: Throttle | None,
        scopes: Sequence[str] | None,
    ) -> tuple[str, str] | None:
        parsed = parse_route(route) if isinstance(route, str) else None
        if parsed is None:
            problems.add("route", "'METHOD /path' with METHOD one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, "
                         "ANY and segments like 'items' or '{id}' ('{proxy+}' last only)", route,
                         "e.g. 'GET /items/{id}'")
        elif parsed[1] == "$default" and self.api_type is ApiType.REST:
            problems.add("route", "'METHOD /path' on a REST API", route,
                         "use default_handler= or add_default_route() for a catch-all")
        if route in self.routes:
            problems.add("route", "added once", route, "each route key maps to one handler")
        if public_reason is not None:
            if not isinstance(public_reason, str) or len(public_reason.strip()) < 20:
                problems.add("public_reason", "a sentence of at least 20 characters saying why the route is public",
                             public_reason, "it becomes this route's cdk-nag acknowledgement")
            if scopes:
                problems.add("authorization_scopes", "unset on a public route", list(scopes),
                             "a public route has no authorizer to check scopes")
        elif self.authorizer is None:
            problems.add("route", "authorized", route,
                         "pass authorizer=Authorizer.jwt(...)/cognito(...)/lambda_(...)/iam() to the API, or "
                         f"public_reason='why anyone may call it' to add_route({route!r}, ...)")
        if scopes and self.authorizer is not None and not self.authorizer.supports_scopes:
            problems.add("authorization_scopes", "used only with Authorizer.jwt() or Authorizer.cognito()",
                         list(scopes), f"{self.authorizer.description} does not check scopes; check them in the "
                         "handler (the authorizer passes 'scopes' in its context)")
        if throttle is not None:
            throttle.check(problems, "throttle")
        return parsed

    def _check_lambda_route_options(
        self, problems: Problems, route: str, parsed: tuple[str, str] | None, cache: bool | RouteCache | None,
        request_model: Mapping[str, Any] | None,
    ) -> None:
        if cache:
            if self.api_type is ApiType.HTTP:
                _rest_only(problems, "cache", cache, "response caching")
            elif self._cache is None:
                problems.add("cache", "used with a stage cache", cache,
                             "pass cache=ResponseCache() to the ServerlessApi first")
            elif parsed is not None and parsed[0] not in ("GET", "HEAD"):
                problems.add("cache", "used only on GET or HEAD routes", route,
                             "caching other methods would answer writes from the cache")
            if isinstance(cache, RouteCache):
                low, high = defaults.CACHE_TTL_RANGE_SECONDS
                problems.check_range("cache.ttl", seconds(cache.ttl), low, high, "seconds",
                                     "pass e.g. RouteCache(ttl=Duration.minutes(5))")
        if request_model is not None:
            self._check_request_model(problems, route, parsed, request_model)

    def _check_request_model(self, problems: Problems, route: str, parsed: tuple[str, str] | None,
                             request_model: Mapping[str, Any]) -> None:
        if self.api_type is ApiType.HTTP:
            _rest_only(problems, "request_model", "a JSON schema", "request validation with JSON-schema models")
            return
        if not isinstance(request_model, Mapping) or "type" not in request_model:
            problems.add("request_model", "a JSON schema dict (draft 4) with a 'type'", request_model,
                         "e.g. {'type': 'object', 'required': ['sku'], 'properties': {...}}")
        if parsed is not None and parsed[0] not in _BODY_METHODS:
            problems.add("request_model", f"used only on {'/'.join(_BODY_METHODS)} routes", route,
                         "only requests with a body can be validated against a model")

    def _check_stream(self, problems: Problems, route: str, handler: Any, cache: bool | RouteCache | None) -> None:
        if self.api_type is ApiType.HTTP:
            problems.add("stream", "used on a REST API", True,
                         "HTTP APIs cannot stream responses: create the ServerlessApi with api_type=ApiType.REST "
                         "(its Lambda integrations stream with ResponseTransferMode STREAM), or drop stream=True")
        if cache:
            problems.add("cache", "unset on a streaming route", cache,
                         "API Gateway cannot cache a streamed response: drop cache= or stream=True")
        if isinstance(handler, Mapping):
            return
        if not isinstance(handler, lambda_.Function):
            problems.add("handler", "a function defined in this app when stream=True (it gets the stream runtime's "
                         "AWS_LAMBDA_EXEC_WRAPPER)", type(handler).__name__,
                         "pass the function where it is defined, or an ObservedFunction")
        elif handler.runtime.family not in (lambda_.RuntimeFamily.PYTHON, lambda_.RuntimeFamily.NODEJS):
            problems.add("handler runtime", "Python (the stream runtime) or Node.js (streamifyResponse) when "
                         "stream=True", handler.runtime.name, "use a Python or Node.js function")

    def _check_stream_mode(self, problems: Problems, route: str, handler: Any, stream: bool) -> None:
        previous = self._streaming.get(handler.node.addr) if hasattr(handler, "node") else None
        if previous is not None and previous != stream:
            problems.add("stream", f"{previous} like the function's other routes", stream,
                         "a function that streams answers every request in the streaming format: give all its "
                         "routes the same stream=, or use separate functions")

    def _check_timeout(self, problems: Problems, route: str, function: lambda_.IFunction, stream: bool = False) -> None:
        timeout = seconds(function.timeout) if isinstance(function, lambda_.Function) else None
        limit = defaults.REST_INTEGRATION_TIMEOUT_SECONDS if self.api_type is ApiType.REST \
            else defaults.HTTP_INTEGRATION_TIMEOUT_SECONDS
        if stream:
            limit = defaults.STREAM_INTEGRATION_TIMEOUT_SECONDS
        if timeout is not None and timeout > limit:
            kind = "REST" if self.api_type is ApiType.REST else "HTTP"
            problems.add(f"{route!r} handler timeout", f"at most {limit} seconds, the {kind} API integration "
                         "timeout", f"{timeout:g} seconds ({function.node.path})",
                         f"lower the function's timeout to {limit} seconds or less; for longer work answer 202 "
                         "and hand it to an AsyncWorker (AsyncWorker.add_api_route)")

    def _register(
        self, route: str, method: str, path: str, function: lambda_.IFunction | None, public_reason: str | None,
        throttle: Throttle | None, resource: Construct,
    ) -> ApiRoute:
        entry = ApiRoute(key=route, method=method, path=path, function=function, public_reason=public_reason,
                         resource=resource)
        self.routes[route] = entry
        if throttle is not None:
            self._route_throttles[route] = throttle
        if self.api_type is ApiType.HTTP:
            if throttle is not None:
                # RouteSettings is untyped JSON in CloudFormation's schema: CloudFormation key names, as-is.
                self._cfn_http_stage.route_settings = {
                    key: {"ThrottlingRateLimit": value.rate_limit, "ThrottlingBurstLimit": value.burst_limit}
                    for key, value in self._route_throttles.items()
                }
                # A stage's route settings may only name routes that already exist.
                self._cfn_http_stage.node.add_dependency(resource)
        else:
            self._render_method_settings()
        cfn = resource.node.default_child
        assert cfn is not None
        if public_reason is not None:
            reason = f"{route} of {self.node.path} is public by design: {public_reason.strip()}"
            acknowledge(cfn, Pack.AWS_SOLUTIONS, "AwsSolutions-APIG4", reason)
            if self.api_type is ApiType.REST:
                acknowledge(cfn, Pack.AWS_SOLUTIONS, "AwsSolutions-COG4", reason)
        elif self.api_type is ApiType.REST and self.authorizer is not None \
                and self.authorizer.kind is not AuthorizerKind.COGNITO:
            acknowledge(
                cfn, Pack.AWS_SOLUTIONS, "AwsSolutions-COG4",
                f"{route} of {self.node.path} is authorized by {self.authorizer.description} instead of a Cognito "
                "user pool: the API's callers are not Cognito users.",
            )
        return entry

    # ----------------------------------------------------------------------------------------------
    # Domain, alarms, dashboard
    # ----------------------------------------------------------------------------------------------
    def _add_domain(self, domain: CustomDomain) -> None:
        target: route53.IAliasRecordTarget
        if self.api_type is ApiType.HTTP:
            http_domain = apigwv2.DomainName(
                self, "Domain", domain_name=domain.domain_name, certificate=domain.certificate,
                security_policy=apigwv2.SecurityPolicy.TLS_1_2,
            )
            apigwv2.ApiMapping(self, "DomainMapping", api=self._http, domain_name=http_domain,
                               stage=self._http_stage, api_mapping_key=domain.base_path)
            target = route53_targets.ApiGatewayv2DomainProperties(
                http_domain.regional_domain_name, http_domain.regional_hosted_zone_id)
        else:
            rest_domain = apigateway.DomainName(
                self, "Domain", domain_name=domain.domain_name, certificate=domain.certificate,
                security_policy=apigateway.SecurityPolicy.TLS_1_2, endpoint_type=apigateway.EndpointType.REGIONAL,
            )
            apigateway.BasePathMapping(self, "DomainMapping", domain_name=rest_domain, rest_api=self._rest,
                                       stage=self._rest.deployment_stage, base_path=domain.base_path)
            target = route53_targets.ApiGatewayDomain(rest_domain)
        if domain.hosted_zone is not None:
            route53.ARecord(self, "DomainAlias", zone=domain.hosted_zone, record_name=domain.domain_name,
                            target=route53.RecordTarget.from_alias(target))
        self.domain_url = f"https://{domain.domain_name}/{domain.base_path + '/' if domain.base_path else ''}"

    def _create_alarms(
        self, *, server_error_rate: float, client_error_rate: float, min_requests: int, latency_ms: int,
        integration_latency_ms: int,
    ) -> None:
        path = self.node.path
        self.alarms["ServerErrorRate"] = monitoring.create_alarm(
            self, "ServerErrorRateAlarm", metric=self.metric_server_error_rate(min_requests),
            threshold=server_error_rate, action_topic=self.alarm_topic,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description=f"{path}: more than {server_error_rate:g}% of requests answered 5xx in 5 minutes. Look "
                        "for integrationError in the access log and ERROR lines in the handlers' log groups.",
        )
        self.alarms["ClientErrorRate"] = monitoring.create_alarm(
            self, "ClientErrorRateAlarm", metric=self.metric_client_error_rate(min_requests),
            threshold=client_error_rate, action_topic=self.alarm_topic,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description=f"{path}: more than {client_error_rate:g}% of requests answered 4xx in 5 minutes. Check "
                        "authorizerError and status in the access log: a broken client, expired credentials, "
                        "throttling (429) or probing.",
        )
        self.alarms["LatencyP99"] = monitoring.create_alarm(
            self, "LatencyAlarm", metric=self.metric_latency(), threshold=latency_ms, action_topic=self.alarm_topic,
            description=f"{path}: p99 latency above {latency_ms} ms. If integration latency is fine too, the "
                        "authorizer or API Gateway is slow; otherwise see the handler's X-Ray traces.",
        )
        self.alarms["IntegrationLatencyP99"] = monitoring.create_alarm(
            self, "IntegrationLatencyAlarm", metric=self.metric_integration_latency(),
            threshold=integration_latency_ms, action_topic=self.alarm_topic,
            description=f"{path}: p99 integration (backend) latency above {integration_latency_ms} ms. Look at the "
                        "handlers' duration and slow downstream calls in X-Ray.",
        )

    def _add_dashboard_row(self, dashboard: cloudwatch.Dashboard) -> None:
        dashboard.add_widgets(monitoring.header(f"API {self.node.path} ({self.api_type.value})"))
        dashboard.add_widgets(
            monitoring.graph("Requests and errors", [self.metric_count()],
                             [self.metric_client_errors(), self.metric_server_errors()]),
            monitoring.graph("Error rates (%)", [self.metric_server_error_rate(), self.metric_client_error_rate()]),
            monitoring.graph("Latency p50 / p99 / integration p99",
                             [self.metric_latency(statistic="p50"), self.metric_latency(),
                              self.metric_integration_latency()]),
        )

    # ----------------------------------------------------------------------------------------------
    # Validation
    # ----------------------------------------------------------------------------------------------
    @staticmethod
    def _validate(id: str, **p: Any) -> None:
        problems = Problems("ServerlessApi", id)
        api_type = p["api_type"]
        if not isinstance(api_type, ApiType):
            problems.add("api_type", "ApiType.HTTP or ApiType.REST", api_type, "import ApiType from lambda_manifest")
            problems.raise_if_any()
        features = {
            "endpoint_type": "endpoint types (edge-optimized, private)",
            "tracing": "X-Ray tracing on the stage",
            "execution_logging_level": "execution logging",
            "cloud_watch_role": "the account-level CloudWatch role for execution logging",
            "waf": "WAF web ACL association",
            "cache": "response caching",
            "usage_plans": "API keys and usage plans",
            "canary": "canary settings",
            "minimum_compression_size": "response compression",
            "client_certificate": "client certificates for HTTP backends",
        }
        rest_only = p["rest_only"]
        if api_type is ApiType.HTTP:
            for prop, feature in features.items():
                value = rest_only[prop]
                if value is not None and value is not False:
                    _rest_only(problems, prop, value, feature)
        else:
            if rest_only["waf"] is not None:
                rest_only["waf"].check(problems)
            if rest_only["cache"] is not None:
                rest_only["cache"].check(problems)
            names: set[str] = set()
            keys: set[str] = set()
            for plan in rest_only["usage_plans"] or []:
                plan.check(problems)
                if plan.name in names:
                    problems.add("usage_plans", "uniquely named plans", plan.name, "rename one")
                names.add(plan.name)
                for key in plan.api_keys:
                    if key in keys:
                        problems.add("usage_plans", "unique API key names across plans", key, "rename one")
                    keys.add(key)
            if rest_only["canary"] is not None:
                rest_only["canary"].check(problems)
            size = rest_only["minimum_compression_size"]
            if size is not None:
                low, high = defaults.MIN_COMPRESSION_RANGE_BYTES
                problems.check_range("minimum_compression_size", size, low, high, "bytes", "pass e.g. 1024")
            stage_name = p["stage_name"]
            if stage_name is not None and not is_token(stage_name) and (
                    not stage_name or not all(c.isalnum() or c == "_" for c in stage_name)):
                problems.add("stage_name", "letters, digits and '_'", stage_name, "e.g. 'prod'")
        if api_type is ApiType.HTTP and p["stage_name"] not in (None, "$default") and not is_token(p["stage_name"]):
            stage_name = p["stage_name"]
            if not all(c.isalnum() or c in "_-" for c in stage_name):
                problems.add("stage_name", "'$default' or letters, digits, '-' and '_'", stage_name, "e.g. 'live'")
        if p["authorizer"] is not None:
            if not isinstance(p["authorizer"], Authorizer):
                problems.add("authorizer", "an Authorizer from Authorizer.jwt/cognito/lambda_/iam",
                             type(p["authorizer"]).__name__, "use the factories")
            else:
                p["authorizer"].check(problems, api_type)
        p["throttle"].check(problems, "throttle")
        if p["cors"] is not None:
            p["cors"].check(problems)
        if p["access_log_retention"] == logs.RetentionDays.INFINITE:
            problems.add("access_log_retention", "a bounded retention", "INFINITE",
                         "pass e.g. RetentionDays.ONE_YEAR; unbounded logs grow cost forever")
        if p["domain"] is not None:
            p["domain"].check(problems)
        elif p["disable_execute_api_endpoint"]:
            problems.add("disable_execute_api_endpoint", "used with a custom domain", True,
                         "pass domain=CustomDomain(...) or the API would have no endpoint at all")
        for prop in ("server_error_rate", "client_error_rate"):
            value = p[prop]
            if not 0 < value <= 100:
                problems.add(f"{prop}_alarm_percent", "a percentage in (0, 100]", value, "pass e.g. 1.0")
        if isinstance(p["alarm_min_requests"], bool) or not isinstance(p["alarm_min_requests"], int) \
                or p["alarm_min_requests"] < 1:
            problems.add("alarm_min_requests", "a whole number >= 1", p["alarm_min_requests"], "pass e.g. 20")
        low, high = defaults.LATENCY_ALARM_RANGE_MS
        for prop in ("latency", "integration_latency"):
            value = seconds(p[prop])
            problems.check_range(f"{prop}_alarm_threshold", None if value is None else value * 1000, low, high, "ms",
                                 "pass e.g. Duration.seconds(3); API Gateway times out at 29-30 s")
        problems.raise_if_any()


@jsii.implements(constructs.IValidation)
class _HasRoutes:
    """An API without routes cannot deploy (REST) or serves nothing (HTTP): say so at synth."""

    def __init__(self, api: ServerlessApi) -> None:
        self._api = api

    def validate(self) -> list[str]:
        if self._api.routes:
            return []
        return [f"ServerlessApi '{self._api.node.id}' has no routes; call add_route(...), add_integration_route(...) "
                "or pass default_handler="]


def _enable_streaming(function: lambda_.IFunction) -> None:
    """A Python function answers through the stream runtime's loop; a Node.js one streams natively."""
    if isinstance(function, ObservedFunction):
        function.enable_response_streaming()
    elif isinstance(function, lambda_.Function) and function.runtime.family is lambda_.RuntimeFamily.PYTHON:
        from lambda_manifest import _assets

        if function.node.try_find_child(_STREAM_MARK) is None:
            function.add_layers(_assets.runtime_layer(function, "stream"))
            function.add_environment(_assets.EXEC_WRAPPER_ENV, _assets.STREAM_WRAPPER_IN_LAYER)
            Construct(function, _STREAM_MARK)  # a second streaming route must not add the layer again


_STREAM_MARK = "LambdaManifestStreaming"


def _rest_only(problems: Problems, prop: str, value: Any, feature: str) -> None:
    problems.add(
        prop, "used only with api_type=ApiType.REST", value if isinstance(value, (str, int, float, bool)) else "set",
        f"{feature} is a REST API feature that HTTP APIs do not have. Pass api_type=ApiType.REST to get it "
        f"({PRICE_NOTE}), or drop {prop}",
    )


def _ms(duration: cdk.Duration | None, default: int) -> int:
    value = seconds(duration)
    return default if value is None else round(value * 1000)


def _arn_path(path: str) -> str:
    """Route path to an execute-api ARN path: parameters become wildcards."""
    return "/".join("*" if segment.startswith("{") else segment for segment in path.split("/"))

