"""``POST /moderation``: moderate one text synchronously (``moderation.handler.main``, HTTP API payload 2.0).

Request: ``{"text": "...", "language": "en", "content_id": "post-123"}`` (``language`` and ``content_id``
optional). Response 200: ``{"content_id", "flagged", "categories", "severity", "reason", "needs_review",
"review_message_id"}``. Flagged content is published for human review before the answer is returned, so a
flagged verdict is never lost. The gateway's quota refusals come back as 429 with its ``Retry-After``; a gateway
outage is a 502 (no response) or 503.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from lambda_manifest.runtime.http import ApiError, Schema, create_app, current_request, lambda_handler, logger

from .gateway import GatewayRejected, GatewayUnavailable, default_client
from .review import REVIEW_TOPIC_ENV, publish_review, review_message

MAX_TEXT_CHARS = 8000
SUBMISSION = Schema({
    "type": "object",
    "required": ["text"],
    "additionalProperties": False,
    "properties": {
        "text": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_CHARS},
        "language": {"type": "string", "pattern": "^[a-z]{2,3}$"},
        "content_id": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9._:-]+$"},
    },
})

app = create_app("2.0")
# Seconds kept back from the invocation's remaining time to answer the caller after the gateway gives up.
ANSWER_MARGIN_S = 1.5


def _budget_s() -> float | None:
    context = getattr(app, "lambda_context", None)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000 - ANSWER_MARGIN_S if callable(remaining) else None


@app.post("/moderation")
def moderate() -> dict[str, Any]:
    request = current_request()
    body = request.json(SUBMISSION)
    principal = request.principal()
    content_id = body.get("content_id") or f"content-{uuid.uuid4().hex}"
    try:
        verdict = default_client().moderate(body["text"], body.get("language", "und"), budget_s=_budget_s())
    except GatewayUnavailable as error:
        logger.warning("gateway unavailable", extra={"status": error.status, "error": str(error)})
        if error.status == 429:
            headers = {"Retry-After": str(error.retry_after)} if error.retry_after else {}
            raise ApiError("Moderation capacity is exhausted; retry later", code="MODERATION_BUSY", status=429,
                           headers=headers) from None
        raise ApiError("The moderation service is unavailable", code="MODERATION_UNAVAILABLE",
                       status=503 if error.status else 502) from None
    except GatewayRejected as error:
        # A refused key or a broken prompt is our misconfiguration, not the caller's mistake.
        logger.error("gateway refused the request", extra={"status": error.status, "code": error.code})
        raise ApiError("The moderation service is misconfigured", code="MODERATION_MISCONFIGURED",
                       status=502) from None
    review_id = None
    if verdict.flagged:
        review_id = publish_review(os.environ[REVIEW_TOPIC_ENV], review_message(
            content_id=content_id, source="api", text=body["text"], verdict=verdict,
            submitted_by=principal.sub if principal else None))
    logger.info("moderated", extra={"content_id": content_id, "flagged": verdict.flagged,
                                    "severity": verdict.severity, "needs_review": verdict.needs_review})
    return {"content_id": content_id, **{k: v for k, v in verdict.as_dict().items() if k != "gateway_request_id"},
            "review_message_id": review_id}


main = lambda_handler(app)
