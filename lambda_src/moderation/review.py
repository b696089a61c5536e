"""Human review: flagged content is published to an SNS topic (``REVIEW_TOPIC_ARN``), with the text, the verdict
and where it came from; subscribers (a review queue, e-mail, a ticketing hook) filter on ``severity``/``source``."""

from __future__ import annotations

import json
from typing import Any

from lambda_manifest.runtime import aws

from .gateway import Verdict

REVIEW_TOPIC_ENV = "REVIEW_TOPIC_ARN"


def sns_client() -> Any:
    return aws.client("sns")


def review_message(*, content_id: str, source: str, text: str, verdict: Verdict,
                   submitted_by: str | None = None, submission_id: str | None = None) -> dict[str, Any]:
    return {
        "type": "moderation_review",
        "content_id": content_id,
        "source": source,
        "submission_id": submission_id,
        "submitted_by": submitted_by,
        "verdict": verdict.as_dict(),
        "text": text,
    }


def publish_review(topic_arn: str, message: dict[str, Any], client: Any = None) -> str:
    """Publish one review request; returns the SNS message id."""
    verdict = message["verdict"]
    response = (client or sns_client()).publish(
        TopicArn=topic_arn,
        Subject="Content flagged for review",
        Message=json.dumps(message, ensure_ascii=False, separators=(",", ":")),
        MessageAttributes={
            "severity": {"DataType": "String", "StringValue": str(verdict.get("severity") or "unknown")},
            "source": {"DataType": "String", "StringValue": message["source"]},
            "needs_review": {"DataType": "String", "StringValue": str(bool(verdict.get("needs_review"))).lower()},
        },
    )
    return str(response["MessageId"])
