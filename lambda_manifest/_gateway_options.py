"""Value types for :class:`~lambda_manifest.ai_gateway.AiGatewayFunction` props.

Each type carries what the caller asked for and renders exactly the fragment of the gateway runtime's
configuration JSON it stands for (the contract is documented in ``lambda_manifest/runtime/gateway/config.py``). Only
fields the caller set are rendered, so the runtime's own defaults apply to the rest and the document stays
small enough for an environment variable. The construct validates them, so one ``PropsError`` lists every
problem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_secretsmanager as secretsmanager

from lambda_manifest._validation import Problems, is_token

# The runtime's name rule for providers, model aliases and prompts (config.py ``_NAME_RE``).
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$")
PROVIDER_TYPES = ("openai", "anthropic", "bedrock")
# Bedrock cross-region inference profile ids start with a geography, e.g. "us.anthropic.claude-...".
INFERENCE_PROFILE_RE = re.compile(r"^(us|eu|apac|us-gov|ca|jp|au|global)\.[a-z0-9-]+\.")


def _whole(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int)


def _duration_s(duration: cdk.Duration | None) -> float | None:
    """Seconds, fractions included (``Duration.millis(1500)`` is 1.5; ``to_seconds()`` refuses it)."""
    if duration is None or is_token(duration.to_string()):
        return None
    return float(duration.to_milliseconds()) / 1000


def _compact(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class Provider:
    """A model provider the gateway can route to. Create one with a factory:

    * :meth:`openai_compatible` - any endpoint speaking OpenAI's ``/chat/completions`` (OpenAI, Mistral, Groq,
      Together, vLLM, Ollama, Gemini's OpenAI-compatible endpoint, ...);
    * :meth:`azure_openai` - Azure OpenAI deployments;
    * :meth:`anthropic` - the Anthropic Messages API;
    * :meth:`bedrock` - Amazon Bedrock's Converse API with the function's own role (no secret).

    API keys live in Secrets Manager (the bare key, or JSON ``{"api_key": "..."}``); the gateway reads them at
    run time, caches them per container and never logs them. Only the secret's ARN enters the configuration.
    """

    def __init__(self, *, type: str, secret: secretsmanager.ISecret | None, options: Mapping[str, Any]) -> None:
        self.type = type
        self.secret = secret
        self.options = dict(options)

    @staticmethod
    def openai_compatible(
        *,
        base_url: str,
        secret: secretsmanager.ISecret | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        auth_header: str | None = None,
        auth_scheme: str | None = None,
        timeout: cdk.Duration | None = None,
        max_tokens: int | None = None,
        supports_tools: bool | None = None,
        supports_response_format: bool | None = None,
    ) -> Provider:
        """An OpenAI-compatible endpoint.

        Parameters
        ----------
        base_url:
            e.g. ``"https://api.openai.com/v1"``; the gateway POSTs to ``base_url + "/chat/completions"``. May
            contain ``{model}``.
        secret:
            The API key. Default: - no auth header (a private vLLM or Ollama).
        headers / query:
            Extra static, non-secret request headers and query parameters. Default: - none.
        auth_header / auth_scheme:
            Default: ``authorization`` / ``Bearer``.
        timeout:
            Per-attempt timeout of this provider's targets, capped at the time left. Default: - an equal share of
            the time left: (remaining Lambda time - deadline margin) / targets left to try, so a fallback always
            gets its turn.
        max_tokens:
            Sent when a request names none. Default: 1024 (the runtime's).
        supports_tools / supports_response_format:
            Pass ``tools``/``tool_choice`` and ``response_format`` through. Default: ``True`` / ``True``.
        """
        return Provider(type="openai", secret=secret, options={
            "base_url": base_url, "headers": headers, "query": query, "auth_header": auth_header,
            "auth_scheme": auth_scheme, "timeout": timeout, "max_tokens": max_tokens,
            "supports_tools": supports_tools, "supports_response_format": supports_response_format})

    @staticmethod
    def azure_openai(
        *,
        endpoint: str,
        secret: secretsmanager.ISecret,
        api_version: str,
        timeout: cdk.Duration | None = None,
        max_tokens: int | None = None,
    ) -> Provider:
        """Azure OpenAI: ``endpoint`` is ``https://<resource>.openai.azure.com``; a target's ``model`` is the
        deployment name; the key is sent in the ``api-key`` header."""
        return Provider(type="openai", secret=secret, options={
            "base_url": endpoint.rstrip("/") + "/openai/deployments/{model}", "query": {"api-version": api_version},
            "auth_header": "api-key", "auth_scheme": "", "timeout": timeout, "max_tokens": max_tokens})

    @staticmethod
    def anthropic(
        *,
        secret: secretsmanager.ISecret,
        base_url: str | None = None,
        anthropic_version: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: cdk.Duration | None = None,
        max_tokens: int | None = None,
        supports_tools: bool | None = None,
    ) -> Provider:
        """The Anthropic Messages API.

        Parameters
        ----------
        secret:
            The Anthropic API key. Required.
        base_url:
            Default: ``https://api.anthropic.com``.
        anthropic_version:
            The ``anthropic-version`` header. Default: ``2023-06-01`` (the runtime's).
        """
        return Provider(type="anthropic", secret=secret, options={
            "base_url": base_url, "anthropic_version": anthropic_version, "headers": headers, "timeout": timeout,
            "max_tokens": max_tokens, "supports_tools": supports_tools})

    @staticmethod
    def bedrock(
        *,
        region: str | None = None,
        timeout: cdk.Duration | None = None,
        max_tokens: int | None = None,
        supports_tools: bool | None = None,
    ) -> Provider:
        """Amazon Bedrock (Converse API) with the function's role. ``bedrock:InvokeModel`` is granted on exactly
        the models the aliases name: foundation-model ids (``amazon.nova-lite-v1:0``), cross-region inference
        profile ids (``us.anthropic.claude-...``) or full ARNs.

        Parameters
        ----------
        region:
            Default: - the function's region.
        """
        return Provider(type="bedrock", secret=None, options={
            "region": region, "timeout": timeout, "max_tokens": max_tokens, "supports_tools": supports_tools})

    def to_config(self) -> dict[str, Any]:
        o = self.options
        timeout = _duration_s(o.get("timeout"))
        doc: dict[str, Any] = {"type": self.type}
        doc.update(_compact({
            "base_url": o.get("base_url"),
            "secret_arn": self.secret.secret_arn if self.secret is not None else None,
            "headers": dict(o["headers"]) if o.get("headers") else None,
            "query": dict(o["query"]) if o.get("query") else None,
            "auth_header": o.get("auth_header"),
            "auth_scheme": o.get("auth_scheme"),
            "anthropic_version": o.get("anthropic_version"),
            "region": o.get("region"),
            "timeout_s": timeout,
            "max_tokens": o.get("max_tokens"),
            "supports_tools": o.get("supports_tools"),
            "supports_response_format": o.get("supports_response_format"),
        }))
        return doc

    @property
    def timeout_seconds(self) -> float | None:
        return _duration_s(self.options.get("timeout"))

    def check(self, problems: Problems, name: str) -> None:
        prop = f"providers[{name!r}]"
        o = self.options
        if self.type not in PROVIDER_TYPES:
            problems.add(f"{prop}", "made by Provider.openai_compatible/azure_openai/anthropic/bedrock", self.type,
                         "use one of the factories")
        base_url = o.get("base_url")
        secure = isinstance(base_url, str) and base_url.startswith(
            ("https://", "http://localhost", "http://127.0.0.1"))
        if base_url is not None and not is_token(base_url) and not secure:
            problems.add(f"{prop}.base_url", "an https:// URL", base_url,
                         "provider keys and prompts must travel over TLS (http:// is accepted for localhost only)")
        if self.type == "anthropic" and self.secret is None:
            problems.add(f"{prop}.secret", "a Secrets Manager secret holding the Anthropic API key", None,
                         "pass secret=secretsmanager.Secret.from_secret_name_v2(...)")
        if self.secret is not None and not hasattr(self.secret, "secret_arn"):
            problems.add(f"{prop}.secret", "an aws_secretsmanager.ISecret", type(self.secret).__name__,
                         "pass a Secret or Secret.from_secret_*(...); never the key itself")
        for key in ("headers", "query"):
            values = o.get(key) or {}
            if not isinstance(values, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                          for k, v in values.items()):
                problems.add(f"{prop}.{key}", "a dict of strings", values, "pass e.g. {'x-team': 'search'}")
                continue
            for header in values:
                if key == "headers" and header.lower() in ("authorization", "x-api-key", "api-key"):
                    problems.add(f"{prop}.headers", "non-secret headers", header,
                                 "credentials belong in the provider's secret, never in the configuration")
        timeout = self.timeout_seconds
        if timeout is not None and timeout <= 0:
            problems.add(f"{prop}.timeout", "a positive duration", timeout, "pass e.g. Duration.seconds(20)")
        max_tokens = o.get("max_tokens")
        if max_tokens is not None and (not _whole(max_tokens) or max_tokens < 1):
            problems.add(f"{prop}.max_tokens", "a whole number >= 1", max_tokens, "pass e.g. max_tokens=1024")


@dataclass(frozen=True, kw_only=True)
class Target:
    """One place a model alias can be served from: a provider and that provider's model id.

    Parameters
    ----------
    provider:
        A key of ``providers``.
    model:
        The provider's model id (OpenAI ``gpt-4o-mini``, Bedrock ``amazon.nova-lite-v1:0``, an Azure
        deployment name, ...).
    weight:
        Load-balancing weight (> 0). The leading run of targets that carry a weight form the first tier, chosen
        by weight; the remaining targets are fallbacks in order. Default: - no weight (plain fallback order).
    timeout:
        Per-attempt timeout for this target. Default: - the provider's, else an equal share of the time left
        ((remaining Lambda time - deadline margin) / targets left to try).
    """

    provider: str
    model: str
    weight: float | None = None
    timeout: cdk.Duration | None = None

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"

    def to_config(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model,
                **_compact({"weight": self.weight, "timeout_s": _duration_s(self.timeout)})}


@dataclass(frozen=True, kw_only=True)
class ModelAlias:
    """A public model name clients send as ``model``, mapped to targets in fallback order.

    Parameters
    ----------
    targets:
        At least one ``Target``; the gateway falls back to the next on a timeout, connection error, 429 or 5xx.
    context_window:
        Prompt + completion token budget used to trim conversations (the smallest of the targets'). Default:
        8192 (the runtime's).
    description:
        Shown by ``GET /v1/models``. Default: - none.
    """

    targets: Sequence[Target]
    context_window: int | None = None
    description: str | None = None

    def to_config(self) -> dict[str, Any]:
        return {"targets": [t.to_config() for t in self.targets],
                **_compact({"context_window": self.context_window, "description": self.description})}


@dataclass(frozen=True, kw_only=True)
class PromptTemplate:
    """One version of a prompt template, served at ``POST /v1/prompts/{name}`` (latest) and
    ``POST /v1/prompts/{name}/versions/{v}``. Callers send ``{"variables": {...}}``.

    Parameters
    ----------
    model:
        The model alias that answers it (a key of ``models``).
    user:
        The user message; ``{variable}`` is substituted, ``{{``/``}}`` are literal braces.
    system:
        The system message, same syntax. Default: - none.
    temperature / top_p / max_tokens / stop / response_format:
        Default request parameters (a caller may override them). Default: - the provider's.
    variables_schema:
        A JSON-schema subset the variables must match (type, required, properties, additionalProperties, enum,
        minLength, maxLength, minimum, maximum, pattern, items). Missing or invalid variables are a 400 naming
        them. Default: - only the placeholders are required.
    """

    model: str
    user: str
    system: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: Sequence[str] | None = None
    response_format: Mapping[str, Any] | None = None
    variables_schema: Mapping[str, Any] | None = None

    def to_config(self) -> dict[str, Any]:
        params = _compact({
            "temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens,
            "stop": list(self.stop) if self.stop is not None else None,
            "response_format": dict(self.response_format) if self.response_format is not None else None,
        })
        return {"model": self.model, "user": self.user, **_compact({
            "system": self.system, "params": params or None,
            "schema": _plain(self.variables_schema) if self.variables_schema is not None else None})}


@dataclass(frozen=True, kw_only=True)
class Prompt:
    """A prompt with several versions: ``Prompt(versions={1: PromptTemplate(...), 2: ...}, latest=1)``.

    Parameters
    ----------
    versions:
        Version number (>= 1) to template. Published versions should never change: clients pin them.
    latest:
        The version ``POST /v1/prompts/{name}`` serves. Default: - the highest.
    """

    versions: Mapping[int, PromptTemplate]
    latest: int | None = None

    def to_config(self) -> dict[str, Any]:
        return {"versions": {str(v): t.to_config() for v, t in sorted(self.versions.items())},
                **_compact({"latest": self.latest})}


@dataclass(frozen=True)
class Price:
    """USD per million tokens, e.g. ``Price(input=3, output=15, cached_input=0.30, cache_write=3.75)``.

    Parameters
    ----------
    input / output:
        Prompt and completion tokens.
    cached_input:
        Prompt tokens read from the provider's prompt cache (OpenAI ``cached_tokens``, Anthropic
        ``cache_read_input_tokens``, Bedrock cache reads). Default: - the input price.
    cache_write:
        Prompt tokens written to the provider's prompt cache (Anthropic ``cache_creation_input_tokens``,
        Bedrock cache writes). Default: - the input price.
    """

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None

    def to_config(self) -> dict[str, Any]:
        return {"input": self.input, "output": self.output,
                **_compact({"cached_input": self.cached_input, "cache_write": self.cache_write})}


@dataclass(frozen=True, kw_only=True)
class TenantQuota:
    """Limits for every key of one tenant together, enforced atomically in DynamoDB (per-key limits are set
    with ``python -m lambda_manifest.keys create --rpm/--tpd/--budget-usd``).

    Parameters
    ----------
    rpm:
        Requests per minute. Default: - unlimited.
    tpd:
        Prompt + completion tokens per UTC day. Default: - unlimited.
    budget_usd:
        Spend per calendar month (UTC), from the ``prices``. Default: - unlimited.
    """

    rpm: int | None = None
    tpd: int | None = None
    budget_usd: float | None = None

    def to_config(self) -> dict[str, Any]:
        return _compact({"rpm": self.rpm, "tpd": self.tpd, "budget_usd": self.budget_usd})


@dataclass(frozen=True, kw_only=True)
class ContextOptions:
    """Conversation context: a request with ``conversation_id`` gets its stored history prepended, trimmed to the
    alias's ``context_window`` (system message kept, oldest turns dropped first).

    Parameters
    ----------
    enabled:
        Default: ``True``.
    ttl:
        How long an idle conversation is kept. Default: 7 days.
    reserve_output_tokens:
        Tokens kept free for the answer when the request names no ``max_tokens``. Default: 1024.
    summarize_with:
        A model alias that summarizes dropped turns. Default: - dropped turns are forgotten.
    summary_max_tokens:
        Default: 256.
    max_stored_messages:
        Default: 200.
    """

    enabled: bool = True
    ttl: cdk.Duration | None = None
    reserve_output_tokens: int | None = None
    summarize_with: str | None = None
    summary_max_tokens: int | None = None
    max_stored_messages: int | None = None

    def to_config(self) -> dict[str, Any]:
        ttl = _duration_s(self.ttl)
        return _compact({
            "enabled": None if self.enabled else False, "ttl_s": int(ttl) if ttl is not None else None,
            "reserve_output_tokens": self.reserve_output_tokens, "summarize_with": self.summarize_with,
            "summary_max_tokens": self.summary_max_tokens, "max_stored_messages": self.max_stored_messages})


@dataclass(frozen=True, kw_only=True)
class CacheOptions:
    """The exact-match response cache (DynamoDB with TTL), used for deterministic requests (temperature 0) or
    keys created with ``--cache``; a hit carries ``x-lm-cache: hit``.

    Parameters
    ----------
    enabled:
        Default: ``True``.
    ttl:
        Default: 1 hour.
    """

    enabled: bool = True
    ttl: cdk.Duration | None = None

    def to_config(self) -> dict[str, Any]:
        ttl = _duration_s(self.ttl)
        return _compact({"enabled": None if self.enabled else False,
                         "ttl_s": int(ttl) if ttl is not None else None})


@dataclass(frozen=True, kw_only=True)
class RoutingOptions:
    """Retries, backoff and the per-container circuit breaker.

    Parameters
    ----------
    retries:
        Retries of the same target before falling back. Default: 1.
    backoff_base / backoff_max:
        Exponential backoff with jitter, bounded by the Lambda's remaining time. Default: 100 ms / 2 s.
    deadline_margin:
        Time kept free to answer before the function times out; attempts share the rest. Default: 250 ms.
    breaker_threshold:
        Consecutive failures that open a target's circuit. Default: 5.
    breaker_cooldown:
        How long an open circuit skips the target. Default: 30 s.
    """

    retries: int | None = None
    backoff_base: cdk.Duration | None = None
    backoff_max: cdk.Duration | None = None
    deadline_margin: cdk.Duration | None = None
    breaker_threshold: int | None = None
    breaker_cooldown: cdk.Duration | None = None

    def to_config(self) -> dict[str, Any]:
        def ms(d: cdk.Duration | None) -> int | None:
            return None if d is None or is_token(d.to_string()) else int(d.to_milliseconds())

        return _compact({
            "retries": self.retries, "backoff_base_ms": ms(self.backoff_base), "backoff_max_ms": ms(self.backoff_max),
            "deadline_margin_ms": ms(self.deadline_margin), "breaker_threshold": self.breaker_threshold,
            "breaker_cooldown_s": _duration_s(self.breaker_cooldown)})


@dataclass(frozen=True, kw_only=True)
class AuditOptions:
    """The per-call audit line (request id, tenant, key id, alias, provider, model, latency, tokens, cost, cache,
    fallback path, status) is always written.

    Parameters
    ----------
    log_bodies:
        Also log prompt and completion bodies, with e-mail addresses, phone numbers and secrets redacted.
        Default: ``False``.
    """

    log_bodies: bool = False


def _plain(value: Any) -> Any:
    """A JSON-ready copy of nested mappings and sequences (schemas are often built from tuples)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
