"""The gateway's routes (``contract.ROUTES``) and the small ones among them: models, usage, conversations.

=======  ====================================  ==================================================
method   path                                  what
=======  ====================================  ==================================================
POST     /v1/chat/completions                  OpenAI chat completion (n=1; ``stream: true`` too)
POST     /v1/responses                         OpenAI Responses (``api_responses``)
POST     /v1/embeddings                        OpenAI embeddings (``api_embeddings``)
POST     /v1/messages                          Anthropic Messages (``api_messages``)
POST     /v1/messages/count_tokens             Anthropic token count
GET      /v1/models                            aliases this key may use
GET      /v1/models/{id}                       one of them
GET      /v1/usage[?date=YYYY-MM-DD]           this key's usage for a UTC day (default today)
POST     /v1/prompts/{name}                    render + complete the latest version of a prompt
POST     /v1/prompts/{name}/versions/{v}       ... a given version
GET      /v1/conversations/{id}                stored history of this tenant's conversation
DELETE   /v1/conversations/{id}                delete it
=======  ====================================  ==================================================

A stage prefix before ``/v1/`` is ignored. Any other path is a 404 that lists these routes. The modules of the
Responses, embeddings and Anthropic APIs are imported when the first request for them arrives, so a container
that serves only chat completions never loads them.
"""

from __future__ import annotations

import json
import re
import time

from . import context
from .auth import authenticate
from .completion import completion_route
from .config import ModelAlias
from .contract import ROUTES
from .errors import GatewayError, bad_request
from .state import Ctx
from .store import day_id
from .transport import json_response, normalize_path
from .validation import parse_chat, parse_prompt

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _model(name: str, alias: ModelAlias) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "lm-gateway",
            "description": alias.description or None, "context_window": alias.context_window}  # fmt: skip


def models_route(ctx: Ctx, model_id: str | None = None) -> dict[str, Any]:
    key = authenticate(ctx.http, ctx.store, ctx.cfg.auth.key_header)
    ctx.audit.update(tenant=key.tenant, key_id=key.key_id)
    headers = {"x-lm-request-id": ctx.http.request_id}
    if model_id is not None:
        alias = ctx.cfg.models.get(model_id)
        if alias is None or not key.allows(model_id):  # a model this key may not use does not exist for it
            raise GatewayError(404, f"the model {model_id[:128]!r} does not exist", "model_not_found", param="model")
        return json_response(200, _model(model_id, alias), headers)
    data = [_model(name, a) for name, a in sorted(ctx.cfg.models.items()) if key.allows(name)]
    return json_response(200, {"object": "list", "data": data}, headers)


def usage_route(ctx: Ctx) -> dict[str, Any]:
    key = authenticate(ctx.http, ctx.store, ctx.cfg.auth.key_header)
    ctx.audit.update(tenant=key.tenant, key_id=key.key_id)
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
        "cached_tokens": int(item.get("cached_tokens", 0)),
        "cache_write_tokens": int(item.get("cache_write_tokens", 0)),
        "total_tokens": int(item.get("tokens", 0)),
        "cost_usd": float(item.get("cost_usd", 0)),
        "cache_hits": int(item.get("cache_hits", 0)),
        "errors": int(item.get("errors", 0)),
        "models": models,
    }
    return json_response(200, body, {"x-lm-request-id": ctx.http.request_id})


def conversation_route(ctx: Ctx, conversation_id: str) -> dict[str, Any]:
    key = authenticate(ctx.http, ctx.store, ctx.cfg.auth.key_header)
    ctx.audit.update(tenant=key.tenant, key_id=key.key_id)
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


def dispatch(ctx: Ctx) -> Any:
    """The route's answer: a proxy response dict, or a ``StreamingResponse`` for a streamed completion."""
    from urllib.parse import unquote

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
    if path == "/v1/responses":
        allow("POST")
        from . import api_responses

        return completion_route(ctx, lambda: api_responses.parse(http, cfg))
    if path in ("/v1/messages", "/v1/messages/count_tokens"):
        ctx.audit["api"] = "messages"  # errors in Anthropic's shape from here on
        allow("POST")
        from . import api_messages

        if path.endswith("/count_tokens"):
            return api_messages.count_tokens_route(ctx)
        return completion_route(ctx, lambda: api_messages.parse(http, cfg))
    if path == "/v1/embeddings":
        allow("POST")
        from . import api_embeddings

        return api_embeddings.embeddings_route(ctx)
    if path == "/v1/models":
        allow("GET")
        return models_route(ctx)
    if len(parts) == 3 and parts[:2] == ["v1", "models"]:
        allow("GET")
        ctx.audit["route"] = "GET /v1/models/{id}"
        return models_route(ctx, unquote(parts[2]))
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
        name = unquote(parts[2])
        version = unquote(parts[4]) if len(parts) == 5 else None
        ctx.audit["route"] = "POST /v1/prompts/{name}" + ("/versions/{v}" if version else "")
        return completion_route(ctx, lambda: parse_prompt(http, cfg, name, version))
    if len(parts) == 3 and parts[0] == "v1" and parts[1] == "conversations":
        allow("GET", "DELETE")
        ctx.audit["route"] = f"{http.method} /v1/conversations/{{id}}"
        return conversation_route(ctx, unquote(parts[2]))
    ctx.audit["route"] = "unknown"  # not the caller's path: audit lines must not carry arbitrary strings
    routes = ", ".join(f"{m} {p}" for m, p in ROUTES)
    raise GatewayError(404, f"no route for {http.method} {path[:200]}; this gateway serves: {routes}", "unknown_route")
