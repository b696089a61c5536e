"""RestServerlessApi: Lambda functions (and SQS) behind an API Gateway REST API, with the REST API's own features
(WAF, response caching, API keys and usage plans, request validation, VTL integrations, canaries, streaming)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct, IConstruct

from lambda_manifest import _api_rest as rest
from lambda_manifest import _defaults as defaults
from lambda_manifest._api_auth import Authorizer, AuthorizerKind
from lambda_manifest._api_options import (
    ApiType,
    Canary,
    Cors,
    CustomDomain,
    QueueSend,
    ResponseCache,
    RouteCache,
    Throttle,
    UsagePlan,
    Waf,
    route_id,
)
from lambda_manifest._api_props import RestApiOptions, RestProps
from lambda_manifest._function_props import FunctionOptions
from lambda_manifest._validation import Problems, known_seconds, seconds
from lambda_manifest.compliance import Pack, acknowledge
from lambda_manifest.serverless_api import (
    ApiRoute,
    ServerlessApiBase,
    options_of,
    resolve_options,
    timeout_seconds,
)

__all__ = ["RestServerlessApi"]

_JSON_SCHEMA_DRAFT4 = "http://json-schema.org/draft-04/schema#"


class RestServerlessApi(ServerlessApiBase):
    """An API Gateway REST API (payload format 1.0) in front of Lambda functions and queues, with what HTTP APIs
    lack: WAF, response caching, API keys and usage plans, request validation models, VTL integrations,
    canaries, compression and response streaming. Authorization on every route, throttling, JSON access and
    execution logs, X-Ray, alarms and a dashboard row by default. It costs $3.50 per million requests against
    $1.00 for an :class:`HttpServerlessApi` (us-east-1 list prices, first tiers).

    Every default comes from :mod:`lambda_manifest._defaults`; docs/constructs/rest-serverless-api.md lists each with
    its range. Invalid props raise one ``PropsError`` listing every problem.

    Parameters
    ----------
    authorizer / default_handler / code / api_name / description / throttle / cors / access_log_retention /
    log_encryption_key / detailed_metrics / domain / disable_execute_api_endpoint / alarm_topic / alarm thresholds /
    dashboard:
        As on :class:`HttpServerlessApi`, except: ``Authorizer.jwt()`` is an HTTP API authorizer (use
        ``Authorizer.cognito()`` or ``Authorizer.lambda_()``), ``default_handler`` serves ``ANY /`` and
        ``ANY /{proxy+}``, and ``detailed_metrics`` are per method.
    stage_name:
        Letters, digits and ``_``. Default: ``prod``.
    endpoint_type:
        Default: ``EndpointType.REGIONAL``.
    tracing:
        X-Ray on the stage. Default: ``True``.
    execution_logging_level:
        Default: ``MethodLoggingLevel.ERROR``.
    cloud_watch_role:
        Create the account-level API Gateway CloudWatch role (one per account and region). Default: ``False``.
    waf:
        ``Waf.managed()``, ``Waf.from_web_acl_arn(arn)`` or ``Waf.disabled(reason)``. Default: ``Waf.managed()``.
    cache:
        ``ResponseCache(size="0.5", ttl=...)``; routes opt in with ``add_route(..., cache=True)``.
        Default: - no cache cluster.
    usage_plans:
        ``[UsagePlan(name, quota_limit, ...)]``; every authorized route then requires an API key. Default: - none.
    canary:
        ``Canary(percent_traffic, stage_variable_overrides)``. Default: - none.
    minimum_compression_size:
        Bytes, 0-10 MiB. Default: ``1024``.
    client_certificate:
        A client certificate API Gateway presents to HTTP backends. Default: ``False``.
    """

    api_type: ClassVar[ApiType] = ApiType.REST
    integration_timeout_seconds: ClassVar[int] = defaults.REST_INTEGRATION_TIMEOUT_SECONDS
    _metric_names = {"count": "Count", "server_errors": "5XXError", "client_errors": "4XXError",
                     "latency": "Latency", "integration_latency": "IntegrationLatency"}

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        authorizer: Authorizer | None = None,
        default_handler: lambda_.IFunction | FunctionOptions | None = None,
        code: lambda_.Code | None = None,
        api_name: str | None = None,
        description: str | None = None,
        stage_name: str | None = None,
        throttle: Throttle | None = None,
        cors: Cors | None = None,
        access_log_retention: logs.RetentionDays | None = None,
        log_encryption_key: kms.IKey | None = None,
        detailed_metrics: bool | None = None,
        domain: CustomDomain | None = None,
        disable_execute_api_endpoint: bool | None = None,
        alarm_topic: sns.ITopic | None = None,
        server_error_rate_alarm_percent: float | None = None,
        client_error_rate_alarm_percent: float | None = None,
        alarm_min_requests: int | None = None,
        latency_alarm_threshold: cdk.Duration | None = None,
        integration_latency_alarm_threshold: cdk.Duration | None = None,
        dashboard: bool | None = None,
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
    ) -> None:
        options = options_of(RestApiOptions, locals())
        props, problems = resolve_options(ApiType.REST, "RestServerlessApi", id, options)
        rest_props = RestProps.resolve(options, problems)
        problems.raise_if_any()
        super().__init__(scope, id, props)
        self._rest = rest_props
        self.usage_plans: dict[str, apigateway.UsagePlan] = {}
        self.api_keys: dict[str, apigateway.ApiKey] = {}
        self.web_acl: wafv2.CfnWebACL | None = None
        self.waf_log_group: logs.LogGroup | None = None
        self.execution_log_group: logs.LogGroup | None = None
        self._route_caches: dict[str, tuple[str, str, int]] = {}
        # id() of a function (kept alive by ``functions``) -> whether its routes stream; its node address would
        # be two round trips to Node per route.
        self._streaming: dict[int, bool] = {}
        self._route_timeout_duration: cdk.Duration | None = None
        self._lambda_integrations: dict[tuple[int, tuple[str, ...], bool], apigateway.LambdaIntegration] = {}
        self._cache_ttl = rest_props.cache.ttl_seconds if rest_props.cache is not None \
            else defaults.REST_CACHE_TTL_SECONDS.value
        self._build()
        self._finish()

    def _build(self) -> None:
        props, rp, cors = self._props, self._rest, self._props.cors
        self.api = apigateway.RestApi(
            self,
            "Api",
            rest_api_name=props.api_name or cdk.Names.unique_resource_name(self, max_length=128, separator="-"),
            description=props.description,
            endpoint_types=[rp.endpoint_type],
            cloud_watch_role=False,
            min_compression_size=cdk.Size.bytes(rp.minimum_compression_size),
            disable_execute_api_endpoint=props.disable_execute_api_endpoint,
            api_key_source_type=apigateway.ApiKeySourceType.HEADER if rp.usage_plans else None,
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
                tracing_enabled=rp.tracing,
                access_log_destination=apigateway.LogGroupLogDestination(self.access_log_group),
                access_log_format=apigateway.AccessLogFormat.custom(
                    json.dumps(rest.ACCESS_LOG, separators=(",", ":"))),
                cache_cluster_enabled=rp.cache is not None,
                cache_cluster_size=rp.cache.size if rp.cache is not None else None,
            ),
        )
        # One URL output for both API kinds (ours), not RestApi's extra "Endpoint" output.
        self.api.node.try_remove_child("Endpoint")
        self.stage: apigateway.Stage = self.api.deployment_stage
        cfn_stage = self.stage.node.default_child
        assert isinstance(cfn_stage, apigateway.CfnStage)
        self._cfn_stage = cfn_stage
        self._render_method_settings()

        # Execution logs: pre-create API Gateway's log group so it is encrypted and expires.
        if rp.execution_logging_level != apigateway.MethodLoggingLevel.OFF:
            self.execution_log_group = logs.LogGroup(
                self, "ExecutionLogs",
                log_group_name=f"API-Gateway-Execution-Logs_{self.api.rest_api_id}/{self.stage_name}",
                retention=props.access_log_retention, encryption_key=self._key,
                removal_policy=cdk.RemovalPolicy.RETAIN,
            )
            self.stage.node.add_dependency(self.execution_log_group)
        if rp.cloud_watch_role:
            self.stage.node.add_dependency(rest.account_cloud_watch_role(self))

        # One validator for every method: parameters always, the body where a route has a request_model.
        self._validator = self.api.add_request_validator(
            "RequestValidator", validate_request_body=True, validate_request_parameters=True,
        )
        if cors is not None and len(cors.allow_origins) == 1:
            # Authorizer and throttling errors come from API Gateway, not the function: give them the CORS
            # header too, so browsers show the real 401/429 instead of a CORS failure.
            origin = cors.allow_origins[0]
            for name, response_type in (("Default4xx", apigateway.ResponseType.DEFAULT_4_XX),
                                        ("Default5xx", apigateway.ResponseType.DEFAULT_5_XX)):
                self.api.add_gateway_response(
                    name, type=response_type, response_headers={"Access-Control-Allow-Origin": f"'{origin}'"},
                )
        if rp.canary is not None:
            cfn_stage.canary_setting = apigateway.CfnStage.CanarySettingProperty(
                percent_traffic=rp.canary.percent_traffic,
                stage_variable_overrides=dict(rp.canary.stage_variable_overrides) or None,
                use_stage_cache=False,
            )
        if rp.client_certificate:
            certificate = apigateway.CfnClientCertificate(
                self, "ClientCertificate", description=f"Presented by {self._path} to HTTP backends")
            cfn_stage.client_certificate_id = certificate.ref
        self.usage_plans, self.api_keys = rest.usage_plans(self, self.api, rp.usage_plans, self.stage)
        self._add_waf(rp.waf)
        rest.acknowledge_stage(cfn_stage, self._path, logging_level=rp.execution_logging_level,
                               client_certificate=rp.client_certificate)

    @property
    def url(self) -> str:
        """The stage's invoke URL, ending in ``/``."""
        return self.api.url

    @property
    def api_id(self) -> str:
        return self.api.rest_api_id

    @property
    def api_key_required(self) -> bool:
        """Authorized routes require an API key of a usage plan (``x-api-key``) when usage plans are set."""
        return bool(self._rest.usage_plans)

    # ----------------------------------------------------------------------------------------------
    # Routes
    # ----------------------------------------------------------------------------------------------
    def add_route(
        self,
        route: str,
        handler: lambda_.IFunction | FunctionOptions,
        *,
        public_reason: str | None = None,
        throttle: Throttle | None = None,
        authorization_scopes: Sequence[str] | None = None,
        cache: bool | RouteCache | None = None,
        request_model: Mapping[str, Any] | None = None,
        stream: bool = False,
    ) -> ApiRoute[apigateway.Method]:
        """Route ``"METHOD /path"`` (e.g. ``"GET /items/{id}"``) to a Lambda function (proxy integration).

        Parameters
        ----------
        handler:
            Any Lambda function (an ``ObservedFunction``, a plain ``aws_lambda.Function``, an imported one), or
            ``FunctionOptions(handler=..., ...)`` to create an ``ObservedFunction`` (its ``code`` defaults to the
            API's ``code``, its ``timeout`` to the 29 s integration timeout). Its timeout must fit the 29 s
            integration timeout (15 minutes when streaming).
        public_reason / throttle / authorization_scopes:
            As on ``HttpServerlessApi.add_route``.
        cache:
            Cache responses (``True`` or ``RouteCache(ttl, query_strings, headers)``); GET and HEAD only, with the
            API's ``cache``.
        request_model:
            A JSON schema (draft 4) the request body must match, checked by API Gateway.
        stream:
            Stream the response (integration ``ResponseTransferMode: STREAM``): the handler may return a
            ``lambda_manifest.runtime.stream.StreamingResponse`` or be a generator, and each piece reaches the
            client as it is produced; it may run up to 15 minutes. A Python function then runs the stream
            runtime's loop (``AWS_LAMBDA_EXEC_WRAPPER``; its other answers keep working) and answers every route
            in the streaming format, so all its routes must stream. Default: ``False``.
        """
        problems = self._new_problems()
        parsed = self._check_route(problems, route, public_reason, throttle, authorization_scopes)
        self._check_cache(problems, route, parsed, cache)
        if request_model is not None:
            rest.check_request_model(problems, route, parsed, request_model)
        if stream:
            rest.check_stream(problems, handler, cache)
        # ObservedFunction's 30 s default is one second past the REST integration timeout.
        default_timeout = None if stream else self._route_timeout
        function = self._route_function(problems, route, handler, default_timeout=default_timeout, stream=stream)
        if function is not None and not isinstance(handler, FunctionOptions):
            self._check_stream_mode(problems, function, stream)
        problems.raise_if_any()
        assert parsed is not None and function is not None
        method, path = parsed
        self._streaming[id(function)] = stream
        if stream:
            rest.enable_streaming(function)
        invocable = self._remember(function)
        route_cache = RouteCache() if cache is True else (cache or None)
        cache_keys = rest.cache_key_parameters(path, route_cache)
        stream_options: dict[str, Any] = {}
        if stream:
            # API Gateway waits as long as the function may run (up to 15 minutes for a streamed answer).
            limit = defaults.STREAM_INTEGRATION_TIMEOUT_SECONDS
            timeout_s = timeout_seconds(function)
            stream_options = {"response_transfer_mode": apigateway.ResponseTransferMode.STREAM,
                              "timeout": cdk.Duration.seconds(min(timeout_s or limit, limit))}
        # Routes with the same function and options share one integration (it binds a permission per method).
        shared_key = (id(function), tuple(cache_keys), stream)
        integration = self._lambda_integrations.get(shared_key)
        if integration is None:
            integration = self._lambda_integrations[shared_key] = apigateway.LambdaIntegration(
                invocable, proxy=True, allow_test_invoke=False, cache_key_parameters=list(cache_keys) or None,
                **stream_options,
            )
        resource = self._method(route, parsed, integration, authorization_scopes, public=public_reason is not None,
                                request_model=request_model, cache_keys=cache_keys)
        if route_cache is not None:
            ttl = seconds(route_cache.ttl)
            self._route_caches[route] = (method, path, int(ttl) if ttl is not None else self._cache_ttl)
        return self._register(route, method, path, function, public_reason, throttle, resource)

    def add_default_route(
        self,
        handler: lambda_.IFunction | FunctionOptions,
        *,
        public_reason: str | None = None,
        throttle: Throttle | None = None,
    ) -> list[ApiRoute[apigateway.Method]]:
        """The catch-all handler: ``ANY /`` and ``ANY /{proxy+}``."""
        first = self.add_route("ANY /", handler, public_reason=public_reason, throttle=throttle)
        assert first.function is not None
        return [first, self.add_route("ANY /{proxy+}", first.function, public_reason=public_reason,
                                      throttle=throttle)]

    def add_integration_route(
        self,
        route: str,
        integration: apigateway.Integration,
        *,
        public_reason: str | None = None,
        throttle: Throttle | None = None,
        authorization_scopes: Sequence[str] | None = None,
        request_model: Mapping[str, Any] | None = None,
        method_responses: Sequence[apigateway.MethodResponse] | None = None,
    ) -> ApiRoute[apigateway.Method]:
        """Route to a non-Lambda integration (``aws_apigateway.AwsIntegration`` / ``HttpIntegration`` /
        ``MockIntegration``, VTL mapping templates included), with the API's authorizer like every other route."""
        problems = self._new_problems()
        parsed = self._check_route(problems, route, public_reason, throttle, authorization_scopes)
        if not isinstance(integration, apigateway.Integration):
            problems.add("integration", "an aws_apigateway.Integration on a REST API", type(integration).__name__,
                         "use aws_apigateway.AwsIntegration / HttpIntegration / MockIntegration")
        if request_model is not None:
            rest.check_request_model(problems, route, parsed, request_model)
        problems.raise_if_any()
        assert parsed is not None
        resource = self._method(route, parsed, integration, authorization_scopes, public=public_reason is not None,
                                request_model=request_model, cache_keys=(), method_responses=method_responses)
        return self._register(route, *parsed, None, public_reason, throttle, resource)

    def add_queue_route(
        self,
        route: str,
        send: QueueSend,
        *,
        public_reason: str | None = None,
        throttle: Throttle | None = None,
        authorization_scopes: Sequence[str] | None = None,
    ) -> ApiRoute[apigateway.Method]:
        """Send each JSON request body to a queue: an AWS integration calling SQS ``SendMessage``, no Lambda in
        between. Bodies of other content types get API Gateway's 415."""
        problems = self._new_problems()
        integration = rest.send_message_integration(problems, send)
        problems.raise_if_any()
        status = str(send.accepted_status or 200)
        return self.add_integration_route(
            route, integration, public_reason=public_reason, throttle=throttle,
            authorization_scopes=authorization_scopes,
            method_responses=[apigateway.MethodResponse(status_code=s) for s in (status, "400", "500")],
        )

    # ----------------------------------------------------------------------------------------------
    # What the base asks of a REST API
    # ----------------------------------------------------------------------------------------------
    def _check_route(self, problems: Problems, route: str, public_reason: str | None, throttle: Throttle | None,
                     scopes: Sequence[str] | None) -> tuple[str, str] | None:
        parsed = super()._check_route(problems, route, public_reason, throttle, scopes)
        if parsed is not None and parsed[1] == "$default":
            problems.add("route", "'METHOD /path' on a REST API", route,
                         "use default_handler= or add_default_route() for a catch-all")
        return parsed

    def _method(
        self, route: str, parsed: tuple[str, str], integration: apigateway.Integration, scopes: Sequence[str] | None,
        *, public: bool, request_model: Mapping[str, Any] | None, cache_keys: Sequence[str],
        method_responses: Sequence[apigateway.MethodResponse] | None = None,
    ) -> apigateway.Method:
        method, path = parsed
        resource = self.api.root if path == "/" else self.api.root.resource_for_path(path)
        options: dict[str, Any] = {
            "request_validator": self._validator,
            # A public route is public: it needs no credential of any kind, API keys included.
            "api_key_required": (self.api_key_required and not public) or None,
            "method_responses": list(method_responses) if method_responses else None,
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
        model: apigateway.CfnModel | None = None
        if request_model is not None:
            model = apigateway.CfnModel(
                self, f"Model{route_id(route)}", rest_api_id=self.api.rest_api_id,
                content_type="application/json", schema={"$schema": _JSON_SCHEMA_DRAFT4, **request_model},
                description=f"Request body of {route}",
            )
            options["request_models"] = {
                "application/json": apigateway.Model.from_model_name(self, f"ModelRef{route_id(route)}", model.ref)
            }
        rest_method = resource.add_method(method, integration, **options)
        if model is not None:
            rest_method.node.add_dependency(model)
        return rest_method

    @property
    def _route_timeout(self) -> cdk.Duration:
        """The timeout of functions created for routes (``FunctionOptions`` without one): one Duration per API."""
        if self._route_timeout_duration is None:
            self._route_timeout_duration = known_seconds(self.integration_timeout_seconds)
        return self._route_timeout_duration

    def _route_added(self, route: str, throttle: Throttle | None, resource: Construct) -> None:
        if throttle is not None or route in self._route_caches:  # the only per-route method settings
            self._render_method_settings()

    def _acknowledge_route(self, resource: IConstruct, route: str, public_reason: str | None) -> None:
        cfn = resource.node.default_child  # every REST route has an acknowledgement: found once here
        assert cfn is not None
        if public_reason is not None:
            self._acknowledge_public(cfn, route, public_reason, ("AwsSolutions-APIG4", "AwsSolutions-COG4"))
        elif self.authorizer is not None and self.authorizer.kind is not AuthorizerKind.COGNITO:
            acknowledge(
                cfn, Pack.AWS_SOLUTIONS, "AwsSolutions-COG4",
                f"{route} of {self._path} is authorized by {self.authorizer.description} instead of a Cognito "
                "user pool: the API's callers are not Cognito users.",
            )

    def _execute_api_arn(self, method: str, path: str) -> str:
        return self.api.arn_for_execute_api(method, path, self.stage_name)

    def _metric_of(self, name: str, props: dict[str, Any]) -> cloudwatch.Metric:
        return self.stage.metric(name, **props)

    def _domain_target(self, domain: CustomDomain) -> route53.IAliasRecordTarget:
        rest_domain = apigateway.DomainName(
            self, "Domain", domain_name=domain.domain_name, certificate=domain.certificate,
            security_policy=apigateway.SecurityPolicy.TLS_1_2, endpoint_type=apigateway.EndpointType.REGIONAL,
        )
        apigateway.BasePathMapping(self, "DomainMapping", domain_name=rest_domain, rest_api=self.api,
                                   stage=self.stage, base_path=domain.base_path)
        return route53_targets.ApiGatewayDomain(rest_domain)

    # ----------------------------------------------------------------------------------------------
    # Stage settings, WAF, route checks
    # ----------------------------------------------------------------------------------------------
    def _render_method_settings(self) -> None:
        """(Re)write the stage's method settings: the ``/*/*`` defaults plus one entry per overridden route."""
        self._cfn_stage.method_settings = rest.method_settings(
            level=self._rest.execution_logging_level.value, detailed_metrics=self._props.detailed_metrics,
            cached=self._rest.cache is not None, default_ttl=self._cache_ttl, throttle=self.throttle,
            route_throttles=self._route_throttles, route_caches=self._route_caches,
        )

    def _add_waf(self, waf: Waf) -> None:
        if waf.mode == "disabled":
            rest.acknowledge_no_waf(self.stage, self._path, waf.reason or "")
            return
        if waf.mode == "managed":
            self.web_acl, self.waf_log_group = rest.managed_web_acl(
                self, retention=self._props.access_log_retention, key=self._key)
            acl_arn = self.web_acl.attr_arn
        else:
            assert waf.web_acl_arn is not None
            acl_arn = waf.web_acl_arn
        association = wafv2.CfnWebACLAssociation(self, "WebAclAssociation", resource_arn=self.stage.stage_arn,
                                                 web_acl_arn=acl_arn)
        association.node.add_dependency(self.stage)

    def _check_cache(self, problems: Problems, route: str, parsed: tuple[str, str] | None,
                     cache: bool | RouteCache | None) -> None:
        if not cache:
            return
        if self._rest.cache is None:
            problems.add("cache", "used with a stage cache", cache,
                         "pass cache=ResponseCache() to the RestServerlessApi first")
        elif parsed is not None and parsed[0] not in ("GET", "HEAD"):
            problems.add("cache", "used only on GET or HEAD routes", route,
                         "caching other methods would answer writes from the cache")
        if isinstance(cache, RouteCache):
            low, high = defaults.CACHE_TTL_RANGE_SECONDS
            problems.check_range("cache.ttl", seconds(cache.ttl), low, high, "seconds",
                                 "pass e.g. RouteCache(ttl=Duration.minutes(5))")

    def _check_stream_mode(self, problems: Problems, function: lambda_.IFunction, stream: bool) -> None:
        previous = self._streaming.get(id(function))
        if previous is not None and previous != stream:
            problems.add("stream", f"{previous} like the function's other routes", stream,
                         "a function that streams answers every request in the streaming format: give all its "
                         "routes the same stream=, or use separate functions")
