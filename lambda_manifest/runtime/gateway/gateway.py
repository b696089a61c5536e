"""The gateway's request cycle: event -> route -> answer, with the audit line and metrics at the end.

Modules by responsibility: ``transport`` (events in, responses and SSE out), ``auth`` (virtual keys),
``validation`` (bodies and parameters), ``completion`` (quotas, cache, providers, settlement), ``streaming``
(``"stream": true``), ``routes`` (dispatch and the small routes), ``router`` and the ``provider_*`` adapters
(upstream calls with deadlines), ``store`` (DynamoDB), ``telemetry`` (audit line, EMF).

Every error is ``{"error": {"message", "type", "code", "param"}}`` with ``x-should-retry``. Authentication is
checked before any other problem with the request is reported (a malformed body from a caller without a valid
key is a 401), and no request body can cause a 500.

Request headers: the virtual key (``authorization: Bearer <key>`` or ``x-api-key: <key>``, or only the header
named by the config's ``auth.key_header``), ``x-lm-conversation-id`` (or body ``conversation_id``),
``x-lm-cache: bypass`` (skip the response cache for this request). Response headers: ``x-lm-request-id``,
``x-lm-cache: hit|miss``, ``x-lm-provider``, ``x-lm-target-model``, ``x-lm-attempts``, ``x-lm-usage-estimated:
true`` (provider sent no usage), ``x-lm-prompt: name@version``, ``x-lm-conversation-id``, ``retry-after`` (429),
``x-should-retry`` (errors), ``allow`` (405).
"""

from __future__ import annotations

import time

from . import accounting, runtime, telemetry
from .errors import GatewayError
from .redact import redact
from .routes import dispatch
from .state import Ctx
from .store import Store
from .transport import error_response, parse_event

TYPE_CHECKING = False  # avoids importing typing at run time (import-time budget)
if TYPE_CHECKING:
    from typing import Any

DEFAULT_REMAINING_MS = 30_000


def handle(event: Any, lambda_context: Any) -> Any:
    """A proxy response dict, or a ``StreamingResponse`` (``lambda_manifest.runtime.stream``) for a streamed
    completion, whose audit line and metrics are written when its stream ends."""
    t0 = time.perf_counter()
    rt = runtime.get()
    request_id = str(getattr(lambda_context, "aws_request_id", "") or "")
    remaining_fn = getattr(lambda_context, "get_remaining_time_in_millis", None)
    if not callable(remaining_fn):
        start = time.monotonic()

        def remaining_fn() -> float:
            return DEFAULT_REMAINING_MS - (time.monotonic() - start) * 1000

    audit: dict[str, Any] = {"type": "audit", "request_id": request_id or None}
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
        ctx = Ctx(rt, cfg, http, Store(rt.ddb(), rt.table or ""), remaining_fn, audit, started=t0)
        resp = dispatch(ctx)
        if not isinstance(resp, dict):
            return resp  # a stream: its telemetry comes when it ends
    except GatewayError as exc:
        resp = error_response(exc, str(audit.get("request_id") or ""), str(audit.get("api") or "chat"))
        audit["error"] = exc.code
    except Exception as exc:  # never let an exception escape as a Lambda error
        audit["error"] = "internal_error"
        accounting.emit({"level": "ERROR", "msg": "unhandled error", "error": type(exc).__name__,
                         "detail": redact(str(exc))[:300], "request_id": audit.get("request_id")})  # fmt: skip
        resp = error_response(
            GatewayError(500, "internal error", "internal_error"), str(audit.get("request_id") or "")
        )
    telemetry.finish(audit, ctx, resp["statusCode"], t0)
    return resp
