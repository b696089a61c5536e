"""AiGatewayFunction: an OpenAI-compatible LLM gateway that runs inside Lambda, with its state in DynamoDB.

Why this module is longer than 500 lines: it holds the construct, its props reference (a docstring of about 100
lines) and the rendering and delivery of the configuration document the runtime reads, which belong beside the
construct that renders them. Its props and their checks are in ``_gateway_props``, its metrics, alarms and
dashboard row in ``_gateway_monitoring``, its option types in ``_gateway_options``.
"""

from __future__ import annotations

import json
import re
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

from lambda_manifest import _assets
from lambda_manifest import _defaults as defaults
from lambda_manifest._api_auth import Authorizer
from lambda_manifest._api_props import HttpApiOptions, RestApiOptions
from lambda_manifest._function_props import FunctionOptions
from lambda_manifest._gateway_monitoring import GatewayMonitoring
from lambda_manifest._gateway_options import (
    INFERENCE_PROFILE_RE,
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
from lambda_manifest._gateway_props import HANDLER, GatewayProps
from lambda_manifest._validation import Problems, is_token, seconds
from lambda_manifest.compliance import Pack, acknowledge
from lambda_manifest.data_table import DataTable
from lambda_manifest.http_serverless_api import HttpServerlessApi
from lambda_manifest.observed_function import ObservedFunction
from lambda_manifest.rest_serverless_api import RestServerlessApi
from lambda_manifest.runtime.gateway import config as runtime_config
from lambda_manifest.runtime.gateway import contract
from lambda_manifest.runtime.gateway.router import MIN_ATTEMPT_MS
from lambda_manifest.serverless_api import IServerlessApi
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

# What `python -m lambda_manifest.keys create|list|revoke` needs (keys.py).
KEY_ADMIN_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Scan",
                     "dynamodb:ConditionCheckItem")
# What DynamoDB needs of the caller for a table encrypted with a customer-managed key (reads and writes).
KEY_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*")
_TOKEN = re.compile(r"\$\{Token\[[^\]]+\]\}")
_TOKEN_BUDGET = 128  # characters a deploy-time value (e.g. a secret ARN) is assumed to take once resolved


@jsii.implements(iam.IGrantable)
class AiGatewayFunction(GatewayMonitoring):
    """An LLM gateway in Lambda: one OpenAI-compatible API in front of many providers, with virtual keys,
    quotas, a response cache, cost accounting, prompt endpoints and conversation memory, all in one DynamoDB
    table. It costs nothing while idle.

    Point any OpenAI client at :attr:`url` with a virtual key (``python -m lambda_manifest.keys create``).
    Every default comes from :mod:`lambda_manifest._defaults`; docs/constructs/ai-gateway-function.md lists
    each prop.

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
    key_cache_ttl:
        How long a warm container keeps a valid virtual key's item instead of reading it on every request: a
        revocation or a changed key limit takes effect there up to this long after it is written.
        ``Duration.seconds(0)`` reads the key on every request (revocation at once). At most 5 minutes.
        Default: 10 s.
    usage_retention:
        How long daily and monthly usage records are kept. Default: 400 days.
    metrics_namespace:
        CloudWatch namespace of the runtime's EMF metrics. Default: ``LmGateway/<construct path>``.
    api:
        An existing ``HttpServerlessApi`` or ``RestServerlessApi`` to add the routes to. Default: - a new
        ``HttpServerlessApi`` (a ``RestServerlessApi`` with ``streaming=True``).
    api_options:
        The props of the API this construct creates: ``HttpApiOptions(throttle=..., cors=..., domain=...)``, or
        ``RestApiOptions(...)`` for a REST API. Default: - the gateway's own (description, alarm thresholds).
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
        then a ``RestServerlessApi`` (``HttpApiOptions`` are an error), and ``api=`` must be a
        ``RestServerlessApi``. The routes use ``ResponseTransferMode: STREAM`` and the function runs the stream
        runtime's loop; ordinary requests keep their JSON answers. Default: ``False``.
    timeout:
        Must fit inside API Gateway's integration timeout (30 s HTTP, 29 s REST; 900 s when streaming). Default:
        25 s; 300 s with ``streaming=True``.
    memory_size:
        Default: 512 MB.
    reserved_concurrent_executions:
        Default: - unreserved.
    function_options:
        More ``ObservedFunction`` props: ``FunctionOptions(environment=..., vpc=..., ...)``; the gateway sets the
        handler, code, timeout, memory and the Powertools choice itself. Default: - none.
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
        key_cache_ttl: cdk.Duration | None = None,
        usage_retention: cdk.Duration | None = None,
        metrics_namespace: str | None = None,
        api: IServerlessApi | None = None,
        api_options: HttpApiOptions | RestApiOptions | None = None,
        authorizer: Authorizer | None = None,
        use_api_authorizer: bool = False,
        key_header: str | None = None,
        public_reason: str | None = None,
        path_prefix: str = "",
        streaming: bool = defaults.GATEWAY_STREAMING.value,
        timeout: cdk.Duration | None = None,
        memory_size: int = defaults.GATEWAY_MEMORY_SIZE_MB.value,
        reserved_concurrent_executions: int | None = None,
        function_options: FunctionOptions | None = None,
        backup: bool = defaults.GATEWAY_BACKUP.value,
        alarm_topic: sns.ITopic | None = None,
        provider_error_rate_alarm_percent: float | None = defaults.GATEWAY_PROVIDER_ERROR_RATE_PERCENT.value,
        fallback_rate_alarm_percent: float | None = defaults.GATEWAY_FALLBACK_RATE_PERCENT.value,
        quota_rejections_alarm_threshold: int | None = defaults.GATEWAY_QUOTA_REJECTIONS_THRESHOLD.value,
        latency_alarm_threshold: cdk.Duration | None = None,
        alarm_min_requests: int = defaults.GATEWAY_ALARM_MIN_REQUESTS.value,
        dashboard: bool = defaults.GATEWAY_DASHBOARD.value,
    ) -> None:
        super().__init__(scope, id)
        props = GatewayProps(
            providers=dict(providers or {}), models=dict(models or {}), prompts=dict(prompts or {}),
            prices=dict(prices or {}), track_cost=track_cost, quotas=dict(quotas or {}), context=context,
            cache=cache, routing=routing, audit=audit, max_body_bytes=max_body_bytes,
            secrets_cache_ttl=secrets_cache_ttl, key_cache_ttl=key_cache_ttl, usage_retention=usage_retention,
            metrics_namespace=metrics_namespace or _default_namespace(self), api=api, api_options=api_options,
            authorizer=authorizer, use_api_authorizer=use_api_authorizer, key_header=key_header,
            public_reason=public_reason, path_prefix=path_prefix, streaming=streaming,
            timeout=timeout or cdk.Duration.seconds(defaults.GATEWAY_STREAMING_TIMEOUT_SECONDS.value if streaming
                                                    else defaults.GATEWAY_TIMEOUT_SECONDS.value),
            memory_size=memory_size, reserved_concurrent_executions=reserved_concurrent_executions,
            function_options=function_options, backup=backup, alarm_topic=alarm_topic,
            provider_error_rate_alarm_percent=provider_error_rate_alarm_percent,
            fallback_rate_alarm_percent=fallback_rate_alarm_percent,
            quota_rejections_alarm_threshold=quota_rejections_alarm_threshold,
            latency_alarm_threshold=latency_alarm_threshold or cdk.Duration.seconds(
                defaults.GATEWAY_LATENCY_ALARM_SECONDS.value),
            alarm_min_requests=alarm_min_requests, dashboard=dashboard,
        )
        problems = Problems("AiGatewayFunction", id)
        props.check(problems)
        problems.raise_if_any()
        self._props = props
        self.streaming = streaming
        self.providers = props.providers
        self.models = props.models
        self.prompts = props.prompts
        self.prices = props.prices
        self.quotas = props.quotas
        self.metrics_namespace = props.metrics_namespace
        # The header the virtual key travels in; None: Authorization (Bearer), else x-api-key.
        self.key_header: str | None = props.resolved_key_header()
        self.config: dict[str, Any] = self._render_config(
            track_cost=track_cost, context=context, cache=cache, routing=routing, audit=audit,
            max_body_bytes=max_body_bytes, secrets_cache_ttl=secrets_cache_ttl, key_cache_ttl=key_cache_ttl,
            usage_retention=usage_retention,
        )
        self._validate_with_runtime(id, props.timeout)

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
        options = (function_options or FunctionOptions()).with_defaults(service_name=id)
        self.function = ObservedFunction(
            self,
            "Function",
            **{**options.given(),
               "handler": HANDLER,
               "code": code or _assets.runtime_code("gateway"),
               "description": options.description or f"LLM gateway {self.node.path}: OpenAI-compatible API over "
                                                      f"{', '.join(sorted(self.providers))}",
               "timeout": props.timeout,
               "memory_size": memory_size,
               "reserved_concurrent_executions": reserved_concurrent_executions,
               "powertools": False,
               "alarm_topic": self.alarm_topic,
               "dashboard": dashboard,
               "environment": {**dict(options.environment or {}), contract.TABLE_ENV: self.table.table_name,
                               **config_env}},
        )
        self._grant_runtime_access(shared)

        self.api: IServerlessApi = api or self._create_api(props)
        authorized = authorizer is not None or use_api_authorizer
        reason = None if authorized else (public_reason or defaults.GATEWAY_PUBLIC_REASON.value)
        self.routes = [self._add_route(f"{method} {path_prefix}{path}", reason) for method, path in (*contract.ROUTES, contract.CATCH_ALL_ROUTE)]

        self._create_alarms(
            provider_error_rate=provider_error_rate_alarm_percent, fallback_rate=fallback_rate_alarm_percent,
            quota_rejections=quota_rejections_alarm_threshold, latency=props.latency_alarm_threshold,
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

    def _create_api(self, props: GatewayProps) -> IServerlessApi:
        """The gateway's own API: the kind the options name (REST when streaming), with alarms that follow the
        gateway's latency threshold."""
        latency = props.latency_alarm_threshold
        options = (props.api_options or (RestApiOptions() if props.streaming else HttpApiOptions())).with_defaults(
            description=f"OpenAI-compatible LLM gateway {self.node.path}",
            authorizer=props.authorizer,
            # End-to-end latency is the integration's plus API Gateway's own; 1 s of headroom.
            latency_alarm_threshold=cdk.Duration.seconds(
                min(defaults.LATENCY_ALARM_RANGE_MS[1] // 1000,
                    int(seconds(latency) or 0) + defaults.GATEWAY_API_LATENCY_HEADROOM_SECONDS)),
            integration_latency_alarm_threshold=latency,
            alarm_topic=self.alarm_topic,
            dashboard=props.dashboard,
        )
        if isinstance(options, RestApiOptions):
            return RestServerlessApi(self, "Api", **options.given())
        return HttpServerlessApi(self, "Api", **options.given())

    def _add_route(self, route: str, public_reason: str | None) -> Any:
        if self.streaming:
            assert isinstance(self.api, RestServerlessApi)  # GatewayProps.check: only REST APIs stream
            return self.api.add_route(route, self.function, public_reason=public_reason, stream=True)
        return self.api.add_route(route, self.function, public_reason=public_reason)

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

    # ----------------------------------------------------------------------------------------------
    # Configuration
    # ----------------------------------------------------------------------------------------------
    def _render_config(
        self, *, track_cost: bool, context: ContextOptions | None, cache: CacheOptions | None,
        routing: RoutingOptions | None, audit: AuditOptions | None, max_body_bytes: int | None,
        secrets_cache_ttl: cdk.Duration | None, key_cache_ttl: cdk.Duration | None,
        usage_retention: cdk.Duration | None,
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
        auth: dict[str, Any] = {}
        if self.key_header is not None:
            auth["key_header"] = self.key_header
        key_ttl = seconds(key_cache_ttl)
        if key_ttl is not None and key_ttl != defaults.GATEWAY_KEY_CACHE_TTL_SECONDS.value:
            auth["key_cache_ttl_s"] = int(key_ttl) if key_ttl == int(key_ttl) else key_ttl
        if auth:
            doc["auth"] = auth
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
        directory = _assets.stage_runtime_with("gateway", contract.CONFIG_FILE_NAME, text + "\n")
        self.config_file = directory / contract.CONFIG_FILE_NAME
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
