"""HttpServerlessApi: Lambda functions (and SQS) behind an API Gateway HTTP API, authorized, throttled, logged
and alarmed by default."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

import aws_cdk as cdk
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
from constructs import Construct

from lambda_manifest import _defaults as defaults
from lambda_manifest._api_auth import Authorizer
from lambda_manifest._api_options import ApiType, Cors, CustomDomain, QueueSend, Throttle, route_id
from lambda_manifest._api_props import HttpApiOptions
from lambda_manifest._function_props import FunctionOptions
from lambda_manifest.serverless_api import ApiRoute, ServerlessApiBase, options_of, resolve_options

__all__ = ["HttpServerlessApi"]

ACCESS_LOG = {
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


class HttpServerlessApi(ServerlessApiBase):
    """An API Gateway HTTP API (payload format 2.0) in front of Lambda functions and queues: authorization on
    every route, throttling, JSON access logs, alarms and a dashboard row by default. For response caching, API
    keys, WAF, request validation, VTL integrations or streaming, use :class:`RestServerlessApi`.

    Every default comes from :mod:`lambda_manifest._defaults`; docs/constructs/http-serverless-api.md lists each with
    its range. Invalid props raise one ``PropsError`` listing every problem.

    Parameters
    ----------
    authorizer:
        ``Authorizer.jwt(...)``, ``Authorizer.cognito(...)``, ``Authorizer.lambda_(...)`` or ``Authorizer.iam()``;
        applied to every route. Default: - none, and then every route needs a ``public_reason``.
    default_handler:
        The ``$default`` catch-all route's handler: a function or ``FunctionOptions``. Default: - none (unknown
        routes get API Gateway's 404).
    code:
        The code of every route handler given as ``FunctionOptions`` without its own ``code``, e.g.
        ``Code.from_asset("src")``. Default: - none; each names its ``code``.
    api_name / description:
        Default: - the construct path / none.
    stage_name:
        Default: ``$default`` (served at the root of the URL).
    throttle:
        Stage-wide ``Throttle(rate_limit, burst_limit)``. Default: ``Throttle(100, 200)``.
    cors:
        ``Cors(allow_origins=[...])``. Default: - no CORS.
    access_log_retention:
        Default: ``RetentionDays.ONE_YEAR``; ``INFINITE`` is rejected.
    log_encryption_key:
        Default: - the stack's shared KMS key.
    detailed_metrics:
        Per-route CloudWatch metrics, billed as custom metrics. Default: ``False``.
    domain:
        ``CustomDomain(domain_name, certificate, hosted_zone=None, base_path=None)``. Default: - none.
    disable_execute_api_endpoint:
        Serve only through ``domain``. Default: ``False``.
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

    api_type: ClassVar[ApiType] = ApiType.HTTP
    integration_timeout_seconds: ClassVar[int] = defaults.HTTP_INTEGRATION_TIMEOUT_SECONDS
    _metric_names = {"count": "Count", "server_errors": "5xx", "client_errors": "4xx", "latency": "Latency",
                     "integration_latency": "IntegrationLatency"}

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
    ) -> None:
        props, problems = resolve_options(ApiType.HTTP, "HttpServerlessApi", id,
                                          options_of(HttpApiOptions, locals()))
        problems.raise_if_any()
        super().__init__(scope, id, props)
        self._integrations: dict[int, apigwv2.HttpRouteIntegration] = {}  # by id() of the function
        self.api = apigwv2.HttpApi(
            self,
            "Api",
            api_name=props.api_name,
            description=props.description,
            create_default_stage=False,
            disable_execute_api_endpoint=props.disable_execute_api_endpoint,
            cors_preflight=None if props.cors is None else apigwv2.CorsPreflightOptions(
                allow_origins=list(props.cors.allow_origins),
                allow_methods=[getattr(apigwv2.CorsHttpMethod, m.upper())
                               for m in (props.cors.allow_methods or ["ANY"])],
                allow_headers=list(props.cors.allow_headers),
                expose_headers=list(props.cors.expose_headers) or None,
                allow_credentials=props.cors.allow_credentials,
                max_age=cdk.Duration.seconds(props.cors.max_age_seconds),
            ),
        )
        self.stage = apigwv2.HttpStage(
            self,
            "Stage",
            http_api=self.api,
            stage_name=self.stage_name,
            auto_deploy=True,
            detailed_metrics_enabled=props.detailed_metrics,
            throttle=apigwv2.ThrottleSettings(rate_limit=self.throttle.rate_limit,
                                              burst_limit=self.throttle.burst_limit),
        )
        cfn_stage = self.stage.node.default_child
        assert isinstance(cfn_stage, apigwv2.CfnStage)
        cfn_stage.access_log_settings = apigwv2.CfnStage.AccessLogSettingsProperty(
            destination_arn=self.access_log_group.log_group_arn,
            format=json.dumps(ACCESS_LOG, separators=(",", ":")),
        )
        self._cfn_stage = cfn_stage
        self._finish()

    @property
    def url(self) -> str:
        """The stage's invoke URL, ending in ``/``."""
        return self.stage.url

    @property
    def api_id(self) -> str:
        return self.api.api_id

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
    ) -> ApiRoute[apigwv2.HttpRoute]:
        """Route ``"METHOD /path"`` (e.g. ``"GET /items/{id}"``, or ``"$default"``) to a Lambda function (proxy
        integration, payload format 2.0).

        Parameters
        ----------
        handler:
            Any Lambda function (an ``ObservedFunction``, a plain ``aws_lambda.Function``, an imported one), or
            ``FunctionOptions(handler=..., ...)`` to create an ``ObservedFunction`` (its ``code`` defaults to the
            API's ``code``). Its timeout must fit the 30 s integration timeout.
        public_reason:
            Make this route public (no authorizer). Required when the API has no authorizer; the sentence is
            recorded as this route's cdk-nag acknowledgement.
        throttle:
            Per-route ``Throttle``. Default: - the stage throttle.
        authorization_scopes:
            JWT / Cognito authorizers only: scopes the token must carry.
        """
        problems = self._new_problems()
        parsed = self._check_route(problems, route, public_reason, throttle, authorization_scopes)
        function = self._route_function(problems, route, handler)
        problems.raise_if_any()
        assert parsed is not None and function is not None
        invocable = self._remember(function)
        # One integration per function, by the Python object (``functions`` keeps it alive, so its id() stays its
        # own; jsii hands back the same object for the same construct): its address would be two round trips.
        integration = self._integrations.get(id(function))
        if integration is None:
            # Payload format 2.0 is HttpLambdaIntegration's default (naming it is one more round trip).
            integration = integrations.HttpLambdaIntegration("LambdaIntegration", invocable)
            self._integrations[id(function)] = integration
        resource = self._http_route(route, parsed, integration, authorization_scopes, public=public_reason is not None)
        return self._register(route, *parsed, function, public_reason, throttle, resource)

    def add_default_route(
        self,
        handler: lambda_.IFunction | FunctionOptions,
        *,
        public_reason: str | None = None,
        throttle: Throttle | None = None,
    ) -> list[ApiRoute[apigwv2.HttpRoute]]:
        """The catch-all handler: the ``$default`` route."""
        return [self.add_route("$default", handler, public_reason=public_reason, throttle=throttle)]

    def add_integration_route(
        self,
        route: str,
        integration: apigwv2.HttpRouteIntegration,
        *,
        public_reason: str | None = None,
        throttle: Throttle | None = None,
        authorization_scopes: Sequence[str] | None = None,
    ) -> ApiRoute[apigwv2.HttpRoute]:
        """Route to a non-Lambda integration (``aws_apigatewayv2_integrations``: ``HttpUrlIntegration``,
        ``HttpStepFunctionsIntegration``, ...), with the API's authorizer like every other route."""
        problems = self._new_problems()
        parsed = self._check_route(problems, route, public_reason, throttle, authorization_scopes)
        if not isinstance(integration, apigwv2.HttpRouteIntegration):
            problems.add("integration", "an aws_apigatewayv2.HttpRouteIntegration", type(integration).__name__,
                         "use aws_apigatewayv2_integrations (HttpSqsIntegration, HttpUrlIntegration, ...); AWS service "
                         "and VTL integrations (aws_apigateway.Integration) need a RestServerlessApi")
        problems.raise_if_any()
        assert parsed is not None
        resource = self._http_route(route, parsed, integration, authorization_scopes, public=public_reason is not None)
        return self._register(route, *parsed, None, public_reason, throttle, resource)

    def add_queue_route(
        self,
        route: str,
        send: QueueSend,
        *,
        public_reason: str | None = None,
        throttle: Throttle | None = None,
        authorization_scopes: Sequence[str] | None = None,
    ) -> ApiRoute[apigwv2.HttpRoute]:
        """Send each request body to a queue: an ``SQS-SendMessage`` integration, no Lambda in between."""
        mapping = (
            apigwv2.ParameterMapping()
            .custom("QueueUrl", send.queue.queue_url)
            .custom("MessageBody", "$request.body")
        )
        if send.message_group_id is not None:
            mapping.custom("MessageGroupId", send.message_group_id)
        if send.deduplication_id is not None:
            mapping.custom("MessageDeduplicationId", send.deduplication_id)
        integration_id = send.id or f"{route_id(route)}SendMessage"
        entry = self.add_integration_route(
            route, _SendMessageIntegration(integration_id, role=send.role, mapping=mapping),
            public_reason=public_reason, throttle=throttle, authorization_scopes=authorization_scopes,
        )
        if send.accepted_status is not None:
            # The integration is created under its route; its status override has no L2 prop, so it is set on
            # the CloudFormation resource.
            cfn = entry.resource.node.find_child(integration_id).node.default_child
            assert isinstance(cfn, apigwv2.CfnIntegration)
            cfn.response_parameters = {"200": {"ResponseParameters": [
                {"Destination": "overwrite:statuscode", "Source": str(send.accepted_status)}]}}
        return entry

    # ----------------------------------------------------------------------------------------------
    # What the base asks of an HTTP API
    # ----------------------------------------------------------------------------------------------
    def _http_route(
        self, route: str, parsed: tuple[str, str], integration: apigwv2.HttpRouteIntegration,
        scopes: Sequence[str] | None, *, public: bool,
    ) -> apigwv2.HttpRoute:
        method, path = parsed
        key = apigwv2.HttpRouteKey.DEFAULT if path == "$default" else apigwv2.HttpRouteKey.with_(
            path, apigwv2.HttpMethod(method))
        authorizer: apigwv2.IHttpRouteAuthorizer | None = None
        if self.authorizer is not None and not public:
            authorizer = self.authorizer.http_authorizer
        return apigwv2.HttpRoute(
            self.api,
            f"Route{route_id(route)}",
            http_api=self.api,
            route_key=key,
            integration=integration,
            authorizer=authorizer or apigwv2.HttpNoneAuthorizer(),
            authorization_scopes=list(scopes) if scopes and authorizer else None,
        )

    def _route_added(self, route: str, throttle: Throttle | None, resource: Construct) -> None:
        if throttle is None:
            return
        # RouteSettings is untyped JSON in CloudFormation's schema: CloudFormation key names, as-is.
        self._cfn_stage.route_settings = {
            key: {"ThrottlingRateLimit": value.rate_limit, "ThrottlingBurstLimit": value.burst_limit}
            for key, value in self._route_throttles.items()
        }
        # A stage's route settings may only name routes that already exist.
        self._cfn_stage.node.add_dependency(resource)

    def _execute_api_arn(self, method: str, path: str) -> str:
        return self.api.arn_for_execute_api(method, path, self.stage_name)

    def _metric_of(self, name: str, props: dict[str, Any]) -> cloudwatch.Metric:
        return self.api.metric(name, **props)

    def _domain_target(self, domain: CustomDomain) -> route53.IAliasRecordTarget:
        http_domain = apigwv2.DomainName(
            self, "Domain", domain_name=domain.domain_name, certificate=domain.certificate,
            security_policy=apigwv2.SecurityPolicy.TLS_1_2,
        )
        apigwv2.ApiMapping(self, "DomainMapping", api=self.api, domain_name=http_domain, stage=self.stage,
                           api_mapping_key=domain.base_path)
        return route53_targets.ApiGatewayv2DomainProperties(http_domain.regional_domain_name,
                                                            http_domain.regional_hosted_zone_id)


class _SendMessageIntegration(apigwv2.HttpRouteIntegration):
    """``SQS-SendMessage`` with a role of the caller's own. ``HttpSqsIntegration`` would create a role with an
    inline policy (IAMNoInlinePolicy) and without the use of the queue's key."""

    def __init__(self, id: str, *, role: iam.IRole, mapping: apigwv2.ParameterMapping) -> None:
        super().__init__(id)
        self._role = role
        self._mapping = mapping

    def bind(self, *, route: apigwv2.IHttpRoute, scope: Construct) -> apigwv2.HttpRouteIntegrationConfig:
        return apigwv2.HttpRouteIntegrationConfig(
            type=apigwv2.HttpIntegrationType.AWS_PROXY,
            subtype=apigwv2.HttpIntegrationSubtype.SQS_SEND_MESSAGE,
            payload_format_version=apigwv2.PayloadFormatVersion.VERSION_1_0,
            credentials=apigwv2.IntegrationCredentials.from_role(self._role),
            connection_type=apigwv2.HttpConnectionType.INTERNET,
            parameter_mapping=self._mapping,
        )
