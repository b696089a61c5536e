"""AiGatewayFunction: an OpenAI-compatible LLM gateway that runs inside Lambda, with its state in DynamoDB."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_backup
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from constructs import Construct, IConstruct

from lambda_manifest import _assets, monitoring
from lambda_manifest import _defaults as defaults
from lambda_manifest._api_auth import Authorizer, AuthorizerKind
from lambda_manifest._api_options import ApiType
from lambda_manifest._gateway_options import (
    INFERENCE_PROFILE_RE,
    NAME_RE,
    AuditOptions,
    CacheOptions,
    ContextOptions,
    ModelAlias,
    Price,
    Prompt,
    PromptTemplate,
    Provider,
    RoutingOptions,
    Target,
    TenantQuota,
    _plain,
)
from lambda_manifest._validation import Problems, is_token, seconds
from lambda_manifest.compliance import Pack, acknowledge
from lambda_manifest.data_table import DataTable
from lambda_manifest.observed_function import ObservedFunction
from lambda_manifest.runtime.gateway import config as runtime_config
from lambda_manifest.runtime.gateway import contract
from lambda_manifest.runtime.gateway.router import MIN_ATTEMPT_MS
from lambda_manifest.serverless_api import ServerlessApi
from lambda_manifest.shared import StackResources

__all__ = [
    "AiGatewayFunction",
    "AuditOptions",
    "CacheOptions",
    "ContextOptions",
    "ModelAlias",
    "Price",
    "Prompt",
    "PromptTemplate",
    "Provider",
    "RoutingOptions",
    "Target",
    "TenantQuota",
]

HANDLER = "lambda_manifest.runtime.gateway.handler.main"
# What `python -m lambda_manifest.keys create|list|revoke` needs (keys.py).
KEY_ADMIN_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Scan",
                     "dynamodb:ConditionCheckItem")
# What DynamoDB needs of the caller for a table encrypted with a customer-managed key (reads and writes).
KEY_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*")
# API Gateway's maximum integration timeouts (seconds).
INTEGRATION_TIMEOUT_SECONDS = {ApiType.HTTP: 30, ApiType.REST: 29}
# CloudWatch: an alarm's metric math may reference at most 10 metrics. Only the latency alarm (one p99 per
# provider) still takes one metric per provider; the rate alarms use the runtime's gateway-wide metrics.
MAX_ALARM_METRICS = 10
# Where the runtime looks for the virtual key without an API authorizer (gateway.virtual_key), in order.
DEFAULT_KEY_HEADERS = ("authorization", "x-api-key")
_HEADER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
_PREFIX = re.compile(r"^(/[A-Za-z0-9._~-]+)*$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9._/#:-]{1,255}$")
_TOKEN = re.compile(r"\$\{Token\[[^\]]+\]\}")
_TOKEN_BUDGET = 128  # characters a deploy-time value (e.g. a secret ARN) is assumed to take once resolved


@jsii.implements(iam.IGrantable)
class AiGatewayFunction(Construct):
    """An LLM gateway in Lambda: one OpenAI-compatible API in front of many providers, with virtual keys,
    quotas, a response cache, cost accounting, prompt endpoints and conversation memory, all in one DynamoDB
    table. It costs nothing while idle.

    Point any OpenAI client at :attr:`url` with a virtual key (``python -m lambda_manifest.keys create``).
    Every default comes from :mod:`lambda_manifest._defaults`; the README lists each prop.

    Parameters
    ----------
    providers:
        Name to ``Provider.openai_compatible(...)``, ``Provider.azure_openai(...)``, ``Provider.anthropic(...)``
        or ``Provider.bedrock(...)``. Required, at least one.
    models:
        Public model name (alias) to ``ModelAlias(targets=[Target(provider=..., model=...), ...])`` in fallback
        order. Required, at least one.
    prompts:
        Name to a ``PromptTemplate`` (version 1) or ``Prompt(versions={1: ..., 2: ...})``; each is served at
        ``POST /v1/prompts/{name}``. Default: - none.
    prices:
        ``"<provider>/<model>"`` or ``"<model>"`` to ``Price(input=..., output=...)`` in USD per million tokens;
        must cover every target while ``track_cost`` is on. Default: - none.
    track_cost:
        ``False`` says explicitly that cost is not tracked (every call costs 0, budgets never trip). Default:
        ``True``.
    quotas:
        Tenant to ``TenantQuota(rpm=..., tpd=..., budget_usd=...)``. Default: - per-key limits only.
    context / cache / routing / audit:
        ``ContextOptions`` / ``CacheOptions`` / ``RoutingOptions`` / ``AuditOptions``. Default: - the runtime's
        defaults (conversations on for 7 days, cache on for 1 hour, 1 retry, breaker after 5 failures, bodies
        not logged).
    max_body_bytes:
        Larger request bodies get a 413. Default: 1 MiB.
    secrets_cache_ttl:
        How long a container caches provider keys. Default: 5 minutes.
    usage_retention:
        How long daily and monthly usage records are kept. Default: 400 days.
    metrics_namespace:
        CloudWatch namespace of the runtime's EMF metrics. Default: ``LmGateway/<construct path>``.
    api:
        An existing ``ServerlessApi`` to add the routes to. Default: - a new HTTP ``ServerlessApi``.
    api_options:
        Extra ``ServerlessApi`` props for the API this construct creates (``throttle``, ``cors``, ``domain``,
        ``api_type``...). Default: - none.
    authorizer:
        An ``Authorizer`` for the API this construct creates. Callers then pass it and the gateway: the
        virtual key travels in ``key_header``. Default: - none: the routes are public at API Gateway and the
        gateway authenticates every request itself.
    use_api_authorizer:
        With ``api=``: put the routes behind that API's authorizer. Default: ``False``.
    key_header:
        The one request header the gateway reads the virtual key from (``authorization`` means ``Bearer
        <key>``; any other header the bare key). It must be a header the API authorizer (and, on a REST API
        with usage plans, API Gateway's own API key) does not use. Default: - without an API authorizer,
        ``Authorization: Bearer <key>`` or else ``x-api-key: <key>`` (Authorization wins when both are sent);
        with one, ``Authorization`` if the authorizer leaves it alone, else ``x-api-key``.
    public_reason:
        The acknowledgement recorded for the public routes. Default: - says the gateway checks virtual keys.
    path_prefix:
        Serve under a prefix, e.g. ``"/ai"`` gives ``/ai/v1/chat/completions``. Default: ``""``.
    streaming:
        Answer ``"stream": true`` with server-sent events (OpenAI ``chat.completion.chunk`` events) from every
        provider kind. Streaming needs a REST API (HTTP APIs cannot stream): the API this construct creates is
        then REST unless ``api_options`` says otherwise (an HTTP one is an error), and ``api=`` must be a REST
        ``ServerlessApi``. The routes use ``ResponseTransferMode: STREAM`` and the function runs the stream
        runtime's loop; ordinary requests keep their JSON answers. Default: ``False``.
    timeout:
        Must fit inside API Gateway's integration timeout (30 s HTTP, 29 s REST; 900 s when streaming). Default:
        25 s; 300 s with ``streaming=True``.
    memory_size:
        Default: 512 MB.
    reserved_concurrent_executions:
        Default: - unreserved.
    function_options:
        Extra ``ObservedFunction`` props. Default: - none.
    backup:
        Put the table in a daily AWS Backup plan (35-day retention). Default: ``True``.
    alarm_topic:
        Default: - the stack's shared alarm topic.
    provider_error_rate_alarm_percent:
        Requests on which every provider failed (502/504), as a percentage of requests routed to a provider
        (the runtime's gateway-wide ``UpstreamFailures`` and ``Served``). ``None`` disables. Default: 1.
    fallback_rate_alarm_percent:
        Fallbacks per 100 requests served by a provider (gateway-wide ``Fallbacks`` and ``Served``). ``None``
        disables. Default: 10.
    quota_rejections_alarm_threshold:
        Requests refused by a quota in 5 minutes. ``None`` disables. Default: 10.
    latency_alarm_threshold:
        p99 gateway latency of the slowest provider (one metric per provider: at most 10 providers). ``None``
        keeps the default. Default: 10 s.
    alarm_min_requests:
        Rate alarms ignore 5-minute periods with fewer requests. Default: 20.
    dashboard:
        Add a row (tokens and cost by tenant and model, providers) to the stack dashboard. Default: ``True``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        providers: Mapping[str, Provider],
        models: Mapping[str, ModelAlias],
        prompts: Mapping[str, PromptTemplate | Prompt] | None = None,
        prices: Mapping[str, Price] | None = None,
        track_cost: bool = True,
        quotas: Mapping[str, TenantQuota] | None = None,
        context: ContextOptions | None = None,
        cache: CacheOptions | None = None,
        routing: RoutingOptions | None = None,
        audit: AuditOptions | None = None,
        max_body_bytes: int | None = None,
        secrets_cache_ttl: cdk.Duration | None = None,
        usage_retention: cdk.Duration | None = None,
        metrics_namespace: str | None = None,
        api: ServerlessApi | None = None,
        api_options: Mapping[str, Any] | None = None,
        authorizer: Authorizer | None = None,
        use_api_authorizer: bool = False,
        key_header: str | None = None,
        public_reason: str | None = None,
        path_prefix: str = "",
        streaming: bool = defaults.GATEWAY_STREAMING.value,
        timeout: cdk.Duration | None = None,
        memory_size: int = defaults.GATEWAY_MEMORY_SIZE_MB.value,
        reserved_concurrent_executions: int | None = None,
        function_options: Mapping[str, Any] | None = None,
        backup: bool = True,
        alarm_topic: sns.ITopic | None = None,
        provider_error_rate_alarm_percent: float | None = defaults.GATEWAY_PROVIDER_ERROR_RATE_PERCENT.value,
        fallback_rate_alarm_percent: float | None = defaults.GATEWAY_FALLBACK_RATE_PERCENT.value,
        quota_rejections_alarm_threshold: int | None = defaults.GATEWAY_QUOTA_REJECTIONS_THRESHOLD.value,
        latency_alarm_threshold: cdk.Duration | None = None,
        alarm_min_requests: int = defaults.GATEWAY_ALARM_MIN_REQUESTS.value,
        dashboard: bool = True,
    ) -> None:
        super().__init__(scope, id)
        timeout = timeout or cdk.Duration.seconds(defaults.GATEWAY_STREAMING_TIMEOUT_SECONDS.value if streaming
                                                   else defaults.GATEWAY_TIMEOUT_SECONDS.value)
        self.streaming = streaming
        latency_alarm_threshold = latency_alarm_threshold or cdk.Duration.seconds(
            defaults.GATEWAY_LATENCY_ALARM_SECONDS.value)
        self.providers = dict(providers or {})
        self.models = dict(models or {})
        self.prompts = dict(prompts or {})
        self.prices = dict(prices or {})
        self.quotas = dict(quotas or {})
        self.metrics_namespace = metrics_namespace or _default_namespace(self)
        api_options = dict(api_options or {})
        function_options = dict(function_options or {})
        if streaming and api is None:
            api_options.setdefault("api_type", ApiType.REST)  # only REST APIs stream
        api_type = api.api_type if api is not None else api_options.get("api_type", ApiType.HTTP)

        self._validate(
            id, providers=self.providers, models=self.models, prompts=self.prompts, prices=self.prices,
            track_cost=track_cost, quotas=self.quotas, context=context, api=api, api_options=api_options,
            api_type=api_type, authorizer=authorizer, use_api_authorizer=use_api_authorizer,
            key_header=key_header, public_reason=public_reason, path_prefix=path_prefix, timeout=timeout,
            streaming=streaming,
            function_options=function_options, metrics_namespace=self.metrics_namespace,
            provider_error_rate=provider_error_rate_alarm_percent, fallback_rate=fallback_rate_alarm_percent,
            quota_rejections=quota_rejections_alarm_threshold, latency=latency_alarm_threshold,
            alarm_min_requests=alarm_min_requests, max_body_bytes=max_body_bytes,
        )
        # The header the virtual key travels in; None: Authorization (Bearer), else x-api-key.
        self.key_header: str | None = _key_header(key_header, *_api_layer(api, api_options, api_type, authorizer,
                                                                          use_api_authorizer))
        self.config: dict[str, Any] = self._render_config(
            track_cost=track_cost, context=context, cache=cache, routing=routing, audit=audit,
            max_body_bytes=max_body_bytes, secrets_cache_ttl=secrets_cache_ttl, usage_retention=usage_retention,
        )
        self._validate_with_runtime(id, timeout)

        shared = StackResources.of(self)
        self.alarm_topic: sns.ITopic = alarm_topic or shared.alarm_topic
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self.path_prefix = path_prefix

        # Built in the order a request flows: the state, the function, its permissions, the routes, then how we
        # watch it.
        self.table = self._table(shared, backup)
        self.backup_plan: aws_backup.BackupPlan | None = shared.backup_plan if backup else None

        self.config_file: Path | None = None
        self.config_delivery, code, config_env = self._deliver_config()
        self.function = ObservedFunction(
            self,
            "Function",
            handler=HANDLER,
            code=code or _assets.runtime_code("gateway"),
            description=f"LLM gateway {self.node.path}: OpenAI-compatible API over "
                        f"{', '.join(sorted(self.providers))}",
            timeout=timeout,
            memory_size=memory_size,
            reserved_concurrent_executions=reserved_concurrent_executions,
            powertools=False,
            alarm_topic=self.alarm_topic,
            dashboard=dashboard,
            **{"service_name": id, **function_options,
               "environment": {**dict(function_options.get("environment") or {}),
                               contract.TABLE_ENV: self.table.table_name, **config_env}},
        )
        self._grant_runtime_access(shared)

        self.api: ServerlessApi = api or ServerlessApi(
            self, "Api", **{
                "description": f"OpenAI-compatible LLM gateway {self.node.path}",
                "authorizer": authorizer,
                # End-to-end latency is the integration's plus API Gateway's own; 1 s of headroom.
                "latency_alarm_threshold": cdk.Duration.seconds(
                    min(defaults.LATENCY_ALARM_RANGE_MS[1] // 1000,
                        int(seconds(latency_alarm_threshold) or 0) + defaults.GATEWAY_API_LATENCY_HEADROOM_SECONDS)),
                "integration_latency_alarm_threshold": latency_alarm_threshold,
                "alarm_topic": self.alarm_topic,
                "dashboard": dashboard,
                **api_options,
            })
        authorized = authorizer is not None or use_api_authorizer
        reason = None if authorized else (public_reason or defaults.GATEWAY_PUBLIC_REASON.value)
        self.routes = [
            self.api.add_route(f"{method} {path_prefix}{path}", self.function, public_reason=reason,
                               stream=streaming)
            for method, path in (*contract.ROUTES, contract.CATCH_ALL_ROUTE)
        ]

        self._create_alarms(
            provider_error_rate=provider_error_rate_alarm_percent, fallback_rate=fallback_rate_alarm_percent,
            quota_rejections=quota_rejections_alarm_threshold, latency=latency_alarm_threshold,
            min_requests=alarm_min_requests,
        )
        self.dashboard: cloudwatch.Dashboard | None = None
        if dashboard:
            self.dashboard = shared.dashboard
            self._add_dashboard_row(self.dashboard)
        self._acknowledge()

        cdk.CfnOutput(self, "Url", value=self.url,
                      description=f"OpenAI base_url of {self.node.path}: OpenAI(base_url=<this>, api_key=<virtual key>)")
        cdk.CfnOutput(self, "TableName", value=self.table.table_name, description=f"DynamoDB table of {self.node.path}")
        cdk.CfnOutput(
            self, "KeyCommand",
            value=cdk.Fn.join("", [
                "python -m lambda_manifest.keys create --table ", self.table.table_name,
                f" --tenant <tenant> --models {','.join(sorted(self.models))} --name <label>"]),
            description="Create a virtual key (printed once); list with 'keys list', revoke with 'keys revoke'",
        )

    # ----------------------------------------------------------------------------------------------
    # Attributes and helpers
    # ----------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The OpenAI ``base_url``: the API's URL followed by ``<path_prefix>/v1``."""
        return f"{self.api.url}{self.path_prefix.lstrip('/')}{'/' if self.path_prefix else ''}v1"

    @property
    def grant_principal(self) -> iam.IPrincipal:
        """The gateway function's role."""
        return self.function.grant_principal

    def add_client(
        self,
        function: lambda_.IFunction,
        key_secret: secretsmanager.ISecret,
        *,
        url_variable: str = "GATEWAY_URL",
        key_variable: str = "GATEWAY_KEY_SECRET_ARN",
    ) -> None:
        """Wire a function that calls this gateway: ``url_variable`` gets :attr:`url` and ``key_variable`` the ARN
        of the secret holding its virtual key, which the function may read (never the key itself)."""
        if not isinstance(function, lambda_.Function):
            problems = Problems("AiGatewayFunction.add_client", self.node.id)
            problems.add("function", "a lambda_.Function (its environment is set here)", function.node.path,
                         "pass the function where it is defined, not an imported one")
            problems.raise_if_any()
        assert isinstance(function, lambda_.Function)
        function.add_environment(url_variable, self.url)
        function.add_environment(key_variable, key_secret.secret_arn)
        if isinstance(function, ObservedFunction):
            function.grant_read_secret(key_secret)  # no key-policy cycle for a secret in the same stack
        else:
            key_secret.grant_read(function)

    def grant_manage_keys(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to run ``python -m lambda_manifest.keys create|list|revoke`` on this gateway's table."""
        grant = self.table.grant(grantee, *KEY_ADMIN_ACTIONS)
        self.table_key.grant(grantee, *KEY_ACTIONS)
        return grant

    def grant_read_usage(self, grantee: iam.IGrantable) -> iam.Grant:
        """Allow ``grantee`` to read the table (usage records, key metadata) for reporting: GetItem, Query, Scan."""
        grant = self.table.grant(grantee, "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query",
                                 "dynamodb:Scan")
        self.table_key.grant(grantee, "kms:Decrypt", "kms:DescribeKey")
        return grant

    def metric(self, metric_name: str, *, provider: str | None = None, tenant: str | None = None,
               model: str | None = None, **options: Any) -> cloudwatch.Metric:
        """One of the runtime's EMF metrics. With ``provider=``, ``tenant=``, ``model=`` or ``tenant=`` and
        ``model=``: ``Requests``, ``PromptTokens``, ``CompletionTokens``, ``CostUSD``, ``LatencyMs``, ``Fallbacks``,
        ``CacheHits``, ``QuotaRejections``, ``Errors``, ``UpstreamFailures`` (and ``ProviderFailures`` by
        ``provider=``). With no dimension, gateway-wide: ``Requests``, ``Served``, ``Errors``,
        ``UpstreamFailures``, ``ProviderFailures``, ``Fallbacks``, ``QuotaRejections``, ``CacheHits``. Default:
        sum over 5 minutes."""
        dimensions = {k: v for k, v in (("Provider", provider), ("Tenant", tenant), ("Model", model)) if v}
        if set(dimensions) not in (set(), {"Provider"}, {"Tenant"}, {"Model"}, {"Tenant", "Model"}):
            raise ValueError("metric() needs provider=, tenant=, model=, tenant= with model=, or no dimension (the "
                             f"runtime's dimension sets), got {sorted(dimensions)}")
        if not dimensions and metric_name not in contract.GATEWAY_WIDE_METRICS:
            raise ValueError(f"the runtime publishes {metric_name!r} only by dimension; gateway-wide metrics are "
                             f"{', '.join(contract.GATEWAY_WIDE_METRICS)}")
        return cloudwatch.Metric(
            namespace=self.metrics_namespace, metric_name=metric_name, dimensions_map=dimensions,
            **{"period": monitoring.period(), "statistic": "Sum", **options},
        )

    def metric_upstream_failures(self, **options: Any) -> cloudwatch.Metric:
        """Requests on which no provider answered (502/504), gateway-wide. Default: sum."""
        return self.metric("UpstreamFailures", **options)

    def metric_provider_failures(self, provider: str | None = None, **options: Any) -> cloudwatch.Metric:
        """Failed provider attempts (timeouts, connection errors, 429s, 5xx, malformed answers, 401/403/404),
        including those a retry or fallback made good: of one ``provider``, or gateway-wide. Default: sum."""
        return self.metric("ProviderFailures", provider=provider, **options)

    def metric_served_requests(self, **options: Any) -> cloudwatch.Metric:
        """Requests answered by a provider (not the cache, not refused), gateway-wide. Default: sum."""
        return self.metric("Served", **options)

    def metric_provider_error_rate(self, min_requests: int = 1) -> cloudwatch.MathExpression:
        """Percentage of routed requests (served or failed at every provider) on which every provider failed."""
        using: dict[str, cloudwatch.IMetric] = {"served": self.metric_served_requests(),
                                                "failed": self.metric_upstream_failures()}
        routed = f"({_fill_sum(using)})"
        return cloudwatch.MathExpression(
            expression=f"IF({routed} >= {min_requests}, 100 * FILL(failed, 0) / {routed}, 0)",
            using_metrics=using, period=monitoring.period(), label="Provider error rate (%)",
        )

    def metric_fallback_rate(self, min_requests: int = 1) -> cloudwatch.MathExpression:
        """Fallbacks per 100 requests served by a provider."""
        using: dict[str, cloudwatch.IMetric] = {"served": self.metric_served_requests(),
                                                "fallbacks": self.metric("Fallbacks")}
        return cloudwatch.MathExpression(
            expression=f"IF(FILL(served, 0) >= {min_requests}, 100 * FILL(fallbacks, 0) / FILL(served, 0), 0)",
            using_metrics=using, period=monitoring.period(), label="Fallback rate (%)",
        )

    def metric_quota_rejections(self, **options: Any) -> cloudwatch.Metric:
        """Requests refused by a quota, gateway-wide. Default: sum."""
        return self.metric("QuotaRejections", **options)

    def metric_latency_p99(self) -> cloudwatch.MathExpression:
        """p99 gateway latency of the slowest provider (ms)."""
        using = {f"l{i}": self.metric("LatencyMs", provider=p, statistic="p99")
                 for i, p in enumerate(sorted(self.providers))}
        return cloudwatch.MathExpression(expression=f"MAX([{', '.join(using)}])", using_metrics=using,
                                         period=monitoring.period(), label="Latency p99, slowest provider (ms)")

    # ----------------------------------------------------------------------------------------------
    # Configuration
    # ----------------------------------------------------------------------------------------------
    def _render_config(
        self, *, track_cost: bool, context: ContextOptions | None, cache: CacheOptions | None,
        routing: RoutingOptions | None, audit: AuditOptions | None, max_body_bytes: int | None,
        secrets_cache_ttl: cdk.Duration | None, usage_retention: cdk.Duration | None,
    ) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "version": 1,
            "providers": {name: p.to_config() for name, p in self.providers.items()},
            "models": {name: m.to_config() for name, m in self.models.items()},
        }
        if track_cost and self.prices:
            doc["prices"] = {key: price.to_config() for key, price in self.prices.items()}
        if self.quotas:
            doc["tenants"] = {name: q.to_config() for name, q in self.quotas.items()}
        if self.prompts:
            doc["prompts"] = {
                name: (p.to_config() if isinstance(p, Prompt) else {"versions": {"1": p.to_config()}})
                for name, p in self.prompts.items()
            }
        for key, options in (("context", context), ("cache", cache), ("routing", routing)):
            rendered = options.to_config() if options is not None else {}
            if rendered:
                doc[key] = rendered
        doc["audit"] = {"metrics_namespace": self.metrics_namespace,
                        **({"log_bodies": True} if audit is not None and audit.log_bodies else {})}
        if self.key_header is not None:
            doc["auth"] = {"key_header": self.key_header}
        if max_body_bytes is not None:
            doc["limits"] = {"max_body_bytes": max_body_bytes}
        if self.streaming:
            doc["streaming"] = {"enabled": True, "keepalive_s": defaults.GATEWAY_STREAM_KEEPALIVE_SECONDS.value}
        ttl = seconds(secrets_cache_ttl)
        if ttl is not None:
            doc["secrets_ttl_s"] = int(ttl)
        retention = seconds(usage_retention)
        if retention is not None:
            doc["usage_ttl_days"] = max(1, int(retention // 86400))
        return doc

    def _validate_with_runtime(self, id: str, timeout: cdk.Duration) -> None:
        """Parse the rendered document with the runtime's own ``parse_config`` (deploy-time values replaced by
        placeholders), so a configuration the gateway would refuse at its first request fails the synth."""
        problems = Problems("AiGatewayFunction", id)
        try:
            parsed = runtime_config.parse_config(_placeholders(self.config))
        except runtime_config.ConfigError as error:
            problems.add("configuration", "accepted by the gateway runtime (lambda_manifest.runtime.gateway.config)", str(error),
                         "fix the prop the JSON path names")
            problems.raise_if_any()
        timeout_s = seconds(timeout)
        if timeout_s is None:
            return
        # Without a timeout, an attempt gets an equal share of the time left (lambda_manifest.runtime.gateway.router.attempt_timeout),
        # which always fits. An explicit one is capped at the time left, so only a target with a fallback
        # behind it can be too long: it may use up the invocation before the fallback is tried.
        min_attempt_s = MIN_ATTEMPT_MS / 1000
        limit = timeout_s - parsed.routing.deadline_margin_ms / 1000 - min_attempt_s
        for alias in parsed.models.values():
            for target in alias.targets[:-1]:
                per_try = target.timeout_s or parsed.providers[target.provider].timeout_s
                if per_try is not None and per_try > limit + 1e-9:
                    problems.add(
                        f"models[{alias.name!r}] target {target.label} timeout",
                        f"shorter than the function timeout ({timeout_s:g} s) when a fallback follows: at most "
                        f"{limit:g} s, leaving the deadline margin and {min_attempt_s * 1000:g} ms for the fallback",
                        f"{per_try:g} s",
                        "drop Provider(timeout=...)/Target(timeout=...) to split the remaining time between the "
                        "targets, or pass a shorter one")
        problems.raise_if_any()

    def _deliver_config(self) -> tuple[str, lambda_.Code | None, dict[str, str]]:
        """Environment variable when the document fits, else a JSON file in a generated asset.

        Lambda allows 4 KB of environment in total. A document whose estimated deployed size (each deploy-time
        value such as a secret ARN counted at 128 characters) is at most 3,500 bytes travels in
        ``LM_GATEWAY_CONFIG``: it shares the gateway runtime's asset with every other gateway and changes without
        a code upload. A larger one is written to ``lm_gateway_config.json`` beside a copy of the gateway runtime and
        named by ``LM_GATEWAY_CONFIG_FILE``. A file cannot hold deploy-time values, so that case is validated."""
        text = json.dumps(self.config, separators=(",", ":"), sort_keys=True)
        size = estimated_size(text)
        if size <= defaults.GATEWAY_CONFIG_ENV_MAX_BYTES.value:
            stack = cdk.Stack.of(self)
            return "env", None, {contract.CONFIG_ENV: stack.to_json_string(self.config)}
        if _TOKEN.search(text):
            problems = Problems("AiGatewayFunction", self.node.id)
            problems.add(
                "configuration", f"at most {defaults.GATEWAY_CONFIG_ENV_MAX_BYTES.value} bytes (Lambda's 4 KB "
                "environment) or free of deploy-time values (it is then shipped as a file)", f"~{size} bytes with "
                "deploy-time values such as the ARN of a secret created in this stack",
                "import the provider secrets by complete ARN (Secret.from_secret_complete_arn) so the document "
                "can be written to a file at synth time, or shorten the prompts")
            problems.raise_if_any()
        directory = Path(tempfile.mkdtemp(prefix="lm-gateway-"))
        self.config_file = directory / contract.CONFIG_FILE_NAME
        shutil.copytree(_assets.stage_runtime("gateway"), directory, dirs_exist_ok=True)
        (directory / contract.CONFIG_FILE_NAME).write_text(text + "\n", encoding="utf-8")
        return "file", lambda_.Code.from_asset(str(directory)), {contract.CONFIG_FILE_ENV: contract.CONFIG_FILE_NAME}

    # ----------------------------------------------------------------------------------------------
    # Resources
    # ----------------------------------------------------------------------------------------------
    def _table(self, shared: StackResources, backup: bool) -> dynamodb.Table:
        self.table_key = shared.key
        return DataTable(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=contract.PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=contract.SORT_KEY, type=dynamodb.AttributeType.STRING),
            time_to_live_attribute=contract.TTL_ATTRIBUTE,
            backup=backup,
            no_backup_reason=None if backup else (
                "The gateway was created with backup=False: the table holds hashed keys, counters, usage and "
                "caches that the operator chose to protect with point-in-time recovery alone."),
        )

    def _grant_runtime_access(self, shared: StackResources) -> None:
        fn = self.function
        self.table.grant(fn, *contract.TABLE_ACTIONS)
        shared.key.grant(fn, *KEY_ACTIONS)
        for provider in self.providers.values():
            if provider.secret is not None:
                fn.grant_read_secret(provider.secret, actions=contract.SECRET_ACTIONS)
        arns = self.bedrock_model_arns()
        if arns:
            fn.add_to_role_policy(iam.PolicyStatement(actions=list(contract.BEDROCK_ACTIONS), resources=arns))

    def bedrock_model_arns(self) -> list[str]:
        """The resources ``bedrock:InvokeModel`` is granted on: exactly the Bedrock models the aliases name."""
        stack = cdk.Stack.of(self)
        arns: list[str] = []
        for alias in self.models.values():
            for target in alias.targets:
                provider = self.providers.get(target.provider)
                if provider is None or provider.type != "bedrock":
                    continue
                region = provider.options.get("region") or stack.region
                model = target.model
                if model.startswith("arn:"):
                    found = [model]
                elif INFERENCE_PROFILE_RE.match(model):
                    base = model.split(".", 1)[1]
                    found = [f"arn:{stack.partition}:bedrock:{region}:{stack.account}:inference-profile/{model}",
                             f"arn:{stack.partition}:bedrock:*::foundation-model/{base}"]
                else:
                    found = [f"arn:{stack.partition}:bedrock:{region}::foundation-model/{model}"]
                arns.extend(arn for arn in found if arn not in arns)
        return arns

    def _create_alarms(self, *, provider_error_rate: float | None, fallback_rate: float | None,
                       quota_rejections: int | None, latency: cdk.Duration, min_requests: int) -> None:
        path = self.node.path
        above = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        if provider_error_rate is not None:
            self.alarms["ProviderErrorRate"] = monitoring.create_alarm(
                self, "ProviderErrorRateAlarm", metric=self.metric_provider_error_rate(min_requests),
                threshold=provider_error_rate, comparison=above, action_topic=self.alarm_topic,
                description=f"{path}: every provider failed (502/504) on more than {provider_error_rate:g}% of "
                            "routed requests in 5 minutes. See ProviderFailures by provider and fallback_path in the "
                            "gateway's audit lines: an outage, a revoked provider key or an exhausted provider quota.",
            )
        if fallback_rate is not None:
            self.alarms["FallbackRate"] = monitoring.create_alarm(
                self, "FallbackRateAlarm", metric=self.metric_fallback_rate(min_requests),
                threshold=fallback_rate, comparison=above, action_topic=self.alarm_topic,
                description=f"{path}: more than {fallback_rate:g} fallbacks per 100 served requests in 5 "
                            "minutes: a primary target is failing or slow; answers cost more and take longer. See "
                            "ProviderFailures by provider and fallback_path in the audit lines.",
            )
        if quota_rejections is not None:
            self.alarms["QuotaRejections"] = monitoring.create_alarm(
                self, "QuotaRejectionsAlarm", metric=self.metric_quota_rejections(), threshold=quota_rejections,
                action_topic=self.alarm_topic,
                description=f"{path}: {quota_rejections}+ requests refused by a quota (429) in 5 minutes. Find the "
                            "tenant in the metrics by tenant; raise its limit or talk to it.",
            )
        latency_ms = round((seconds(latency) or 0) * 1000)
        self.alarms["LatencyP99"] = monitoring.create_alarm(
            self, "LatencyAlarm", metric=self.metric_latency_p99(), threshold=latency_ms,
            action_topic=self.alarm_topic,
            description=f"{path}: p99 gateway latency above {latency_ms} ms at the slowest provider. Compare "
                        "LatencyMs by provider; lower that target's timeout or move it down the fallback order.",
        )

    def _add_dashboard_row(self, dashboard: cloudwatch.Dashboard) -> None:
        ns = self.metrics_namespace

        def search(dimensions: str, metric: str, label: str, stat: str = "Sum") -> cloudwatch.MathExpression:
            return cloudwatch.MathExpression(
                expression=f"SEARCH('{{\"{ns}\",{dimensions}}} MetricName=\"{metric}\"', '{stat}', 300)",
                using_metrics={}, label=label, period=monitoring.period(),
            )

        dashboard.add_widgets(monitoring.header(
            f"AI gateway {self.node.path}", f"Namespace `{ns}`; providers {', '.join(sorted(self.providers))}"))
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Tokens by tenant", width=6, height=6, left=[
                search("Tenant", "PromptTokens", "prompt"), search("Tenant", "CompletionTokens", "completion")]),
            cloudwatch.GraphWidget(title="Cost (USD) by tenant", width=6, height=6,
                                   left=[search("Tenant", "CostUSD", "cost")]),
            cloudwatch.GraphWidget(title="Tokens by model", width=6, height=6, left=[
                search("Model", "PromptTokens", "prompt"), search("Model", "CompletionTokens", "completion")]),
            cloudwatch.GraphWidget(title="Cost (USD) by model", width=6, height=6,
                                   left=[search("Model", "CostUSD", "cost")]),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Requests (cache, none = refused or failed) and failed attempts by provider",
                                   width=8, height=6, left=[search("Provider", "Requests", "requests")],
                                   right=[search("Provider", "ProviderFailures", "failed attempts")]),
            cloudwatch.GraphWidget(title="Provider errors and fallbacks (%), quota rejections", width=8, height=6,
                                   left=[self.metric_provider_error_rate(), self.metric_fallback_rate()],
                                   right=[self.metric_quota_rejections(label="Quota rejections")]),
            cloudwatch.GraphWidget(title="Latency p99 by provider (ms)", width=8, height=6,
                                   left=[search("Provider", "LatencyMs", "p99", "p99")]),
        )

    def _acknowledge(self) -> None:
        policy = self.function.managed_policy
        for arn in self.bedrock_model_arns():
            if ":bedrock:*::foundation-model/" not in arn:
                continue
            rendered = arn.replace(cdk.Stack.of(self).partition, "<AWS::Partition>")
            acknowledge(
                policy, Pack.AWS_SOLUTIONS, f"AwsSolutions-IAM5[Resource::{rendered}]",
                f"A cross-region inference profile routes each call to the foundation model {arn.rsplit('/', 1)[1]} "
                "in whichever region of its geography has capacity, so InvokeModel must cover that one model in "
                "every region; the statement names no other model.",
            )

    # ----------------------------------------------------------------------------------------------
    # Validation
    # ----------------------------------------------------------------------------------------------
    @staticmethod
    def _validate(id: str, **p: Any) -> None:
        problems = Problems("AiGatewayFunction", id)
        providers: dict[str, Provider] = p["providers"]
        models: dict[str, ModelAlias] = p["models"]
        if not providers:
            problems.add("providers", "at least one provider", providers,
                         "pass e.g. providers={'openai': Provider.openai_compatible(...)}")
        if not models:
            problems.add("models", "at least one model alias", models,
                         "pass e.g. models={'fast': ModelAlias(targets=[Target(provider='openai', model='...')])}")
        for name, provider in providers.items():
            _check_name(problems, "providers", name)
            if not isinstance(provider, Provider):
                problems.add(f"providers[{name!r}]", "a Provider from Provider.openai_compatible/azure_openai/"
                             "anthropic/bedrock", type(provider).__name__, "use a factory")
                continue
            provider.check(problems, name)
        targets: list[Target] = []
        for name, alias in models.items():
            _check_name(problems, "models", name)
            if not isinstance(alias, ModelAlias):
                problems.add(f"models[{name!r}]", "a ModelAlias", type(alias).__name__,
                             "pass ModelAlias(targets=[Target(provider=..., model=...)])")
                continue
            if not alias.targets:
                problems.add(f"models[{name!r}].targets", "at least one Target", list(alias.targets),
                             "name the provider and model that serve this alias")
            for target in alias.targets:
                if not isinstance(target, Target):
                    problems.add(f"models[{name!r}].targets", "Target(provider=..., model=...) items",
                                 type(target).__name__, "wrap each in Target")
                    continue
                targets.append(target)
                if target.provider not in providers:
                    problems.add(f"models[{name!r}] target {target.label}", f"a known provider ({sorted(providers)})",
                                 target.provider, "add the provider to providers= or fix the name")
                if not target.model or not isinstance(target.model, str):
                    problems.add(f"models[{name!r}] target model", "a model id", target.model, "e.g. 'gpt-4o-mini'")
                if target.weight is not None and (not _positive(target.weight)):
                    problems.add(f"models[{name!r}] target {target.label} weight", "a number > 0", target.weight,
                                 "drop it for plain fallback order")
            if alias.context_window is not None and (isinstance(alias.context_window, bool)
                                                     or not isinstance(alias.context_window, int)
                                                     or alias.context_window < 256):
                problems.add(f"models[{name!r}].context_window", "a whole number of tokens >= 256",
                             alias.context_window, "pass the smallest context window of the targets")
        for name, prompt in p["prompts"].items():
            _check_name(problems, "prompts", name)
            versions: Mapping[int, Any]
            if isinstance(prompt, PromptTemplate):
                versions = {1: prompt}
            elif isinstance(prompt, Prompt):
                versions = prompt.versions
                if not versions:
                    problems.add(f"prompts[{name!r}].versions", "at least one version", {}, "add {1: PromptTemplate(...)}")
                if prompt.latest is not None and prompt.latest not in versions:
                    problems.add(f"prompts[{name!r}].latest", f"one of the versions {sorted(versions)}",
                                 prompt.latest, "publish that version or drop latest")
            else:
                problems.add(f"prompts[{name!r}]", "a PromptTemplate or Prompt(versions={...})",
                             type(prompt).__name__, "wrap it")
                continue
            for version, template in versions.items():
                where = f"prompts[{name!r}] version {version}"
                if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                    problems.add(f"prompts[{name!r}].versions", "positive whole version numbers", version,
                                 "number versions 1, 2, ...")
                if not isinstance(template, PromptTemplate):
                    problems.add(where, "a PromptTemplate", type(template).__name__, "wrap it")
                    continue
                if template.model not in models:
                    problems.add(f"{where} model", f"a known model alias ({sorted(models)})", template.model,
                                 "add the alias to models= or fix the name")
                if not template.user:
                    problems.add(f"{where} user", "a non-empty template", template.user,
                                 "write the user message, e.g. 'Summarize: {text}'")
        prices: dict[str, Price] = p["prices"]
        if p["track_cost"]:
            for target in targets:
                if target.label not in prices and target.model not in prices:
                    problems.add(f"prices (for {target.label})", f"a Price under '{target.label}' or "
                                 f"'{target.model}'", "missing",
                                 "add Price(input=..., output=...) in USD per million tokens, or pass "
                                 "track_cost=False to say cost is not tracked")
            known = {t.label for t in targets} | {t.model for t in targets}
            for key, price in prices.items():
                if key not in known:
                    problems.add("prices", f"keyed by a target ('<provider>/<model>' or '<model>') in {sorted(known)}",
                                 key, "fix the key or remove the price")
                if not isinstance(price, Price) or not _non_negative(price.input) \
                        or not _non_negative(price.output) \
                        or any(v is not None and not _non_negative(v) for v in (price.cached_input, price.cache_write)):
                    problems.add(f"prices[{key!r}]", "Price(input=..., output=..., cached_input=..., cache_write=...) "
                                 "in USD per million tokens, >= 0", price,
                                 "e.g. Price(input=3, output=15, cached_input=0.30, cache_write=3.75)")
        elif prices:
            problems.add("prices", "unset when track_cost=False", sorted(prices),
                         "drop prices, or drop track_cost=False to track cost")
        for tenant, quota in p["quotas"].items():
            if not isinstance(quota, TenantQuota):
                problems.add(f"quotas[{tenant!r}]", "a TenantQuota", type(quota).__name__,
                             "pass TenantQuota(rpm=..., tpd=..., budget_usd=...)")
                continue
            for prop in ("rpm", "tpd"):
                value = getattr(quota, prop)
                if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                    problems.add(f"quotas[{tenant!r}].{prop}", "a whole number >= 1", value, "or leave it unset")
            if quota.budget_usd is not None and not _non_negative(quota.budget_usd):
                problems.add(f"quotas[{tenant!r}].budget_usd", "a number of USD >= 0", quota.budget_usd,
                             "or leave it unset")
            if quota.budget_usd is not None and not p["track_cost"]:
                problems.add(f"quotas[{tenant!r}].budget_usd", "used with track_cost=True", quota.budget_usd,
                             "a budget needs prices; every call costs 0 without them")
        context = p["context"]
        if context is not None and context.summarize_with is not None and context.summarize_with not in models:
            problems.add("context.summarize_with", f"a known model alias ({sorted(models)})", context.summarize_with,
                         "add the alias to models= or fix the name")
        max_body = p["max_body_bytes"]
        if max_body is not None and (isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1024):
            problems.add("max_body_bytes", "a whole number >= 1024", max_body, "pass e.g. 1_048_576")
        AiGatewayFunction._validate_api(problems, p)
        AiGatewayFunction._validate_alarms(problems, p, len(providers))
        fixed = {"handler": "the gateway's handler is fixed", "code": "the gateway's code is the library's",
                 "powertools": "the gateway is stdlib + boto3 only"}
        for key in ("handler", "code", "powertools", "timeout", "memory_size", "reserved_concurrent_executions",
                    "alarm_topic", "dashboard"):
            if key in p["function_options"]:
                problems.add(f"function_options[{key!r}]", "not set here", "set",
                             fixed.get(key, f"pass {key}= to AiGatewayFunction itself"))
        if "environment" in p["function_options"]:
            env = dict(p["function_options"]["environment"] or {})
            for reserved in (contract.CONFIG_ENV, contract.CONFIG_FILE_ENV, contract.TABLE_ENV):
                if reserved in env:
                    problems.add("function_options['environment']", f"without {reserved}", reserved,
                                 "the construct sets it")
        namespace = p["metrics_namespace"]
        if not _NAMESPACE.match(namespace) or namespace.startswith("AWS/"):
            problems.add("metrics_namespace", "1-255 of A-Z a-z 0-9 . _ / # : - and not starting with AWS/",
                         namespace, "pass e.g. 'LmGateway/prod'")
        problems.raise_if_any()

    @staticmethod
    def _validate_api(problems: Problems, p: dict[str, Any]) -> None:
        api, authorizer, api_options = p["api"], p["authorizer"], p["api_options"]
        if api is not None and not isinstance(api, ServerlessApi):
            problems.add("api", "a ServerlessApi", type(api).__name__, "create one with ServerlessApi(...)")
            return
        if api is not None and (authorizer is not None or api_options):
            problems.add("authorizer/api_options", "used only when the construct creates the API", "set with api=",
                         "configure your ServerlessApi directly and pass use_api_authorizer=True to use its "
                         "authorizer")
        if "authorizer" in api_options:
            problems.add("api_options['authorizer']", "passed as authorizer=", "set", "move it to authorizer=")
        if p["use_api_authorizer"]:
            if api is None:
                problems.add("use_api_authorizer", "used with api=", True,
                             "pass authorizer= for the API this construct creates")
            elif api.authorizer is None:
                problems.add("use_api_authorizer", "used with an API that has an authorizer", True,
                             "create the ServerlessApi with authorizer=... or drop use_api_authorizer")
            else:
                authorizer = api.authorizer
        if authorizer is not None:
            if not isinstance(authorizer, Authorizer):
                problems.add("authorizer", "an Authorizer", type(authorizer).__name__, "use the factories")
            if p["public_reason"] is not None:
                problems.add("public_reason", "unset when the routes are authorized", p["public_reason"],
                             "drop it, or drop the authorizer to make the routes public")
        elif p["public_reason"] is not None and len(str(p["public_reason"]).strip()) < 20:
            problems.add("public_reason", "a sentence of at least 20 characters", p["public_reason"],
                         "it becomes the routes' cdk-nag acknowledgement")
        AiGatewayFunction._validate_key_header(problems, p)
        prefix = p["path_prefix"]
        if not isinstance(prefix, str) or not _PREFIX.match(prefix) or "/v1" in f"{prefix}/":
            problems.add("path_prefix", "'' or path segments like '/ai' (no trailing '/', no '/v1')", prefix,
                         "routes are served at <path_prefix>/v1/...")
        api_type = p["api_type"]
        if p["streaming"] and api_type is not ApiType.REST:
            where = "api=" if api is not None else "api_options['api_type']"
            problems.add("streaming", f"used with a REST API ({where} is {api_type.value})", True,
                         "HTTP APIs cannot stream responses: pass a ServerlessApi(api_type=ApiType.REST) as api=, drop "
                         "api_options['api_type'] (streaming then creates a REST API), or drop streaming=True")
        limit = INTEGRATION_TIMEOUT_SECONDS.get(api_type)
        if p["streaming"]:
            limit = defaults.STREAM_INTEGRATION_TIMEOUT_SECONDS
        timeout_s = seconds(p["timeout"])
        if limit is not None and timeout_s is not None and timeout_s > limit:
            problems.add("timeout", f"at most {limit} s, API Gateway's {api_type.value} integration timeout",
                         timeout_s, f"pass e.g. timeout=Duration.seconds({defaults.GATEWAY_TIMEOUT_SECONDS.value}); "
                         "API Gateway would cut the connection before the gateway could answer")

    @staticmethod
    def _validate_key_header(problems: Problems, p: dict[str, Any]) -> None:
        authorized, taken = _api_layer(p["api"], p["api_options"], p["api_type"], p["authorizer"],
                                       p["use_api_authorizer"])
        explicit = p["key_header"]
        reserved = runtime_config.RESERVED_HEADERS
        if explicit is not None:
            if not isinstance(explicit, str) or not _HEADER.match(explicit) or explicit.lower() in reserved:
                problems.add("key_header", f"a header name of letters, digits and - (max 64; not {', '.join(reserved)})",
                             explicit, "pass e.g. 'x-api-key'")
            elif explicit.lower() in taken:
                problems.add("key_header", f"a header the API layer does not use itself ({', '.join(sorted(taken))})",
                             explicit, "the API authorizer (or API Gateway's usage-plan key) reads it; pick another, "
                             "e.g. 'x-lm-key'")
        elif authorized and _key_header(None, authorized, taken) is None:
            problems.add("key_header", "set when the API layer uses both Authorization and x-api-key", "unset",
                         "pass key_header='x-lm-key' and have clients send the virtual key there (OpenAI client: "
                         "default_headers={'x-lm-key': key})")

    @staticmethod
    def _validate_alarms(problems: Problems, p: dict[str, Any], provider_count: int) -> None:
        for prop in ("provider_error_rate", "fallback_rate"):
            value = p[prop]
            if value is not None and (not _positive(value) or value > 100):
                problems.add(f"{prop}_alarm_percent", "a percentage in (0, 100] or None", value, "pass e.g. 5")
        quota = p["quota_rejections"]
        if quota is not None and (isinstance(quota, bool) or not isinstance(quota, int) or quota < 1):
            problems.add("quota_rejections_alarm_threshold", "a whole number >= 1 or None", quota, "pass e.g. 10")
        minimum = p["alarm_min_requests"]
        if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 1:
            problems.add("alarm_min_requests", "a whole number >= 1", minimum, "pass e.g. 20")
        low, high = defaults.LATENCY_ALARM_RANGE_MS
        latency = seconds(p["latency"])
        problems.check_range("latency_alarm_threshold", None if latency is None else latency * 1000, low, high, "ms",
                             "pass e.g. Duration.seconds(10)")
        # The rate and quota alarms read gateway-wide metrics; the latency alarm compares the p99 of each provider
        # (a slow fallback serving a few requests would not move a gateway-wide p99).
        if provider_count > MAX_ALARM_METRICS:
            problems.add("providers", f"at most {MAX_ALARM_METRICS} (the latency alarm takes the p99 of each provider, "
                         f"and a CloudWatch alarm's metric math takes {MAX_ALARM_METRICS} metrics)", provider_count,
                         "split the providers over two gateways")


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------
def estimated_size(text: str) -> int:
    """Bytes of a rendered document once deployed: each token counted at the deploy-time budget."""
    return len(_TOKEN.sub("x" * _TOKEN_BUDGET, text).encode("utf-8"))


def _placeholders(value: Any, key: str = "") -> Any:
    """The document with deploy-time values replaced by values of the right shape, for the runtime parser."""
    if isinstance(value, dict):
        return {k: _placeholders(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_placeholders(v, key) for v in value]
    if isinstance(value, str) and is_token(value):
        return "https://deploy-time.invalid" if key == "base_url" else "deploy-time-value"
    return _plain(value)


def _default_namespace(scope: IConstruct) -> str:
    return "LmGateway/" + re.sub(r"[^A-Za-z0-9._/#:-]", "-", scope.node.path)[:240]


def _fill_sum(using: Mapping[str, Any]) -> str:
    return " + ".join(f"FILL({name}, 0)" for name in using)


def _check_name(problems: Problems, prop: str, name: Any) -> None:
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems.add(prop, "keyed by names of letters, digits and ._:/@+- (max 128, starting alphanumeric)", name,
                     "rename it")


def _positive(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and value > 0


def _non_negative(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and value >= 0


def _authorizer_headers(authorizer: Authorizer) -> set[str]:
    """The request headers (lower-case) an API authorizer reads: the virtual key cannot travel in them."""
    o = authorizer.options
    if authorizer.kind in (AuthorizerKind.IAM, AuthorizerKind.COGNITO):
        return {"authorization"}  # SigV4 signature / the user pool's token
    if authorizer.kind is AuthorizerKind.JWT:
        return {str(o.get("identity_header") or defaults.JWT_IDENTITY_HEADER.value).lower()}
    # lambda_manifest.runtime.authorizer takes Authorization as a bearer token whenever a request carries it (and denies the request
    # unless it is a valid JWT, even with tokens off), and reads x-api-key when its API-key table is on.
    headers = {"authorization", *(str(h).lower() for h in o.get("identity_headers") or [])}
    if o.get("api_key_table"):
        headers.add("x-api-key")
    return headers


def _api_layer(api: Any, api_options: Mapping[str, Any], api_type: Any, authorizer: Any,
               use_api_authorizer: bool) -> tuple[bool, frozenset[str]]:
    """Whether an API authorizer guards the gateway's routes, and the request headers the API layer uses."""
    if authorizer is None and use_api_authorizer and isinstance(api, ServerlessApi):
        authorizer = api.authorizer
    if not isinstance(authorizer, Authorizer):
        return False, frozenset()
    taken = _authorizer_headers(authorizer)
    usage_plans = api.usage_plans if isinstance(api, ServerlessApi) else api_options.get("usage_plans")
    if api_type is ApiType.REST and usage_plans:
        taken.add("x-api-key")  # authorized routes of a REST API with usage plans require API Gateway's API key
    return True, frozenset(taken)


def _key_header(explicit: Any, authorized: bool, taken: frozenset[str]) -> str | None:
    """The header the runtime reads the virtual key from (``auth.key_header``); None: its default pair."""
    if isinstance(explicit, str):
        return explicit.lower()
    if not authorized:
        return None
    return next((h for h in DEFAULT_KEY_HEADERS if h not in taken), None)
