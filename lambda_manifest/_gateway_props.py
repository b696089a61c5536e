"""The props of an AiGatewayFunction, resolved and checked before anything is built.

``GatewayProps`` carries every prop with its default applied (from :mod:`lambda_manifest._defaults`) and the
API the routes go to: an API given as ``api=``, or the kind and options of the one the gateway creates.
``check`` collects every problem into one ``PropsError``; the gateway runtime's own configuration parser then
checks the rendered document (``AiGatewayFunction._validate_with_runtime``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_sns as sns

from lambda_manifest import _defaults as defaults
from lambda_manifest._api_auth import Authorizer
from lambda_manifest._api_options import ApiType
from lambda_manifest._api_props import HttpApiOptions, RestApiOptions, check_api_choice
from lambda_manifest._function_props import FunctionOptions, check_owned_options, function_options
from lambda_manifest._gateway_options import (
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
)
from lambda_manifest._validation import Problems, seconds
from lambda_manifest.runtime.gateway import config as runtime_config
from lambda_manifest.runtime.gateway import contract
from lambda_manifest.serverless_api import IServerlessApi

HANDLER = "lambda_manifest.runtime.gateway.handler.main"
# CloudWatch: an alarm's metric math may reference at most 10 metrics. Only the latency alarm (one p99 per
# provider) still takes one metric per provider; the rate alarms use the runtime's gateway-wide metrics.
MAX_ALARM_METRICS = 10
# Where the runtime looks for the virtual key without an API authorizer (gateway.virtual_key), in order.
DEFAULT_KEY_HEADERS = ("authorization", "x-api-key")
_HEADER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
_PREFIX = re.compile(r"^(/[A-Za-z0-9._~-]+)*$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9._/#:-]{1,255}$")


@dataclass(frozen=True, kw_only=True)
class GatewayProps:
    """Resolved AiGatewayFunction props: what its builders read."""

    providers: dict[str, Provider]
    models: dict[str, ModelAlias]
    prompts: dict[str, PromptTemplate | Prompt]
    prices: dict[str, Price]
    track_cost: bool
    quotas: dict[str, TenantQuota]
    context: ContextOptions | None
    cache: CacheOptions | None
    routing: RoutingOptions | None
    audit: AuditOptions | None
    max_body_bytes: int | None
    secrets_cache_ttl: cdk.Duration | None
    key_cache_ttl: cdk.Duration | None
    usage_retention: cdk.Duration | None
    metrics_namespace: str
    api: IServerlessApi | None
    #: The options of the API the gateway creates (``api`` is None): RestApiOptions makes a REST API.
    api_options: HttpApiOptions | RestApiOptions | None
    authorizer: Authorizer | None
    use_api_authorizer: bool
    key_header: str | None
    public_reason: str | None
    path_prefix: str
    streaming: bool
    timeout: cdk.Duration
    memory_size: int
    reserved_concurrent_executions: int | None
    function_options: FunctionOptions | None
    backup: bool
    alarm_topic: sns.ITopic | None
    provider_error_rate_alarm_percent: float | None
    fallback_rate_alarm_percent: float | None
    quota_rejections_alarm_threshold: int | None
    latency_alarm_threshold: cdk.Duration
    alarm_min_requests: int
    dashboard: bool

    @property
    def api_type(self) -> ApiType:
        """The kind of API the routes go to."""
        if self.api is not None:
            return self.api.api_type
        if isinstance(self.api_options, RestApiOptions) or (self.api_options is None and self.streaming):
            return ApiType.REST  # only REST APIs stream
        return ApiType.HTTP

    @property
    def integration_timeout_seconds(self) -> int:
        if self.api is not None:
            return self.api.integration_timeout_seconds
        return defaults.REST_INTEGRATION_TIMEOUT_SECONDS if self.api_type is ApiType.REST \
            else defaults.HTTP_INTEGRATION_TIMEOUT_SECONDS

    def api_layer(self) -> tuple[bool, frozenset[str]]:
        """Whether an API authorizer guards the gateway's routes, and the request headers the API layer uses."""
        authorizer = self.authorizer
        if authorizer is None and self.use_api_authorizer and self.api is not None:
            authorizer = self.api.authorizer
        if not isinstance(authorizer, Authorizer):
            return False, frozenset()
        taken = set(authorizer.headers_read())
        if self.api is not None:
            api_key = self.api.api_key_required
        else:
            api_key = isinstance(self.api_options, RestApiOptions) and bool(self.api_options.usage_plans)
        if api_key:
            taken.add("x-api-key")  # authorized routes of a REST API with usage plans require API Gateway's API key
        return True, frozenset(taken)

    def resolved_key_header(self) -> str | None:
        """The header the runtime reads the virtual key from (``auth.key_header``); None: its default pair."""
        if isinstance(self.key_header, str):
            return self.key_header.lower()
        authorized, taken = self.api_layer()
        if not authorized:
            return None
        return next((h for h in DEFAULT_KEY_HEADERS if h not in taken), None)

    def check(self, problems: Problems) -> None:
        """Add every problem with these props."""
        providers, models = self.providers, self.models
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
        for name, prompt in self.prompts.items():
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
        prices = self.prices
        if self.track_cost:
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
        for tenant, quota in self.quotas.items():
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
            if quota.budget_usd is not None and not self.track_cost:
                problems.add(f"quotas[{tenant!r}].budget_usd", "used with track_cost=True", quota.budget_usd,
                             "a budget needs prices; every call costs 0 without them")
        context = self.context
        if context is not None and context.summarize_with is not None and context.summarize_with not in models:
            problems.add("context.summarize_with", f"a known model alias ({sorted(models)})", context.summarize_with,
                         "add the alias to models= or fix the name")
        key_ttl = self.key_cache_ttl
        if key_ttl is not None:
            value = seconds(key_ttl) if isinstance(key_ttl, cdk.Duration) else None
            if value is None or not 0 <= value <= defaults.GATEWAY_MAX_KEY_CACHE_TTL_SECONDS:
                problems.add("key_cache_ttl", "a Duration from 0 to 5 minutes", key_ttl,
                             "pass e.g. cdk.Duration.seconds(10), or cdk.Duration.seconds(0) to read the key on "
                             "every request")
        max_body = self.max_body_bytes
        if max_body is not None and (isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1024):
            problems.add("max_body_bytes", "a whole number >= 1024", max_body, "pass e.g. 1_048_576")
        self._check_api(problems)
        self._check_alarms(problems, len(providers))
        options = function_options(problems, "function_options", self.function_options) or FunctionOptions()
        check_owned_options(
            problems, options, construct="AiGatewayFunction",
            fixed={"handler": "the gateway's handler is fixed", "code": "the gateway's code is the library's",
                   "powertools": "the gateway is stdlib + boto3 only"},
            own=("timeout", "memory_size", "reserved_concurrent_executions", "alarm_topic", "dashboard"),
            reserved_env=(contract.CONFIG_ENV, contract.CONFIG_FILE_ENV, contract.TABLE_ENV))
        namespace = self.metrics_namespace
        if not _NAMESPACE.match(namespace) or namespace.startswith("AWS/"):
            problems.add("metrics_namespace", "1-255 of A-Z a-z 0-9 . _ / # : - and not starting with AWS/",
                         namespace, "pass e.g. 'LmGateway/prod'")

    def _check_api(self, problems: Problems) -> None:
        api, authorizer = self.api, self.authorizer
        if not check_api_choice(
                problems, api, self.api_options, authorizer, options_example="HttpApiOptions(throttle=Throttle(50, 100))",
                api_fix="configure your API directly and pass use_api_authorizer=True to use its authorizer"):
            return
        if self.use_api_authorizer:
            if api is None:
                problems.add("use_api_authorizer", "used with api=", True,
                             "pass authorizer= for the API this construct creates")
            elif api.authorizer is None:
                problems.add("use_api_authorizer", "used with an API that has an authorizer", True,
                             "create the API with authorizer=... or drop use_api_authorizer")
            else:
                authorizer = api.authorizer
        if authorizer is not None:
            if not isinstance(authorizer, Authorizer):
                problems.add("authorizer", "an Authorizer", type(authorizer).__name__, "use the factories")
            if self.public_reason is not None:
                problems.add("public_reason", "unset when the routes are authorized", self.public_reason,
                             "drop it, or drop the authorizer to make the routes public")
        elif self.public_reason is not None and len(str(self.public_reason).strip()) < 20:
            problems.add("public_reason", "a sentence of at least 20 characters", self.public_reason,
                         "it becomes the routes' cdk-nag acknowledgement")
        self._check_key_header(problems)
        prefix = self.path_prefix
        if not isinstance(prefix, str) or not _PREFIX.match(prefix) or "/v1" in f"{prefix}/":
            problems.add("path_prefix", "'' or path segments like '/ai' (no trailing '/', no '/v1')", prefix,
                         "routes are served at <path_prefix>/v1/...")
        api_type = self.api_type
        if self.streaming and api_type is not ApiType.REST:
            where = "api=" if api is not None else "api_options="
            problems.add("streaming", f"used with a REST API ({where} is {api_type.value})", True,
                         "HTTP APIs cannot stream responses: pass a RestServerlessApi as api=, RestApiOptions as "
                         "api_options= (or none: streaming then creates a REST API), or drop streaming=True")
        limit = defaults.STREAM_INTEGRATION_TIMEOUT_SECONDS if self.streaming else self.integration_timeout_seconds
        timeout_s = seconds(self.timeout)
        if timeout_s is not None and timeout_s > limit:
            problems.add("timeout", f"at most {limit} s, API Gateway's {api_type.value} integration timeout",
                         timeout_s, f"pass e.g. timeout=Duration.seconds({defaults.GATEWAY_TIMEOUT_SECONDS.value}); "
                         "API Gateway would cut the connection before the gateway could answer")

    def _check_key_header(self, problems: Problems) -> None:
        authorized, taken = self.api_layer()
        explicit = self.key_header
        reserved = runtime_config.RESERVED_HEADERS
        if explicit is not None:
            if not isinstance(explicit, str) or not _HEADER.match(explicit) or explicit.lower() in reserved:
                problems.add("key_header", f"a header name of letters, digits and - (max 64; not {', '.join(reserved)})",
                             explicit, "pass e.g. 'x-api-key'")
            elif explicit.lower() in taken:
                problems.add("key_header", f"a header the API layer does not use itself ({', '.join(sorted(taken))})",
                             explicit, "the API authorizer (or API Gateway's usage-plan key) reads it; pick another, "
                             "e.g. 'x-lm-key'")
        elif authorized and self.resolved_key_header() is None:
            problems.add("key_header", "set when the API layer uses both Authorization and x-api-key", "unset",
                         "pass key_header='x-lm-key' and have clients send the virtual key there (OpenAI client: "
                         "default_headers={'x-lm-key': key})")

    def _check_alarms(self, problems: Problems, provider_count: int) -> None:
        for prop in ("provider_error_rate_alarm_percent", "fallback_rate_alarm_percent"):
            value = getattr(self, prop)
            if value is not None and (not _positive(value) or value > 100):
                problems.add(prop, "a percentage in (0, 100] or None", value, "pass e.g. 5")
        quota = self.quota_rejections_alarm_threshold
        if quota is not None and (isinstance(quota, bool) or not isinstance(quota, int) or quota < 1):
            problems.add("quota_rejections_alarm_threshold", "a whole number >= 1 or None", quota, "pass e.g. 10")
        minimum = self.alarm_min_requests
        if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 1:
            problems.add("alarm_min_requests", "a whole number >= 1", minimum, "pass e.g. 20")
        low, high = defaults.LATENCY_ALARM_RANGE_MS
        latency = seconds(self.latency_alarm_threshold)
        problems.check_range("latency_alarm_threshold", None if latency is None else latency * 1000, low, high, "ms",
                             "pass e.g. Duration.seconds(10)")
        # The rate and quota alarms read gateway-wide metrics; the latency alarm compares the p99 of each provider
        # (a slow fallback serving a few requests would not move a gateway-wide p99).
        if provider_count > MAX_ALARM_METRICS:
            problems.add("providers", f"at most {MAX_ALARM_METRICS} (the latency alarm takes the p99 of each provider, "
                         f"and a CloudWatch alarm's metric math takes {MAX_ALARM_METRICS} metrics)", provider_count,
                         "split the providers over two gateways")


def _check_name(problems: Problems, prop: str, name: Any) -> None:
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems.add(prop, "keyed by names of letters, digits and ._:/@+- (max 128, starting alphanumeric)", name,
                     "rename it")


def _positive(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and value > 0


def _non_negative(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and value >= 0
