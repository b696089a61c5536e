"""OpenAI embeddings (``POST /v1/embeddings``) over OpenAI-compatible providers and Amazon Bedrock (Titan Text
Embeddings, Cohere Embed), with the aliases, fallback, keys, quotas, token accounting and prices of chat.

``input`` is a string, a list of strings, or token arrays (OpenAI-compatible providers only);
``encoding_format`` ``float`` or ``base64`` (little-endian float32, what the OpenAI SDKs ask for by default);
``dimensions`` is passed on. Answers are not cached: a vector list is large and cheap to recompute. An alias
whose targets cannot embed (Anthropic has no embeddings API) is a 400.

Imported on the first embeddings request (``routes.dispatch``), never at cold start.
"""

from __future__ import annotations

import base64
import struct
from decimal import Decimal

from . import accounting
from .auth import authenticate
from .completion import Prepared, account, admit, record, routing_failed
from .errors import GatewayError, bad_request
from .providers import embed_target
from .router import RoutingFailed, route_call
from .state import Ctx
from .store import UsageDelta
from .transport import json_response
from .validation import decode_json_body

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any

MAX_INPUTS = 2048


def _inputs(value: Any) -> list[Any]:
    if isinstance(value, str):
        value = [value]
    elif isinstance(value, list) and value and all(isinstance(t, int) and not isinstance(t, bool) for t in value):
        value = [value]  # one token array
    if not isinstance(value, list) or not value or len(value) > MAX_INPUTS:
        raise bad_request(f"input must be a string or a list of 1-{MAX_INPUTS} strings or token arrays",
                          "invalid_parameter", "input")  # fmt: skip
    for item in value:
        ok = (isinstance(item, str) and item) or (
            isinstance(item, list) and item and all(isinstance(t, int) and not isinstance(t, bool) for t in item))
        if not ok:
            raise bad_request("each input must be a non-empty string or token array", "invalid_parameter", "input")
    return value


def _encode(vector: list[float], encoding: str) -> Any:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector


def embeddings_route(ctx: Ctx) -> dict[str, Any]:
    cfg, rt = ctx.cfg, ctx.rt
    key = authenticate(ctx.http, ctx.store, cfg.auth.key_header)
    ctx.audit.update({"tenant": key.tenant, "key_id": key.key_id, "api": "embeddings",
                      "gen_ai.operation.name": "embeddings"})  # fmt: skip
    doc = decode_json_body(ctx.http, cfg)
    model = doc.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("model is required", "missing_parameter", "model")
    ctx.audit["gen_ai.request.model"] = model[:128]
    inputs = _inputs(doc.get("input"))
    encoding = doc.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise bad_request("encoding_format must be float or base64", "invalid_parameter", "encoding_format")
    params: dict[str, Any] = {}
    dims = doc.get("dimensions")
    if dims is not None:
        if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
            raise bad_request("dimensions must be a whole number >= 1", "invalid_parameter", "dimensions")
        params["dimensions"] = dims
    if isinstance(doc.get("user"), str):
        params["user"] = doc["user"][:256]
    alias = cfg.models.get(model)
    if alias is None:
        raise GatewayError(404, f"the model {model[:128]!r} does not exist", "model_not_found", param="model")
    if not key.allows(model):
        raise GatewayError(403, f"this key may not use the model {model!r}", "model_not_allowed", param="model")
    ctx.metric(tenant=key.tenant, model=model, provider="none")
    # The reservation: every input byte (or token) as a token, at the dearest target's input price.
    bound = sum(len(i.encode("utf-8")) if isinstance(i, str) else len(i) for i in inputs)
    cost = max((accounting.cost_usd(cfg.price_for(t), bound, 0) for t in alias.targets), default=Decimal(0))
    now = ctx.rt.clock()
    hold = admit(ctx, key, now, bound, cost)
    usage = UsageDelta(alias=model)
    text = " ".join(i if isinstance(i, str) else " ".join(map(str, i)) for i in inputs)
    prepared = Prepared([{"role": "user", "content": text}])
    try:
        try:
            result, target, provider_type, attempts = route_call(
                cfg, alias, lambda t: embed_target(t.provider, t.target, inputs, params, t.deadline, rt.secrets),
                ctx.remaining_ms, rt.breaker, rt.rng)
        except RoutingFailed as exc:
            routing_failed(ctx, exc, usage, None)
            raise
        if len(result.vectors) != len(inputs):
            raise GatewayError(502, "the provider answered a different number of embeddings", "upstream_error")
        pt, _, estimated = account(ctx, None, prepared, usage, target, provider_type, attempts,
                                   result.prompt_tokens, 0, "")  # fmt: skip
        data = [{"object": "embedding", "index": i, "embedding": _encode(v, encoding)}
                for i, v in enumerate(result.vectors)]
        headers = {"x-lm-request-id": ctx.http.request_id, "x-lm-provider": target.provider,
                   "x-lm-target-model": target.model, "x-lm-attempts": str(sum(1 for a in attempts if a.sent))}
        if estimated:
            headers["x-lm-usage-estimated"] = "true"
        body = {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": pt, "total_tokens": pt}}
        return json_response(200, body, headers)
    except GatewayError:
        usage.error = True
        raise
    finally:
        record(ctx, key, usage, now, hold)
