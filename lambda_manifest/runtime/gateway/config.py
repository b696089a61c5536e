"""Gateway configuration: the JSON contract between the ``AiGatewayFunction`` construct and this runtime.

Where it comes from
-------------------
``load_config()`` reads, in this order:

1. env ``LM_GATEWAY_CONFIG``: the JSON document itself (keep it under ~3.5 KB; Lambda's whole env is 4 KB);
2. env ``LM_GATEWAY_CONFIG_FILE``: a path to a JSON file; a relative path is resolved against
   ``LAMBDA_TASK_ROOT`` (the asset root) and then the current directory.

The DynamoDB table name comes separately in env ``LM_GATEWAY_TABLE`` (see ``store.py``).

JSON schema (version 1)
-----------------------
Unknown keys are rejected everywhere (a typo in the generator fails loudly at the first request, with the
JSON path of the offending field). ``?`` marks an optional field; the default follows ``=``.

.. code-block:: text

    {
      "version"?: 1,
      "providers": {                              # >= 1 entry; the key is the provider name
        "<provider>": {
          "type": "openai" | "anthropic" | "bedrock",
          "base_url"?: str,        # openai: REQUIRED, e.g. "https://api.openai.com/v1"; may contain "{model}"
                                   #   (Azure: "https://R.openai.azure.com/openai/deployments/{model}");
                                   #   the adapter POSTs to base_url + "/chat/completions".
                                   # anthropic: = "https://api.anthropic.com" (POSTs to base_url + "/v1/messages").
                                   # bedrock: not allowed.
          "secret_arn"?: str,      # Secrets Manager secret id/ARN holding the provider API key, either the bare
                                   #   key or JSON {"api_key": "..."}. anthropic: REQUIRED; openai: optional
                                   #   (no auth header when absent); bedrock: not allowed (uses the Lambda role).
          "headers"?: {str: str},  # extra static (non-secret) request headers, = {}
          "query"?: {str: str},    # extra query parameters, e.g. {"api-version": "2024-10-21"}, = {}
          "auth_header"?: str,     # openai: = "authorization" (Azure: "api-key"); anthropic: = "x-api-key"
          "auth_scheme"?: str,     # openai: = "Bearer" (Azure: ""); anthropic: = ""
          "anthropic_version"?: str,  # anthropic only, = "2023-06-01"
          "region"?: str,          # bedrock only, = env AWS_REGION
          "timeout_s"?: number,    # per-attempt timeout for this provider's targets, = derived (see routing)
          "max_tokens"?: int,      # max_tokens sent when the request has none (Anthropic/Bedrock need one), = 1024
          "supports_tools"?: bool, # pass tools/tool_choice through, = true
          "supports_response_format"?: bool  # pass response_format through, = true for openai, false otherwise
        }
      },
      "models": {                                 # >= 1 entry; the key is the public model name (alias)
        "<alias>": {
          "targets": [                            # >= 1, in fallback order
            {"provider": "<provider>", "model": str, "weight"?: number > 0, "timeout_s"?: number}
          ],                                      # the leading run of targets that carry "weight" is the
                                                  #   load-balanced first tier (weighted choice among them)
                                                  # per-attempt timeout: target timeout_s, else provider
                                                  #   timeout_s, else (remaining Lambda time -
                                                  #   deadline_margin_ms) / targets left (router.py); always
                                                  #   capped at the remaining time - deadline_margin_ms
          "context_window"?: int,                 # prompt+completion token budget (min over targets), = 8192
          "description"?: str
        }
      },
      "prices"?: {                                # USD per 1M tokens; key "<provider>/<model>" wins over "<model>"
        "<provider>/<model>" | "<model>": {"input": number, "output": number,
                                           "cached_input"?: number,   # prompt-cache reads, = input
                                           "cache_write"?: number}    # prompt-cache writes, = input
      },                                          # a target without a price costs 0 (and the audit says so)
      "tenants"?: {                               # per-tenant limits (per-key limits live on the key item)
        "<tenant>": {"rpm"?: int, "tpd"?: int, "budget_usd"?: number}
      },
      "prompts"?: {
        "<name>": {
          "versions": {                           # keys are positive integers as strings: "1", "2", ...
            "<v>": {
              "model": "<alias>",
              "system"?: str,                     # templates: {var} is substituted, {{ and }} are literal braces
              "user": str,
              "params"?: {"temperature"?, "top_p"?, "max_tokens"?, "stop"?, "response_format"?},
              "schema"?: {...}                    # JSON-schema subset for "variables": type, required,
                                                  #   properties, enum, minLength, maxLength, minimum,
                                                  #   maximum, pattern, items
            }
          },
          "latest"?: int                          # = highest version
        }
      },
      "routing"?: {"retries"?: int = 1, "backoff_base_ms"?: int = 100, "backoff_max_ms"?: int = 2000,
                   "deadline_margin_ms"?: int = 250, "breaker_threshold"?: int = 5,
                   "breaker_cooldown_s"?: number = 30},
      "cache"?: {"enabled"?: bool = true, "ttl_s"?: int = 3600},
      "context"?: {"enabled"?: bool = true, "ttl_s"?: int = 604800, "reserve_output_tokens"?: int = 1024,
                   "summarize_with"?: "<alias>", "summary_max_tokens"?: int = 256,
                   "max_stored_messages"?: int = 200},
      "audit"?: {"log_bodies"?: bool = false, "metrics_namespace"?: str = "LmGateway"},
      "auth"?: {"key_header"?: str},              # the one request header that carries the virtual key
                                                  #   (lower-cased header name). Absent: "Authorization:
                                                  #   Bearer <key>", else "x-api-key: <key>" (Authorization
                                                  #   wins when both are sent). "authorization": only
                                                  #   "Bearer <key>" there; any other header: the bare key.
                                                  #   The construct sets it when an API authorizer owns
                                                  #   Authorization (then "x-api-key") or x-api-key.
      "limits"?: {"max_body_bytes"?: int = 1048576},
      "streaming"?: {"enabled"?: bool = false,    # answer "stream": true (the function runs the streaming
                                                  #   runtime behind a REST API); else such requests get a 400
                     "keepalive_s"?: number = 10},  # an SSE comment after this many silent seconds
      "secrets_ttl_s"?: int = 300,
      "usage_ttl_days"?: int = 400
    }

Why this module is longer than 500 lines: it is the document's schema (above) and its parser, which checks
the fields in the schema's order with one dataclass per section; split, the schema and the code that holds it
would drift apart.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal

from .contract import CONFIG_ENV, CONFIG_FILE_ENV

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any


PROVIDER_TYPES = ("openai", "anthropic", "bedrock")
PROMPT_PARAM_KEYS = ("temperature", "top_p", "max_tokens", "stop", "response_format")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$")
_HEADER_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
# Headers that mean something else to HTTP or to the gateway: never the virtual key's.
RESERVED_HEADERS = ("host", "content-type", "content-length", "x-lm-cache", "x-lm-conversation-id")


class ConfigError(ValueError):
    """The gateway configuration is invalid; the message names the JSON path."""


@dataclass
class ProviderConfig:
    name: str
    type: str
    base_url: str | None = None
    secret_arn: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    auth_header: str = "authorization"
    auth_scheme: str = "Bearer"
    anthropic_version: str = "2023-06-01"
    region: str | None = None
    timeout_s: float | None = None  # None: derived from the remaining time (router.attempt_timeout)
    max_tokens: int = 1024
    supports_tools: bool = True
    supports_response_format: bool = True


@dataclass
class Target:
    provider: str
    model: str
    weight: float | None = None
    timeout_s: float | None = None

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass
class ModelAlias:
    name: str
    targets: tuple[Target, ...]
    context_window: int = 8192
    description: str = ""


@dataclass
class Price:
    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None  # a prompt-cache read; None: the input price
    cache_write: Decimal | None = None  # a prompt-cache write; None: the input price


@dataclass
class PromptVersion:
    version: int
    model: str
    user: str
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    schema: dict[str, Any] | None = None


@dataclass
class Prompt:
    name: str
    versions: dict[int, PromptVersion]
    latest: int


@dataclass
class TenantLimits:
    rpm: int | None = None
    tpd: int | None = None
    budget_usd: Decimal | None = None


@dataclass
class RoutingConfig:
    retries: int = 1
    backoff_base_ms: int = 100
    backoff_max_ms: int = 2000
    deadline_margin_ms: int = 250
    breaker_threshold: int = 5
    breaker_cooldown_s: float = 30.0


@dataclass
class CacheConfig:
    enabled: bool = True
    ttl_s: int = 3600


@dataclass
class ContextConfig:
    enabled: bool = True
    ttl_s: int = 7 * 24 * 3600
    reserve_output_tokens: int = 1024
    summarize_with: str | None = None
    summary_max_tokens: int = 256
    max_stored_messages: int = 200


@dataclass
class AuditConfig:
    log_bodies: bool = False
    metrics_namespace: str = "LmGateway"


@dataclass
class StreamingConfig:
    enabled: bool = False
    keepalive_s: float = 10.0


@dataclass
class AuthConfig:
    key_header: str | None = None  # None: Authorization (Bearer), else x-api-key


@dataclass
class GatewayConfig:
    providers: dict[str, ProviderConfig]
    models: dict[str, ModelAlias]
    prices: dict[str, Price] = field(default_factory=dict)
    tenants: dict[str, TenantLimits] = field(default_factory=dict)
    prompts: dict[str, Prompt] = field(default_factory=dict)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    context: ContextConfig = field(default_factory=ContextConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    streaming: StreamingConfig = field(default_factory=StreamingConfig)
    max_body_bytes: int = 1024 * 1024
    secrets_ttl_s: int = 300
    usage_ttl_days: int = 400

    def price_for(self, target: Target) -> Price | None:
        return self.prices.get(target.label) or self.prices.get(target.model)


# ---------------------------------------------------------------------------------------------------------
# Validation helpers: every error carries the JSON path.


def _obj(value: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected an object, got {type(value).__name__}")
    unknown = sorted(k for k in value if k not in allowed)
    if unknown:
        raise ConfigError(f"{path}: unknown field(s) {', '.join(unknown)} (allowed: {', '.join(allowed)})")
    missing = [k for k in required if k not in value]
    if missing:
        raise ConfigError(f"{path}: missing required field(s) {', '.join(missing)}")
    return value


def _str(value: Any, path: str, *, nonempty: bool = True) -> str:
    if not isinstance(value, str) or (nonempty and not value):
        raise ConfigError(f"{path}: expected a non-empty string")
    return value


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: expected true or false")
    return value


def _int(value: Any, path: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{path}: expected an integer")
    if value < minimum:
        raise ConfigError(f"{path}: must be >= {minimum}")
    return value


def _num(value: Any, path: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{path}: expected a number")
    if value < 0 or (positive and value == 0):
        raise ConfigError(f"{path}: must be {'> 0' if positive else '>= 0'}")
    return float(value)


def _dec(value: Any, path: str) -> Decimal:
    _num(value, path)
    return Decimal(str(value))


def _str_map(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigError(f"{path}: expected an object of string values")
    return dict(value)


def _name(value: str, path: str) -> str:
    if not _NAME_RE.match(value):
        raise ConfigError(f"{path}: invalid name {value!r} (letters, digits and ._:/@+- ; max 128)")
    return value


# ---------------------------------------------------------------------------------------------------------


def _provider(name: str, raw: Any) -> ProviderConfig:
    path = f"providers.{name}"
    d = _obj(
        raw,
        path,
        (
            "type", "base_url", "secret_arn", "headers", "query", "auth_header", "auth_scheme",
            "anthropic_version", "region", "timeout_s", "max_tokens", "supports_tools",
            "supports_response_format",
        ),
        ("type",),
    )  # fmt: skip
    ptype = d["type"]
    if ptype not in PROVIDER_TYPES:
        raise ConfigError(f"{path}.type: must be one of {', '.join(PROVIDER_TYPES)}, got {ptype!r}")
    kw: dict[str, Any] = {"name": name, "type": ptype}
    if ptype == "bedrock":
        for forbidden in ("base_url", "secret_arn", "headers", "query", "auth_header", "auth_scheme"):
            if forbidden in d:
                raise ConfigError(
                    f"{path}.{forbidden}: not allowed for a bedrock provider (it uses the Lambda role)"
                )
        kw["region"] = _str(d["region"], f"{path}.region") if "region" in d else None
        kw["supports_response_format"] = False
    else:
        if "region" in d:
            raise ConfigError(f"{path}.region: only allowed for a bedrock provider")
        if ptype == "openai":
            kw["base_url"] = _str(d.get("base_url"), f"{path}.base_url").rstrip("/")
        else:
            kw["base_url"] = _str(d.get("base_url", "https://api.anthropic.com"), f"{path}.base_url").rstrip(
                "/"
            )
            kw["auth_header"] = "x-api-key"
            kw["auth_scheme"] = ""
            kw["supports_response_format"] = False
            if "secret_arn" not in d:
                raise ConfigError(f"{path}.secret_arn: required for an anthropic provider")
        if not kw["base_url"].startswith(("http://", "https://")):
            raise ConfigError(f"{path}.base_url: must start with http:// or https://")
        if "secret_arn" in d:
            kw["secret_arn"] = _str(d["secret_arn"], f"{path}.secret_arn")
        if "headers" in d:
            kw["headers"] = {k.lower(): v for k, v in _str_map(d["headers"], f"{path}.headers").items()}
        if "query" in d:
            kw["query"] = _str_map(d["query"], f"{path}.query")
        if "auth_header" in d:
            kw["auth_header"] = _str(d["auth_header"], f"{path}.auth_header").lower()
        if "auth_scheme" in d:
            kw["auth_scheme"] = _str(d["auth_scheme"], f"{path}.auth_scheme", nonempty=False)
    if "anthropic_version" in d:
        if ptype != "anthropic":
            raise ConfigError(f"{path}.anthropic_version: only allowed for an anthropic provider")
        kw["anthropic_version"] = _str(d["anthropic_version"], f"{path}.anthropic_version")
    if "timeout_s" in d:
        kw["timeout_s"] = _num(d["timeout_s"], f"{path}.timeout_s", positive=True)
    if "max_tokens" in d:
        kw["max_tokens"] = _int(d["max_tokens"], f"{path}.max_tokens", minimum=1)
    if "supports_tools" in d:
        kw["supports_tools"] = _bool(d["supports_tools"], f"{path}.supports_tools")
    if "supports_response_format" in d:
        kw["supports_response_format"] = _bool(
            d["supports_response_format"], f"{path}.supports_response_format"
        )
    return ProviderConfig(**kw)


def _alias(name: str, raw: Any, providers: dict[str, ProviderConfig]) -> ModelAlias:
    path = f"models.{name}"
    d = _obj(raw, path, ("targets", "context_window", "description"), ("targets",))
    targets_raw = d["targets"]
    if not isinstance(targets_raw, list) or not targets_raw:
        raise ConfigError(f"{path}.targets: expected a non-empty list")
    targets: list[Target] = []
    for i, t in enumerate(targets_raw):
        tp = f"{path}.targets[{i}]"
        td = _obj(t, tp, ("provider", "model", "weight", "timeout_s"), ("provider", "model"))
        prov = _str(td["provider"], f"{tp}.provider")
        if prov not in providers:
            raise ConfigError(
                f"{tp}.provider: unknown provider {prov!r} (known: {', '.join(sorted(providers))})"
            )
        targets.append(
            Target(
                provider=prov,
                model=_str(td["model"], f"{tp}.model"),
                weight=_num(td["weight"], f"{tp}.weight", positive=True) if "weight" in td else None,
                timeout_s=_num(td["timeout_s"], f"{tp}.timeout_s", positive=True)
                if "timeout_s" in td
                else None,
            )
        )
    return ModelAlias(
        name=name,
        targets=tuple(targets),
        context_window=_int(d.get("context_window", 8192), f"{path}.context_window", minimum=256),
        description=_str(d.get("description", ""), f"{path}.description", nonempty=False),
    )


def _prompt(name: str, raw: Any, models: dict[str, ModelAlias]) -> Prompt:
    from .schema import SchemaError, check_schema

    path = f"prompts.{name}"
    d = _obj(raw, path, ("versions", "latest"), ("versions",))
    vraw = d["versions"]
    if not isinstance(vraw, dict) or not vraw:
        raise ConfigError(f"{path}.versions: expected a non-empty object keyed by version number")
    versions: dict[int, PromptVersion] = {}
    for vkey, vbody in vraw.items():
        vp = f"{path}.versions.{vkey}"
        if not (isinstance(vkey, str) and vkey.isdigit() and int(vkey) >= 1):
            raise ConfigError(f"{vp}: version keys must be positive integers")
        vd = _obj(vbody, vp, ("model", "system", "user", "params", "schema"), ("model", "user"))
        model = _str(vd["model"], f"{vp}.model")
        if model not in models:
            raise ConfigError(f"{vp}.model: unknown model alias {model!r}")
        params = _obj(vd.get("params", {}), f"{vp}.params", PROMPT_PARAM_KEYS)
        schema = vd.get("schema")
        if schema is not None:
            try:
                check_schema(schema)
            except SchemaError as exc:
                raise ConfigError(f"{vp}.schema: {exc}") from None
        versions[int(vkey)] = PromptVersion(
            version=int(vkey),
            model=model,
            user=_str(vd["user"], f"{vp}.user"),
            system=_str(vd["system"], f"{vp}.system") if "system" in vd else None,
            params=dict(params),
            schema=schema,
        )
    latest = _int(d.get("latest", max(versions)), f"{path}.latest", minimum=1)
    if latest not in versions:
        raise ConfigError(f"{path}.latest: version {latest} is not defined")
    return Prompt(name=name, versions=versions, latest=latest)


def parse_config(raw: Any) -> GatewayConfig:
    """Validate a decoded JSON document and build the typed configuration."""
    d = _obj(
        raw,
        "$",
        (
            "version", "providers", "models", "prices", "tenants", "prompts", "routing", "cache", "context",
            "audit", "auth", "limits", "secrets_ttl_s", "usage_ttl_days", "streaming",
        ),
        ("providers", "models"),
    )  # fmt: skip
    if d.get("version", 1) != 1:
        raise ConfigError(f"version: unsupported config version {d.get('version')!r} (this runtime reads 1)")
    praw = _obj(
        d["providers"], "providers", tuple(d["providers"]) if isinstance(d["providers"], dict) else ()
    )
    if not praw:
        raise ConfigError("providers: at least one provider is required")
    providers = {_name(n, f"providers.{n}"): _provider(n, p) for n, p in praw.items()}
    mraw = d["models"]
    if not isinstance(mraw, dict) or not mraw:
        raise ConfigError("models: expected a non-empty object keyed by model alias")
    models = {_name(n, f"models.{n}"): _alias(n, m, providers) for n, m in mraw.items()}

    prices: dict[str, Price] = {}
    for key, p in (d.get("prices") or {}).items():
        pd = _obj(p, f"prices.{key}", ("input", "output", "cached_input", "cache_write"), ("input", "output"))
        prices[key] = Price(
            _dec(pd["input"], f"prices.{key}.input"),
            _dec(pd["output"], f"prices.{key}.output"),
            _dec(pd["cached_input"], f"prices.{key}.cached_input") if "cached_input" in pd else None,
            _dec(pd["cache_write"], f"prices.{key}.cache_write") if "cache_write" in pd else None,
        )

    tenants: dict[str, TenantLimits] = {}
    traw = d.get("tenants") or {}
    if not isinstance(traw, dict):
        raise ConfigError("tenants: expected an object")
    for tname, t in traw.items():
        tp = f"tenants.{tname}"
        td = _obj(t, tp, ("rpm", "tpd", "budget_usd"))
        tenants[tname] = TenantLimits(
            rpm=_int(td["rpm"], f"{tp}.rpm", minimum=1) if "rpm" in td else None,
            tpd=_int(td["tpd"], f"{tp}.tpd", minimum=1) if "tpd" in td else None,
            budget_usd=_dec(td["budget_usd"], f"{tp}.budget_usd") if "budget_usd" in td else None,
        )

    prompts_raw = d.get("prompts") or {}
    if not isinstance(prompts_raw, dict):
        raise ConfigError("prompts: expected an object")
    prompts = {_name(n, f"prompts.{n}"): _prompt(n, p, models) for n, p in prompts_raw.items()}

    r = _obj(
        d.get("routing", {}),
        "routing",
        (
            "retries",
            "backoff_base_ms",
            "backoff_max_ms",
            "deadline_margin_ms",
            "breaker_threshold",
            "breaker_cooldown_s",
        ),
    )
    routing = RoutingConfig(
        retries=_int(r.get("retries", 1), "routing.retries"),
        backoff_base_ms=_int(r.get("backoff_base_ms", 100), "routing.backoff_base_ms"),
        backoff_max_ms=_int(r.get("backoff_max_ms", 2000), "routing.backoff_max_ms"),
        deadline_margin_ms=_int(r.get("deadline_margin_ms", 250), "routing.deadline_margin_ms"),
        breaker_threshold=_int(r.get("breaker_threshold", 5), "routing.breaker_threshold", minimum=1),
        breaker_cooldown_s=_num(r.get("breaker_cooldown_s", 30), "routing.breaker_cooldown_s"),
    )
    c = _obj(d.get("cache", {}), "cache", ("enabled", "ttl_s"))
    cache = CacheConfig(
        enabled=_bool(c.get("enabled", True), "cache.enabled"),
        ttl_s=_int(c.get("ttl_s", 3600), "cache.ttl_s", minimum=1),
    )
    x = _obj(
        d.get("context", {}),
        "context",
        (
            "enabled",
            "ttl_s",
            "reserve_output_tokens",
            "summarize_with",
            "summary_max_tokens",
            "max_stored_messages",
        ),
    )
    summarize_with = x.get("summarize_with")
    if summarize_with is not None and summarize_with not in models:
        raise ConfigError(f"context.summarize_with: unknown model alias {summarize_with!r}")
    context = ContextConfig(
        enabled=_bool(x.get("enabled", True), "context.enabled"),
        ttl_s=_int(x.get("ttl_s", 7 * 24 * 3600), "context.ttl_s", minimum=1),
        reserve_output_tokens=_int(x.get("reserve_output_tokens", 1024), "context.reserve_output_tokens"),
        summarize_with=summarize_with,
        summary_max_tokens=_int(x.get("summary_max_tokens", 256), "context.summary_max_tokens", minimum=1),
        max_stored_messages=_int(x.get("max_stored_messages", 200), "context.max_stored_messages", minimum=2),
    )
    a = _obj(d.get("audit", {}), "audit", ("log_bodies", "metrics_namespace"))
    audit = AuditConfig(
        log_bodies=_bool(a.get("log_bodies", False), "audit.log_bodies"),
        metrics_namespace=_str(a.get("metrics_namespace", "LmGateway"), "audit.metrics_namespace"),
    )
    au = _obj(d.get("auth", {}), "auth", ("key_header",))
    key_header = None
    if "key_header" in au:
        key_header = _str(au["key_header"], "auth.key_header").lower()
        if not _HEADER_RE.match(key_header) or key_header in RESERVED_HEADERS:
            raise ConfigError(
                f"auth.key_header: invalid header name {au['key_header']!r} (letters, digits and -, max 64; "
                f"not {', '.join(RESERVED_HEADERS)})"
            )
    lim = _obj(d.get("limits", {}), "limits", ("max_body_bytes",))
    st = _obj(d.get("streaming", {}), "streaming", ("enabled", "keepalive_s"))
    streaming = StreamingConfig(
        enabled=_bool(st.get("enabled", False), "streaming.enabled"),
        keepalive_s=_num(st.get("keepalive_s", 10.0), "streaming.keepalive_s", positive=True),
    )
    return GatewayConfig(
        providers=providers,
        models=models,
        prices=prices,
        tenants=tenants,
        prompts=prompts,
        routing=routing,
        cache=cache,
        context=context,
        audit=audit,
        auth=AuthConfig(key_header=key_header),
        streaming=streaming,
        max_body_bytes=_int(lim.get("max_body_bytes", 1024 * 1024), "limits.max_body_bytes", minimum=1024),
        secrets_ttl_s=_int(d.get("secrets_ttl_s", 300), "secrets_ttl_s"),
        usage_ttl_days=_int(d.get("usage_ttl_days", 400), "usage_ttl_days", minimum=1),
    )


def load_config(
    source: str | dict[str, Any] | None = None, env: dict[str, str] | None = None
) -> GatewayConfig:
    """Load and validate the configuration.

    ``source`` may be a decoded document or a JSON string; when omitted the env vars described in the module
    docstring are read. Raises ``ConfigError`` with the JSON path on any problem.
    """
    if source is None:
        environ = os.environ if env is None else env
        text = environ.get(CONFIG_ENV)
        origin = CONFIG_ENV
        if not text:
            file_name = environ.get(CONFIG_FILE_ENV)
            if not file_name:
                raise ConfigError(f"no configuration: set {CONFIG_ENV} (JSON) or {CONFIG_FILE_ENV} (path)")
            from pathlib import Path

            path = Path(file_name)
            if not path.is_absolute():
                candidates = [Path(environ.get("LAMBDA_TASK_ROOT", ".")) / path, Path.cwd() / path]
                path = next((c for c in candidates if c.is_file()), candidates[0])
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"{CONFIG_FILE_ENV}: cannot read {path}: {exc.strerror}") from None
            origin = str(path)
        source = text
        try:
            source = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{origin}: not valid JSON ({exc})") from None
    elif isinstance(source, str):
        try:
            source = json.loads(source)
        except ValueError as exc:
            raise ConfigError(f"config: not valid JSON ({exc})") from None
    return parse_config(source)
