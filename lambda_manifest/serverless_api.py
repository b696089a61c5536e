"""What the two API constructs share, and the small protocol their callers take.

``HttpServerlessApi`` (an API Gateway HTTP API) and ``RestServerlessApi`` (a REST API) are separate constructs,
as aws-cdk keeps ``HttpApi`` and ``RestApi`` apart. Both extend :class:`ServerlessApiBase`: the route registry,
the authorization policy (every route is authorized unless it says why it is public), JSON access logs,
alarms, the dashboard row, ``grant_invoke`` and the metrics. Code that adds routes to either kind, like
``AsyncWorker.add_api_route`` and ``AiGatewayFunction``, takes an :class:`IServerlessApi`.
"""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar, cast

import aws_cdk as cdk
import constructs
import jsii
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_sns as sns
from constructs import Construct

from lambda_manifest import _defaults as defaults
from lambda_manifest import monitoring
from lambda_manifest._api_auth import Authorizer, AuthorizerKind
from lambda_manifest._api_options import (
    ApiType,
    Cors,
    CustomDomain,
    QueueSend,
    Throttle,
    parse_route,
    route_id,
)
from lambda_manifest._api_props import ApiOptions, ApiProps
from lambda_manifest._function_props import FunctionOptions, function_options
from lambda_manifest._paths import child_path
from lambda_manifest._validation import Problems, PropsError, seconds
from lambda_manifest.compliance import Pack, acknowledge
from lambda_manifest.observed_function import ObservedFunction
from lambda_manifest.shared import StackResources

__all__ = ["ApiRoute", "IServerlessApi", "RouteGroup", "ServerlessApiBase"]

R = TypeVar("R", bound=Construct, covariant=True)
A = TypeVar("A", bound="ServerlessApiBase")
C = TypeVar("C", bound=Construct)


@dataclass(frozen=True)
class ApiRoute(Generic[R]):
    """One route of an API: ``resource`` is the ``HttpRoute`` of an HTTP API or the ``apigateway.Method`` of a
    REST API; ``function`` is the handler of a Lambda route."""

    key: str
    method: str
    path: str
    function: lambda_.IFunction | None
    public_reason: str | None
    resource: R


class IServerlessApi(Protocol):
    """What code that adds routes needs of an API, whichever kind it is: ``HttpServerlessApi`` and
    ``RestServerlessApi`` both are one."""

    @property
    def node(self) -> constructs.Node: ...

    @property
    def api_type(self) -> ApiType: ...

    @property
    def authorizer(self) -> Authorizer | None: ...

    @property
    def url(self) -> str: ...

    @property
    def integration_timeout_seconds(self) -> int: ...

    @property
    def api_key_required(self) -> bool: ...

    def add_route(
        self, route: str, handler: lambda_.IFunction | FunctionOptions, *, public_reason: str | None = None,
        throttle: Throttle | None = None, authorization_scopes: Sequence[str] | None = None,
    ) -> ApiRoute[Construct]: ...

    def add_queue_route(
        self, route: str, send: QueueSend, *, public_reason: str | None = None, throttle: Throttle | None = None,
        authorization_scopes: Sequence[str] | None = None,
    ) -> ApiRoute[Construct]: ...


class RouteGroup(Generic[A]):
    """Routes under a path prefix, e.g. a version: ``v1 = api.version("v1"); v1.add_route("GET /items", fn)``
    adds ``GET /v1/items``. The options are the API's own ``add_route`` options."""

    def __init__(self, api: A, prefix: str) -> None:
        self.api = api
        self.prefix = prefix

    def _route(self, route: str) -> str:
        method, _, path = route.partition(" ")
        return f"{method} {self.prefix}{'' if path == '/' else path}"

    def add_route(self, route: str, handler: lambda_.IFunction | FunctionOptions, **options: Any) -> ApiRoute[Any]:
        """The API's ``add_route`` with the prefix in front of the path."""
        api: Any = self.api  # each kind has its own route options
        return cast(ApiRoute[Any], api.add_route(self._route(route), handler, **options))

    def add_integration_route(self, route: str, integration: Any, **options: Any) -> ApiRoute[Any]:
        """The API's ``add_integration_route`` with the prefix in front of the path."""
        api: Any = self.api  # each kind takes its own kind of integration
        return cast(ApiRoute[Any], api.add_integration_route(self._route(route), integration, **options))


def timeout_seconds(function: lambda_.IFunction) -> float | None:
    """A route function's timeout in seconds; None when unknown (an imported function) or a token."""
    if isinstance(function, ObservedFunction):
        return function._timeout_seconds  # known in Python: no round trip to Node
    return seconds(function.timeout) if isinstance(function, lambda_.Function) else None


def _cfn_of(resource: constructs.IConstruct) -> constructs.IConstruct:
    cfn = resource.node.default_child
    assert cfn is not None
    return cfn


class ServerlessApiBase(Construct):
    """The part of :class:`~lambda_manifest.HttpServerlessApi` and :class:`~lambda_manifest.RestServerlessApi`
    that does not depend on the kind: create one of those two."""

    #: Which kind of API Gateway API this is.
    api_type: ClassVar[ApiType]
    #: API Gateway's maximum integration timeout for this kind (seconds): a handler may not run longer.
    integration_timeout_seconds: ClassVar[int]
    # CloudWatch metric names of this kind, by what they count.
    _metric_names: ClassVar[Mapping[str, str]]

    def __init__(self, scope: Construct, id: str, props: ApiProps) -> None:
        if type(self) is ServerlessApiBase:
            raise TypeError("ServerlessApiBase is the shared part of the API constructs: create an "
                            "HttpServerlessApi or a RestServerlessApi")
        super().__init__(scope, id)
        # Read once: node.id and node.path are a round trip to Node per read, and messages, descriptions and
        # acknowledgements name the API often.
        self._id = id
        self._path = child_path(scope, id)
        self._metrics: dict[tuple[str, str], cloudwatch.Metric] = {}
        shared = self._shared = StackResources.of(scope)  # the scope is usually the stack itself: no lookup
        self._props = props
        self.authorizer: Authorizer | None = props.authorizer
        self.throttle: Throttle = props.throttle
        self.cors: Cors | None = props.cors
        self.stage_name: str = props.stage_name
        self.alarm_topic: sns.ITopic = props.alarm_topic or shared.alarm_topic
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        #: Every route by its key (``"GET /items/{id}"``).
        self.routes: dict[str, ApiRoute[Construct]] = {}
        self.functions: list[lambda_.IFunction] = []
        self.domain_url: str | None = None
        self.dashboard: cloudwatch.Dashboard | None = None
        self._route_throttles: dict[str, Throttle] = {}
        self._key = props.log_encryption_key or shared.key
        self.access_log_group = logs.LogGroup(
            self, "AccessLogs", retention=props.access_log_retention, encryption_key=self._key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        if props.authorizer is not None:
            props.authorizer.bind(self, self.api_type)
        if props.cors is not None and props.cors.any_origin:
            cdk.Annotations.of(self).add_warning_v2(
                "lambda-manifest:cors-any-origin",
                f"{self._path}: cors allow_origins=['*'] lets every web site call this API from a browser. "
                "List the origins that need it unless the API is meant to be public to all sites.",
            )

    def _new_problems(self) -> Problems:
        return Problems(type(self).__name__, self._id)

    def _finish(self) -> None:
        """What follows the kind's own API and stage: domain, alarms, dashboard row, URL output, default route."""
        props = self._props
        if props.domain is not None:
            self._add_domain(props.domain)
        self._create_alarms()
        if props.dashboard:
            self.dashboard = self._shared.dashboard
            self._add_dashboard_row(self.dashboard)
        cdk.CfnOutput(self, "Url", value=self.url, description=f"Base URL of {self._path}")
        if props.default_handler is not None:
            self.add_default_route(props.default_handler)
        self.node.add_validation(_HasRoutes(self))

    # ----------------------------------------------------------------------------------------------
    # What each kind provides
    # ----------------------------------------------------------------------------------------------
    @property
    @abstractmethod
    def url(self) -> str:
        """The stage's invoke URL, ending in ``/``."""

    @property
    @abstractmethod
    def api_id(self) -> str: ...

    @property
    def api_key_required(self) -> bool:
        """Whether authorized routes also require API Gateway's own API key (``x-api-key``)."""
        return False

    @abstractmethod
    def add_route(self, route: str, handler: lambda_.IFunction | FunctionOptions, *, public_reason: str | None = None,
                  throttle: Throttle | None = None, authorization_scopes: Sequence[str] | None = None) -> Any: ...

    @abstractmethod
    def add_default_route(self, handler: lambda_.IFunction | FunctionOptions, *, public_reason: str | None = None,
                          throttle: Throttle | None = None) -> Any: ...

    @abstractmethod
    def _execute_api_arn(self, method: str, path: str) -> str: ...

    @abstractmethod
    def _metric_of(self, name: str, props: dict[str, Any]) -> cloudwatch.Metric: ...

    @abstractmethod
    def _domain_target(self, domain: CustomDomain) -> route53.IAliasRecordTarget: ...

    def _route_added(self, route: str, throttle: Throttle | None, resource: Construct) -> None:
        """A kind's own bookkeeping once a route exists (stage settings)."""

    def _acknowledge_route(self, resource: constructs.IConstruct, route: str, public_reason: str | None) -> None:
        """The route's acknowledgements, on its CloudFormation resource (found only when there are any: two
        round trips to Node)."""
        if public_reason is not None:
            self._acknowledge_public(_cfn_of(resource), route, public_reason)

    def _acknowledge_public(self, cfn: constructs.IConstruct, route: str, public_reason: str,
                            rules: Sequence[str] = ("AwsSolutions-APIG4",)) -> None:
        reason = f"{route} of {self._path} is public by design: {public_reason.strip()}"
        for rule in rules:
            acknowledge(cfn, Pack.AWS_SOLUTIONS, rule, reason)

    # ----------------------------------------------------------------------------------------------
    # Routes
    # ----------------------------------------------------------------------------------------------
    def version(self, name: str) -> RouteGroup[Self]:
        """Routes under ``/<name>``: ``api.version("v1").add_route("GET /items", fn)`` adds ``GET /v1/items``."""
        if not name or not all(c.isalnum() or c in "._-" for c in name):
            raise PropsError(f"{type(self).__name__} '{self.node.id}': version must be one path segment like 'v1', "
                             f"got {name!r}")
        return RouteGroup(self, f"/{name}")

    def grant_invoke(self, grantee: iam.IGrantable, route: str | None = None) -> iam.Grant:
        """Allow ``grantee`` to call the API (or one ``"METHOD /path"`` route) with SigV4: ``execute-api:Invoke``.

        Only meaningful with ``Authorizer.iam()``.
        """
        if self.authorizer is None or self.authorizer.kind is not AuthorizerKind.IAM:
            raise PropsError(f"{type(self).__name__} '{self.node.id}': grant_invoke needs authorizer=Authorizer.iam(); "
                             "other authorizers do not check IAM permissions")
        method, path = "*", "/*"
        if route is not None:
            parsed = parse_route(route)
            if parsed is None or parsed[1] == "$default":
                raise PropsError(f"{type(self).__name__} '{self.node.id}': route must be 'METHOD /path', "
                                 f"got {route!r}")
            method, path = parsed
            method = "*" if method == "ANY" else method
            path = _arn_path(path)
        arn = self._execute_api_arn(method, path)
        return iam.Grant.add_to_principal(grantee=grantee, actions=["execute-api:Invoke"], resource_arns=[arn])

    def _route_function(
        self, problems: Problems, route: str, handler: lambda_.IFunction | FunctionOptions, *,
        default_timeout: cdk.Duration | None = None, stream: bool = False,
    ) -> lambda_.IFunction | None:
        """The handler of a Lambda route: the function given, or an ``ObservedFunction`` made from
        ``FunctionOptions`` (``code`` defaults to the API's). ``None`` when ``problems`` has it."""
        if isinstance(handler, FunctionOptions):
            options = handler.with_defaults(code=self._props.code, timeout=default_timeout)
            if options.handler is None:
                problems.add("handler", "FunctionOptions with a handler", None,
                             "pass FunctionOptions(handler='module.function', ...)")
            if options.code is None:
                problems.add("handler code", "the code of the route's function", None,
                             f"pass FunctionOptions(code=Code.from_asset('src'), ...), or code= to {type(self).__name__}")
            problems.raise_if_any()
            function = ObservedFunction(self, f"{route_id(route)}Handler", **options.given())
            self._check_timeout(problems, route, function, stream)  # its timeout is known only now
            return function
        if isinstance(handler, Mapping):
            function_options(problems, "handler", handler)
        # Asked of the class: on the instance, hasattr() reads the property, a round trip to Node.
        elif not (hasattr(type(handler), "function_arn") and hasattr(type(handler), "grant_invoke")):
            problems.add("handler", "a Lambda function (any IFunction) or FunctionOptions(handler=..., ...)",
                         type(handler).__name__, "pass e.g. an ObservedFunction or FunctionOptions(handler='api.main')")
        else:
            self._check_timeout(problems, route, handler, stream)
            return handler
        return None

    def _remember(self, function: lambda_.IFunction) -> lambda_.IFunction:
        """The function an integration invokes (an ObservedFunction's ``live`` alias when it has one)."""
        if all(function is not f for f in self.functions):
            self.functions.append(function)
        return function.invocable if isinstance(function, ObservedFunction) else function

    def _check_route(
        self, problems: Problems, route: str, public_reason: str | None, throttle: Throttle | None,
        scopes: Sequence[str] | None,
    ) -> tuple[str, str] | None:
        parsed = parse_route(route) if isinstance(route, str) else None
        if parsed is None:
            problems.add("route", "'METHOD /path' with METHOD one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, "
                         "ANY and segments like 'items' or '{id}' ('{proxy+}' last only)", route,
                         "e.g. 'GET /items/{id}'")
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

    def _check_timeout(self, problems: Problems, route: str, function: lambda_.IFunction, stream: bool = False) -> None:
        timeout = timeout_seconds(function)
        limit = defaults.STREAM_INTEGRATION_TIMEOUT_SECONDS if stream else self.integration_timeout_seconds
        if timeout is not None and timeout > limit:
            problems.add(f"{route!r} handler timeout", f"at most {limit} seconds, the {self.api_type.value} API "
                         "integration timeout", f"{timeout:g} seconds ({function.node.path})",
                         f"lower the function's timeout to {limit} seconds or less; for longer work answer 202 "
                         "and hand it to an AsyncWorker (AsyncWorker.add_api_route)")

    def _register(
        self, route: str, method: str, path: str, function: lambda_.IFunction | None, public_reason: str | None,
        throttle: Throttle | None, resource: C,
    ) -> ApiRoute[C]:
        entry = ApiRoute(key=route, method=method, path=path, function=function, public_reason=public_reason,
                         resource=resource)
        self.routes[route] = entry
        if throttle is not None:
            self._route_throttles[route] = throttle
        self._route_added(route, throttle, resource)
        self._acknowledge_route(resource, route, public_reason)
        return entry

    # ----------------------------------------------------------------------------------------------
    # Metrics
    # ----------------------------------------------------------------------------------------------
    def _metric(self, what: str, statistic: str, options: Mapping[str, Any]) -> cloudwatch.Metric:
        # Metrics are immutable: the alarms and the dashboard row share one object per metric and statistic.
        metric = None if options else self._metrics.get((what, statistic))
        if metric is None:
            metric = self._metric_of(self._metric_names[what], {"period": monitoring.period(), "statistic": statistic,
                                                                **options})
            if not options:
                self._metrics[(what, statistic)] = metric
        return metric

    def metric_count(self, **options: Any) -> cloudwatch.Metric:
        """Requests. Default: sum over 5 minutes."""
        return self._metric("count", "Sum", options)

    def metric_server_errors(self, **options: Any) -> cloudwatch.Metric:
        """5xx responses. Default: sum over 5 minutes."""
        return self._metric("server_errors", "Sum", options)

    def metric_client_errors(self, **options: Any) -> cloudwatch.Metric:
        """4xx responses. Default: sum over 5 minutes."""
        return self._metric("client_errors", "Sum", options)

    def metric_latency(self, **options: Any) -> cloudwatch.Metric:
        """End-to-end latency. Default: p99 over 5 minutes."""
        return self._metric("latency", "p99", options)

    def metric_integration_latency(self, **options: Any) -> cloudwatch.Metric:
        """Backend latency. Default: p99 over 5 minutes."""
        return self._metric("integration_latency", "p99", options)

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
    # Domain, alarms, dashboard
    # ----------------------------------------------------------------------------------------------
    def _add_domain(self, domain: CustomDomain) -> None:
        target = self._domain_target(domain)
        if domain.hosted_zone is not None:
            route53.ARecord(self, "DomainAlias", zone=domain.hosted_zone, record_name=domain.domain_name,
                            target=route53.RecordTarget.from_alias(target))
        self.domain_url = f"https://{domain.domain_name}/{domain.base_path + '/' if domain.base_path else ''}"

    def _create_alarms(self) -> None:
        path, p = self._path, self._props
        server, client = p.server_error_rate_alarm_percent, p.client_error_rate_alarm_percent
        self.alarms["ServerErrorRate"] = monitoring.create_alarm(
            self, "ServerErrorRateAlarm", metric=self.metric_server_error_rate(p.alarm_min_requests),
            threshold=server, action_topic=self.alarm_topic,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description=f"{path}: more than {server:g}% of requests answered 5xx in 5 minutes. Look "
                        "for integrationError in the access log and ERROR lines in the handlers' log groups.",
        )
        self.alarms["ClientErrorRate"] = monitoring.create_alarm(
            self, "ClientErrorRateAlarm", metric=self.metric_client_error_rate(p.alarm_min_requests),
            threshold=client, action_topic=self.alarm_topic,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description=f"{path}: more than {client:g}% of requests answered 4xx in 5 minutes. Check "
                        "authorizerError and status in the access log: a broken client, expired credentials, "
                        "throttling (429) or probing.",
        )
        self.alarms["LatencyP99"] = monitoring.create_alarm(
            self, "LatencyAlarm", metric=self.metric_latency(), threshold=p.latency_alarm_ms,
            action_topic=self.alarm_topic,
            description=f"{path}: p99 latency above {p.latency_alarm_ms} ms. If integration latency is fine too, the "
                        "authorizer or API Gateway is slow; otherwise see the handler's X-Ray traces.",
        )
        self.alarms["IntegrationLatencyP99"] = monitoring.create_alarm(
            self, "IntegrationLatencyAlarm", metric=self.metric_integration_latency(),
            threshold=p.integration_latency_alarm_ms, action_topic=self.alarm_topic,
            description=f"{path}: p99 integration (backend) latency above {p.integration_latency_alarm_ms} ms. Look "
                        "at the handlers' duration and slow downstream calls in X-Ray.",
        )

    def _add_dashboard_row(self, dashboard: cloudwatch.Dashboard) -> None:
        dashboard.add_widgets(monitoring.header(f"API {self._path} ({self.api_type.value})"))
        dashboard.add_widgets(
            monitoring.graph("Requests and errors", [self.metric_count()],
                             [self.metric_client_errors(), self.metric_server_errors()]),
            monitoring.graph("Error rates (%)", [self.metric_server_error_rate(), self.metric_client_error_rate()]),
            monitoring.graph("Latency p50 / p99 / integration p99",
                             [self.metric_latency(statistic="p50"), self.metric_latency(),
                              self.metric_integration_latency()]),
        )



def resolve_options(kind: ApiType, construct: str, id: str, options: ApiOptions) -> tuple[ApiProps, Problems]:
    """The shared props of an API of ``kind`` resolved, with the problems found so far (not raised yet)."""
    problems = Problems(construct, id)
    return ApiProps.resolve(kind, options, problems), problems


def options_of(cls: type[ApiOptions], arguments: Mapping[str, Any]) -> Any:
    """The option object of a construct's keyword ``arguments`` (its ``locals()``)."""
    return cls(**{f.name: arguments[f.name] for f in dataclasses.fields(cls)})


@jsii.implements(constructs.IValidation)
class _HasRoutes:
    """An API without routes cannot deploy (REST) or serves nothing (HTTP): say so at synth."""

    def __init__(self, api: ServerlessApiBase) -> None:
        self._api = api

    def validate(self) -> list[str]:
        if self._api.routes:
            return []
        return [f"{type(self._api).__name__} '{self._api.node.id}' has no routes; call add_route(...), "
                "add_integration_route(...) or pass default_handler="]


def _arn_path(path: str) -> str:
    """Route path to an execute-api ARN path: parameters become wildcards."""
    return "/".join("*" if segment.startswith("{") else segment for segment in path.split("/"))
