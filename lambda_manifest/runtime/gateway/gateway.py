"""HTTP layer of the gateway: API Gateway HTTP API (payload 2.0) event -> route -> OpenAI-style response.

Routes (a stage prefix before ``/v1/`` is ignored):

=======  ====================================  ==================================================
method   path                                  what
=======  ====================================  ==================================================
POST     /v1/chat/completions                  OpenAI chat completion (n=1, no streaming)
GET      /v1/models                            aliases this key may use
GET      /v1/usage[?date=YYYY-MM-DD]           this key's usage for a UTC day (default today)
POST     /v1/prompts/{name}                    render + complete the latest version of a prompt
POST     /v1/prompts/{name}/versions/{v}       ... a given version
GET      /v1/conversations/{id}                stored history of this tenant's conversation
DELETE   /v1/conversations/{id}                delete it
=======  ====================================  ==================================================

Every error is ``{"error": {"message", "type", "code", "param"}}``. Authentication is checked before any
other problem with the request is reported (a malformed body from a caller without a valid key is a 401).

Request headers: the virtual key (required; see ``virtual_key``: ``authorization: Bearer <key>`` or
``x-api-key: <key>``, or only the header named by the config's ``auth.key_header``), ``x-lm-conversation-id``
(or body ``conversation_id``), ``x-lm-cache: bypass`` (skip the response cache for this request).
Response headers: ``x-lm-request-id``, ``x-lm-cache: hit|miss``, ``x-lm-provider``, ``x-lm-target-model``,
``x-lm-usage-estimated: true`` (provider sent no usage), ``x-lm-prompt: name@version``,
``x-lm-conversation-id``, ``retry-after`` (429), ``allow`` (405).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal

from . import accounting, context, prompts, runtime
from .config import GatewayConfig, ModelAlias
from .errors import GatewayError, bad_request
from .providers import OPENAI_PASSTHROUGH, ChatRequest
from .redact import redact, redact_any
from .router import Attempt, RoutingFailed, route
from .store import Limits, QuotaExceeded, Store, UsageDelta, day_id

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any

ROLES = ("system", "developer", "user", "assistant", "tool")
CACHE_PARAMS = (
    "temperature", "top_p", "max_tokens", "stop", "response_format", "tools", "tool_choice", *OPENAI_PASSTHROUGH,
)  # fmt: skip
PROMPT_BODY_KEYS = (
    "variables",
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "user",
    "response_format",
    "conversation_id",
)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_JSON_HEADERS = {"content-type": "application/json"}
DEFAULT_REMAINING_MS = 30_000


# ---------------------------------------------------------------------------------------------------------
# Event parsing


@dataclass
class Http:
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    body: bytes
    request_id: str
    too_large: bool = False


def parse_event(event: Any, max_body_bytes: int, request_id: str) -> Http:
    if not isinstance(event, dict):
        raise bad_request("malformed event: expected an object", "malformed_event")
    rc: dict[str, Any] = event["requestContext"] if isinstance(event.get("requestContext"), dict) else {}
    http: dict[str, Any] = rc["http"] if isinstance(rc.get("http"), dict) else {}
    method = http.get("method") or event.get("httpMethod")
    path = event.get("rawPath") or http.get("path") or event.get("path")
    if not isinstance(method, str) or not isinstance(path, str) or not method or not path:
        raise bad_request("malformed event: no method or path", "malformed_event")
    raw_headers = event.get("headers") or {}
    if not isinstance(raw_headers, dict):
        raise bad_request("malformed event: headers must be an object", "malformed_event")
    headers = {str(k).lower(): str(v) for k, v in raw_headers.items() if v is not None}
    query: dict[str, str] = {}
    qsp = event.get("queryStringParameters")
    if isinstance(qsp, dict):
        query = {str(k): str(v) for k, v in qsp.items() if v is not None}
    elif isinstance(event.get("rawQueryString"), str) and event["rawQueryString"]:
        from urllib.parse import parse_qsl

        query = dict(parse_qsl(event["rawQueryString"]))
    body_raw = event.get("body")
    body = b""
    too_large = False
    if body_raw is not None:
        if not isinstance(body_raw, str):
            raise bad_request("malformed event: body must be a string", "malformed_event")
        if len(body_raw) > max_body_bytes * 4 // 3 + 4:
            too_large = True
        elif event.get("isBase64Encoded") is True:
            try:
                body = base64.b64decode(body_raw, validate=True)
            except ValueError:
                raise bad_request("malformed event: body is not valid base64", "malformed_event") from None
        else:
            body = body_raw.encode("utf-8", "surrogatepass")
        if len(body) > max_body_bytes:
            too_large, body = True, b""
    rid = rc.get("requestId") if isinstance(rc.get("requestId"), str) else None
    return Http(
        method.upper(), path, headers, query, body, request_id or rid or os.urandom(16).hex(), too_large
    )


def normalize_path(path: str) -> str:
    i = path.find("/v1/")
    p = path[i:] if i >= 0 else path
    return p.rstrip("/") or "/"


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {**_JSON_HEADERS, **(headers or {})},
        "body": json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str),
        "isBase64Encoded": False,
    }


def error_response(exc: GatewayError, request_id: str) -> dict[str, Any]:
    return json_response(exc.status, exc.body(), {**exc.headers, "x-lm-request-id": request_id})


# ---------------------------------------------------------------------------------------------------------
# Request validation


def decode_json_body(http: Http, cfg: GatewayConfig) -> dict[str, Any]:
    if http.too_large:
        raise GatewayError(413, f"request body exceeds {cfg.max_body_bytes} bytes", "request_too_large")
    if not http.body:
        raise bad_request("request body is required (JSON object)", "invalid_json")
    try:
        doc = json.loads(http.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"request body is not valid JSON: {type(exc).__name__}", "invalid_json") from None
    if not isinstance(doc, dict):
        raise bad_request("request body must be a JSON object", "invalid_json")
    return doc


def _num(doc: dict[str, Any], name: str, lo: float, hi: float) -> float | int | None:
    v = doc.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not (lo <= v <= hi):
        raise bad_request(f"{name} must be a number between {lo:g} and {hi:g}", "invalid_parameter", name)
    return v


def _int(doc: dict[str, Any], name: str, lo: int, hi: int) -> int | None:
    v = doc.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not (lo <= v <= hi):
        raise bad_request(f"{name} must be an integer between {lo} and {hi}", "invalid_parameter", name)
    return v


def validate_params(doc: dict[str, Any]) -> dict[str, Any]:
    """The sampling/format parameters shared by chat completions and prompt overrides."""
    params: dict[str, Any] = {}
    for name, lo, hi in (("temperature", 0.0, 2.0), ("top_p", 0.0, 1.0)):
        v = _num(doc, name, lo, hi)
        if v is not None:
            params[name] = v
    mt = _int(doc, "max_tokens", 1, 10_000_000)
    mct = _int(doc, "max_completion_tokens", 1, 10_000_000)
    if mt is not None or mct is not None:
        params["max_tokens"] = mt if mt is not None else mct
    stop = doc.get("stop")
    if stop is not None:
        if isinstance(stop, str):
            stop = [stop]
        if not (
            isinstance(stop, list) and 1 <= len(stop) <= 4 and all(isinstance(s, str) and s for s in stop)
        ):
            raise bad_request(
                "stop must be a string or a list of 1-4 non-empty strings", "invalid_parameter", "stop"
            )
        params["stop"] = stop
    user = doc.get("user")
    if user is not None:
        if not isinstance(user, str) or len(user) > 256:
            raise bad_request("user must be a string (max 256 characters)", "invalid_parameter", "user")
        params["user"] = user
    rf = doc.get("response_format")
    if rf is not None:
        if not (isinstance(rf, dict) and rf.get("type") in ("text", "json_object", "json_schema")):
            raise bad_request(
                "response_format must be an object with type text, json_object or json_schema",
                "invalid_parameter",
                "response_format",
            )
        params["response_format"] = rf
    return params


def validate_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise bad_request("messages must be a non-empty list", "invalid_parameter", "messages")
    if len(messages) > 2048:
        raise bad_request("too many messages (max 2048)", "invalid_parameter", "messages")
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        p = f"messages[{i}]"
        if not isinstance(m, dict):
            raise bad_request(f"{p} must be an object", "invalid_parameter", p)
        role = m.get("role")
        if role not in ROLES:
            raise bad_request(f"{p}.role must be one of {', '.join(ROLES)}", "invalid_parameter", f"{p}.role")
        content = m.get("content")
        tool_calls = m.get("tool_calls")
        if content is None:
            if not (role == "assistant" and tool_calls):
                raise bad_request(f"{p}.content is required", "invalid_parameter", f"{p}.content")
        elif isinstance(content, list):
            if not all(isinstance(part, dict) and isinstance(part.get("type"), str) for part in content):
                raise bad_request(
                    f"{p}.content parts must be objects with a type", "invalid_parameter", f"{p}.content"
                )
            for part in content:
                if part["type"] == "text" and not isinstance(part.get("text"), str):
                    raise bad_request(
                        f"{p}.content text parts need a text string", "invalid_parameter", f"{p}.content"
                    )
        elif not isinstance(content, str):
            raise bad_request(
                f"{p}.content must be a string or a list of parts", "invalid_parameter", f"{p}.content"
            )
        msg: dict[str, Any] = {"role": role, "content": content}
        if tool_calls is not None:
            if (
                role != "assistant"
                or not isinstance(tool_calls, list)
                or not all(
                    isinstance(tc, dict)
                    and isinstance(tc.get("function"), dict)
                    and isinstance(tc["function"].get("name"), str)
                    for tc in tool_calls
                )
            ):
                raise bad_request(f"{p}.tool_calls is malformed", "invalid_parameter", f"{p}.tool_calls")
            msg["tool_calls"] = tool_calls
        if role == "tool":
            if not isinstance(m.get("tool_call_id"), str):
                raise bad_request(
                    f"{p}.tool_call_id is required for tool messages",
                    "invalid_parameter",
                    f"{p}.tool_call_id",
                )
            msg["tool_call_id"] = m["tool_call_id"]
        if m.get("name") is not None:
            if not isinstance(m["name"], str):
                raise bad_request(f"{p}.name must be a string", "invalid_parameter", f"{p}.name")
            msg["name"] = m["name"]
        out.append(msg)
    return out


@dataclass
class ChatCall:
    alias: str
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    conversation_id: str | None = None
    prompt: str | None = None


def _conversation_id(http: Http, body_value: Any) -> str | None:
    header = http.headers.get("x-lm-conversation-id")
    if body_value is not None and not isinstance(body_value, str):
        raise bad_request("conversation_id must be a string", "invalid_parameter", "conversation_id")
    if header and body_value and header != body_value:
        raise bad_request(
            "x-lm-conversation-id and conversation_id disagree", "invalid_parameter", "conversation_id"
        )
    cid = body_value or header or None
    if cid is not None and not context.CONVERSATION_ID_RE.match(cid):
        raise bad_request(
            "conversation id must be 1-128 characters of letters, digits and ._:-",
            "invalid_parameter",
            "conversation_id",
        )
    return cid


def parse_chat(http: Http, cfg: GatewayConfig) -> ChatCall:
    doc = decode_json_body(http, cfg)
    if doc.get("stream") not in (None, False):
        if doc.get("stream") is True:
            raise bad_request(
                "streaming is not supported on this transport", "streaming_not_supported", "stream"
            )
        raise bad_request("stream must be a boolean", "invalid_parameter", "stream")
    model = doc.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("model is required", "missing_parameter", "model")
    n = doc.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise bad_request("only n=1 is supported", "unsupported_parameter", "n")
    messages = validate_messages(doc.get("messages"))
    params = validate_params(doc)
    tools = doc.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or not all(
            isinstance(t, dict)
            and t.get("type") == "function"
            and isinstance(t.get("function"), dict)
            and isinstance(t["function"].get("name"), str)
            for t in tools
        ):
            raise bad_request(
                "tools must be a list of {type: function, function: {name, ...}}",
                "invalid_parameter",
                "tools",
            )
        if tools:
            params["tools"] = tools
    tc = doc.get("tool_choice")
    if tc is not None:
        if not (
            tc in ("none", "auto", "required")
            or (isinstance(tc, dict) and isinstance(tc.get("function"), dict))
        ):
            raise bad_request(
                "tool_choice must be none, auto, required or a function choice",
                "invalid_parameter",
                "tool_choice",
            )
        params["tool_choice"] = tc
    for name in OPENAI_PASSTHROUGH:
        v = doc.get(name)
        if v is not None:
            if not isinstance(v, int | float | bool | dict):
                raise bad_request(f"{name} has an invalid type", "invalid_parameter", name)
            params[name] = v
    return ChatCall(model, messages, params, _conversation_id(http, doc.get("conversation_id")))


def parse_prompt(http: Http, cfg: GatewayConfig, name: str, version: str | None) -> ChatCall:
    prompt = cfg.prompts.get(name)
    if prompt is None:
        raise GatewayError(404, f"prompt {name!r} does not exist", "prompt_not_found")
    if version is None:
        v = prompt.latest
    else:
        if not version.isdigit() or int(version) not in prompt.versions:
            raise GatewayError(404, f"prompt {name!r} has no version {version!r}", "prompt_version_not_found")
        v = int(version)
    pv = prompt.versions[v]
    doc = decode_json_body(http, cfg)
    unknown = sorted(k for k in doc if k not in PROMPT_BODY_KEYS)
    if unknown:
        raise bad_request(
            f"unknown field(s) {', '.join(unknown)} (allowed: {', '.join(PROMPT_BODY_KEYS)})",
            "unknown_parameter",
            unknown[0],
        )
    messages = prompts.render(pv, doc.get("variables", {}))
    params = {**pv.params, **validate_params(doc)}
    return ChatCall(
        pv.model, messages, params, _conversation_id(http, doc.get("conversation_id")), f"{name}@{v}"
    )


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def cache_key(call: ChatCall) -> str:
    doc = {
        "model": call.alias,
        "messages": call.messages,
        "params": {k: call.params[k] for k in CACHE_PARAMS if call.params.get(k) is not None},
    }
    canonical = json.dumps(_canonical(doc), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------------------
# Authentication


@dataclass
class KeyInfo:
    key_id: str
    tenant: str
    models: list[str]
    limits: Limits
    cache: bool

    def allows(self, alias: str) -> bool:
        return "*" in self.models or alias in self.models


def virtual_key(http: Http, key_header: str | None) -> str:
    """The caller's virtual key.

    With ``auth.key_header`` configured, only that header is read: ``Bearer <key>`` when it is
    ``authorization``, the bare key otherwise (an API authorizer owns the other headers). Without it,
    ``Authorization: Bearer <key>`` (what OpenAI clients send) and else ``x-api-key: <key>``; when both are
    sent, Authorization wins and x-api-key is not looked at.
    """
    if key_header is None:
        header = "authorization" if http.headers.get("authorization", "").strip() else "x-api-key"
        how = "Authorization: Bearer <key> or x-api-key: <key>"
    else:
        header = key_header
        how = "Authorization: Bearer <key>" if header == "authorization" else f"{header}: <key>"
    value = http.headers.get(header, "").strip()
    if not value:
        raise GatewayError(401, f"missing API key: send {how}", "missing_api_key")
    token = value
    if header == "authorization":
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer":
            token = ""
        token = token.strip()
    if not token or len(token) > 512:
        raise GatewayError(401, "invalid API key", "invalid_api_key")
    return token


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def key_info(item: dict[str, Any] | None) -> KeyInfo:
    if item is None or not isinstance(item.get("key_id"), str) or not isinstance(item.get("tenant"), str):
        raise GatewayError(401, "invalid API key", "invalid_api_key")
    if item.get("revoked"):
        raise GatewayError(401, "this API key has been revoked", "invalid_api_key")

    def opt_int(v: Any) -> int | None:
        return int(v) if v is not None else None

    models = item.get("models") or []
    return KeyInfo(
        key_id=item["key_id"],
        tenant=item["tenant"],
        models=[str(m) for m in models] if isinstance(models, list) else [],
        limits=Limits(
            rpm=opt_int(item.get("rpm")),
            tpd=opt_int(item.get("tpd")),
            budget_usd=Decimal(str(item["budget_usd"])) if item.get("budget_usd") is not None else None,
        ),
        cache=bool(item.get("cache")),
    )


# ---------------------------------------------------------------------------------------------------------
# Per-request state


@dataclass
class Ctx:
    rt: runtime.Runtime
    cfg: GatewayConfig
    http: Http
    store: Store
    remaining_ms: Any
    audit: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    cache_put: tuple[str, str, int] | None = None
    provider_failures: dict[str, int] = field(default_factory=dict)  # failed attempts per provider


def _authenticate(ctx: Ctx, token: str, ckey: str | None) -> tuple[KeyInfo, dict[str, Any] | None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        item, cache_item = ctx.store.get_key_and_cache(hash_key(token), ckey)
    except (ClientError, BotoCoreError) as exc:
        raise GatewayError(
            500, f"key store unavailable ({type(exc).__name__})", "store_unavailable"
        ) from None
    key = key_info(item)
    ctx.audit.update(tenant=key.tenant, key_id=key.key_id)
    return key, cache_item


def _metrics(ctx: Ctx, **values: Any) -> None:
    if ctx.metrics is None:
        ctx.metrics = {}
    ctx.metrics.update(values)


def _count_failures(ctx: Ctx, attempts: list[Attempt]) -> None:
    for a in attempts:
        if a.failed:
            ctx.provider_failures[a.provider] = ctx.provider_failures.get(a.provider, 0) + 1


# ---------------------------------------------------------------------------------------------------------
# Chat completion core (chat + prompt endpoints)


def completion_route(ctx: Ctx, parse: Any) -> dict[str, Any]:
    cfg = ctx.cfg
    token = virtual_key(ctx.http, cfg.auth.key_header)
    call: ChatCall | None = None
    pending: GatewayError | None = None
    try:
        call = parse()
    except GatewayError as exc:
        pending = exc
    bypass = ctx.http.headers.get("x-lm-cache", "").lower() in ("bypass", "no-cache", "off")
    use_cache = call is not None and cfg.cache.enabled and call.conversation_id is None and not bypass
    ckey = cache_key(call) if use_cache and call is not None else None
    key, cache_item = _authenticate(ctx, token, ckey)
    if pending is not None:
        raise pending
    assert call is not None
    ctx.audit.update(model=call.alias[:128], prompt=call.prompt, conversation_id=call.conversation_id)
    alias = cfg.models.get(call.alias)
    if alias is None:
        raise GatewayError(
            404, f"the model {call.alias[:128]!r} does not exist", "model_not_found", param="model"
        )
    if not key.allows(call.alias):
        raise GatewayError(
            403, f"this key may not use the model {call.alias!r}", "model_not_allowed", param="model"
        )
    # Metric dimensions only from configured names: a caller must not be able to mint CloudWatch dimensions.
    _metrics(ctx, tenant=key.tenant, model=call.alias, provider="none")
    if call.conversation_id is not None and not cfg.context.enabled:
        raise bad_request(
            "conversations are disabled on this gateway", "conversations_disabled", "conversation_id"
        )
    est = accounting.estimate_prompt_tokens(call.messages)
    if est > alias.context_window:
        raise GatewayError(
            413,
            f"the messages need ~{est} tokens, more than the model's context window of {alias.context_window}",
            "context_length_exceeded",
            param="messages",
        )
    cacheable = ckey is not None and (call.params.get("temperature") == 0 or key.cache)
    ctx.audit["cache"] = "miss" if cacheable else "off"

    now = ctx.rt.clock()
    tenant_limits = cfg.tenants.get(key.tenant)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        ctx.store.admit(
            key.key_id,
            key.tenant,
            key.limits,
            Limits(tenant_limits.rpm, tenant_limits.tpd, tenant_limits.budget_usd)
            if tenant_limits
            else Limits(),
            now,
        )
    except QuotaExceeded as q:
        _metrics(ctx, quota_rejected=True)
        what = {
            "rpm": ("requests per minute", "rate_limit_exceeded"),
            "tpd": ("tokens per day", "token_quota_exceeded"),
            "budget": ("monthly budget (USD)", "budget_exceeded"),
            "contention": ("quota store contention", "rate_limit_exceeded"),
        }[q.kind]
        raise GatewayError(
            429,
            f"{q.scope} quota exceeded: {what[0]}; retry after {q.retry_after}s",
            what[1],
            headers={"retry-after": str(q.retry_after)},
        ) from None
    except (ClientError, BotoCoreError) as exc:
        raise GatewayError(
            500, f"quota store unavailable ({type(exc).__name__})", "store_unavailable"
        ) from None

    usage = UsageDelta(alias=call.alias)
    try:
        if cacheable and cache_item is not None:
            hit = _cache_hit(cache_item, key, now)
            if hit is not None:
                usage.cache_hit = True
                ctx.audit.update(cache="hit", provider="cache")
                _metrics(ctx, cache_hit=True, provider="cache")
                hit["id"] = f"chatcmpl-{os.urandom(16).hex()}"
                hit["created"] = int(now)
                return json_response(200, hit, {"x-lm-cache": "hit", "x-lm-request-id": ctx.http.request_id})
        body, headers, cache_body = _complete(ctx, alias, call, key, usage, now)
        if cacheable and ckey is not None and cache_body is not None:
            ctx.cache_put = (ckey, cache_body, cfg.cache.ttl_s)
        return json_response(200, body, headers)
    except GatewayError:
        usage.error = True
        raise
    finally:
        _record(ctx, key, usage, now)


def _cache_hit(item: dict[str, Any], key: KeyInfo, now: float) -> dict[str, Any] | None:
    if item.get("tenant") != key.tenant or int(item.get("expires_at", 0)) <= now:
        return None
    try:
        doc = json.loads(item.get("body", ""))
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _record(ctx: Ctx, key: KeyInfo, usage: UsageDelta, now: float) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        ctx.store.record(key.key_id, key.tenant, usage, now, ctx.cfg.usage_ttl_days, ctx.cache_put)
    except (ClientError, BotoCoreError) as exc:
        ctx.audit["usage_write_error"] = type(exc).__name__
        accounting.emit({"level": "ERROR", "msg": "usage write failed", "error": type(exc).__name__,
                         "request_id": ctx.http.request_id, "key_id": key.key_id})  # fmt: skip


def _complete(
    ctx: Ctx, alias: ModelAlias, call: ChatCall, key: KeyInfo, usage: UsageDelta, now: float
) -> tuple[dict[str, Any], dict[str, str], str | None]:
    cfg, rt = ctx.cfg, ctx.rt
    messages = call.messages
    stored: dict[str, Any] | None = None
    plan: context.ContextPlan | None = None
    extra_prompt = extra_completion = 0
    extra_cost = Decimal(0)
    if call.conversation_id is not None:
        stored = ctx.store.get_conversation(key.tenant, call.conversation_id, now)
        history: list[dict[str, Any]] = []
        if stored is not None:
            try:
                history = json.loads(stored.get("messages") or "[]")
            except ValueError:
                history = []
        budget = alias.context_window - int(
            call.params.get("max_tokens") or cfg.context.reserve_output_tokens
        )
        summarizer = None
        if cfg.context.summarize_with:
            summary_alias = cfg.models[cfg.context.summarize_with]

            def summarizer(dropped: list[dict[str, Any]], previous: str | None) -> str | None:
                nonlocal extra_prompt, extra_completion, extra_cost
                req = ChatRequest(
                    [
                        {"role": "system", "content": "Summarize the conversation below in a few sentences. "
                         "Keep names, numbers, decisions and open questions."},
                        {"role": "user", "content": context.transcript(dropped, previous)},
                    ],
                    {"max_tokens": cfg.context.summary_max_tokens, "temperature": 0},
                )  # fmt: skip
                try:
                    rr = route(cfg, summary_alias, req, ctx.remaining_ms, rt.secrets, rt.breaker, rt.rng)
                except GatewayError as exc:
                    if isinstance(exc, RoutingFailed):
                        _count_failures(ctx, exc.attempts)
                    ctx.audit["summary"] = "failed"
                    return None
                _count_failures(ctx, rr.attempts)
                pt = rr.result.prompt_tokens or accounting.estimate_prompt_tokens(req.messages)
                ct = rr.result.completion_tokens or accounting.estimate_text_tokens(rr.result.content or "")
                extra_prompt += pt
                extra_completion += ct
                extra_cost += accounting.cost_usd(cfg.price_for(rr.target), pt, ct)
                ctx.audit["summary"] = rr.target.label
                return (rr.result.content or "").strip() or None

        plan = context.build(call.messages, stored, history, max(budget, 1), summarizer)
        messages = plan.messages
        ctx.audit["context"] = {"history": len(history), "dropped": len(plan.dropped), "sent": len(messages)}

    req = ChatRequest(messages, call.params)
    try:
        rr = route(cfg, alias, req, ctx.remaining_ms, rt.secrets, rt.breaker, rt.rng)
    except RoutingFailed as exc:
        ctx.audit["fallback_path"] = [a.label() for a in exc.attempts]
        _count_failures(ctx, exc.attempts)
        if exc.status in (502, 504):  # no provider answered (a provider's 400/413 is the request's fault)
            _metrics(ctx, upstream_failed=True)
        usage.prompt_tokens, usage.completion_tokens, usage.cost_usd = (
            extra_prompt,
            extra_completion,
            extra_cost,
        )
        raise
    _count_failures(ctx, rr.attempts)
    res = rr.result
    estimated = res.prompt_tokens is None or res.completion_tokens is None
    prompt_tokens = (
        res.prompt_tokens if res.prompt_tokens is not None else accounting.estimate_prompt_tokens(messages)
    )
    completion_text = (res.content or "") + "".join(
        str(tc.get("function", {}).get("arguments", "")) for tc in res.tool_calls or []
    )
    completion_tokens = (
        res.completion_tokens
        if res.completion_tokens is not None
        else accounting.estimate_text_tokens(completion_text)
    )
    price = cfg.price_for(rr.target)
    cost = accounting.cost_usd(price, prompt_tokens, completion_tokens)
    usage.prompt_tokens = prompt_tokens + extra_prompt
    usage.completion_tokens = completion_tokens + extra_completion
    usage.cost_usd = cost + extra_cost
    ctx.audit.update(
        provider=rr.target.provider,
        provider_type=rr.provider_type,
        target_model=rr.target.model,
        fallback_path=[a.label() for a in rr.attempts],
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost_usd=str(usage.cost_usd),
        usage_estimated=estimated,
        priced=price is not None,
    )
    _metrics(
        ctx,
        provider=rr.target.provider,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost=usage.cost_usd,
        fallbacks=rr.fallbacks,
        served=True,
    )
    message: dict[str, Any] = {"role": "assistant", "content": res.content}
    if res.tool_calls:
        message["tool_calls"] = res.tool_calls
    body = {
        "id": f"chatcmpl-{os.urandom(16).hex()}",
        "object": "chat.completion",
        "created": int(now),
        "model": call.alias,
        "choices": [{"index": 0, "message": message, "finish_reason": res.finish_reason, "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": None,
    }
    if cfg.audit.log_bodies:
        ctx.audit["request_messages"] = redact_any(messages)
        ctx.audit["completion"] = redact(res.content or "")
    headers = {
        "x-lm-cache": "miss",
        "x-lm-request-id": ctx.http.request_id,
        "x-lm-provider": rr.target.provider,
        "x-lm-target-model": rr.target.model,
    }
    if estimated:
        headers["x-lm-usage-estimated"] = "true"
    if call.prompt:
        headers["x-lm-prompt"] = call.prompt
    if call.conversation_id is not None and plan is not None:
        history_out = context.cap_history(
            plan.kept + [m for m in call.messages if m["role"] not in ("system", "developer")] + [message],
            cfg.context.max_stored_messages,
        )
        from botocore.exceptions import BotoCoreError, ClientError

        try:  # the completion is paid for: a failed history write is logged, not turned into an error
            ctx.store.put_conversation(
                key.tenant,
                call.conversation_id,
                json.dumps(history_out, separators=(",", ":"), ensure_ascii=False),
                plan.system,
                plan.summary,
                now,
                cfg.context.ttl_s,
            )
        except (ClientError, BotoCoreError) as exc:
            ctx.audit["conversation_write_error"] = type(exc).__name__
        headers["x-lm-conversation-id"] = call.conversation_id
    cache_body = (
        None
        if call.conversation_id is not None
        else json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    )
    return body, headers, cache_body


# ---------------------------------------------------------------------------------------------------------
# Other routes


def models_route(ctx: Ctx) -> dict[str, Any]:
    key, _ = _authenticate(ctx, virtual_key(ctx.http, ctx.cfg.auth.key_header), None)
    data = [
        {
            "id": name,
            "object": "model",
            "created": 0,
            "owned_by": "lm-gateway",
            "description": a.description or None,
        }
        for name, a in sorted(ctx.cfg.models.items())
        if key.allows(name)
    ]
    return json_response(200, {"object": "list", "data": data}, {"x-lm-request-id": ctx.http.request_id})


def usage_route(ctx: Ctx) -> dict[str, Any]:
    key, _ = _authenticate(ctx, virtual_key(ctx.http, ctx.cfg.auth.key_header), None)
    day = ctx.http.query.get("date") or day_id(ctx.rt.clock())
    if not _DATE_RE.match(day):
        raise bad_request("date must be YYYY-MM-DD", "invalid_parameter", "date")
    try:
        time.strptime(day, "%Y-%m-%d")
    except ValueError:
        raise bad_request("date must be a valid YYYY-MM-DD day", "invalid_parameter", "date") from None
    item = ctx.store.get_usage(key.key_id, day)
    models: dict[str, dict[str, Any]] = {}
    for attr, value in item.items():
        if attr.startswith("m:"):
            alias, _, metric = attr[2:].rpartition(":")
            models.setdefault(alias, {})[metric] = float(value) if metric == "cost_usd" else int(value)
    body = {
        "object": "usage",
        "key_id": key.key_id,
        "tenant": key.tenant,
        "date": day,
        "requests": int(item.get("requests", 0)),
        "prompt_tokens": int(item.get("prompt_tokens", 0)),
        "completion_tokens": int(item.get("completion_tokens", 0)),
        "total_tokens": int(item.get("tokens", 0)),
        "cost_usd": float(item.get("cost_usd", 0)),
        "cache_hits": int(item.get("cache_hits", 0)),
        "errors": int(item.get("errors", 0)),
        "models": models,
    }
    return json_response(200, body, {"x-lm-request-id": ctx.http.request_id})


def conversation_route(ctx: Ctx, conversation_id: str) -> dict[str, Any]:
    key, _ = _authenticate(ctx, virtual_key(ctx.http, ctx.cfg.auth.key_header), None)
    if not context.CONVERSATION_ID_RE.match(conversation_id):
        raise GatewayError(404, "conversation not found", "conversation_not_found")
    now = ctx.rt.clock()
    ctx.audit["conversation_id"] = conversation_id
    if ctx.http.method == "DELETE":
        if not ctx.store.delete_conversation(key.tenant, conversation_id, now):
            raise GatewayError(404, "conversation not found", "conversation_not_found")
        return json_response(200, {"id": conversation_id, "object": "conversation.deleted", "deleted": True})
    item = ctx.store.get_conversation(key.tenant, conversation_id, now)
    if item is None:
        raise GatewayError(404, "conversation not found", "conversation_not_found")
    try:
        messages = json.loads(item.get("messages") or "[]")
    except ValueError:
        messages = []
    return json_response(
        200,
        {
            "id": conversation_id,
            "object": "conversation",
            "system": item.get("system"),
            "summary": item.get("summary"),
            "messages": messages,
            "updated_at": int(item.get("updated_at", 0)),
            "expires_at": int(item.get("expires_at", 0)),
        },
    )


# ---------------------------------------------------------------------------------------------------------
# Dispatch


def _dispatch(ctx: Ctx) -> dict[str, Any]:
    http, cfg = ctx.http, ctx.cfg
    path = normalize_path(http.path)
    parts = path.split("/")[1:]  # "", "v1", ...
    ctx.audit["route"] = f"{http.method} {path}"

    def allow(*methods: str) -> None:
        if http.method not in methods:
            raise GatewayError(
                405,
                f"method {http.method} is not allowed here",
                "method_not_allowed",
                headers={"allow": ", ".join(methods)},
            )

    if path == "/v1/chat/completions":
        allow("POST")
        return completion_route(ctx, lambda: parse_chat(http, cfg))
    if path == "/v1/models":
        allow("GET")
        return models_route(ctx)
    if path == "/v1/usage":
        allow("GET")
        return usage_route(ctx)
    if (
        len(parts) in (3, 5)
        and parts[0] == "v1"
        and parts[1] == "prompts"
        and (len(parts) == 3 or parts[3] == "versions")
    ):
        allow("POST")
        from urllib.parse import unquote

        name = unquote(parts[2])
        version = unquote(parts[4]) if len(parts) == 5 else None
        ctx.audit["route"] = "POST /v1/prompts/{name}" + ("/versions/{v}" if version else "")
        return completion_route(ctx, lambda: parse_prompt(http, cfg, name, version))
    if len(parts) == 3 and parts[0] == "v1" and parts[1] == "conversations":
        allow("GET", "DELETE")
        from urllib.parse import unquote

        ctx.audit["route"] = f"{http.method} /v1/conversations/{{id}}"
        return conversation_route(ctx, unquote(parts[2]))
    raise GatewayError(404, f"no route for {http.method} {path}", "unknown_route")


def handle(event: Any, lambda_context: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    rt = runtime.get()
    request_id = str(getattr(lambda_context, "aws_request_id", "") or "")
    remaining_fn = getattr(lambda_context, "get_remaining_time_in_millis", None)
    if not callable(remaining_fn):
        start = time.monotonic()

        def remaining_fn() -> float:
            return DEFAULT_REMAINING_MS - (time.monotonic() - start) * 1000

    audit: dict[str, Any] = {"type": "audit", "request_id": request_id or None}
    resp: dict[str, Any]
    ctx: Ctx | None = None
    try:
        if rt.config is None:
            raise GatewayError(500, f"gateway misconfigured: {rt.config_error}", "gateway_misconfigured")
        cfg = rt.config
        try:
            http = parse_event(event, cfg.max_body_bytes, request_id)
        except GatewayError:
            audit["route"] = "malformed"
            raise
        audit["request_id"] = http.request_id
        ctx = Ctx(rt, cfg, http, Store(rt.ddb(), rt.table or ""), remaining_fn, audit)
        resp = _dispatch(ctx)
    except GatewayError as exc:
        resp = error_response(exc, str(audit.get("request_id") or ""))
        audit["error"] = exc.code
    except Exception as exc:  # never let an exception escape as a Lambda error
        audit["error"] = "internal_error"
        accounting.emit({"level": "ERROR", "msg": "unhandled error", "error": type(exc).__name__,
                         "detail": redact(str(exc))[:300], "request_id": audit.get("request_id")})  # fmt: skip
        resp = error_response(
            GatewayError(500, "internal error", "internal_error"), str(audit.get("request_id") or "")
        )
    latency_ms = (time.perf_counter() - t0) * 1000
    audit["status"] = resp["statusCode"]
    audit["latency_ms"] = round(latency_ms, 3)
    if ctx is not None:
        audit["ddb_calls"] = ctx.store.stats.calls
        audit["ddb_ms"] = round(ctx.store.stats.ms, 3)
        audit.setdefault("cache", None)
    audit["ts"] = int(time.time() * 1000)
    accounting.emit({k: v for k, v in audit.items() if v is not None})
    if ctx is not None and ctx.metrics is not None and rt.config is not None:
        m = ctx.metrics
        namespace = rt.config.audit.metrics_namespace
        accounting.emit(
            accounting.emf(
                namespace,
                m.get("tenant", ""),
                m.get("model", ""),
                m.get("provider", "none"),
                prompt_tokens=m.get("prompt_tokens", 0),
                completion_tokens=m.get("completion_tokens", 0),
                cost=m.get("cost", Decimal(0)),
                latency_ms=latency_ms,
                fallbacks=m.get("fallbacks", 0),
                cache_hit=m.get("cache_hit", False),
                quota_rejected=m.get("quota_rejected", False),
                error=resp["statusCode"] >= 400,
                served=m.get("served", False) and resp["statusCode"] == 200,
                upstream_failed=m.get("upstream_failed", False),
                provider_failures=sum(ctx.provider_failures.values()),
            )
        )
        # Provider names come from the configuration only, so no caller can mint a dimension value.
        for provider, failures in sorted(ctx.provider_failures.items()):
            accounting.emit(
                accounting.emf_provider_failures(namespace, provider, m.get("model", ""), failures)
            )
    return resp
